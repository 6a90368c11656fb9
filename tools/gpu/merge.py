#!/usr/bin/env python3
"""Joins `Bench kernels --json` (ours; one file or several) with `tools/torch_bench.py --json` (the PyTorch
anchors) on (op, shape).

  python3 tools/gpu/merge.py --ours kernels.json --torch torch.json --title "NVIDIA H100, 2026-11-24" --out docs/bench/h100-2026-11-24

writes OUT.json, an array of {op, version, shape, precision, rate, unit, anchor, anchor_rate, ratio} (ratio = ours /
anchor: above 1 is faster than the anchor; null without an anchor), and OUT.md, the same as a Markdown table.
"""
import argparse
import json

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ours", required=True, nargs="+", help="one or more `Bench kernels --json` files")
    p.add_argument("--torch", required=True)
    p.add_argument("--title", required=True)
    p.add_argument("--command", default="bash tools/gpu/bench.sh", help="how the numbers were made, for the Markdown")
    p.add_argument("--out", required=True, help="path without extension")
    a = p.parse_args()
    ours = [r for path in a.ours for r in json.load(open(path))]
    anchors = {(r["op"], r["shape"], r.get("precision", "fp32")): r for r in json.load(open(a.torch))}
    rows = []
    for r in ours:
        precision = r.get("precision", "fp32")
        # A version is compared with torch at its own precision; 3xtf32 aims at fp32 accuracy, so with fp32.
        anchor = anchors.get((r["op"], r["shape"], {"3xtf32": "fp32"}.get(precision, precision)))
        rows.append({
            "op": r["op"], "version": r["version"], "shape": r["shape"], "precision": precision,
            "rate": r["rate"], "unit": r["unit"], "max_rel_err": r["max_rel_err"],
            "float64_err": r.get("float64_err"),
            "anchor": anchor["anchor"] if anchor else None,
            "anchor_rate": anchor["rate"] if anchor else None,
            "ratio": r["rate"] / anchor["rate"] if anchor and anchor["rate"] > 0 else None,
        })
    with open(a.out + ".json", "w") as f:
        json.dump(rows, f, indent=1, ensure_ascii=False)
    with open(a.out + ".md", "w") as f:
        f.write(f"# {a.title}\n\n`{a.command}`; ours: `Bench kernels --device cuda --json`, anchors: "
                "`tools/torch_bench.py --json`, timed in the same call. Ratio = ours / anchor (> 1: faster).\n\n")
        f.write("| op | v | precision | shape | ours | anchor | anchor rate | ratio | max rel err | float64 err |\n"
                "|---|--:|---|---|--:|---|--:|--:|--:|--:|\n")
        for r in rows:
            anchor_rate = f"{r['anchor_rate']:,.1f} {r['unit']}" if r["anchor_rate"] is not None else ""
            ratio = f"{r['ratio']:.3f}" if r["ratio"] is not None else ""
            f.write(f"| {r['op']} | {r['version']} | {r['precision']} | "
                    f"{r['shape']} | {r['rate']:,.1f} {r['unit']} | {r['anchor'] or ''} | "
                    f"{anchor_rate} | {ratio} | {r['max_rel_err']:.1e} | "
                    f"{'' if r['float64_err'] is None else format(r['float64_err'], '.1e')} |\n")
    print(f"wrote {a.out}.json and {a.out}.md ({len(rows)} rows, {sum(r['ratio'] is not None for r in rows)} with an anchor)")

if __name__ == "__main__":
    main()
