#!/usr/bin/env bash
# The classic RLHF pipeline in miniature: SFT base -> reward model -> PPO against it, then held-out accuracy.
#   bash tools/rlhf.sh [SEEDS]        (default "1 2"; about 6 minutes per seed on 2 CPU cores)
#   HEAD=scalar bash tools/rlhf.sh 1  (the scalar-head reward model instead of the implicit one)
# The SFT base is the one `engine demo` builds for the seed (shared with tools/ablate.sh). The reward model
# starts from that base (as InstructGPT's did) and learns from the built-in preferences plus pairs of the
# base's own samples labelled by the verifier; PPO then optimises the reward model's score, and the
# verifier only measures. Writes runs/rlhf/HEAD-SEED/{rm,ppo} and docs/rlhf-HEAD.md (a table).
set -euo pipefail
seeds=${1:-"1 2"}
head=${HEAD:-implicit}
root=runs/rlhf
engine() { dotnet run --project Engine -c Release --no-build -- "$@"; }
dotnet build Engine -c Release -v q -nologo >/dev/null
if [ "$head" = implicit ]; then rm_flags=(--head implicit --lr 1e-4 --steps 300); else rm_flags=(--head scalar --steps 600); fi
rows=""
for seed in $seeds; do
  base=runs/ablations/base-$seed
  [ -f "$base/sft/final/model.safetensors" ] || engine demo --seed "$seed" --grpo-steps 1 --eval-n 20 --out "$base" --overwrite >/dev/null
  run="$root/$head-$seed"
  engine rm "${rm_flags[@]}" --checkpoint "$base/sft/final" --policy "$base/sft/final" --seed "$seed" --out "$run/rm" --overwrite --log-every 1000
  engine ppo --checkpoint "$base/sft/final" --reward-model "$run/rm/final" --kl-coef 0.3 --steps 100 --prompts 32 --seed "$seed" \
    --out "$run/ppo" --overwrite --log-every 1000
  before=$(engine eval --checkpoint "$base/sft/final" --task arithmetic --seed "$seed" --n 200 --k 4 --max-new-tokens 40 --json | tail -n 1)
  after=$(engine eval --checkpoint "$run/ppo/final" --task arithmetic --seed "$seed" --n 200 --k 4 --max-new-tokens 40 --json | tail -n 1)
  rows+="$seed|$run|$before|$after"$'\n'
done
mkdir -p docs
python3 - "$head" "docs/rlhf-$head.md" "$seeds" <<PY
import json, sys
head, out, seeds = sys.argv[1:4]
def mean(rows, key, a, b):
    xs = [r[key] for r in rows[a:b] if key in r]
    return sum(xs) / len(xs) if xs else float("nan")
table = ["| seed | RM held-out: all / built-in / policy samples | RM score: step 0 → last 10 | rm/auc: first 10 → last 10 | KL (last 10) | held-out pass@1 | pass@4 | format |",
         "|---:|---:|---:|---:|---:|---:|---:|---:|"]
for line in [l for l in """$rows""".strip().split("\n") if l]:
    seed, run, before, after = line.split("|", 3)
    b, a = json.loads(before), json.loads(after)
    rm = json.load(open(f"{run}/rm/summary.json"))
    acc, n = rm["eval_accuracy_by_kind"], rm["held_out_by_kind"]
    def part(pred):
        ks = [k for k in n if pred(k)]
        total = sum(n[k] for k in ks)
        return sum(acc[k] * n[k] for k in ks) / total if total else float("nan")
    builtin, policy = part(lambda k: not k.startswith("policy")), part(lambda k: k.startswith("policy"))
    rows = [json.loads(x) for x in open(f"{run}/ppo/metrics.jsonl")]
    table.append(f"| {seed} | {rm['eval_accuracy']:.1%} / {builtin:.1%} / {policy:.1%} | {rows[0]['rm/score']:.2f} → {mean(rows, 'rm/score', -10, None):.2f} "
                 f"| {mean(rows, 'rm/auc', 0, 10):.2f} → {mean(rows, 'rm/auc', -10, None):.2f} | {mean(rows, 'kl', -10, None):.2f} "
                 f"| {b['pass@1']:.1%} → **{a['pass@1']:.1%}** | {b['pass@k']:.1%} → {a['pass@k']:.1%} | {b['format_rate']:.1%} → {a['format_rate']:.1%} |")
intro = [f"# RLHF in miniature: SFT base → {head} reward model → PPO", "",
         f"Written by \`HEAD={head} bash tools/rlhf.sh \"{seeds}\"\`. RM held-out: pairwise accuracy on all held-out pairs / the",
         "built-in kinds / the base's own samples. PPO optimises the RM score only; pass@1 (greedy), pass@4 and format are",
         "the verifier's, on 200 held-out problems, before → after PPO. See BENCHMARKS.md for what the figures mean.", ""]
open(out, "w").write("\n".join(intro + table) + "\n")
print("\n".join(table))
PY
