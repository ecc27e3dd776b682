"""Compare a per-modality-[CLS] arm (2 seeds, NAME-seed{0,1}.json beside this file) with a data study's results.json.

The table in table.txt compares with the one-[CLS] study of commit b03e0ae:
    git show b03e0ae:docs/results/study/data/results.json > /tmp/one.json
    python docs/results/cls-per-modality/compare.py cls-per-modality /tmp/one.json
"""
import json
import sys

import numpy as np

name = sys.argv[1]
ref = sys.argv[2] if len(sys.argv) > 2 else "docs/results/study/data/results.json"
recs = json.load(open(ref))["records"]
F = ("0.01", "0.05", "0.1", "0.25", "1.0")
TASKS = ("relationship", "way_speaking", "scene", "director", "writer", "genre")


def committed(curve, arm):
    return {(r["task"], str(float(r["setting"]))): r["values"] for r in recs if r["curve"] == curve and r["arm"] == arm}


runs = [json.load(open(f"docs/results/cls-per-modality/{name}-seed{s}.json")) for s in (0, 1)]


def new(key):
    return {(t, f): [v for r in runs for v in r[key][t][f]] for t in TASKS for f in F}


def stat(v):
    return np.mean(v), np.std(v)


def gaps(a, b, title):
    print(f"\n{title}")
    print("task".ljust(14) + "".join(f.rjust(18) for f in F))
    behind = 0
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
            if t != "MEAN" and g < 0:
                behind += 1
            row += f"{g:+.3f}±{bar:.3f}{mark}".rjust(18)
        print(row)
    print("behind in", behind, "cells")


def means(v, title):
    print(title.ljust(34), " ".join(f"{np.mean([np.mean(v[(t, f)]) for t in TASKS]):.3f}" for f in F))


old_p, old_r = committed("cls", "pretrained"), committed("cls", "random init")
new_p, new_r = new("pretrained|cls"), new("random init|cls")
gaps(old_p, old_r, "committed: one [CLS], pretrained - random init")
gaps(new_p, new_r, f"{name}: pretrained - random init (both per-modality)")
gaps(new_p, old_r, f"{name} pretrained - committed one-[CLS] random init")
print()
means(old_p, "cls one, pretrained")
means(old_r, "cls one, random")
means(new_p, "cls per-mod, pretrained")
means(new_r, "cls per-mod, random")
la = committed("label_fraction", "pretrained")
means(la, "all, committed pretrained")
means(new("pretrained|all"), "all, per-mod pretrained")
means(committed("label_fraction", "random init"), "all, committed random")
means(new("random init|all"), "all, per-mod random")
means(committed("label_fraction", "raw features"), "raw features")
