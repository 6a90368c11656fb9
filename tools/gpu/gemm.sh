#!/usr/bin/env bash
# The GEMM measurements of issue 12 in one GPU-machine call (prepare with `tools/gpu/pack.sh Bench Engine` here,
# carry .gpu/, run from the project root there):   bash tools/gpu/gemm.sh [OUT]      OUT defaults to $OUT or ./gpu-gemm
# For ILGPU optimisation levels O1 and O2 (ENGINE_ILGPU_OPT): every matmul version at the GPT-2 124M shapes and
# 4096³ beside cuBLAS SGEMM / TF32 (Bench kernels --gemm-shapes), its PTX and `ptxas -v` (registers, stack, spills)
# for sm_90; then PyTorch fp32 / TF32 / bf16 at the same shapes, and the joined table (OUT/gemm-O?.md).
# A GPU call is capped at 10 minutes: OPTS="O1" / OPTS="O2" / TORCH=0 split the work over calls.
set -euo pipefail
out=${1:-${OUT:-gpu-gemm}}
mkdir -p "$out"
nvidia-smi -L | tee "$out/gpu.txt"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
for opt in ${OPTS:-O1 O2}; do
  ENGINE_ILGPU_OPT=$opt timeout 280 bash .gpu/run.sh Bench.dll kernels --device cuda --op matmul --gemm-shapes \
    --repeats 9 --json "$out/kernels-$opt.json" --ptx "$out/ptx-$opt" > "$out/kernels-$opt.txt" 2>&1 \
    || echo "Bench kernels ($opt) exited $? (see $out/kernels-$opt.txt)"
  for f in "$out/ptx-$opt"/Matmul*.ptx; do
    echo "== $f"; ptxas -v -arch=sm_90 -o /dev/null "$f" 2>&1 | grep -E "registers|stack|spill" || true
  done > "$out/ptxas-$opt.txt"
done
if [ "${TORCH:-1}" = 1 ]; then
  timeout 280 python3 tools/torch_bench.py --gemm-shapes --json "$out/torch.json" > "$out/torch.txt" 2>&1 \
    || echo "torch_bench exited $? (see $out/torch.txt)"
fi
for opt in ${OPTS:-O1 O2}; do
  [ -f "$out/kernels-$opt.json" ] && [ -f "$out/torch.json" ] || continue
  python3 tools/gpu/merge.py --ours "$out/kernels-$opt.json" --torch "$out/torch.json" \
    --title "$gpu, $(date -u +%Y-%m-%d), ILGPU $opt" --command "bash tools/gpu/gemm.sh" --out "$out/gemm-$opt"
done
