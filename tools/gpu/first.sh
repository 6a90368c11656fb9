#!/usr/bin/env bash
# The first call of a session lent a GPU when device time is short (15 minutes a session, machine starts
# included): what the open GPU issues (12 GEMM, 13 attention, 19 rollouts) owe, most important first, in ONE
# call that stops starting new parts DEADLINE seconds (default 480) after it began. Prepare .gpu/ here with
# `tools/gpu/pack.sh Bench Engine`, then `run` with carry [".gpu"] and, from the project root there:
#   bash tools/gpu/first.sh $OUT              (timeout_s ≥ DEADLINE + 60)
# Parts, each under its own timeout, logs in OUT/<part>.txt, a line per part in OUT/parts.txt:
#   1. small      every op and version at the tests' small odd shapes on the real PTX path, validated against
#                 the CPU reference (the tensor-core kernels have only run through their software twins so far)
#   1b. levels    the same for GEMM v3 compiled at O1 in an O2 process (ENGINE_ILGPU_OPT_KERNEL: its PTX loaded by hand)
#   2. ptxas      ptxas -v (registers, stack, spills) and SASS LDL/STL/HMMA/FFMA counts of the PTX part 1 loaded
#   3. gemm       GEMM_VERSIONS at GPT-2 124M's linear shapes and 4096³, cuBLAS SGEMM / TF32 in the same process
#   4. torch      PyTorch's anchors at the same GEMM and attention shapes; OUT/table.md joins them (merge.py)
#   5. attention  FWD_VERSIONS forward and BWD_VERSIONS backward at the attention issue's shapes
#   6. sanitize   compute-sanitizer racecheck/memcheck on GEMM v10/v11 and attention v5-v7, synccheck on attention
#                 v2-v7 forward and backward, small shapes
#   7. decode     engine sample, 64 × 128 new tokens at GPT-2 124M size, beside HF generate
# The slow versions (matmul v1/v2, attention v1) are left out of 3 and 5: their 2026-11-24 H100 figures stand.
set -uo pipefail
out=${1:-${OUT:-gpu-first}}
deadline=${DEADLINE:-480}
gemm_versions=${GEMM_VERSIONS:-3,5,6,7,8,9,10,11,12}
fwd_versions=${FWD_VERSIONS:-2,3,4,5,6,7}
bwd_versions=${BWD_VERSIONS:-2,3,4,5,6,7}
mkdir -p "$out/ptx"
start=$SECONDS
nvidia-smi -L | tee "$out/gpu.txt"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)

# part NAME CAP COMMAND...: runs COMMAND into OUT/NAME.txt under min(CAP, the time left); skipped under 20 s.
part() {
  local name=$1 cap=$2; shift 2
  local t=$(( deadline - (SECONDS - start) ))
  (( t > cap )) && t=$cap
  if (( t < 20 )); then echo "$name: skipped, $t s left" | tee -a "$out/parts.txt"; return; fi
  local s=$SECONDS
  timeout "$t" bash -c '"$@"' _ "$@" > "$out/$name.txt" 2>&1   # bash -c: COMMAND may be a function below
  echo "$name: exit $? after $(( SECONDS - s )) s (limit $t s)" | tee -a "$out/parts.txt"
}
bench() { bash .gpu/run.sh Bench.dll kernels --device cuda "$@"; }
engine() { bash .gpu/run.sh engine.dll "$@"; }

export out
export -f bench engine
part small 150 bench --small --repeats 3 --json "$out/small.json" --ptx "$out/ptx"
grep -E "error|NOT DETERMINISTIC" "$out/small.txt" | head -20
levels() { ENGINE_ILGPU_OPT_KERNEL=MatmulTiledGpu.Kernel=O1 bench --small --op matmul --version 3 --repeats 1; }
export -f levels
part levels 30 levels
grep -E "error|matmul" "$out/levels.txt" | head -4

ptx_check() {
  for f in "$out"/ptx/*.ptx; do
    local name cubin
    name=$(basename "$f" .ptx); cubin="$out/ptx/$name.cubin"
    echo "== $name $(ptxas -v -arch=sm_90 -o "$cubin" "$f" 2>&1 | grep -E 'registers|stack|spill' | tr '\n' ' ')"
    [ -f "$cubin" ] || continue
    sass=$(cuobjdump -sass "$cubin")
    printf '   LDL %s STL %s HMMA %s FFMA %s\n' "$(grep -c LDL <<< "$sass")" "$(grep -c STL <<< "$sass")" \
      "$(grep -c HMMA <<< "$sass")" "$(grep -c FFMA <<< "$sass")"
  done
}
export -f ptx_check
part ptxas 40 ptx_check

# v12 at O1: O2 gives it 218 registers (BENCHMARKS.md, "O1 against O2"); every other kernel runs at O2, the default.
part gemm 150 env ENGINE_ILGPU_OPT_KERNEL=MatmulUnrolledGpu.Kernel=O1 bash -c 'bench "$@"' _ --op matmul \
  --gemm-shapes --version "$gemm_versions" --repeats 5 --json "$out/gemm.json"
part torch 120 python3 tools/torch_bench.py --gemm-shapes --attention-shapes --json "$out/torch.json"
part attention-fwd 100 bench --op attention --attention-shapes --version "$fwd_versions" --repeats 5 \
  --json "$out/attention-fwd.json"
part attention-bwd 120 bench --op attention-backward --attention-shapes --version "$bwd_versions" --repeats 5 \
  --json "$out/attention-bwd.json"
ours=(); for f in gemm attention-fwd attention-bwd; do [ -s "$out/$f.json" ] && ours+=("$out/$f.json"); done
[ ${#ours[@]} -gt 0 ] && [ -s "$out/torch.json" ] && python3 tools/gpu/merge.py --ours "${ours[@]}" \
  --torch "$out/torch.json" --title "$gpu, $(date -u +%Y-%m-%d)" --command "bash tools/gpu/first.sh" \
  --out "$out/table"

# compute-sanitizer on the kernels whose PTX has never run: shared-memory races (cp.async stages, the shared slots
# of the register forms) and out-of-bounds accesses (cp.async zero-fill at the edges), at the small shapes.
sanitize() {
  local cs="compute-sanitizer --target-processes all --error-exitcode 3"
  $cs --tool racecheck bash .gpu/run.sh Bench.dll kernels --device cuda --small --op matmul --version 10,11 --repeats 1
  $cs --tool racecheck bash .gpu/run.sh Bench.dll kernels --device cuda --small --op attention-backward \
    --version 5,6,7 --repeats 1
  $cs --tool memcheck bash .gpu/run.sh Bench.dll kernels --device cuda --small --op matmul --version 10,11 --repeats 1
  # synccheck: a barrier or warp-synchronous instruction some threads skip (the CPU accelerator cannot show it).
  $cs --tool synccheck bash .gpu/run.sh Bench.dll kernels --device cuda --small --op attention \
    --version 2,3,4,5,6,7 --repeats 1
  $cs --tool synccheck bash .gpu/run.sh Bench.dll kernels --device cuda --small --op attention-backward \
    --version 2,3,4,5,6,7 --repeats 1
  $cs --tool racecheck bash .gpu/run.sh Bench.dll kernels --device cuda --small --op attention --version 5,6,7 \
    --repeats 1
}
export -f sanitize
part sanitize 120 sanitize
grep -E "ERROR SUMMARY|RACECHECK SUMMARY|hazard" "$out/sanitize.txt" | head -6

decode() {
  local ck="$out/ck/final"
  engine pretrain --device cuda --model gpt2-124m --tokenizer gpt2 --context 1024 --batch 1 --steps 1 \
    --eval-every 0 --out "$out/ck" --overwrite || return
  engine sample --device cuda --checkpoint "$ck" --prompt "12+7=" --temperature 1 --seed 1 --num-samples 64 \
    --max-new-tokens 128 --warmup 1 --json > "$out/decode-b64.jsonl"
  timeout 90 python3 tools/torch_gpt2.py --what decode --json "$out/torch-decode.json"
}
export -f decode
part decode 150 decode
grep -h "decode" "$out/decode.txt" | head -6
echo "done in $(( SECONDS - start )) s"
