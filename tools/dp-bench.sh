#!/usr/bin/env bash
# Data-parallel throughput on this machine: one process with the global batch against `mpirun -np 2` with half of
# it per rank (and the same with one .NET worker thread per rank, so two ranks do not share two cores four ways).
# Usage: tools/dp-bench.sh [repeats]   (needs mpirun: apt-get install mpich). Prints one line per run and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
bin=$(mktemp -d)
dotnet build Engine/Engine.csproj -c Release -o "$bin" > /dev/null
engine=(dotnet "$bin/engine.dll")
work=$(mktemp -d)
pre=(pretrain --model micro --context 64 --steps 40 --eval-every 0 --eval-batches 1 --log-every 1000)
grpo=(grpo --model micro --steps 8 --group-size 8 --max-new-tokens 24 --log-every 1000 --train-size 500)
seconds() { local t0; t0=$(date +%s.%N); "$@" > /dev/null 2>&1; echo "$(date +%s.%N) - $t0" | bc; }
echo "start: $(date -u '+%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A runs
for r in $(seq "$repeats"); do
  for setup in one two two-1thread; do
    case $setup in
      one) launch=("${engine[@]}"); b=16; p=8 ;;
      two) launch=(mpirun -np 2 "${engine[@]}"); b=8; p=4 ;;
      two-1thread) launch=(mpirun -np 2 -genv DOTNET_PROCESSOR_COUNT 1 "${engine[@]}"); b=8; p=4 ;;
    esac
    out="$work/$setup-$r"
    s=$(seconds "${launch[@]}" "${pre[@]}" --batch $b --out "$out-pre")
    tps=$(jq .tokens_per_s "$out-pre/summary.json")
    g=$(seconds "${launch[@]}" "${grpo[@]}" --prompts $p --out "$out-grpo")
    echo "run $r $setup: pretrain ${s}s wall, $tps tokens/s in training; grpo ${g}s wall"
    runs[$setup-pre]+="$tps "; runs[$setup-grpo]+="$g "
  done
done
median() {
  tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}
for setup in one two two-1thread; do
  pre_median=$(echo "${runs[$setup-pre]}" | median)
  grpo_median=$(echo "${runs[$setup-grpo]}" | median)
  echo "median $setup: pretrain $pre_median tokens/s; grpo $grpo_median s"
done
echo "end: $(date -u '+%F %T') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$bin" "$work"
