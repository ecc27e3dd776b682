"""How much the linear probe's penalty choice costs at 20 / 60 / 140 labels, and whether another rule would cost less.

Reads runs of `few_label_protocol.py` (their pretrained model, their label files, their pretraining movies),
encodes every labelled movie once per arm (pretrained and random weights' `all` and `cls`, raw features, CCA;
as that script does), runs lmp's linear probe over a grid of penalties (its own fits, strongest first, each
starting from the previous optimum), and records each penalty's val accuracy, val log-loss and test
accuracy. Then each selection rule picks one penalty per cell from val only, and the table gives the mean
test accuracy each rule reads, per arm and label count, beside the best any penalty could read (picked on
test: a ceiling, not a rule).

    python benchmarks/probe_selection.py runs/few-short-half=runs/mw-short-half/store \
        runs/few-default-cur=runs/study/movieworld/store --out runs/probe-selection

Writes OUT/penalties.json (every cell's per-penalty values) and OUT/table.md. `--penalties` sets another grid
(e.g. a wider one) for every rule.
"""

from __future__ import annotations

import argparse
import collections
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lmp.labels import Example, read_task
from lmp.store import FeatureStore
from lmp.tasks.features import Representer
from lmp.tasks.linear_baselines import fit_linear_baseline
from lmp.tasks.loading import load_model
from lmp.tasks.probe import L2_GRID, linear_probe

Rows = list[dict[str, float]]  # one cell's penalties, strongest first


def strongest_of_ties(rows: Rows) -> int:
    """lmp's rule: the best val accuracy, ties to the stronger penalty."""
    acc = [r["val_acc"] for r in rows]
    return acc.index(max(acc))


def val_log_loss(rows: Rows) -> int:
    return int(np.argmin([r["val_loss"] for r in rows]))


def ties_by_log_loss(rows: Rows) -> int:
    best = max(r["val_acc"] for r in rows)
    return min((i for i, r in enumerate(rows) if r["val_acc"] == best), key=lambda i: rows[i]["val_loss"])


def middle_of_ties(rows: Rows) -> int:
    best = max(r["val_acc"] for r in rows)
    tied = [i for i, r in enumerate(rows) if r["val_acc"] == best]
    return tied[len(tied) // 2]


def smoothed(rows: Rows) -> int:
    """The best val accuracy averaged with the two neighbouring penalties' (the ends repeated)."""
    acc = np.pad(np.array([r["val_acc"] for r in rows]), 1, mode="edge")
    return int(np.argmax((acc[:-2] + acc[1:-1] + acc[2:]) / 3))


def test_ceiling(rows: Rows) -> int:
    return int(np.argmax([r["test_acc"] for r in rows]))


RULES: dict[str, Callable[[Rows], int]] = {
    "lmp (ties: stronger)": strongest_of_ties,
    "val log-loss": val_log_loss,
    "ties: val log-loss": ties_by_log_loss,
    "ties: middle": middle_of_ties,
    "smoothed over 3": smoothed,
    "ceiling (test)": test_ceiling,
}


def movie_features(run: Path, store: FeatureStore, ids: list[str]) -> dict[str, dict[str, torch.Tensor]]:
    """arm -> movie -> clip vector, each arm as few_label_protocol.py probes it."""
    checkpoint = run / "pretrain" / "model"
    models = {"pretrained": load_model(checkpoint, store), "random": load_model(checkpoint, store, random_init=True)}
    examples = [Example(v, None, None, None) for v in ids]
    arms = {}
    for name, model in models.items():
        for rep in ("all", "cls"):
            arms[f"{name} {rep}"] = Representer(store, model, rep, window=256, progress=False).clips(examples)
    raw = Representer(store, None, "raw", progress=False).clips(examples)
    arms["raw"] = raw
    pre = FeatureStore(run / "pretrain-store")
    arms["CCA"] = fit_linear_baseline("cca", pre, list(pre.ids), 256, 16)(raw)
    return {arm: dict(zip(ids, x)) for arm, x in arms.items()}


def penalty_rows(x: dict[str, torch.Tensor], y: dict[str, torch.Tensor], classes: int, grid) -> Rows:
    """Every penalty's fit as `lmp probe` makes it (one call: each fit warm-started from the stronger one's)."""
    path: list[dict] = []
    linear_probe(x["train"], y["train"], x["val"], y["val"], x["test"], y["test"], "classification",
                 num_classes=classes, weight_decays=grid, path=path)  # fmt: skip
    keys = {"val_acc": ("val", "accuracy"), "val_loss": ("val", "loss"), "test_acc": ("test", "accuracy")}
    return [{"lam": p["weight_decay"]} | {k: p[split][m] for k, (split, m) in keys.items()} for p in path]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="RUN=STORE: a few_label_protocol.py --out and its corpus's store")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tasks", default="genre,director")
    ap.add_argument("--sizes", default="20,60,140")
    ap.add_argument("--penalties", default=",".join(f"{lam:g}" for lam in L2_GRID),
                    help="the grid every rule chooses from (default: the linear probe's own)")  # fmt: skip
    args = ap.parse_args()
    torch.set_num_threads(1)
    tasks, sizes = args.tasks.split(","), [int(s) for s in args.sizes.split(",")]
    grid = [float(p) for p in args.penalties.split(",")]
    if bad := [spec for spec in args.runs if "=" not in spec]:
        ap.error(f"runs: each must be RUN=STORE, got {bad}")
    cells: dict[str, Rows] = {}
    for spec in tqdm(args.runs, desc="runs", unit="run"):
        run, store_path = (Path(p) for p in spec.split("=", 1))
        store = FeatureStore(store_path)
        label_sets = {(t, n): read_task(run / f"labels-{n}" / t).restrict(store) for t in tasks for n in sizes}
        ids = sorted({e.video_id for tk in label_sets.values() for split in tk.splits.values() for e in split})
        features = movie_features(run, store, ids)
        for (task, n), tk in label_sets.items():
            y = {s: tk.targets(s) for s in ("train", "val", "test")}
            for arm, by_movie in features.items():
                x = {s: torch.stack([by_movie[e.video_id] for e in tk.splits[s]]) for s in y}
                cells[f"{run.name}|{arm}|{task}|{n}"] = penalty_rows(x, y, tk.spec.num_classes, grid)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "penalties.json").write_text(json.dumps(cells, indent=1) + "\n")

    reads = collections.defaultdict(lambda: collections.defaultdict(list))  # (arm, n) -> rule -> test accs
    for key, rows in cells.items():
        _, arm, _, n = key.split("|")
        for name, rule in RULES.items():
            for group in ((arm, n), ("every arm", n)):
                reads[group][name].append(rows[rule(rows)]["test_acc"])
    lines = ["| arm | train labels | cells | " + " | ".join(RULES) + " |", "|" + "---|" * (len(RULES) + 3)]
    for (arm, n), by_rule in sorted(reads.items(), key=lambda kv: (kv[0][0] == "every arm", kv[0][0], int(kv[0][1]))):
        values = " | ".join(f"{np.mean(v):.3f}" for v in by_rule.values())
        lines.append(f"| {arm} | {n} | {len(next(iter(by_rule.values())))} | {values} |")
    text = "\n".join(lines) + "\n"
    (args.out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
