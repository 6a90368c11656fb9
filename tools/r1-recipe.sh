#!/usr/bin/env bash
# The DeepSeek-R1 recipe in miniature, one CLI step at a time, then a table of held-out results.
#   bash tools/r1-recipe.sh [OUT] [SEED]        (about 20 minutes on 2 CPU cores; PRETRAIN_STEPS, FORMATTED override)
# The base is a language model pretrained on "a+b=c" documents and one-digit addition facts; a share of
# the problems (FORMATTED, default 50%) appear as worked solutions in the <think>/<answer> format. Like
# the Qwen2.5 bases that R1-Zero reproductions start from (Liu et al. 2025 found them reasoning before
# any RL), it has seen reasoning text but is not tuned to produce it. The models are Llama-style: a
# GPT-2 (learned absolute positions) pretrained on packed text never learned to copy the prompt's digits
# into its column sums (0.5% held-out pass@1 against 19.5%; docs/r1-recipe.md).
# Arms (all on the arithmetic task, the same seed):
#   r1-zero      GRPO straight from that base
#   cold-start   SFT on a few formatted traces, then GRPO
#   rs-sft-rl2   rejection-sample the cold-start policy, SFT on the verified traces, a second GRPO stage
#   distill      SFT a smaller student (micro-llama) on the best policy's verified traces
#   small-rl     GRPO on that small model directly (after the same cold start), for the R1 paper's comparison
set -euo pipefail
out=${1:-runs/r1}
seed=${2:-1}
engine() { dotnet run --project Engine -c Release --no-build -- "$@"; }
dotnet build Engine -c Release -v q -nologo >/dev/null
mkdir -p "$out"
common=(--task arithmetic --seed "$seed")
rl=(--steps 150 --prompts 8 --group-size 8 --max-new-tokens 40 --lr 1e-4 --warmup 10 --log-every 50)

formatted=${FORMATTED:-0.5}
pretrain_steps=${PRETRAIN_STEPS:-3000}

engine data --task arithmetic --n 4000 --split train --seed "$seed" --out "$out/train.jsonl"
head -n 200 "$out/train.jsonl" > "$out/cold.jsonl"                              # a few formatted traces
# The pretraining corpus, one document per line of "the web", separated by <|endoftext|>: every training
# problem with its answer ("47+38=85"; FORMATTED of them as worked solutions instead), and the one-digit
# facts their column sums use ("7+8=15", "4+3+1=8") — the skills a base model brings, in no reasoning format.
python3 - "$out/train.jsonl" "$out/corpus.txt" "$seed" "$formatted" <<'PY'
import json, random, re, sys
src, dst, seed, share = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
rng = random.Random(seed)
docs = []
for line in open(src):
    r = json.loads(line)
    docs.append(r["prompt"] + (r["completion"] if rng.random() < share else r["answer"]))
    docs.extend(re.search(r"<think>(.*)</think>", r["completion"]).group(1).split(" "))
rng.shuffle(docs)
open(dst, "w").write("".join(d + "<|endoftext|>" for d in docs))
PY
engine pretrain --data "$out/corpus.txt" --model tiny-llama --context 64 --steps "$pretrain_steps" --seed "$seed" --out "$out/base" --overwrite --log-every 500

engine grpo --checkpoint "$out/base/final" "${common[@]}" "${rl[@]}" --out "$out/r1-zero" --overwrite
engine sft --checkpoint "$out/base/final" --data "$out/cold.jsonl" --steps 150 --seed "$seed" --out "$out/cold-sft" --overwrite --log-every 100
engine grpo --checkpoint "$out/cold-sft/final" "${common[@]}" "${rl[@]}" --out "$out/cold-start" --overwrite
engine rejection-sample --checkpoint "$out/cold-start/final" "${common[@]}" --n 1000 --k 4 --out "$out/rs.jsonl"
engine sft --checkpoint "$out/cold-start/final" --data "$out/rs.jsonl" --steps 100 --lr 1e-3 --seed "$seed" --out "$out/rs-sft" --overwrite --log-every 100
engine grpo --checkpoint "$out/rs-sft/final" "${common[@]}" "${rl[@]}" --out "$out/rs-sft-rl2" --overwrite
engine distill --teacher "$out/rs-sft-rl2/final" --student micro-llama "${common[@]}" --n 2000 --k 2 --steps 400 --out "$out/distill" --overwrite
engine pretrain --data "$out/corpus.txt" --model micro-llama --context 64 --steps "$pretrain_steps" --seed "$seed" --out "$out/small-base" --overwrite --log-every 500
engine sft --checkpoint "$out/small-base/final" --data "$out/cold.jsonl" --steps 150 --seed "$seed" --out "$out/small-cold" --overwrite --log-every 100
engine grpo --checkpoint "$out/small-cold/final" "${common[@]}" "${rl[@]}" --out "$out/small-rl" --overwrite

table="$out/table.md"
{
  echo "| stage | checkpoint | pass@1 | pass@4 | maj@4 | format |"
  echo "|---|---|---:|---:|---:|---:|"
  for arm in base r1-zero cold-sft cold-start rs-sft-rl2 distill/student small-rl; do
    json=$(engine eval --checkpoint "$out/$arm/final" "${common[@]}" --n 200 --k 4 --json | tail -n 1)
    python3 - "$arm" "$json" <<'PY'
import json, sys
arm, r = sys.argv[1], json.loads(sys.argv[2])
print(f"| {arm} | {arm}/final | {r['pass@1']:.1%} | {r['pass@k']:.1%} | {r['maj@k']:.1%} | {r['format_rate']:.1%} |")
PY
  done
} > "$table"
cat "$table"
