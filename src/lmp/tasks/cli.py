"""`lmp lvu`, `lmp probe` and `lmp embed`.

    lmp lvu --store S --checkpoint C [--lvu_dir DIR|fixture] [--protocols linear,attentive,finetune]
    lmp probe OUT/labels/genre --store S --checkpoint C      (or a labels root: every task under it)
    lmp embed --store S --checkpoint C --out DIR

Without a checkpoint pass --random_init (a randomly initialised `preset` model) or only the `raw`
representation, so a missing checkpoint is never mistaken for a pretrained one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lmp.errors import LMPError
from lmp.tasks.evaluate import PROTOCOLS, ProbeOptions
from lmp.tasks.lvu import LVU_TASKS
from lmp.tasks.representation_names import needs_model


def _check_list(values, allowed, name: str) -> None:
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise ValueError(f"{name}: {bad or 'empty'} not allowed; choose from {list(allowed)}")


@dataclass
class TransferConfig:
    """What every transfer command shares: the store, the model, and how to represent clips."""

    store: Path = Path("runs/demo/store")
    """Feature store directory."""
    checkpoint: Path | None = None
    """Checkpoint directory (model.safetensors + config.json); None needs --random_init or raw only."""
    random_init: bool = False
    """Use random weights: the checkpoint's architecture if given, else the `preset` model."""
    preset: str = "tiny"
    """Model preset for --random_init without a checkpoint."""
    window: int = 128
    """Shots per forward pass; longer clips are encoded in chunks and pooled (docs/transfer.md)."""
    device: str = "auto"
    """'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:1', ..."""
    init_seed: int = 0
    """Seed of the random initialisation (--random_init)."""
    threads: int = 1
    """CPU threads for torch (0 = torch's default, one per core). Several threads spin at every op's barrier
    waiting for a descheduled peer when other jobs share the cores: ~10x slower encoding (docs/transfer.md)."""

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window: must be >= 1, got {self.window}")
        if self.threads < 0:
            raise ValueError(f"threads: must be >= 0, got {self.threads}")


@dataclass
class EvalConfig(TransferConfig):
    protocols: list[str] = field(default_factory=lambda: ["linear"])
    """Protocols: linear (frozen, linear probe), attentive (frozen, attentive probe), finetune."""
    representations: list[str] = field(default_factory=lambda: ["cls"])
    """cls, fused, all (every unimodal encoder's tokens and the fused ones, concatenated), unimodal:<m>, raw
    (frozen store features, no model), pca or cca (label-free linear maps of raw, fit on the store's movies
    outside every task's val and test splits: the linear baselines)."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """Seeds; tables report mean ± std over them."""
    out: Path = Path("runs/transfer")
    """Output directory for results.{md,csv,json}, config.yaml, provenance.json."""
    options: ProbeOptions = field(default_factory=ProbeOptions)
    """Probe and fine-tuning hyper-parameters."""

    def __post_init__(self) -> None:
        super().__post_init__()
        from lmp.tasks.features import check_representation

        _check_list(self.protocols, PROTOCOLS, "protocols")
        for r in self.representations:
            try:
                check_representation(r)
            except LMPError as e:
                raise ValueError(f"representations: {e}") from None
        if not self.seeds:
            raise ValueError("seeds: need at least one seed")


@dataclass
class LVUConfig(EvalConfig):
    lvu_dir: str = ""
    """LVU 1.0 directory with <task>/{train,val,test}.csv; '' = $LMP_LVU_DIR, else the shipped mini copy
    (with a warning); 'fixture' = the shipped mini copy."""
    tasks: list[str] = field(default_factory=lambda: list(LVU_TASKS))
    """LVU tasks to run (default all 9)."""
    out: Path = Path("runs/lvu")
    """Output directory for results.{md,csv,json}, missing_videos.json, config.yaml, provenance.json."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_list(self.tasks, LVU_TASKS, "tasks")


@dataclass
class ProbeConfig(EvalConfig):
    positional = ("labels",)
    labels: Path = Path("runs/demo/labels")
    """A task directory (task.json + splits) or a labels root: every task directory under it is run."""
    out: Path = Path("runs/probe")
    """Output directory for results.{md,csv,json}, missing_videos.json, config.yaml, provenance.json."""


@dataclass
class EmbedConfig(TransferConfig):
    out: Path = Path("runs/embeddings")
    """Output directory for the .npy matrices, the CSV indexes and embeddings.json."""
    clip_shots: int = 0
    """Clip definition: 0 = one clip per store entry, N = runs of N consecutive shots."""
    batch_size: int = 16
    """Windows per forward pass."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.clip_shots < 0:
            raise ValueError(f"clip_shots: must be >= 0, got {self.clip_shots}")


def _threads(cfg: TransferConfig) -> None:
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)


def _model(cfg: TransferConfig, store, needed: bool):
    from lmp.model.checkpoint import looks_like_hub_id
    from lmp.tasks.features import load_model

    if not needed:
        return None
    if cfg.checkpoint is None and not cfg.random_init:
        raise LMPError("no --checkpoint given: pass one, or --random_init for a randomly initialised model")
    if cfg.checkpoint is not None and not Path(cfg.checkpoint).is_dir() and not looks_like_hub_id(cfg.checkpoint):
        raise LMPError(f"checkpoint {cfg.checkpoint}: not a directory (nor a Hugging Face Hub id owner/name)")
    return load_model(
        cfg.checkpoint, store, random_init=cfg.random_init, preset=cfg.preset, seed=cfg.init_seed, device=cfg.device
    )


def _model_info(cfg: TransferConfig, model) -> dict:
    """What model produced the numbers: checkpoint path and weights sha256, init, resolved ModelConfig."""
    from lmp.config import to_dict
    from lmp.store.writer import sha256_file

    weights = Path(cfg.checkpoint) / "model.safetensors" if cfg.checkpoint else None
    return {
        "checkpoint": str(cfg.checkpoint) if cfg.checkpoint else None,
        "checkpoint_sha256": sha256_file(weights) if weights is not None and weights.is_file() else None,
        "random_init": cfg.random_init,
        "init_seed": cfg.init_seed if cfg.random_init else None,
        "model_config": to_dict(model.cfg) if model is not None else None,
    }


def _linear_maps(cfg: EvalConfig, store, tasks: dict) -> dict:
    """{"pca" | "cca": LinearMap} for the representations asked for, each fit once, without labels, on the
    store's movies that no task holds out for val or test (windows of `window` shots)."""
    from lmp.tasks.linear_baselines import fit_linear_baseline
    from lmp.tasks.representation_names import LINEAR_MAPS

    wanted = [r for r in cfg.representations if r in LINEAR_MAPS]
    if not wanted:
        return {}
    held_out = {e.video_id for t in tasks.values() for s in ("val", "test") for e in t.splits[s]}
    movies = [v for v in store.ids if v not in held_out]
    if not movies:
        raise LMPError(
            f"store {cfg.store}: representations {wanted} are fit on movies outside every task's val and test "
            "splits, and there are none"
        )
    components = {"pca": cfg.options.pca_components, "cca": cfg.options.cca_components}
    print(f"fit {', '.join(wanted)} on {len(movies)} movies outside val and test ({cfg.window}-shot windows)")
    return {r: fit_linear_baseline(r, store, movies, cfg.window, components[r]) for r in wanted}


def _run(cfg: EvalConfig, tasks: dict, title: str) -> int:
    import json

    from lmp.config import atomic_write_text
    from lmp.store import FeatureStore
    from lmp.tasks.evaluate import evaluate_task, grid_edge_note
    from lmp.tasks.features import EncodingCache
    from lmp.tasks.report import write_results

    _threads(cfg)
    store = FeatureStore(cfg.store)
    model = _model(cfg, store, needed=any(needs_model(r) for r in cfg.representations))
    restricted = {name: t.restrict(store) for name, t in tasks.items()}
    maps = _linear_maps(cfg, store, restricted)
    missing = {name: t.missing for name, t in restricted.items()}
    for t in restricted.values():
        print(f"videos: {t.missing_summary()}")
    # The missing-video report is written first: it is most useful exactly when nothing can run.
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(cfg.out) / "missing_videos.json", json.dumps(missing, indent=2) + "\n")
    summaries, skipped = [], {}
    # One model, window and store for every task: each clip and movie is encoded once.
    cache = EncodingCache(tokens="attentive" in cfg.protocols)
    for name, task in restricted.items():
        empty = [s for s in ("train", "val", "test") if not task.splits[s]]
        if empty:
            skipped[name] = f"no {'/'.join(empty)} example has its video in the store"
            print(f"skip {name}: {skipped[name]}")
            continue
        for protocol in cfg.protocols:
            for rep in cfg.representations:
                if not needs_model(rep) and protocol == "finetune":
                    continue
                print(f"{name}: {protocol} probe on {rep} ({len(cfg.seeds)} seeds)")
                summary = evaluate_task(
                    task, store, model, protocol=protocol, representation=rep, seeds=cfg.seeds,
                    window=cfg.window, options=cfg.options, cache=cache, linear_map=maps.get(rep),
                )  # fmt: skip
                summaries.append(summary)
                note = grid_edge_note(summary, cfg.options)
                if note:
                    print(note)
    if not summaries:
        raise LMPError(
            f"store {cfg.store}: no task has train, val and test videos among its {len(store)} movies "
            f"(see {Path(cfg.out) / 'missing_videos.json'}; store movie ids must be the labels' video ids)"
        )
    extra = {**_model_info(cfg, model), "skipped": skipped}
    paths = write_results(
        Path(cfg.out), summaries, cfg, title=title, stores={"store": cfg.store}, seeds=list(cfg.seeds),
        missing=missing, extra=extra,
    )  # fmt: skip
    print(paths["results.md"].read_text().split("\n## Details")[0])
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def lvu(cfg: LVUConfig) -> int:
    """Run LVU tasks (default all 9) on a store and write one table."""
    from lmp.tasks.lvu import read_lvu, resolve_lvu_dir

    root = resolve_lvu_dir(cfg.lvu_dir)
    return _run(cfg, read_lvu(root, cfg.tasks), title=f"LVU ({root})")


def probe(cfg: ProbeConfig) -> int:
    """Run one task directory, or every task directory under a labels root."""
    from lmp.labels import find_tasks, read_task

    tasks, folder = {}, {}
    for d in find_tasks(cfg.labels):
        task = read_task(d)
        name = task.spec.name
        if name in tasks:
            # Results, tables and missing-video counts are keyed by the task's name: one would replace the other.
            raise LMPError(
                f"{d}/task.json: task name {name!r} is also the name of {folder[name]}; give each task its own name"
            )
        tasks[name], folder[name] = task, d
    return _run(cfg, tasks, title=f"Transfer ({cfg.labels})")


def embed(cfg: EmbedConfig) -> int:
    """Export per-shot and per-clip embeddings of every movie in the store."""
    from lmp.config import save_config, to_dict
    from lmp.provenance import provenance
    from lmp.store import FeatureStore
    from lmp.tasks.embed import export_embeddings

    _threads(cfg)
    store = FeatureStore(cfg.store)
    model = _model(cfg, store, needed=True)
    info = {
        **_model_info(cfg, model),
        "provenance": provenance(stores={"store": cfg.store}),
        "config": to_dict(cfg),
    }
    meta = export_embeddings(
        store, model, Path(cfg.out), window=cfg.window, clip_shots=cfg.clip_shots, batch_size=cfg.batch_size, info=info
    )
    save_config(cfg, Path(cfg.out) / "config.yaml")
    print(
        f"wrote {meta['shots']['count']} shots and {meta['clips']['count']} clips of {meta['movies']} movies "
        f"to {cfg.out}"
    )
    return 0
