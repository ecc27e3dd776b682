"""Measurements that show what each MovieWorld task needs (the tables in docs/movieworld.md).

    lmp synth measure runs/movieworld            # prints markdown tables
    lmp synth measure runs/movieworld --quick    # fewer settings, for a smoke check

Every number is a test-split score of a linear probe trained on the train split, over fixed, hand-made
poolings of the frozen store features; no learned encoder is involved:

* per modality subset (visual / audio / text / all): features of a **single random shot** of the clip
  (one that has every modality of the subset) vs the **mean over the whole clip** (per modality, over the
  shots that have it; subsets concatenate their means);
* per **span**: the mean over a random contiguous window of 15, 30, 60 or 120 seconds of the clip vs the
  whole clip (all modalities);
* shot and boundary tasks: a probe on one shot (or on the two shots around a cut).

Labels are read by lmp's reader (`lmp.labels`), the probe is lmp's linear probe
(`lmp.tasks.probe.linear_probe`: weight decay and step picked on val) and it is graded by lmp's metrics
(`lmp.tasks.metrics`), so these numbers are on the same footing as `lmp probe` and the studies.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from lmp.errors import LMPError
from lmp.labels import SPLITS, Example, Task, read_task
from lmp.modality import MODALITIES
from lmp.store import FeatureStore
from lmp.synth.labels import LVU_TASKS, TASKS
from lmp.tasks.probe import linear_probe

SUBSETS = {"visual": ("visual",), "audio": ("audio",), "text": ("text",), "all": MODALITIES}
WINDOWS_S = (15.0, 30.0, 60.0, 120.0)
SHORT_METRIC = {"accuracy": "acc", "mse": "MSE", "mAP": "mAP", "AP": "AP"}


# -- data -------------------------------------------------------------------------------------------
def load_movies(store: FeatureStore) -> dict[str, dict[str, np.ndarray]]:
    return {
        mid: {
            k: np.asarray(v, dtype=np.float32) if v.dtype == np.float16 else v
            for k, v in store.read(mid).items()
        }
        for mid in store.ids
    }


def read_corpus_task(root: Path, name: str, store: FeatureStore) -> Task:
    """One task of the corpus, every row checked against the store (a corpus's labels and store agree)."""
    task = read_task(root / "labels" / name).restrict(store)
    lost = sum(m["missing"] for m in task.missing.values())
    if lost:
        raise LMPError(f"{task.source}: {lost} rows name videos not in {store.root} ({task.missing_summary()})")
    return task


def chance_score(task: Task) -> float:
    """What knowing no features scores on test: majority class accuracy | train-mean MSE | positive rate
    (the AP of a random scorer; mAP: its mean over the classes with a positive)."""
    spec = task.spec
    y_train, y_test = task.targets("train").numpy(), task.targets("test").numpy()
    if spec.type == "regression":
        return float(np.mean((y_test - y_train.mean()) ** 2))
    if spec.type == "multilabel":
        return float(np.mean([y_test[:, c].mean() for c in range(y_test.shape[1]) if y_test[:, c].any()]))
    if spec.metric == "AP":
        return float(y_test.mean())
    return float(np.bincount(y_test, minlength=len(spec.classes)).max() / len(y_test))


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


# -- the probe --------------------------------------------------------------------------------------
def probe(task: Task, x: dict[str, np.ndarray], seed: int) -> float:
    """lmp's linear probe on features x[split] [n, d] of the task's rows: the test score of its metric."""
    spec = task.spec
    data = [t for s in SPLITS for t in (torch.from_numpy(x[s]).float(), task.targets(s))]
    result = linear_probe(*data, spec.type, metric=spec.metric, num_classes=spec.num_classes, seed=seed)
    return float(result["test"][spec.metric])


# -- the measurements -------------------------------------------------------------------------------
def clip_span(e: Example, movie: dict[str, np.ndarray]) -> tuple[int, int]:
    return e.start or 0, len(movie["times"]) if e.end is None else e.end


def clip_score(task: Task, movies, make: Callable, seed: int) -> float:
    """Probe score on make(movie, start, end, rng) -> [d] of every clip of the task."""
    rng = np.random.default_rng(seed)  # the same random shots/windows for every setting of a task
    x = {
        s: np.stack([make(movies[e.video_id], *clip_span(e, movies[e.video_id]), rng) for e in task.splits[s]])
        for s in SPLITS
    }
    return probe(task, x, seed)


def clip_tables(root: Path, store: FeatureStore, movies, quick: bool, seed: int) -> tuple[list[str], list[str]]:
    # LVU's nine in their usual order, then the other clip tasks.
    names = [*LVU_TASKS, *sorted(n for n, t in TASKS.items() if t.level == "clip" and n not in LVU_TASKS)]
    subsets = {"all": SUBSETS["all"]} if quick else SUBSETS
    windows = (60.0,) if quick else WINDOWS_S
    modality_rows, span_rows = [], []
    for name in names:
        task = read_corpus_task(root, name, store)
        single, full = {}, {}
        for sub, mods in subsets.items():
            single[sub] = clip_score(
                task, movies, lambda mv, a, b, rng, mods=mods: single_shot(mv, a, b, mods, rng), seed
            )
            full[sub] = clip_score(task, movies, lambda mv, a, b, rng, mods=mods: pool(mv, np.arange(a, b), mods), seed)
        spans = {
            w: clip_score(task, movies, lambda mv, a, b, rng, w=w: pool(mv, window(mv, a, b, w, rng), MODALITIES), seed)
            for w in windows
        }
        fmt = "{:.3f}" if task.spec.type == "regression" else "{:.1%}"
        head = f"| {name} ({SHORT_METRIC[task.spec.metric]}) | "
        cells = [fmt.format(single[s]) + " / " + fmt.format(full[s]) for s in subsets]
        modality_rows.append(head + fmt.format(chance_score(task)) + " | " + " | ".join(cells) + " |")
        span_cells = [single["all"], *(spans[w] for w in windows), full["all"]]
        span_rows.append(head + " | ".join(fmt.format(v) for v in span_cells) + " |")
        print(f"  {name}: done", flush=True)
    head_m = "| task | chance | " + " | ".join(f"{s}: shot / clip" for s in subsets) + " |"
    head_s = "| task | 1 shot | " + " | ".join(f"{int(w)} s" for w in windows) + " | whole clip |"
    sep = lambda h: "|" + "---|" * (h.count("|") - 1)  # noqa: E731
    return [head_m, sep(head_m), *modality_rows], [head_s, sep(head_s), *span_rows]


def local_tables(root: Path, store: FeatureStore, movies, seed: int, max_rows: int = 20000) -> list[str]:
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
        whole = read_corpus_task(root, name, store)
        splits = {}
        for s in SPLITS:
            rows = whole.splits[s]
            if len(rows) > max_rows:
                rows = [rows[i] for i in np.sort(rng.choice(len(rows), max_rows, replace=False))]
            splits[s] = rows
        task = Task(whole.spec, splits, whole.source)
        level = task.spec.level
        inputs = {
            "one shot": shot_vec,
            "shot + 2 neighbours each side": lambda mv, i: np.r_[shot_vec(mv, i), context_vec(mv, i)],
        }
        if level == "boundary":
            inputs = {"shots i and i+1: both, abs. difference, cosine": cut_vec}
        if name == "scene_boundary":
            inputs["4 shots each side: abs. difference and cosine of their means"] = side_vec
        chance = f"{chance_score(task):.1%}"
        for label, make in inputs.items():
            x = {s: np.stack([make(movies[e.video_id], e.start) for e in rows]) for s, rows in task.splits.items()}
            score = probe(task, x, seed)
            out.append(f"| {name} | {level} | {chance} | {label} | {SHORT_METRIC[task.spec.metric]} {score:.1%} |")
        print(f"  {name}: done", flush=True)
    return out


def run(corpus: Path, *, quick: bool = False, seed: int = 0) -> None:
    """Measure a MovieWorld directory (`lmp synth --out`) and print the tables as Markdown."""
    corpus = Path(corpus)
    if not (corpus / "corpus.json").is_file():
        raise LMPError(f"{corpus}: not a MovieWorld corpus (no corpus.json); make one with `lmp synth --out {corpus}`")
    # The probes are small: one thread is as fast as several here, and leaves the other cores free.
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    store = FeatureStore(corpus / "store")
    if tuple(store.modalities) != MODALITIES:
        raise LMPError(f"{corpus}: has {list(store.modalities)} only; the measurements compare all three modalities "
                       f"{list(MODALITIES)} (make the corpus without --modalities)")
    movies = load_movies(store)
    print(f"corpus {corpus}: {json.loads((corpus / 'corpus.json').read_text())['stats']}", flush=True)
    modality, spans = clip_tables(corpus, store, movies, quick, seed)
    local = local_tables(corpus, store, movies, seed)
    print("\n### Clip tasks: single shot vs whole clip, per modality (test split)\n")
    print("\n".join(modality))
    print("\n### Clip tasks: span of the pooled window (all modalities, test split)\n")
    print("\n".join(spans))
    print("\n### Shot and boundary tasks (test split)\n")
    print("\n".join(local))
    print(f"\n(measured in {time.perf_counter() - t0:.0f} s)")
