#!/usr/bin/env bash
# The project's GPU benchmark in one command, on a GPU machine with no .NET (prepare it here with
# `tools/gpu/pack.sh Bench Engine`, then carry .gpu/ and run this there from the project root):
#   bash tools/gpu/bench.sh [OUT]          OUT defaults to $OUT or ./gpu-bench
# It runs our kernel table (every op and version, validated, timed, JSON) and the PyTorch anchors in
# the same call, and merges them into OUT/bench.md and OUT/bench.json (copy those to docs/bench/NAME.*).
set -euo pipefail
out=${1:-${OUT:-gpu-bench}}
mkdir -p "$out"
nvidia-smi -L | tee "$out/gpu.txt"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
timeout 420 bash .gpu/run.sh Bench.dll kernels --device cuda --repeats 9 --json "$out/kernels.json" > "$out/kernels.txt" 2>&1 \
  || echo "Bench kernels exited $? (see $out/kernels.txt)"
timeout 150 python3 tools/torch_bench.py --json "$out/torch.json" > "$out/torch.txt" 2>&1 \
  || echo "torch_bench exited $? (see $out/torch.txt)"
python3 tools/gpu/merge.py --ours "$out/kernels.json" --torch "$out/torch.json" \
  --title "$gpu, $(date -u +%Y-%m-%d)" --out "$out/bench"
