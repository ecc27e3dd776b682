"""The issue's independent-corpus protocol, rehearsed on a MovieWorld corpus with the same commands.

Movie-level tasks (a whole movie is one clip), a few hundred unlabeled movies for pretraining, and 20 / 60 /
140 train labels, 40 val, 120 test, as the project's acceptance check runs it on a corpus it never sees:

    lmp pretrain STORE --preset small --optim.steps=1500
    lmp probe LABELS --representations all,cls --window 256

and, beside it, random weights of the same architecture, the raw features, and a linear CCA fit on the
same unlabeled movies (every modality pair, 16 directions per side, on means of 256-shot windows;
lmp.tasks.linear_baselines), probed alike (the deterministic linear probe, one seed).

    python benchmarks/few_label_protocol.py --corpus runs/mw-nuisance --out runs/few-label
    python benchmarks/few_label_protocol.py --replot runs/few-label    # table.png again from table.json
    python benchmarks/few_label_protocol.py --compare runs/few-a runs/few-b   # recipe b - recipe a, paired

The labelled movies never overlap the pretraining ones: pretraining takes `--pretrain_movies` of the
corpus's train split, train labels come from the rest of it, val and test from its val and test splits.
Each run's commands and results are kept under --out; a rerun reuses the pretrained model.

One draw of labelled movies is what the acceptance check has, and with 20 train labels and 120 test movies
one draw's accuracy has a standard error of ~0.045: `--draws K` probes the same pretrained model on K
draws of the train, val and test movies (draw 0 is the single draw of before, kept under --out; draw d
under --out/draw-d) and reports each arm's mean and spread over draws, and the paired difference
pretrained `all` - CCA per draw (mean and its standard error), so that a lead or a deficit can be told
from one draw's luck. `--compare A B` reads two such runs on the same corpus, seed and draws (say, two
pretraining recipes) and prints B - A for the pretrained arms, paired by draw (mean ± standard error).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from lmp.config import resolve
from lmp.labels import Example, read_task, write_task
from lmp.store import FeatureStore
from lmp.store.subset import subset_store
from lmp.studies.report import line_plot
from lmp.tasks.features import Representer
from lmp.tasks.linear_baselines import fit_linear_baseline
from lmp.tasks.probe import linear_probe
from lmp.train import PretrainConfig
from lmp.train.reuse import finished_model

LATENT_KEYS = {"genre": "genre", "director": "director", "writer": "writer", "year": "decade"}
"""Film-level MovieWorld tasks -> their key in the corpus's latents.jsonl (the generator's own values)."""


def movie_labels(corpus: Path, task: str) -> dict[str, str]:
    """A movie-level MovieWorld label: the generator's film-level value (latents.jsonl) when the task has
    one, else the most common label of the movie's clips (ties: the first clip's).

    A film-level label is the same for every clip of a movie but for MovieWorld's label noise (5 % of clip
    labels replaced by a random class): until 2 Dec 2026 the first clip's label was taken, so a movie whose
    first clip was noisy (up to 5 of 120 test movies) was graded against a random class."""
    latents = corpus / "latents.jsonl"
    if task in LATENT_KEYS and latents.is_file():
        rows = [json.loads(line) for line in latents.read_text().splitlines() if line.strip()]
        return {row["id"]: row[LATENT_KEYS[task]] for row in rows}
    votes: dict[str, Counter] = {}
    for split in read_task(corpus / "labels" / task).splits.values():
        for e in split:
            votes.setdefault(e.video_id, Counter())[e.label] += 1
    return {movie: count.most_common(1)[0][0] for movie, count in votes.items()}


def lmp(*args: str) -> None:
    cmd = [sys.executable, "-m", "lmp.cli", *args]
    print("$ lmp " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True)


def probe_rows(out: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(task, representation) -> test accuracy (mean, std) from an `lmp probe` results.csv."""
    rows = csv.DictReader(open(out / "results.csv"))
    return {
        (r["task"], r["representation"]): (float(r["mean"]), float(r["std"]))
        for r in rows
        if r["split"] == "test" and r["metric"] == "accuracy"
    }


def plot(out: Path) -> None:
    """out/table.png: test accuracy against train labels, one panel per task, from out/table.json."""
    table = json.loads((out / "table.json").read_text())  # "task@n" -> arm -> (mean, std)
    tasks = list(dict.fromkeys(key.split("@")[0] for key in table))
    panels = []
    for task in tasks:
        cells = sorted((int(k.split("@")[1]), v) for k, v in table.items() if k.split("@")[0] == task)
        sizes = [n for n, _ in cells]
        series = {
            arm: (sizes, [v[arm][0] for _, v in cells], [v[arm][1] for _, v in cells])
            for arm in cells[0][1]
            if arm != "all - CCA"  # a gap, not an accuracy
        }
        panels.append({"title": task, "xlabel": "train labels (movies)", "ylabel": "test accuracy", "series": series})
    line_plot(out / "table.png", panels, f"independent-corpus protocol, rehearsed: {out.name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replot", type=Path, default=None, help="only redraw DIR/table.png from DIR/table.json")
    ap.add_argument("--compare", type=Path, nargs=2, default=None, metavar=("A", "B"),
                    help="only print B - A, paired by draw, from two runs' draws.json")  # fmt: skip
    ap.add_argument("--corpus", type=Path, help="a MovieWorld corpus (lmp synth --out)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--tasks", default="genre,director", help="movie-level MovieWorld tasks")
    ap.add_argument("--sizes", default="20,60,140", help="train label counts")
    ap.add_argument("--val", type=int, default=40)
    ap.add_argument("--test", type=int, default=120)
    ap.add_argument("--pretrain_movies", type=int, default=400)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0, help="draws the pretraining movies and draw 0's labelled ones")
    ap.add_argument("--draws", type=int, default=1, help="draws of train, val and test movies probed (see above)")
    ap.add_argument("--pretrain_args", default="", help="extra `lmp pretrain` overrides, --key=value, space-separated "
                    "(e.g. '--objectives.shot_align.weight=1')")  # fmt: skip
    args = ap.parse_args()
    if args.replot is not None:
        return plot(args.replot)
    if args.compare is not None:
        return print(compare(*args.compare))
    if args.corpus is None or args.out is None:
        ap.error("--corpus and --out are required (or --replot DIR)")
    torch.set_num_threads(1)

    splits = json.loads((args.corpus / "corpus.json").read_text())["splits"]
    rng = np.random.default_rng(args.seed)
    train = list(rng.permutation(splits["train"]))
    pretrain_ids, label_pool = sorted(train[: args.pretrain_movies]), train[args.pretrain_movies :]
    held = list(rng.permutation(splits["val"] + splits["test"]))
    sizes = [int(s) for s in args.sizes.split(",")]
    tasks = args.tasks.split(",")
    if max(sizes) > len(label_pool):
        raise SystemExit(f"--sizes: at most {len(label_pool)} train movies are left after pretraining")
    if args.val + args.test > len(held):
        raise SystemExit(f"--val + --test: the corpus has {len(held)} val and test movies")
    if args.draws < 1:
        raise SystemExit(f"--draws: must be >= 1, got {args.draws}")
    # Draw 0 is the permutation above; draw d >= 1 permutes both pools again with its own generator.
    draws = [(label_pool, held)]
    for d in range(1, args.draws):
        g = np.random.default_rng([args.seed, d])
        draws.append((list(g.permutation(label_pool)), list(g.permutation(held))))

    store = FeatureStore(args.corpus / "store")
    pre_store = subset_store(store.root, pretrain_ids, args.out / "pretrain-store")
    run = args.out / "pretrain"
    # Every argument as --key=value, so that the same list resolves the config the run will save.
    pretrain_args = ["--preset=small", f"--optim.steps={args.steps}", f"--out={run}", "--run.resume=auto",
                     "--run.progress=false", "--run.log_every=100", *args.pretrain_args.split()]  # fmt: skip
    # A model left by an earlier run is reused only if it was trained with this config (lmp.train.reuse).
    overrides = [a.removeprefix("--") for a in pretrain_args]
    wanted = resolve(PretrainConfig, values={"store": str(pre_store.root)}, overrides=overrides)
    if finished_model(run, wanted) is None:
        lmp("pretrain", str(pre_store.root), *pretrain_args)

    # CCA on the pretraining movies' window means, applied once to every movie that any draw labels.
    cca_map = fit_linear_baseline("cca", pre_store, pretrain_ids, 256, 16)
    labelled = [*label_pool, *held]
    raw = Representer(store, None, "raw", progress=False).clips([Example(v, None, None, None) for v in labelled])
    cca = dict(zip(labelled, cca_map(raw)))  # movie -> [P * 2k]
    labels = {task: movie_labels(args.corpus, task) for task in tasks}
    specs = {task: json.loads((args.corpus / "labels" / task / "task.json").read_text()) for task in tasks}
    per_draw = []  # per draw: (task, n) -> arm -> test accuracy
    for d, (pool, held_d) in enumerate(draws):
        where = args.out if d == 0 else args.out / f"draw-{d}"
        rows = {"val": held_d[: args.val], "test": held_d[args.val : args.val + args.test]}
        per_draw.append(
            probe_draw(where, store, run / "model", tasks, sizes, pool, rows, labels, specs, cca)
        )
    table = summarise(per_draw)
    text = markdown(table, len(draws))
    (args.out / "table.md").write_text(text)
    (args.out / "table.json").write_text(
        json.dumps({f"{t}@{n}": v for (t, n), v in table.items()}, indent=2) + "\n"
    )
    (args.out / "draws.json").write_text(
        json.dumps([{f"{t}@{n}": v for (t, n), v in cells.items()} for cells in per_draw], indent=2) + "\n"
    )
    print(text)
    plot(args.out)


def probe_draw(
    where: Path, store: FeatureStore, model: Path, tasks: list[str], sizes: list[int], pool: list[str],
    rows: dict[str, list[str]], labels: dict, specs: dict, cca: dict[str, torch.Tensor],
) -> dict[tuple[str, int], dict[str, float]]:  # fmt: skip
    """One draw of labelled movies: every arm probed at every size; (task, n) -> arm -> test accuracy."""
    cells_out: dict[tuple[str, int], dict[str, float]] = {}
    for n in sizes:
        root = where / f"labels-{n}"
        split_ids = {"train": pool[:n], **rows}
        for task in tasks:
            # A whole movie is one clip: empty start and end shots.
            cells = {s: [(v, "", "", labels[task][v]) for v in ids] for s, ids in split_ids.items()}
            write_task(root / task, specs[task], cells)
        # The linear probe is deterministic (lmp.tasks.probe), so one probe seed is all there is to read.
        common = ["--store", str(store.root), "--window", "256", "--seeds=[0]", "--threads", "1"]
        lmp("probe", str(root), "--checkpoint", str(model), "--representations", "all,cls,raw",
            "--out", str(where / f"probe-{n}"), *common)  # fmt: skip
        lmp("probe", str(root), "--checkpoint", str(model), "--random_init", "--representations", "all,cls",
            "--out", str(where / f"probe-{n}-random"), *common)  # fmt: skip
        ours, rand = probe_rows(where / f"probe-{n}"), probe_rows(where / f"probe-{n}-random")
        for task in tasks:
            t = read_task(root / task).restrict(store)
            x = {s: torch.stack([cca[e.video_id] for e in t.splits[s]]) for s in ("train", "val", "test")}
            y = {s: t.targets(s) for s in ("train", "val", "test")}
            res = linear_probe(x["train"], y["train"], x["val"], y["val"], x["test"], y["test"], "classification",
                               num_classes=t.spec.num_classes, seed=0)  # fmt: skip
            cells_out[(task, n)] = {
                "pretrained all": ours[(task, "all")][0],
                "pretrained cls": ours[(task, "cls")][0],
                "random all": rand[(task, "all")][0],
                "random cls": rand[(task, "cls")][0],
                "raw": ours[(task, "raw")][0],
                "CCA": res["test"]["accuracy"],
            }
    return cells_out


def summarise(per_draw: list[dict]) -> dict[tuple[str, int], dict[str, tuple[float, float]]]:
    """(task, n) -> arm -> (mean, std over draws); plus 'all - CCA': (mean, standard error) of the paired gap."""
    table = {}
    for key in per_draw[0]:
        arms = {a: np.array([cells[key][a] for cells in per_draw]) for a in per_draw[0][key]}
        row = {a: (float(v.mean()), float(v.std())) for a, v in arms.items()}
        row["all - CCA"] = paired(arms["pretrained all"] - arms["CCA"])
        table[key] = row
    return table


def paired(gap: np.ndarray) -> tuple[float, float]:
    """Per-draw differences -> (their mean, its standard error; 0 with one draw)."""
    se = float(gap.std(ddof=1) / np.sqrt(len(gap))) if len(gap) > 1 else 0.0
    return float(gap.mean()), se


def compare(a: Path, b: Path) -> str:
    """Markdown: run b - run a for each pretrained arm, per (task, n), paired by draw (mean ± standard error)."""
    runs = [json.loads((r / "draws.json").read_text()) for r in (a, b)]
    if len(runs[0]) != len(runs[1]) or any(
        ra[k]["CCA"] != rb[k]["CCA"] for ra, rb in zip(*runs) for k in ra
    ):  # CCA depends only on the corpus, the seed and the draw: equal CCA cells mean the same labelled movies
        raise SystemExit(f"--compare: {a} and {b} did not probe the same draws of labelled movies")
    arms = [arm for arm in runs[0][0][next(iter(runs[0][0]))] if arm.startswith("pretrained")]
    lines = [f"{b.name} - {a.name}, {len(runs[0])} draw(s) paired: mean ± standard error\n",
             "| task | train labels | " + " | ".join(arms) + " |", "|" + "---|" * (len(arms) + 2)]  # fmt: skip
    for key in runs[0][0]:
        task, n = key.split("@")
        cells = []
        for arm in arms:
            mean, se = paired(np.array([rb[key][arm] - ra[key][arm] for ra, rb in zip(*runs)]))
            cells.append(f"{mean:+.3f} ± {se:.3f}")
        lines.append(f"| {task} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown(table: dict, draws: int) -> str:
    arms = list(next(iter(table.values())))
    head = f"{draws} draw(s) of labelled movies: mean ± std over draws; `all - CCA`: mean ± standard error\n\n"
    lines = ["| task | train labels | " + " | ".join(arms) + " |", "|" + "---|" * (len(arms) + 2)]
    for (task, n), row in table.items():
        lines.append(f"| {task} | {n} | " + " | ".join(f"{row[a][0]:.3f} ± {row[a][1]:.3f}" for a in arms) + " |")
    return head + "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
