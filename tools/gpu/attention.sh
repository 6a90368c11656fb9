#!/usr/bin/env bash
# The attention issue's GPU measurements in one call (prepare here with `tools/gpu/pack.sh Bench Engine`, then carry
# .gpu/ and run this on the GPU machine from the project root):
#   bash tools/gpu/attention.sh [OUT] [PARTS]   OUT defaults to $OUT or ./gpu-attention; PARTS (default
#   "fwd bwd torch ptx") lets one GPU call of at most 10 minutes take a part: e.g. "fwd torch" then "bwd ptx";
#   "bwd-tc" times only the backward's tensor-core versions v3-v6 (OUT/bwd-v3.txt|json .. bwd-v6), should the whole
#   backward table (v1-v7) run past its timeout.
# Writes OUT/fwd.txt|json and OUT/bwd.txt|json (every attention version, validated against the CPU reference and
# timed at B2 H8 T1024 D64, B4 H12 T1024 D64, B1 H32/8 T4096 D128), OUT/torch.txt|json (SDPA fp32 and bf16 flash at
# the same shapes, same call), OUT/ptx/ (the kernels' PTX) and OUT/ptxas.txt, OUT/sass.txt (registers, spills,
# local loads/stores and FFMA/HMMA counts per kernel).
set -euo pipefail
out=${1:-${OUT:-gpu-attention}}
parts=${2:-fwd bwd torch ptx}
has() { [[ " $parts " == *" $1 "* ]]; }
mkdir -p "$out/ptx"
nvidia-smi -L | tee "$out/gpu.txt"
has fwd && { timeout 270 bash .gpu/run.sh Bench.dll kernels --device cuda --op attention --attention-shapes \
  --json "$out/fwd.json" --ptx "$out/ptx" > "$out/fwd.txt" 2>&1 || echo "forward table exited $? (see $out/fwd.txt)"; }
has bwd && { timeout 420 bash .gpu/run.sh Bench.dll kernels --device cuda --op attention-backward --attention-shapes \
  --json "$out/bwd.json" --ptx "$out/ptx" > "$out/bwd.txt" 2>&1 \
  || echo "backward table exited $? (see $out/bwd.txt)"; }
if has bwd-tc; then
  for v in 3 4 5 6; do   # v5/v6: the register forms (D > 64 runs v3/v4's kernels inside them)
    timeout 120 bash .gpu/run.sh Bench.dll kernels --device cuda --op attention-backward --version "$v" \
      --attention-shapes --json "$out/bwd-v$v.json" --ptx "$out/ptx" > "$out/bwd-v$v.txt" 2>&1 \
      || echo "backward v$v exited $? (see $out/bwd-v$v.txt)"
  done
fi
has torch && { timeout 200 python3 tools/torch_bench.py --attention-shapes --json "$out/torch.json" \
  > "$out/torch.txt" 2>&1 || echo "torch_bench exited $? (see $out/torch.txt)"; }
has ptx || exit 0
: > "$out/ptxas.txt"; : > "$out/sass.txt"
for f in "$out"/ptx/Attention*.ptx; do
  name=$(basename "$f" .ptx)
  { echo "== $name"; ptxas -v -arch=sm_90 -o "$out/ptx/$name.cubin" "$f" 2>&1; } >> "$out/ptxas.txt" || true
  if [ -f "$out/ptx/$name.cubin" ]; then
    sass=$(cuobjdump -sass "$out/ptx/$name.cubin")
    printf '%s LDL %s STL %s FFMA %s HMMA %s\n' "$name" "$(grep -c 'LDL' <<< "$sass")" "$(grep -c 'STL' <<< "$sass")" \
      "$(grep -c 'FFMA' <<< "$sass")" "$(grep -c 'HMMA' <<< "$sass")" >> "$out/sass.txt"
  fi
done
cat "$out/sass.txt"
