#!/usr/bin/env bash
# The project's GPU benchmark in one command, on a GPU machine with no .NET (prepare it here with
# `tools/gpu/pack.sh Bench Engine`, then carry .gpu/ and run this there from the project root):
#   bash tools/gpu/bench.sh [OUT]                  OUT defaults to $OUT or ./gpu-bench
#   PARTS=steps bash tools/gpu/bench.sh [OUT]      the whole-step part alone (a second 10-minute call)
# PARTS=kernels (the default): our kernel table (every op and version, validated, timed, JSON) and the
# PyTorch anchors in the same call, merged into OUT/bench.md and OUT/bench.json (copy them to
# docs/bench/NAME.*). PARTS=steps: whole steps at GPT-2 124M size, ours then PyTorch's (each part fits
# one 10-minute call; PARTS="kernels steps" runs both where a call may run longer).
set -euo pipefail
out=${1:-${OUT:-gpu-bench}}
mkdir -p "$out"
nvidia-smi -L | tee "$out/gpu.txt"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
parts=${PARTS:-kernels}
if [[ " $parts " == *" kernels "* ]]; then
timeout 420 bash .gpu/run.sh Bench.dll kernels --device cuda --repeats 9 --json "$out/kernels.json" > "$out/kernels.txt" 2>&1 \
  || echo "Bench kernels exited $? (see $out/kernels.txt)"
timeout 150 python3 tools/torch_bench.py --json "$out/torch.json" > "$out/torch.txt" 2>&1 \
  || echo "torch_bench exited $? (see $out/torch.txt)"
python3 tools/gpu/merge.py --ours "$out/kernels.json" --torch "$out/torch.json" \
  --title "$gpu, $(date -u +%Y-%m-%d)" --out "$out/bench"
fi

# Whole steps at GPT-2 124M size (issues: the GPU training step, rollouts): the engine's own figures, then PyTorch's.
# The engine prints tokens/s and, with --profile, the step split (device-event kernel times, copies, syncs).
if [[ " $parts " == *" steps "* ]]; then
  timeout 150 bash .gpu/run.sh engine.dll pretrain --device cuda --model gpt2-124m --tokenizer gpt2 --context 1024 \
    --batch 4 --steps 12 --warmup 2 --eval-every 0 --log-every 1 --profile --out "$out/pretrain-124m" --overwrite \
    > "$out/engine-train-step.txt" 2>&1 || echo "engine pretrain exited $? (see $out/engine-train-step.txt)"
  ck="$out/pretrain-124m/final"                  # random GPT-2 124M weights: speed does not depend on them
  { time timeout 100 bash .gpu/run.sh engine.dll sample --device cuda --checkpoint "$ck" --prompt "12+7=" \
      --num-samples 64 --max-new-tokens 128 > /dev/null ; } > "$out/engine-decode.txt" 2>&1 || true
  timeout 150 bash .gpu/run.sh engine.dll grpo --device cuda --checkpoint "$ck" --task arithmetic --steps 1 \
    --prompts 8 --group-size 8 --max-new-tokens 128 --out "$out/grpo-124m" --overwrite > "$out/engine-grpo-step.txt" 2>&1 \
    || echo "engine grpo exited $? (see $out/engine-grpo-step.txt; time/sampling in $out/grpo-124m/metrics.jsonl)"
  timeout 150 python3 tools/torch_gpt2.py --json "$out/torch-steps.json" > "$out/torch-steps.txt" 2>&1 \
    || echo "torch_gpt2 exited $? (see $out/torch-steps.txt)"
fi
