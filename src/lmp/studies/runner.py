"""The pieces every study shares: the corpus, cached pretraining arms, frozen representations, probes.

An *arm* is one pretraining configuration (e.g. "span-32", "no-align"). Its run lives in
OUT/pretrain/<arm>/ and is reused when its model exists (and resumed when it was interrupted), so
the three studies share the default arm and a rerun costs only the probes. A finished arm is reused
only if its saved config is the one asked for now (lmp.train.reuse): after a change of defaults or
options the study stops with the differences instead of reporting old models under new names.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmp.config import from_dict, to_dict
from lmp.errors import LMPError
from lmp.labels import Task, read_task
from lmp.store import FeatureStore
from lmp.studies.config import StudyConfig

RANDOM_INIT = "random init"
RAW = "raw features"
PER_SHOT = "per-shot"
"""The per-shot ablation arm: lmp's objectives on windows of one shot (no cross-shot context)."""
PER_SHOT_OVERRIDES = {"model": {"context": "shot"}}
"""Its pretraining overrides: a shot's tokens attend only to the same shot's other modalities."""


@dataclass
class Corpus:
    root: Path
    store: FeatureStore
    tasks: dict[str, Task]
    train_movies: list[str]
    context: dict[str, Task] = field(default_factory=dict)
    """Shot-level context tasks (cfg.context_tasks) that this corpus has labels for."""
    order: dict[str, Task] = field(default_factory=dict)
    """Order-aware clip tasks (cfg.order_tasks) that this corpus has labels for."""
    pretrain_configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Resolved pretraining config of every arm used, saved with the results."""


def load_corpus(cfg: StudyConfig) -> Corpus:
    from lmp.synth import SynthConfig, existing_corpus, generate

    given = str(cfg.corpus) not in ("", ".")
    root = cfg.corpus if given else cfg.out / "movieworld"
    synth = from_dict(SynthConfig, {"preset": cfg.synth_preset, "out": str(root), "seed": cfg.seed})
    if given and not (root / "corpus.json").is_file():
        raise LMPError(f"corpus {root}: not a MovieWorld corpus (no corpus.json); make one with `lmp synth --out "
                       f"{root}`, or leave --corpus empty to synthesise one into {cfg.out / 'movieworld'}")
    if not given and existing_corpus(synth) is None:  # a given corpus is used as it is
        print(f"synthesising MovieWorld ({cfg.synth_preset}) into {root}")
        generate(synth)
    store = FeatureStore(root / "store")
    tasks = {name: read_task(root / "labels" / name).restrict(store) for name in cfg.tasks}
    other = {n: f"{t.spec.type}, {t.spec.metric}" for n, t in tasks.items() if t.spec.type != "classification"}
    if other:  # label fractions are stratified by class, and verdicts and task means assume higher is better
        raise LMPError(f"study tasks must be classification tasks; {other} are not (choose --tasks among the "
                       "corpus's classification tasks)")
    train = json.loads((root / "corpus.json").read_text())["splits"]["train"]
    context = _optional_tasks(root, store, cfg.context_tasks, "context")
    order = _optional_tasks(root, store, cfg.order_tasks, "order")
    return Corpus(root, store, tasks, train, context, order)


def _optional_tasks(root: Path, store: FeatureStore, names, kind: str) -> dict[str, Task]:
    """The tasks of `names` that the corpus has labels for (corpora made by an older lmp synth lack some)."""
    found = {n: read_task(root / "labels" / n).restrict(store) for n in names if (root / "labels" / n).is_dir()}
    missing = [n for n in names if n not in found]
    if missing:
        print(f"corpus {root} has no labels for the {kind} tasks {missing} (made by an older lmp synth); skipping them")
    return found


def pretrain_arm(
    cfg: StudyConfig,
    corpus: Corpus,
    arm: str,
    overrides: dict[str, Any],
    movie_fraction: float = 1.0,
    seed: int | None = None,
):
    """Pretrain (or reuse) one arm on the train-split movies; returns its final model directory.

    seed: the pretraining seed (default cfg.seed, whose run is pretrain/<arm>; another's is
    pretrain/<arm>-seed<seed>)."""
    from lmp.train import PretrainConfig, pretrain
    from lmp.train.reuse import finished_model

    seed = cfg.seed if seed is None else seed
    run_name = arm_run_name(cfg, arm, seed)
    run = cfg.out / "pretrain" / run_name
    window = overrides.get("data", {}).get("window", cfg.window)
    values = {
        "preset": "small",
        "out": str(run),
        "model": {"width": cfg.width},
        "data": {
            "window": window,
            "min_gap": max(1, window // 4),
            "batch_size": 2 * max(1, cfg.shots_per_batch // window // 2),
        },
        "optim": {"steps": cfg.steps, "warmup": max(1, cfg.steps // 20)},
        "run": {"seed": seed, "resume": "auto", "ckpt_every": max(1, cfg.steps // 3), "device": cfg.device},
    }
    for section, update in overrides.items():
        values[section] = {**values.get(section, {}), **update} if isinstance(update, dict) else update
    values["store"] = str(_view_path(cfg, arm))
    pcfg = from_dict(PretrainConfig, values)
    corpus.pretrain_configs[run_name] = to_dict(pcfg)
    data = corpus.store.fingerprint(arm_ids(cfg, corpus, movie_fraction))  # what the view holds once built
    if (model := finished_model(run, pcfg, data)) is not None:
        return model  # its store view is left alone: a study running beside may be reading it
    store = arm_view(cfg, corpus, arm, movie_fraction)
    print(f"pretraining arm '{run_name}' on {len(store)} movies")
    return pretrain(pcfg)


def arm_run_name(cfg: StudyConfig, arm: str, seed: int) -> str:
    """The run's directory name under OUT/pretrain: the arm's name for the study's own seed, else <arm>-seed<seed>."""
    return arm if seed == cfg.seed else f"{arm}-seed{seed}"


def _view_path(cfg: StudyConfig, arm: str) -> Path:
    return cfg.out / "pretrain-stores" / arm


def arm_view(cfg: StudyConfig, corpus: Corpus, arm: str, movie_fraction: float = 1.0) -> FeatureStore:
    """The store view an arm pretrains on, OUT/pretrain-stores/<arm>: the train-split movies, or a seeded
    `movie_fraction` of them. Every pretraining seed of the arm shares it, and a view that is already right is
    kept as it is (lmp.store.subset), so building it again never moves it under a run that is reading it."""
    from lmp.store.subset import subset_store

    return subset_store(corpus.store.root, arm_ids(cfg, corpus, movie_fraction), _view_path(cfg, arm))


def arm_ids(cfg: StudyConfig, corpus: Corpus, movie_fraction: float = 1.0) -> list[str]:
    """The movies an arm pretrains on: the train split, or a seeded `movie_fraction` of it."""
    ids = corpus.train_movies
    if movie_fraction < 1.0:
        rng = np.random.default_rng(cfg.seed)
        ids = sorted(rng.choice(ids, size=max(2, math.ceil(movie_fraction * len(ids))), replace=False).tolist())
    return ids


def load_arm_model(
    model_dir: Path, corpus: Corpus, cfg: StudyConfig, random_init: bool = False, seed: int | None = None
):
    """The arm's pretrained model, or (random_init) the same architecture with random weights drawn from
    `seed` (default cfg.seed)."""
    from lmp.tasks.loading import load_model

    seed = cfg.seed if seed is None else seed
    return load_model(model_dir, corpus.store, random_init=random_init, seed=seed, device=cfg.device)


def representations(corpus: Corpus, model, cfg: StudyConfig) -> dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """task -> split -> (x [n, d], y) for one frozen model (None = raw features).

    MovieWorld's clip tasks label the same clips, so each distinct clip is encoded once per model.
    """
    from lmp.tasks.features import Representer

    rep = Representer(
        corpus.store, model, "raw" if model is None else cfg.representation, window=cfg.eval_window, progress=False
    )
    rows = {
        (e.video_id, e.start, e.end): e
        for task in corpus.tasks.values()
        for split in task.splits.values()
        for e in split
    }
    keys = list(rows)
    with torch.no_grad():
        x = rep.clips([rows[k] for k in keys])  # [n_clips, d]
    index = {k: i for i, k in enumerate(keys)}
    return {
        name: {
            split: (x[[index[(e.video_id, e.start, e.end)] for e in examples]], task.targets(split))
            for split, examples in task.splits.items()
        }
        for name, task in corpus.tasks.items()
    }


def stratified_subset(y: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Indices of `fraction` of the examples of each class (at least one per class), seeded. y: class ids [n]."""
    if y.dim() != 1 or y.is_floating_point():
        raise ValueError(f"stratified_subset: needs class ids [n], got {y.dtype} {list(y.shape)}")
    if fraction >= 1.0:
        return torch.arange(len(y))
    gen = np.random.default_rng(seed)
    keep = []
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten().numpy()
        keep.extend(gen.choice(idx, size=max(1, math.ceil(fraction * len(idx))), replace=False).tolist())
    return torch.tensor(sorted(keep))


def probe(
    reps: dict[str, tuple[torch.Tensor, torch.Tensor]], task: Task, cfg: StudyConfig, fraction: float = 1.0
) -> dict[str, float]:
    """Linear probe over seeds (each seed draws its own label subset); test metric mean, std and values.

    The probe's optimum depends only on its data (lmp.tasks.probe.linear_probe), so seeds that draw the same
    subset (with all labels, every seed) share one fit: the same values, a third of the time at three seeds."""
    from lmp.tasks.probe import linear_probe

    (xtr, ytr), (xva, yva), (xte, yte) = reps["train"], reps["val"], reps["test"]
    fits: dict[tuple[int, ...], float] = {}  # label subset -> its test metric
    values = []
    for seed in cfg.seeds:
        idx = stratified_subset(ytr, fraction, seed)
        key = tuple(idx.tolist())
        if key not in fits:
            result = linear_probe(
                xtr[idx], ytr[idx], xva, yva, xte, yte, task.spec.type, metric=task.spec.metric,
                num_classes=task.spec.num_classes, seed=seed,
            )  # fmt: skip
            fits[key] = float(result["test"][task.spec.metric])
        values.append(fits[key])
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values}


def probe_all(corpus: Corpus, cfg: StudyConfig, reps, fractions=(1.0,)) -> dict[str, dict[float, dict[str, Any]]]:
    """task -> label fraction -> probe stats, for one arm's representations."""
    from tqdm import tqdm

    out: dict[str, dict[float, dict[str, Any]]] = {name: {} for name in corpus.tasks}
    jobs = [(name, f) for name in corpus.tasks for f in fractions]
    for name, f in tqdm(jobs, desc="probes", unit="probe", leave=False):
        out[name][f] = probe(reps[name], corpus.tasks[name], cfg, f)
    return out


def evaluate_arm(corpus: Corpus, cfg: StudyConfig, model, fractions=(1.0,)) -> dict[str, dict[float, dict[str, Any]]]:
    """task -> label fraction -> probe stats, for one frozen model (None = raw features)."""
    return probe_all(corpus, cfg, representations(corpus, model, cfg), fractions)


def context_arm(corpus: Corpus, cfg: StudyConfig, model) -> dict[str, dict[str, Any]]:
    """context task -> probe stats (all train labels): per-shot linear probes on one frozen model's
    contextual shot tokens, encoded with the evaluation window."""
    from lmp.tasks.features import EncodingCache, Representer

    # One cache for all context tasks: they label shots of the same movies, each encoded once.
    cache = EncodingCache()
    rep = Representer(corpus.store, model, cfg.representation, window=cfg.eval_window, progress=False, cache=cache)
    out = {}
    for name, task in corpus.context.items():
        with torch.no_grad():
            reps = rep.task(task)
        out[name] = probe(reps, task, cfg)
    return out


def order_arm(corpus: Corpus, cfg: StudyConfig, model) -> dict[str, dict[str, Any]]:
    """order task -> probe stats (all train labels): the attentive probe, which codes each token's place in
    its clip, over one frozen model's clip tokens (None = raw features), encoded with the evaluation window."""
    from lmp.tasks.features import Representer
    from lmp.tasks.probe import attentive_probe

    rep = Representer(
        corpus.store, model, "raw" if model is None else cfg.representation, window=cfg.eval_window, progress=False
    )
    out = {}
    for name, task in corpus.order.items():
        with torch.no_grad():
            split = {s: (*rep.clips(rows, tokens=True)[1], task.targets(s)) for s, rows in task.splits.items()}
        values = [
            float(attentive_probe(
                split["train"], split["val"], split["test"], task.spec.type, metric=task.spec.metric,
                num_classes=task.spec.num_classes, seed=seed,
            )["test"][task.spec.metric])
            for seed in cfg.seeds
        ]  # fmt: skip
        out[name] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values}
    return out


def finetune_arm(corpus: Corpus, cfg: StudyConfig, model, fractions) -> dict[str, dict[float, dict[str, Any]]]:
    """task -> label fraction -> test stats of fine-tuning `model` end to end on cfg.finetune_tasks
    (each seed its own labels)."""
    from tqdm import tqdm

    from lmp.tasks.finetune import finetune

    names = [t for t in cfg.finetune_tasks if t in corpus.tasks]
    out: dict[str, dict[float, dict[str, Any]]] = {name: {} for name in names}
    jobs = [(name, f) for name in names for f in fractions]
    for name, f in tqdm(jobs, desc="fine-tuning", unit="task", leave=False):
        task = corpus.tasks[name]
        values = []
        for seed in cfg.seeds:
            keep = stratified_subset(task.targets("train"), f, seed).tolist()
            subset = replace(task, splits={**task.splits, "train": [task.splits["train"][i] for i in keep]})
            result = finetune(
                model, corpus.store, subset, representation=cfg.representation, window=cfg.eval_window,
                epochs=cfg.finetune_epochs, seed=seed,
            )  # fmt: skip
            values.append(float(result["test"][task.spec.metric]))
        out[name][f] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values}
    return out


def finetune_run(
    corpus: Corpus, cfg: StudyConfig, model_dir: Path, seed: int, fractions, random_init: bool = False
) -> dict[str, dict[float, dict[str, Any]]]:
    """finetune_arm of one pretraining run's model (random_init: of its architecture with the random weights of
    `seed`), saved in OUT/finetune/<run>[-random-init].json and reused while what it was computed from is the
    same: the run's weights and config, the store, the fine-tuned tasks' label files, the fine-tuning settings
    and the code (git commit, uncommitted edits aside; else lmp's version). Fine-tuning is most of the data
    study's time (~6.5 min per run on one thread, four runs on the defaults), so `lmp study all` gives each
    run to its worker pool beside the span and ablation studies and the data study finds them here; an
    interrupted study resumes here too instead of fine-tuning every run again."""
    from lmp import __version__
    from lmp.config import atomic_write_text
    from lmp.provenance import git_sha
    from lmp.store.writer import sha256_file

    names = [t for t in cfg.finetune_tasks if t in corpus.tasks]
    labels = sorted(p for t in names for p in (corpus.root / "labels" / t).iterdir() if p.is_file())
    key = {
        "weights": sha256_file(model_dir / "model.safetensors"),
        "config": sha256_file(model_dir / "config.json"),
        "random_init": random_init,
        "seed": seed,
        "store": corpus.store.fingerprint(),
        "labels": {f"{p.parent.name}/{p.name}": sha256_file(p) for p in labels},
        "settings": {"tasks": names, "fractions": [float(f) for f in fractions], "epochs": cfg.finetune_epochs,
                     "probe_seeds": list(cfg.seeds), "representation": cfg.representation,
                     "window": cfg.eval_window, "device": cfg.device},
        # The commit, not its "-dirty" mark: editing docs beside a running study must not void its runs.
        "code": (git_sha() or __version__).removesuffix("-dirty"),
    }  # fmt: skip
    path = cfg.out / "finetune" / f"{model_dir.parent.name}{'-random-init' if random_init else ''}.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("key") == key:  # JSON keys are strings: the label fractions back to floats
            return {t: {float(f): stats for f, stats in per.items()} for t, per in saved["result"].items()}
    model = load_arm_model(model_dir, corpus, cfg, random_init=random_init, seed=seed)
    result = finetune_arm(corpus, cfg, model, fractions)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"key": key, "result": result}, indent=1))
    return result


def pool_runs(runs: list[dict[str, dict[float, dict[str, Any]]]]) -> dict[str, dict[float, dict[str, Any]]]:
    """task -> setting -> stats of several pretraining runs (probe_all outputs) as one result: every run's
    per-seed values together, their mean and std (so the spread includes the runs')."""
    out: dict[str, dict[float, dict[str, Any]]] = {}
    for task, per in runs[0].items():
        out[task] = {}
        for f in per:
            values = [v for r in runs for v in r[task][f]["values"]]
            out[task][f] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values}
    return out


def task_average(results: dict[str, dict[str, Any]], tasks) -> dict[str, float]:
    """Mean over tasks of the per-task mean, and the spread of that mean over seeds: every task's values are
    in the same seed order (probe seeds, and pretraining runs in pool_runs), so seed i's task mean is the
    mean of the tasks' i-th values, and `std` is the std of those task means. (Before 1 Dec 2026 it was the
    mean of the tasks' own stds, which is never smaller and overstated the noise of a task mean.)"""
    chosen = [results[t] for t in tasks if t in results]
    lengths = {len(r["values"]) for r in chosen}
    if len(lengths) != 1:
        raise ValueError(f"task_average: the tasks have different numbers of seed values ({sorted(lengths)})")
    per_seed = np.mean([r["values"] for r in chosen], axis=0)  # [seeds]: the task mean of each seed
    return {
        "mean": float(np.mean([r["mean"] for r in chosen])),
        "std": float(np.std(per_seed)),
        "values": [float(v) for v in per_seed],
    }


def pretrain_seed_list(cfg: StudyConfig) -> tuple[int, ...]:
    """The pretraining seeds of the arms that are run more than once, the study's own seed first."""
    return (cfg.seed, *(s for s in cfg.pretrain_seeds if s != cfg.seed))


def base_arm(cfg: StudyConfig) -> str:
    return f"base-w{cfg.window}"


def amount_arm(movie_fraction: float) -> str:
    """The data study's arm pretrained on `movie_fraction` (< 1) of the train-split movies."""
    return f"data-{round(movie_fraction * 100)}pct"


def span_arm(cfg: StudyConfig, span: int) -> tuple[str, dict[str, Any]]:
    """The span study's arm for a pretraining window of `span` shots: its name and config overrides."""
    return (base_arm(cfg) if span == cfg.window else f"span-{span}"), {"data": {"window": span}}
