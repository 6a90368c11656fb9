#!/usr/bin/env bash
# With and without the k3 KL to the reference (β = 0.001 as R1 vs 0 as Dr. GRPO / DAPO): KL and accuracy.
exec "$(dirname "$0")/ablate.sh" kl-penalty kl \
  beta-0.001 "grpo --steps 150 --beta 0.001 --lr 1e-4 --warmup 10 --max-new-tokens 40" \
  beta-0 "grpo --steps 150 --beta 0 --lr 1e-4 --warmup 10 --max-new-tokens 40" "${@:-1 2}"
