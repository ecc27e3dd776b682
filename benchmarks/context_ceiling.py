"""How much of the context tasks can any model read from a corpus's frozen features? A supervised ceiling.

    .venv/bin/python benchmarks/context_ceiling.py runs/study/movieworld              # both models, ~10 min
    .venv/bin/python benchmarks/context_ceiling.py CORPUS --models shot --epochs 10    # the per-shot one only
    .venv/bin/python benchmarks/context_ceiling.py CORPUS --model RUN/model --window 512   # frozen lmp tokens
    .venv/bin/python benchmarks/context_ceiling.py CORPUS --familiarity           # label-free, seconds

The studies judge claim 2 on MovieWorld's context tasks (`offscreen_speaker`, `place_return`:
docs/movieworld.md) with per-shot linear probes on frozen contextual tokens, and every arm sits near the
base rate. This script asks whether the features hold the answer at all, with labels and no
pretraining, by training two small supervised models on the corpus's frozen store features (each
modality zeroed where absent, plus the three presence flags, standardised on train):

* `shot`: an MLP on one shot's features, no context (what any per-shot read-out can reach);
* `movie`: the same MLP, then a 2-layer transformer over the whole movie (sinusoidal positions), so a
  shot's output may use every other shot of its movie (`--reach K`: only shots at most K away, e.g. 64
  for the context a 128-shot evaluation window gives).

Both are trained on the train split's labels of both tasks at once (one logit each, binary
cross-entropy on the labelled shots), AdamW, the epoch with the best val AP sum kept, and scored
with lmp's AP on test. `movie` minus `shot` is the context signal that a model trained for these
labels finds; a frozen encoder read per shot by a linear probe is not expected to reach it, but
where it is near zero no encoder can show a span effect on that task. One seed per run (`--seed`),
printed per epoch; a JSON of the result with --out, and `--plot DIR` draws every DIR/*.json into DIR/ceiling.png.

With `--model DIR` the inputs are a frozen lmp model's per-shot tokens instead (`--representation`,
default `all`, each movie encoded as `lmp probe` encodes shot tasks: windows of `--window` shots, a
shot's output from the nearest-centred window; `--random_init` keeps the architecture, not the
weights). `shot` is then a non-linear per-shot probe of the contextual tokens, and `movie` a probe that
may add context of its own.

`--familiarity` trains nothing: it scores each test shot of `place_return` by its familiarity, the label-free
target of lmp's recurrence term (lmp.objectives.recurrence), computed on one modality's store features over
the `reach` shots before the shot (pooling the `pool` shots from each shot on), for a grid of pools and reaches.
What it reads above the base rate is there in the features, and how it grows with the reach is how far back
the evidence lies.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lmp.atomic import atomic_write_bytes
from lmp.labels import read_task
from lmp.modality import MODALITIES, mask_key
from lmp.model.embeddings import sinusoidal
from lmp.store.reader import FeatureStore
from lmp.tasks.metrics import average_precision

TASKS = ("offscreen_speaker", "place_return")
SPLITS = ("train", "val", "test")


def movie_inputs(store: FeatureStore, ids: list[str], representer=None) -> dict[str, np.ndarray]:
    """movie -> float32 [shots, sum of dims + 3]: each modality's features (zero where absent), then presence;
    with a representer (lmp.tasks.features), its frozen per-shot tokens [shots, d]."""
    out = {}
    mods = [m for m in MODALITIES if m in store.modalities]
    for mid in ids:
        if representer is not None:
            with torch.no_grad():
                out[mid] = representer.movie_shots(mid).float().numpy()
            continue
        r = store.read(mid)
        parts = [r[m].astype(np.float32) * r[mask_key(m)][:, None] for m in mods]
        parts.append(np.stack([r[mask_key(m)] for m in mods], axis=1).astype(np.float32))
        out[mid] = np.concatenate(parts, axis=1)
    return out


class Ceiling(nn.Module):
    def __init__(self, dim: int, context: bool, width: int = 64, reach: int | None = None) -> None:
        """reach: with context, a shot attends only to shots at most this far away (None: the whole movie)."""
        super().__init__()
        self.width = width
        self.reach = reach
        self.shot = nn.Sequential(nn.Linear(dim, width), nn.GELU(), nn.Linear(width, width))
        self.context = None
        if context:
            layer = nn.TransformerEncoderLayer(width, 4, 4 * width, dropout=0.1, batch_first=True, norm_first=True)
            self.context = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(width, len(TASKS))

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """x [b, s, dim], pad bool [b, s] (True = padding) -> logits [b, s, tasks]."""
        h = self.shot(x)
        if self.context is not None:
            n = x.shape[1]
            far = None
            if self.reach is not None:
                index = torch.arange(n)
                far = (index[:, None] - index[None, :]).abs() > self.reach  # [s, s], True = may not attend
            h = self.context(h + sinusoidal(torch.arange(n), self.width), mask=far, src_key_padding_mask=pad)
        return self.head(h)


def familiarity_table(store: FeatureStore, task, pools=(1, 8), reaches=(8, 32, 64, 128, 256, 512)) -> dict:
    """{modality: {pool: {reach: test AP}}} of the label-free familiarity score on `task`'s test shots."""
    from lmp.objectives.recurrence import familiarity

    rows: dict[str, list[tuple[int, float]]] = {}
    for e in task.splits["test"]:
        rows.setdefault(e.video_id, []).append((e.start, float(e.target == 1)))
    mods = [m for m in MODALITIES if m in store.modalities]
    movies = {mid: store.read(mid) for mid in rows}  # each movie read once, for every modality, pool and reach
    out: dict = {}
    for m in mods:
        out[m] = {}
        for k in pools:
            out[m][k] = {}
            for reach in reaches:
                scores, ys = [], []
                for mid, shots in rows.items():
                    r = movies[mid]
                    x, present = torch.from_numpy(r[m].astype(np.float32)), torch.from_numpy(r[mask_key(m)])
                    for i, y in shots:
                        lo, hi = max(0, i - reach), min(len(x), i + k)
                        t, query = familiarity(x[None, lo:hi], present[None, lo:hi], k)
                        # A shot with nothing before it to meet scores lowest (cosines are >= -1).
                        scores.append(float(t[0, i - lo]) if query[0, i - lo] else -2.0)
                        ys.append(y)
                out[m][k][reach] = average_precision(np.array(scores), np.array(ys))
    return out


def plot(folder: Path) -> Path:
    """folder/ceiling.png: test AP of every result JSON in `folder` (one bar group per run and task)."""
    from lmp.studies.report import bar_plot

    runs = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    if not runs:
        sys.exit(f"context_ceiling: no result JSON in {folder}")
    groups = [f"{name}\n{t}" for name in runs for t in TASKS]
    series = {"base rate": [r["base_rate"][t] for r in runs.values() for t in TASKS]}
    for model in ("shot", "movie"):
        series[model] = [r["models"].get(model, {}).get("test", {}).get(t, float("nan")) for r in runs.values()
                         for t in TASKS]  # fmt: skip
    path = folder / "ceiling.png"
    bar_plot(path, groups, {k: (v, [0.0] * len(v)) for k, v in series.items()},
             "context tasks: supervised models, per shot vs with context", "test AP")  # fmt: skip
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus", type=Path, nargs="?", help="a MovieWorld corpus (with the context tasks)")
    p.add_argument("--plot", type=Path, default=None, help="only draw DIR/ceiling.png from the result JSONs in DIR")
    p.add_argument("--models", default="shot,movie")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=8, help="stop after this many epochs without a better val")
    p.add_argument("--batch", type=int, default=16, help="movies per step")
    p.add_argument("--reach", type=int, default=None, help="movie model: attend only this many shots each way")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    p.add_argument("--model", type=Path, default=None, help="an lmp model directory: probe its frozen tokens")
    p.add_argument("--random_init", action="store_true", help="with --model: its architecture, random weights")
    p.add_argument("--representation", default="all", help="with --model: which tokens (lmp probe's names)")
    p.add_argument("--window", type=int, default=128, help="with --model: shots per encoding window")
    p.add_argument("--familiarity", action="store_true", help="only the label-free familiarity score on place_return")
    args = p.parse_args(argv)
    if args.plot is not None:
        print(plot(args.plot))
        return 0
    if args.corpus is None:
        p.error("a corpus is required (or --plot DIR)")
    torch.set_num_threads(args.threads)
    missing = [t for t in TASKS if not (args.corpus / "labels" / t / "task.json").is_file()]
    if missing:
        sys.exit(f"context_ceiling: {args.corpus / 'labels'} has no {missing} (made by an older lmp synth?)")
    tasks = {t: read_task(args.corpus / "labels" / t) for t in TASKS}
    if args.familiarity:
        table = familiarity_table(FeatureStore(args.corpus / "store"), tasks["place_return"])
        base = float(np.mean([e.target == 1 for e in tasks["place_return"].splits["test"]]))
        print(f"place_return test AP of the label-free familiarity score (base rate {base:.3f}), by reach:")
        for m, by_pool in table.items():
            for k, by_reach in by_pool.items():
                print(f"  {m:<7} pool {k}: " + ", ".join(f"{r} {v:.3f}" for r, v in by_reach.items()))
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            payload = {"corpus": str(args.corpus), "base_rate": base, "familiarity": table}
            atomic_write_bytes(args.out, (json.dumps(payload, indent=2) + "\n").encode())
        return 0
    # split -> movie -> [(task index, shot, 0/1)]; the positive class is the task's second (AP's class).
    rows: dict[str, dict[str, list[tuple[int, int, float]]]] = {s: {} for s in SPLITS}
    for ti, t in enumerate(TASKS):
        for s in SPLITS:
            for e in tasks[t].splits[s]:
                rows[s].setdefault(e.video_id, []).append((ti, e.start, float(e.target == 1)))
    store = FeatureStore(args.corpus / "store")
    representer = None
    if args.model is not None:
        from lmp.tasks.features import Representer
        from lmp.tasks.loading import load_model

        model = load_model(args.model, store, random_init=args.random_init, seed=args.seed)
        representer = Representer(store, model, args.representation, window=args.window, progress=False)
    feats = movie_inputs(store, sorted({m for s in SPLITS for m in rows[s]}), representer)
    train_all = np.concatenate([feats[m] for m in rows["train"]])
    mu, sd = train_all.mean(0), train_all.std(0) + 1e-6
    x_of = {m: torch.from_numpy((f - mu) / sd) for m, f in feats.items()}
    dim = train_all.shape[1]

    def batch(ids: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        n = max(x_of[m].shape[0] for m in ids)
        x, pad = torch.zeros(len(ids), n, dim), torch.ones(len(ids), n, dtype=torch.bool)
        for i, m in enumerate(ids):
            x[i, : x_of[m].shape[0]], pad[i, : x_of[m].shape[0]] = x_of[m], False
        return x, pad

    def picked(logits: torch.Tensor, ids: list[str], split: str):
        """The logits and targets of the labelled shots of `ids` -> ([k], [k], task index [k])."""
        idx = [(i, s, ti, y) for i, m in enumerate(ids) for ti, s, y in rows[split][m]]
        b, s, ti, y = (torch.tensor(c) for c in zip(*idx))
        return logits[b, s, ti], y.float(), ti

    def score(model: Ceiling, split: str) -> dict[str, float]:
        model.eval()
        ids = sorted(rows[split])
        outs, ys, tis = [], [], []
        with torch.no_grad():
            for i in range(0, len(ids), 32):
                z, y, ti = picked(model(*batch(ids[i : i + 32])), ids[i : i + 32], split)
                outs.append(z), ys.append(y), tis.append(ti)
        z, y, ti = torch.cat(outs), torch.cat(ys), torch.cat(tis)
        return {t: average_precision(z[ti == k].numpy(), y[ti == k].numpy()) for k, t in enumerate(TASKS)}

    inputs = "store features" if args.model is None else (
        f"{args.representation} tokens of {args.model}" + (" (random weights)" if args.random_init else "")
        + f", {args.window}-shot windows")
    base = {t: float(np.mean([e.target == 1 for e in tasks[t].splits["test"]])) for t in TASKS}
    print(f"{args.corpus}, {inputs}: {len(rows['train'])} train movies; test base rates (AP of a random scorer) "
          + ", ".join(f"{t} {v:.3f}" for t, v in base.items()), flush=True)
    result = {"corpus": str(args.corpus), "inputs": inputs, "seed": args.seed, "base_rate": base, "models": {}}
    train_ids = sorted(rows["train"])
    for name in args.models.split(","):
        torch.manual_seed(args.seed)
        model = Ceiling(dim, context=name == "movie", reach=args.reach)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        best, t0 = None, time.time()
        for epoch in range(args.epochs):
            model.train()
            order = np.random.default_rng(args.seed + epoch).permutation(len(train_ids))
            for i in range(0, len(order), args.batch):
                ids = [train_ids[k] for k in order[i : i + args.batch]]
                z, y, _ = picked(model(*batch(ids)), ids, "train")
                loss = F.binary_cross_entropy_with_logits(z, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            val = score(model, "val")
            if best is None or sum(val.values()) > sum(best["val"].values()):
                best = {"epoch": epoch, "val": val, "test": score(model, "test")}
            print(f"  {name} epoch {epoch}: train loss {loss.item():.3f}, val AP "
                  + ", ".join(f"{t} {v:.3f}" for t, v in val.items()) + f" ({time.time() - t0:.0f} s)", flush=True)
            if epoch - best["epoch"] >= args.patience:
                break
        result["models"][name] = best
        print(f"{name}: best val at epoch {best['epoch']}; test AP "
              + ", ".join(f"{t} {v:.3f}" for t, v in best["test"].items()), flush=True)
    if {"shot", "movie"} <= set(result["models"]):
        gain = {t: result["models"]["movie"]["test"][t] - result["models"]["shot"]["test"][t] for t in TASKS}
        result["context_gain"] = gain
        print("context gain (movie - shot), test AP: " + ", ".join(f"{t} {v:+.3f}" for t, v in gain.items()))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(args.out, (json.dumps(result, indent=2) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
