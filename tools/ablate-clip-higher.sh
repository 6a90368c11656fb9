#!/usr/bin/env bash
# Symmetric clip (ε = 0.2) vs DAPO's clip-higher (ε_high = 0.28), two optimiser passes per step so the clip binds: entropy and accuracy.
exec "$(dirname "$0")/ablate.sh" clip-higher entropy \
  eps-0.2 "grpo --steps 150 --iterations 2 --minibatches 2 --lr 1e-4 --warmup 10 --max-new-tokens 40" \
  eps-high-0.28 "grpo --steps 150 --iterations 2 --minibatches 2 --epsilon-high 0.28 --lr 1e-4 --warmup 10 --max-new-tokens 40" "${@:-1 2}"
