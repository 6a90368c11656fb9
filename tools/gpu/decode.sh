#!/usr/bin/env bash
# Decoding on a GPU (issue 19), one call of under 10 minutes: the device-resident decode loop's tokens/s at
# GPT-2 124M shape (random weights: speed does not depend on them) with and without CUDA graphs and at two chunk
# sizes, HF `generate` at the same shapes, and checks that neither graphs nor chunking change one completion
# (the JSON lines of the same seed must be identical). Prepare .gpu/ here with `tools/gpu/pack.sh Bench Engine`,
# then on the GPU machine, from the project root:
#   bash tools/gpu/decode.sh [OUT]                  OUT defaults to $OUT or ./gpu-decode
set -uo pipefail
out=${1:-${OUT:-gpu-decode}}
mkdir -p "$out"
nvidia-smi -L | tee "$out/gpu.txt"
run() { local limit=$1; shift; timeout "$limit" bash .gpu/run.sh engine.dll "$@"; }
ck="$out/ck/final"
[ -d "$ck" ] || run 150 pretrain --device cuda --model gpt2-124m --tokenizer gpt2 --context 1024 --batch 1 \
  --steps 1 --eval-every 0 --out "$out/ck" --overwrite > "$out/ck.txt" 2>&1 || echo "pretrain exited $? ($out/ck.txt)"
sample() { run 150 sample --device cuda --checkpoint "$ck" --prompt "12+7=" --temperature 1 --seed 1 --json "$@"; }
same() { cmp -s "$out/$1.jsonl" "$out/$2.jsonl" && echo "same completions: $1 = $2" || echo "DIFFERENT: $1 / $2"; }
for b in 8 64; do
  for cfg in "c16-graphs:--decode-chunk 16 --cuda-graphs on" "c16-direct:--decode-chunk 16 --cuda-graphs off" \
             "c64-graphs:--decode-chunk 64 --cuda-graphs on"; do
    name="b$b-${cfg%%:*}"
    # shellcheck disable=SC2086
    sample --num-samples "$b" --max-new-tokens 128 --warmup 1 ${cfg#*:} > "$out/$name.jsonl" 2> "$out/$name.txt" \
      || echo "sample exited $? ($out/$name.txt)"
    grep -h '^decode:\|warning' "$out/$name.txt" | sed "s/^/$name  /"
  done
  same "b$b-c16-graphs" "b$b-c16-direct"
  same "b$b-c16-graphs" "b$b-c64-graphs"
done
# The step-by-step path (one round trip per step), shorter, against the loop at the same length.
sample --num-samples 64 --max-new-tokens 32 --decode-chunk 0 > "$out/b64-step.jsonl" 2> "$out/b64-step.txt"
sample --num-samples 64 --max-new-tokens 32 --decode-chunk 16 > "$out/b64-c16-32.jsonl" 2> "$out/b64-c16-32.txt"
grep -h '^decode:' "$out/b64-step.txt" | sed "s/^/b64-step-32  /"
grep -h '^decode:' "$out/b64-c16-32.txt" | sed "s/^/b64-c16-32  /"
same b64-step b64-c16-32
timeout 200 python3 tools/torch_gpt2.py --what decode --json "$out/torch-decode.json" > "$out/torch-decode.txt" 2>&1 \
  || echo "torch_gpt2 exited $? (see $out/torch-decode.txt)"
grep -h 'decode' "$out/torch-decode.txt" | head -4
