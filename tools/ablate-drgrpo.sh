#!/usr/bin/env bash
# GRPO (std scaling, per-sequence mean) vs Dr. GRPO (no std, sum normalised by the max length): completion length and accuracy.
exec "$(dirname "$0")/ablate.sh" grpo-vs-drgrpo completion_length/mean \
  grpo "grpo --steps 150 --advantage grpo --loss-agg seq-mean-token-mean --lr 1e-4 --warmup 10 --max-new-tokens 40" \
  dr-grpo "grpo --steps 150 --advantage dr-grpo --loss-agg seq-mean-token-sum-norm --lr 1e-4 --warmup 10 --max-new-tokens 40" "${@:-1 2}"
