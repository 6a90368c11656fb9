#!/usr/bin/env bash
# Runs two arms of an ablation on the same SFT bases and seeds, then writes docs/ablations/NAME.md
# (a table: held-out pass@1 / pass@4 and the mean of METRIC over the last 30 steps, per arm and seed)
# and docs/ablations/NAME.png (METRIC over training, first seed).
#   tools/ablate.sh NAME METRIC LABEL_A "VERB FLAGS..." LABEL_B "VERB FLAGS..." [SEEDS]
# VERB is grpo or ppo; both arms start from the checkpoint `engine demo` SFTs for that seed.
# Environment: TASK (default arithmetic), BASE (one SFT checkpoint for every seed instead of the demo's),
# MAX_NEW_TOKENS for the held-out eval (default 40), TAG (appended to NAME: runs and docs of another study).
set -euo pipefail
name=$1${TAG:+-$TAG} metric=$2 label_a=$3 arm_a=$4 label_b=$5 arm_b=$6 seeds=${7:-"1 2"}
task=${TASK:-arithmetic}
root=runs/ablations docs=docs/ablations
engine() { dotnet run --project Engine -c Release --no-build -- "$@"; }
dotnet build Engine -c Release -v q -nologo >/dev/null
mkdir -p "$root" "$docs"
rows=""
for seed in $seeds; do
  base="$root/base-$seed" ckpt=${BASE:-$base/sft/final}
  [ -f "$ckpt/model.safetensors" ] || engine demo --seed "$seed" --grpo-steps 1 --eval-n 20 --out "$base" --overwrite >/dev/null
  for arm in a b; do
    if [ $arm = a ]; then label=$label_a; cmd=$arm_a; else label=$label_b; cmd=$arm_b; fi
    run="$root/$name/$label-$seed"
    # An arm that already finished with the same command is reused (FRESH=1 reruns it), so adding a seed costs only its runs.
    if [ "${FRESH:-0}" = 1 ] || [ ! -f "$run/final/model.safetensors" ] || [ "$(cat "$run/command.txt" 2>/dev/null)" != "$cmd" ]; then
      # shellcheck disable=SC2086
      engine $cmd --checkpoint "$ckpt" --task "$task" --seed "$seed" --out "$run" --overwrite --log-every 1000 >/dev/null
      echo "$cmd" > "$run/command.txt"
    fi
    json=$(engine eval --checkpoint "$run/final" --task "$task" --seed "$seed" --n 200 --k 4 \
      --max-new-tokens "${MAX_NEW_TOKENS:-40}" --json | tail -n 1)
    rows+="$label|$seed|$run|$json"$'\n'
  done
done
engine plot --runs "$root/$name/$label_a-${seeds%% *},$root/$name/$label_b-${seeds%% *}" --labels "$label_a,$label_b" \
  --metric "$metric" --title "$name: $metric (seed ${seeds%% *})" --out "$docs/$name.png" >/dev/null
python3 - "$name" "$metric" "$docs/$name.md" <<PY
import json, sys, statistics
name, metric, out = sys.argv[1:4]
lines = [l for l in """$rows""".strip().split("\n") if l]
extra = ["completion_length/wrong", "completion_length/correct"] if metric == "completion_length/mean" else []
table = [f"| arm | seed | held-out pass@1 | pass@4 | {metric} (last 30 steps) | accuracy (last 30 steps) |"
         + "".join(f" {e} (last 30) |" for e in extra), "|---|---:|---:|---:|---:|---:|" + "---:|" * len(extra)]
for l in lines:
    label, seed, run, js = l.split("|", 3)
    r = json.loads(js)
    rows = [json.loads(x) for x in open(f"{run}/metrics.jsonl")]
    tail = rows[-30:]
    m = statistics.mean(float(x.get(metric, 0)) for x in tail)
    acc = statistics.mean(float(x.get("accuracy", 0)) for x in tail)
    def last30(key):
        xs = [float(x[key]) for x in tail if key in x]
        return f"{statistics.mean(xs):.4g}" if xs else "-"
    table.append(f"| {label} | {seed} | {r['pass@1']:.1%} | {r['pass@k']:.1%} | {m:.4g} | {acc:.1%} |"
                 + "".join(f" {last30(e)} |" for e in extra))
open(out, "w").write("\n".join(table) + "\n")
print("\n".join(table))
PY
