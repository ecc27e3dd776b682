"""Measurements that show what each MovieWorld task needs (the tables in docs/movieworld.md).

    python -m lmp.synth.measure runs/movieworld            # prints markdown tables
    python -m lmp.synth.measure runs/movieworld --quick    # fewer settings, for a smoke check

Every number is a test-split score of a linear probe trained on the train split (L2 strength picked
on val), over fixed, hand-made poolings of the frozen store features; no learned encoder is involved:

* per modality subset (visual / audio / text / all): features of a **single random shot** of the clip
  (one that has every modality of the subset) vs the **mean over the whole clip** (per modality, over the
  shots that have it; subsets concatenate their means);
* per **span**: the mean over a random contiguous window of 15, 30, 60 or 120 seconds of the clip vs the
  whole clip (all modalities);
* shot and boundary tasks: a probe on one shot (or on the two shots around a cut).

The probe is multinomial logistic regression (softmax, or per-class sigmoids for multi-label) fitted
by L-BFGS in torch, or ridge regression for regression tasks; scikit-learn is not needed.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

from lmp.modality import MODALITIES
from lmp.store import FeatureStore
from lmp.synth.labels import LVU_TASKS, TASKS

SUBSETS = {"visual": ("visual",), "audio": ("audio",), "text": ("text",), "all": MODALITIES}
WINDOWS_S = (15.0, 30.0, 60.0, 120.0)
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
RIDGE_GRID = (1e-2, 1e-1, 1.0, 10.0, 100.0)


# -- data -------------------------------------------------------------------------------------------
def load_movies(store: FeatureStore) -> dict[str, dict[str, np.ndarray]]:
    return {
        mid: {
            k: np.asarray(v, dtype=np.float32) if v.dtype == np.float16 else v
            for k, v in store.read(mid).items()
        }
        for mid in store.ids
    }


def read_rows(task_dir: Path, split: str) -> list[dict[str, str]]:
    with open(task_dir / f"{split}.csv", newline="") as f:
        return list(csv.DictReader(f))


def encode(task: dict, label: str):
    """A label string -> class id | multi-hot vector | float, following task.json."""
    if task["type"] == "regression":
        return float(label)
    classes = task["classes"]
    if task["type"] == "multilabel":
        v = np.zeros(len(classes))
        v[[classes.index(c) for c in label.split("|") if c]] = 1.0
        return v
    return classes.index(label)


def chance_score(task: dict, y_train: np.ndarray, y_test: np.ndarray) -> float:
    """What knowing no features scores: majority class accuracy | train-mean MSE | positive rate (AP of a
    random scorer)."""
    if task["type"] == "regression":
        return float(np.mean((y_test - y_train.mean()) ** 2))
    if task["type"] == "multilabel":
        return float(np.mean([y_test[:, c].mean() for c in range(y_test.shape[1]) if y_test[:, c].any()]))
    if task["metric"] == "AP":
        return float(y_test.mean())
    return float(np.bincount(y_test, minlength=len(task["classes"])).max() / len(y_test))


def cosine(u: np.ndarray, v: np.ndarray) -> float:
    return float(u @ v) / (float(np.linalg.norm(u) * np.linalg.norm(v)) + 1e-6)


def pool(movie: dict[str, np.ndarray], shots: np.ndarray, modalities) -> np.ndarray:
    """Concatenated per-modality means over the given shots that have the modality (zeros if none): [sum D_m]."""
    parts = []
    for m in modalities:
        present = shots[movie[f"{m}_mask"][shots]]
        x = movie[m][present].mean(axis=0) if len(present) else np.zeros(movie[m].shape[1], np.float32)
        parts.append(x)
    return np.concatenate(parts)


def single_shot(movie, start: int, end: int, modalities, rng: np.random.Generator) -> np.ndarray:
    """Features of one random shot of [start, end) that has every modality of the subset (if any does)."""
    shots = np.arange(start, end)
    full = np.logical_and.reduce([movie[f"{m}_mask"][shots] for m in modalities])
    pick = rng.choice(shots[full]) if full.any() else rng.choice(shots)
    return pool(movie, np.array([pick]), modalities)


def window(movie, start: int, end: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Shots of a random contiguous window of about `seconds` inside the clip (at least one shot)."""
    times = movie["times"]
    t0 = times[start, 0]
    span = times[end - 1, 1] - t0
    if span <= seconds:
        return np.arange(start, end)
    begin = t0 + rng.random() * (span - seconds)
    inside = np.flatnonzero((times[start:end, 0] >= begin) & (times[start:end, 1] <= begin + seconds)) + start
    if len(inside) == 0:  # one shot longer than the window: take the shot the window starts in
        inside = np.array([start + np.searchsorted(times[start:end, 1], begin)])
    return inside


# -- probes -----------------------------------------------------------------------------------------
def _standardise(train: np.ndarray, *others: np.ndarray):
    mu, sd = train.mean(0), train.std(0) + 1e-6
    return [(x - mu) / sd for x in (train, *others)]


def _fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float, multilabel: bool, num_classes: int
) -> torch.nn.Linear:
    xt = torch.from_numpy(x).double()
    yt = torch.from_numpy(y).double() if multilabel else torch.from_numpy(y).long()
    lin = torch.nn.Linear(x.shape[1], num_classes).double()
    torch.nn.init.zeros_(lin.weight)
    torch.nn.init.zeros_(lin.bias)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=200, history_size=20, line_search_fn="strong_wolfe")
    loss_fn = (
        torch.nn.functional.binary_cross_entropy_with_logits
        if multilabel
        else torch.nn.functional.cross_entropy
    )

    def closure():
        opt.zero_grad()
        loss = loss_fn(lin(xt), yt) + l2 * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return lin


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    order = np.argsort(-scores, kind="mergesort")
    hits = labels[order].astype(bool)
    if not hits.any():
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def _score(kind: str, lin_or_pred, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        logits = lin_or_pred(torch.from_numpy(x).double()).numpy()
    if kind == "classification":
        return float((logits.argmax(1) == y).mean())
    if kind == "binary":
        return average_precision(logits[:, 1] - logits[:, 0], y)
    aps = [average_precision(logits[:, c], y[:, c]) for c in range(y.shape[1]) if y[:, c].any()]
    return float(np.mean(aps))


def probe(kind: str, data: dict[str, tuple[np.ndarray, np.ndarray]], num_classes: int = 0) -> float:
    """Fit on train, pick the L2 strength on val, report test: accuracy | AP | mAP | MSE (regression)."""
    (xtr, ytr), (xva, yva), (xte, yte) = data["train"], data["val"], data["test"]
    xtr, xva, xte = _standardise(xtr, xva, xte)
    if kind == "regression":
        best = None
        for alpha in RIDGE_GRID:
            a = np.c_[xtr, np.ones(len(xtr))]
            w = np.linalg.solve(a.T @ a + alpha * np.diag(np.r_[np.ones(xtr.shape[1]), 0.0]), a.T @ ytr)
            val = float(np.mean((np.c_[xva, np.ones(len(xva))] @ w - yva) ** 2))
            if best is None or val < best[0]:
                best = (val, w)
        return float(np.mean((np.c_[xte, np.ones(len(xte))] @ best[1] - yte) ** 2))
    multilabel = kind == "multilabel"
    best = None
    for l2 in L2_GRID:
        lin = _fit_logistic(xtr, ytr, l2, multilabel, num_classes)
        val = _score(kind, lin, xva, yva)
        if best is None or val > best[0]:
            best = (val, lin)
    return _score(kind, best[1], xte, yte)


# -- the measurements -------------------------------------------------------------------------------
def clip_tables(root: Path, movies, quick: bool, seed: int) -> tuple[list[str], list[str]]:
    spec_dir = root / "labels"
    # LVU's nine in their usual order, then the other clip tasks.
    names = [*LVU_TASKS, *sorted(n for n, t in TASKS.items() if t.level == "clip" and n not in LVU_TASKS)]
    clip_tasks = [json.loads((spec_dir / n / "task.json").read_text()) for n in names]
    subsets = {"all": SUBSETS["all"]} if quick else SUBSETS
    windows = (60.0,) if quick else WINDOWS_S
    modality_rows, span_rows = [], []
    for task in clip_tasks:
        name, kind = task["name"], task["type"]
        classes = task.get("classes", [])
        rows = {s: read_rows(spec_dir / name, s) for s in ("train", "val", "test")}

        ys = {s: np.array([encode(task, r["label"]) for r in rs]) for s, rs in rows.items()}

        def features(make, rows=rows, ys=ys) -> dict:
            rng = np.random.default_rng(seed)  # the same random shots/windows for every setting of a task
            return {
                s: (
                    np.stack(
                        [
                            make(movies[r["video_id"]], int(r["start_shot"]), int(r["end_shot"]), rng)
                            for r in rs
                        ]
                    ),
                    ys[s],
                )
                for s, rs in rows.items()
            }

        fmt = "{:.3f}" if kind == "regression" else "{:.1%}"
        single, full = {}, {}
        for sub, mods in subsets.items():
            single[sub] = probe(
                kind,
                features(lambda mv, a, b, rng, mods=mods: single_shot(mv, a, b, mods, rng)),
                len(classes),
            )
            full[sub] = probe(
                kind, features(lambda mv, a, b, rng, mods=mods: pool(mv, np.arange(a, b), mods)), len(classes)
            )
        spans = {
            w: probe(
                kind,
                features(lambda mv, a, b, rng, w=w: pool(mv, window(mv, a, b, w, rng), MODALITIES)),
                len(classes),
            )
            for w in windows
        }
        metric = {"classification": "acc", "regression": "MSE", "multilabel": "mAP"}[kind]
        chance = chance_score(task, ys["train"], ys["test"])
        cells = [fmt.format(single[s]) + " / " + fmt.format(full[s]) for s in subsets]
        modality_rows.append(f"| {name} ({metric}) | {fmt.format(chance)} | " + " | ".join(cells) + " |")
        span_cells = (
            [fmt.format(single["all"])] + [fmt.format(spans[w]) for w in windows] + [fmt.format(full["all"])]
        )
        span_rows.append(f"| {name} ({metric}) | " + " | ".join(span_cells) + " |")
        print(f"  {name}: done", flush=True)
    head_m = "| task | chance | " + " | ".join(f"{s}: shot / clip" for s in subsets) + " |"
    head_s = "| task | 1 shot | " + " | ".join(f"{int(w)} s" for w in windows) + " | whole clip |"
    sep = lambda h: "|" + "---|" * (h.count("|") - 1)  # noqa: E731
    return [head_m, sep(head_m), *modality_rows], [head_s, sep(head_s), *span_rows]


def local_tables(root: Path, movies, seed: int, max_rows: int = 20000) -> list[str]:
    """Shot and boundary tasks: one shot alone, with +-2 shots of context, and cuts from the two shots around them."""
    rng = np.random.default_rng(seed)
    out = ["| task | level | chance | probe input | score |", "|---|---|---|---|---|"]

    dims = {m: next(iter(movies.values()))[m].shape[1] for m in MODALITIES}

    def shot_vec(mv, i):
        return np.concatenate([mv[m][i] for m in MODALITIES])

    def cut_vec(mv, i):
        # |difference| and cosine make "how much changed" linearly readable; a signed difference is not.
        a, b = shot_vec(mv, i), shot_vec(mv, i + 1)
        return np.r_[a, b, np.abs(a - b), [cosine(mv[m][i], mv[m][i + 1]) for m in MODALITIES]]

    def side_vec(mv, i):
        n = len(mv["times"])
        a = pool(mv, np.arange(max(0, i - 3), i + 1), MODALITIES)
        b = pool(mv, np.arange(i + 1, min(n, i + 5)), MODALITIES)
        cos, at = [], 0
        for m in MODALITIES:
            u, v = a[at : at + dims[m]], b[at : at + dims[m]]
            cos.append(cosine(u, v))
            at += dims[m]
        return np.r_[np.abs(a - b), cos]

    def context_vec(mv, i):
        lo, hi = max(0, i - 2), min(len(mv["times"]), i + 3)
        return pool(mv, np.arange(lo, hi), MODALITIES)

    for name in ("shot_size", "scene_boundary", "cut_type"):
        task = json.loads((root / "labels" / name / "task.json").read_text())
        classes = task["classes"]
        data_rows = {}
        for s in ("train", "val", "test"):
            rows = read_rows(root / "labels" / name, s)
            if len(rows) > max_rows:
                rows = [rows[i] for i in np.sort(rng.choice(len(rows), max_rows, replace=False))]
            data_rows[s] = rows
        kind = (
            "multilabel"
            if task["type"] == "multilabel"
            else "binary"
            if task["metric"] == "AP"
            else "classification"
        )
        inputs = {
            "one shot": shot_vec,
            "shot + 2 neighbours each side": lambda mv, i: np.r_[shot_vec(mv, i), context_vec(mv, i)],
        }
        if task["level"] == "boundary":
            inputs = {"shots i and i+1: both, abs. difference, cosine": cut_vec}
        if name == "scene_boundary":
            inputs["4 shots each side: abs. difference and cosine of their means"] = side_vec
        ys = {s: np.array([encode(task, r["label"]) for r in rs]) for s, rs in data_rows.items()}
        chance = f"{chance_score(task, ys['train'], ys['test']):.1%}"
        for label, make in inputs.items():
            data = {
                s: (np.stack([make(movies[r["video_id"]], int(r["shot"])) for r in rs]), ys[s])
                for s, rs in data_rows.items()
            }
            score = probe(kind, data, len(classes))
            metric = {"classification": "acc", "binary": "AP", "multilabel": "mAP"}[kind]
            out.append(f"| {name} | {task['level']} | {chance} | {label} | {metric} {score:.1%} |")
        print(f"  {name}: done", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="a MovieWorld output directory (lmp synth --out)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random shots and windows")
    parser.add_argument("--quick", action="store_true", help="only the 'all' subset and the 60 s window")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    store = FeatureStore(args.corpus / "store")
    movies = load_movies(store)
    corpus = json.loads((args.corpus / "corpus.json").read_text())
    print(f"corpus {args.corpus}: {corpus['stats']}", flush=True)
    modality, spans = clip_tables(args.corpus, movies, args.quick, args.seed)
    local = local_tables(args.corpus, movies, args.seed)
    print("\n### Clip tasks: single shot vs whole clip, per modality (test split)\n")
    print("\n".join(modality))
    print("\n### Clip tasks: span of the pooled window (all modalities, test split)\n")
    print("\n".join(spans))
    print("\n### Shot and boundary tasks (test split)\n")
    print("\n".join(local))
    print(f"\n(measured in {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
