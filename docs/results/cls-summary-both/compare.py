"""Compare an arm (NAME-seed{0,1}.json beside this file) with a data study's results.json:
    python docs/results/cls-summary-both/compare.py sum-both runs/study/data/results.json > table.txt
"""
import json
import sys

import numpy as np

name, ref = sys.argv[1], sys.argv[2]
recs = json.load(open(ref))["records"]
F = ("0.01", "0.05", "0.1", "0.25", "1.0")
TASKS = ("relationship", "way_speaking", "scene", "director", "writer", "genre")
def committed(curve, arm):
    return {(r["task"], str(float(r["setting"]))): r["values"] for r in recs if r["curve"] == curve and r["arm"] == arm}
runs = [json.load(open(f"docs/results/cls-summary-both/{name}-seed{s}.json")) for s in (0, 1)]
def new(key):
    return {(t, f): [v for r in runs for v in r[key][t][f]] for t in TASKS for f in F}
def gaps(a, b, title):
    print(f"\n{title}")
    print("task".ljust(14) + "".join(f.rjust(18) for f in F))
    beyond = 0
    for t in TASKS + ("MEAN",):
        row = t.ljust(14)
        for f in F:
            if t == "MEAN":
                va = np.mean([a[(x, f)] for x in TASKS], axis=0)
                vb = np.mean([b[(x, f)] for x in TASKS], axis=0)
            else:
                va, vb = np.array(a[(t, f)]), np.array(b[(t, f)])
            g = va.mean() - vb.mean()
            bar = 2 * np.sqrt(0.5 * (va.std() ** 2 + vb.std() ** 2))
            mark = "-" if g < -bar else ("+" if g > bar else " ")
            beyond += t != "MEAN" and mark == "-"
            row += f"{g:+.3f}±{bar:.3f}{mark}".rjust(18)
        print(row)
    print("behind beyond the bar in", beyond, "cells")
def means(v, title):
    print(title.ljust(34), " ".join(f"{np.mean([np.mean(v[(t, f)]) for t in TASKS]):.3f}" for f in F))
gaps(committed("cls", "pretrained"), committed("cls", "random init"), "study: pretrained cls - random cls")
gaps(new("pretrained|cls"), committed("cls", "random init"), f"{name}: pretrained cls - random cls")
gaps(new("pretrained|all"), committed("label_fraction", "pretrained"), f"{name}: all - study's pretrained all")
gaps(new("pretrained|all"), committed("label_fraction", "raw features"), f"{name}: all - raw")
print()
means(committed("label_fraction", "pretrained"), "all, study pretrained")
means(new("pretrained|all"), f"all, {name}")
means(committed("cls", "pretrained"), "cls, study pretrained")
means(new("pretrained|cls"), f"cls, {name}")
means(committed("cls", "random init"), "cls, random")
means(committed("label_fraction", "raw features"), "raw")
