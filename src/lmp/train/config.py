"""PretrainConfig: everything `lmp pretrain` needs, as nested typed dataclasses with presets.

    lmp pretrain STORE --preset=tiny --out runs/tiny      # a named preset (tiny, base, long)
    lmp pretrain STORE --config configs/pretrain/base.yaml --optim.lr=1e-3 --out runs/base
    lmp.train.pretrain(PretrainConfig(store=..., out=..., model=ModelConfig(preset="tiny")))

Batch arithmetic: `data.batch_size` windows per process per micro-step (groups of `data.views`
windows of one movie), so one optimizer step sees
``batch_size × optim.accumulation × world_size`` windows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lmp.errors import LMPWarning
from lmp.modality import check_modalities
from lmp.model import ModelConfig
from lmp.objectives import ObjectivesConfig


@dataclass
class DataConfig:
    """Which windows the trainer reads from the store, and how many at once."""

    window: int = 128
    """Shots per window N (16 ... 2,048 and beyond); shorter movies are padded (shot_mask False)."""
    views: int = 2
    """Windows drawn from each movie per group (>= 2 feeds the movie-level contrast), marked by batch['movie']."""
    min_gap: int = 32
    """Shots kept between two views of one movie when the movie is long enough (random mode)."""
    strided: bool = False
    """Tile every movie with windows at a fixed stride instead of drawing random windows."""
    stride: int = 0
    """Stride of strided mode in shots; 0 = the window length (no overlap)."""
    batch_size: int = 64
    """Windows per process per micro-step (a multiple of views)."""
    workers: int = 2
    """DataLoader worker processes per training process (0 = read in the training process)."""
    pad_multiple: int = 0
    """0 = pad every batch to the window (one shape for torch.compile); k > 0 = pad only to the batch's longest
    window rounded up to a multiple of k (less compute when movies are shorter than the window)."""
    bucket: int = 0
    """0 = batches of random windows; k > 0 = sort each run of k batches by window length before cutting it into
    batches, so windows of similar length share a batch (with pad_multiple: less padding)."""
    modalities: tuple[str, ...] = ()
    """Modalities to load and model; empty = every modality in the store."""

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"data.window: must be >= 1, got {self.window}")
        if self.views < 1:
            raise ValueError(f"data.views: must be >= 1, got {self.views}")
        if self.min_gap < 0:
            raise ValueError(f"data.min_gap: must be >= 0, got {self.min_gap}")
        if not 0 <= self.stride <= self.window:
            raise ValueError(f"data.stride: must be in [0, window={self.window}] (0 = window), got {self.stride}")
        if self.batch_size < 1 or self.batch_size % self.views:
            raise ValueError(
                f"data.batch_size: must be a positive multiple of data.views={self.views}, got {self.batch_size}"
            )
        if self.workers < 0:
            raise ValueError(f"data.workers: must be >= 0, got {self.workers}")
        if self.bucket < 0:
            raise ValueError(f"data.bucket: must be >= 0 (0 = no length buckets), got {self.bucket}")
        if self.pad_multiple < 0:
            raise ValueError(f"data.pad_multiple: must be >= 0 (0 = pad to the window), got {self.pad_multiple}")
        if self.modalities:
            self.modalities = check_modalities(self.modalities, "data.modalities")


@dataclass
class OptimConfig:
    """AdamW with linear warmup and cosine decay (see lmp.train.schedules)."""

    lr: float = 5e-4
    """Peak learning rate (reached at the end of warmup)."""
    weight_decay: float = 0.05
    """AdamW weight decay, applied to matrices only (not to biases, norms or 1-d parameters)."""
    betas: tuple[float, float] = (0.9, 0.98)
    """AdamW betas."""
    eps: float = 1e-6
    """AdamW epsilon."""
    warmup: int = 1000
    """Optimizer steps of linear warmup."""
    steps: int = 20000
    """Total optimizer steps (the cosine reaches its floor here and training stops)."""
    final_lr_ratio: float = 0.01
    """Learning rate at the end of the cosine, as a fraction of lr."""
    clip: float = 1.0
    """Clip the global gradient norm to this value (0 = no clipping)."""
    accumulation: int = 1
    """Micro-batches accumulated per optimizer step."""

    def __post_init__(self) -> None:
        for name in ("lr", "eps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"optim.{name}: must be > 0, got {getattr(self, name)}")
        for name in ("weight_decay", "clip", "warmup"):
            if getattr(self, name) < 0:
                raise ValueError(f"optim.{name}: must be >= 0, got {getattr(self, name)}")
        if self.steps < 1 or self.accumulation < 1:
            raise ValueError(f"optim.steps and optim.accumulation: must be >= 1, got {self.steps}, {self.accumulation}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"optim.betas: two values in [0, 1), got {self.betas}")
        if not 0.0 <= self.final_lr_ratio <= 1.0:
            raise ValueError(f"optim.final_lr_ratio: must be in [0, 1], got {self.final_lr_ratio}")
        self.betas = tuple(float(b) for b in self.betas)


@dataclass
class RunConfig:
    """Seed, device, precision, logging, checkpointing and resuming."""

    seed: int = 0
    """Seed for the model init, the objectives' masking (offset by rank) and the window sampler."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """'auto' = CUDA when available (cuda:LOCAL_RANK under torchrun), else CPU."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """'auto' = bf16 autocast on CUDA, fp32 on CPU (weights and optimizer state stay fp32)."""
    compile: bool = False
    """torch.compile the model + objectives (first steps are slow while it compiles)."""
    activation_checkpointing: bool = False
    """Recompute each transformer block in the backward instead of keeping its activations: much less memory
    for ~1/3 more compute, for the longest windows (whole films) on one GPU."""
    retain_host_memory: bool = True
    """CPU runs on Linux: keep freed memory in the process (glibc mallopt) so each step reuses its pages instead of
    page-faulting them in again (lmp.train.host_memory; ~10-17 % faster steps on a 2-core VM)."""
    log_every: int = 10
    """Optimizer steps between log lines (the only host syncs of the loop)."""
    ckpt_every: int = 1000
    """Optimizer steps between checkpoints (one is also written at the end)."""
    keep_checkpoints: int = 3
    """Newest checkpoints kept in RUN/checkpoints (0 = keep all)."""
    resume: str = "none"
    """'none' = start fresh (refuses an OUT that has checkpoints), 'auto' = continue from OUT's newest checkpoint
    if any, or a checkpoint directory."""
    tensorboard: bool = True
    """Also log to RUN/tb (skipped with a note when tensorboard is not installed)."""
    wandb: bool = False
    """Also log the same scalars to Weights & Biases from rank 0, under RUN/wandb (extra `wandb`)."""
    wandb_project: str = "lmp"
    """W&B project of the run (the W&B run is named and grouped by the run directory's name)."""
    wandb_mode: Literal["offline", "online", "disabled"] = "offline"
    """'offline' = files in RUN/wandb, no network (`wandb sync` uploads them); 'online' = W&B server; 'disabled'."""
    progress: bool = True
    """Show a tqdm progress bar on rank 0."""
    find_unused_parameters: bool = False
    """DDP: allow parameters whose use changes from batch to batch (slower). Parameters no enabled objective uses
    are frozen at start anyway."""

    def __post_init__(self) -> None:
        if self.log_every < 1 or self.ckpt_every < 1:
            raise ValueError(f"run.log_every and run.ckpt_every: must be >= 1, got {self.log_every}, {self.ckpt_every}")
        if self.keep_checkpoints < 0:
            raise ValueError(f"run.keep_checkpoints: must be >= 0, got {self.keep_checkpoints}")
        if self.wandb_mode not in ("offline", "online", "disabled"):
            raise ValueError(f"run.wandb_mode: must be offline, online or disabled, got {self.wandb_mode!r}")
        if self.wandb and not self.wandb_project.strip():
            raise ValueError("run.wandb_project: must not be empty when run.wandb is on")


_PRESETS: dict[str, dict[str, Any]] = {
    # Seconds on a laptop CPU: tests, the demo and smoke runs.
    "tiny": {
        "model": {"preset": "tiny"},
        "data": {"window": 16, "views": 2, "min_gap": 4, "batch_size": 8, "workers": 0},
        "optim": {"lr": 1e-3, "warmup": 5, "steps": 50},
        "run": {"log_every": 5, "ckpt_every": 25, "tensorboard": False},
    },
    # A few minutes on 2 CPU cores: `lmp demo` and `lmp study` (d=64, 2 unimodal + 2 cross-modal layers).
    "small": {
        "model": {"preset": "tiny", "width": 64, "heads": 4, "layers": 2, "cross_layers": 2, "dropout": 0.0},
        "data": {"window": 64, "views": 2, "min_gap": 16, "batch_size": 16, "workers": 0},
        "optim": {"lr": 1e-3, "warmup": 20, "steps": 400},
        "run": {"log_every": 5, "ckpt_every": 100, "tensorboard": False},
    },
    # The paper-scale backbone on 128-shot windows (one GPU).
    "base": {"model": {"preset": "base"}, "data": {"window": 128, "batch_size": 64}},
    # Long range: 1,024-shot windows (about an hour of film each).
    "long": {
        "model": {"preset": "base"},
        "data": {"window": 1024, "batch_size": 8, "min_gap": 128},
        "optim": {"accumulation": 4},
    },
}


@dataclass
class PretrainConfig:
    """`lmp pretrain`: pretrain the LMP backbone on a feature store."""

    positional = ("store",)

    store: Path = Path("runs/demo/store")
    """Feature store directory (the model's input widths come from its encoders)."""
    out: Path = Path("runs/pretrain")
    """Run directory: config.yaml, log.jsonl, tb/, checkpoints/, model/ (the final model)."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Backbone shape (model.input_dims and model.modalities are filled in from the store and data.modalities)."""
    objectives: ObjectivesConfig = field(default_factory=ObjectivesConfig)
    """Pretraining objectives and their weights."""
    data: DataConfig = field(default_factory=DataConfig)
    """Window sampling and batching."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimizer and learning-rate schedule."""
    run: RunConfig = field(default_factory=RunConfig)
    """Seed, device, precision, logging, checkpoints, resume."""

    def __post_init__(self) -> None:
        self.store, self.out = Path(self.store), Path(self.out)
        if self.optim.warmup > self.optim.steps:
            warnings.warn(
                f"optim.warmup={self.optim.warmup} is longer than optim.steps={self.optim.steps}: the learning rate "
                f"never reaches optim.lr={self.optim.lr:g} (set --optim.warmup, e.g. to a twentieth of the steps)",
                LMPWarning, stacklevel=3,
            )
        # These terms contrast windows of one movie: with one window per movie they would silently be 0.
        paired = [n for n in ("movie", "stretch") if getattr(self.objectives, n).weight > 0]
        if paired and self.data.views < 2:
            raise ValueError(
                f"objectives.{paired[0]} needs several windows of a movie in a batch: set data.views >= 2 "
                f"(got {self.data.views}) or objectives.{paired[0]}.weight=0"
            )

    @classmethod
    def presets(cls) -> dict[str, dict[str, Any]]:
        """tiny (tests, CPU seconds), small (demo/studies, CPU minutes), base (d=512, N=128), long (d=512, N=1,024)."""
        return {k: {s: dict(v) for s, v in p.items()} for k, p in _PRESETS.items()}
