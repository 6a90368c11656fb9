#!/usr/bin/env bash
# DAPO dynamic sampling off vs on: share of zero-advantage groups and accuracy.
exec "$(dirname "$0")/ablate.sh" dynamic-sampling frac_zero_std_groups \
  off "grpo --steps 150 --lr 1e-4 --warmup 10 --max-new-tokens 40" \
  on "grpo --steps 150 --dynamic-sampling --max-resample-rounds 2 --lr 1e-4 --warmup 10 --max-new-tokens 40" "${@:-1 2}"
