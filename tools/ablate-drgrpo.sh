#!/usr/bin/env bash
# GRPO (std scaling, per-sequence mean) vs Dr. GRPO (no std, sum normalised by the max length): completion length and accuracy.
# On the multisum study's base (docs/thinking.md):
#   TASK=multisum:1 BASE=runs/l1s/varied-sft/final MAX_NEW_TOKENS=100 TAG=multisum tools/ablate-drgrpo.sh
exec "$(dirname "$0")/ablate.sh" grpo-vs-drgrpo completion_length/mean \
  grpo "grpo --steps 150 --advantage grpo --loss-agg seq-mean-token-mean --lr 1e-4 --warmup 10 --max-new-tokens ${MAX_NEW_TOKENS:-40}" \
  dr-grpo "grpo --steps 150 --advantage dr-grpo --loss-agg seq-mean-token-sum-norm --lr 1e-4 --warmup 10 --max-new-tokens ${MAX_NEW_TOKENS:-40}" "${@:-1 2}"
