#!/usr/bin/env bash
# PPO with a critic vs GRPO at equal sampled tokens per step (64 completions: PPO 64 prompts × 1, GRPO 8 × 8).
exec "$(dirname "$0")/ablate.sh" ppo-vs-grpo accuracy \
  ppo "ppo --steps 150 --prompts 64 --ppo-epochs 1 --minibatches 1 --kl-coef 0 --lr 1e-4 --critic-lr 3e-4 --warmup 10 --max-new-tokens 40" \
  grpo "grpo --steps 150 --prompts 8 --group-size 8 --lr 1e-4 --warmup 10 --max-new-tokens 40" "${@:-1 2}"
