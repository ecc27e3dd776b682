"""StudyConfig: the shared settings of `lmp study data|span|ablate|all`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lmp.modality import check_modalities
from lmp.objectives.config import ObjectivesConfig


@dataclass
class StudyConfig:
    """Pretrain small LMP models on a MovieWorld corpus and probe them; every run is cached under `out`."""

    out: Path = Path("runs/study")
    """Study directory: pretrain/<arm>/ (cached runs), <study>/results.{md,csv,json}, <study>/*.png."""
    corpus: Path = Path("")
    """An existing MovieWorld corpus (store/ + labels/ + corpus.json); empty = synthesise one into OUT/movieworld."""
    synth_preset: str = "default"
    """MovieWorld preset used when `corpus` is empty."""
    seed: int = 0
    """Seed of the corpus and of every pretraining run."""
    steps: int = 300
    """Pretraining optimizer steps of every arm."""
    width: int = 64
    """Model width d (4 heads, 2 unimodal + 2 cross-modal layers)."""
    window: int = 128
    """Default pretraining window (shots); the span study varies it."""
    shots_per_batch: int = 1024
    """Shots per optimizer step; the batch is shots_per_batch // window windows, so every span sees the same
    data volume."""
    eval_window: int = 128
    """Window of the frozen encoder when representing clips for the probes (same for every arm)."""
    tasks: tuple[str, ...] = ("relationship", "way_speaking", "scene", "director", "writer", "genre")
    """MovieWorld clip tasks (classification) probed by every study."""
    long_range_tasks: tuple[str, ...] = ("relationship", "writer")
    """Clip tasks whose evidence is spread over minutes (reported with the span study); see docs/movieworld.md."""
    context_tasks: tuple[str, ...] = ("offscreen_speaker", "place_return")
    """Shot tasks whose answer lies minutes from the shot, probed on contextual shot tokens (claim 2 is judged
    on them)."""
    order_tasks: tuple[str, ...] = ("place_order",)
    """Clip tasks whose answer is the order of the clip's shots, not their mix, read with the attentive probe
    on the clip's shot tokens (claim 2 is judged on them too)."""
    multimodal_tasks: tuple[str, ...] = ("way_speaking", "writer", "relationship", "genre")
    """Tasks carried by audio or dialogue (claim 3 is judged on them); see docs/movieworld.md."""
    representation: str = "all"
    """Representation probed: all (every encoder's shot outputs, concatenated), cls, fused, unimodal:<modality>."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Probe seeds; with label fractions each seed also draws its own labelled subset."""
    pretrain_seeds: tuple[int, ...] = (0, 1)
    """Pretraining seeds of the data study's pretrained, per-shot and random-init arms and of the span study's
    arms: each run is probed with every probe seed and the values are pooled, so the spread in a verdict
    includes pretraining runs."""
    label_fractions: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 1.0)
    """Fractions of the train labels used by the data-efficiency study."""
    finetune_fractions: tuple[float, ...] = (0.01, 0.1)
    """Label fractions at which pretrained and random weights (every pretraining seed) are also fine-tuned end to
    end (empty = none)."""
    finetune_tasks: tuple[str, ...] = ("relationship", "way_speaking", "director")
    """Tasks fine-tuned (one carried by each modality: text, audio, visual); fine-tuning costs ~100x a probe on CPU."""
    finetune_epochs: int = 5
    """Fine-tuning epochs (the best epoch on val is kept)."""
    pca_components: int = 32
    """Principal components of the PCA baseline (fit on the unlabeled train-split movies)."""
    cca_components: int = 16
    """Canonical directions per side of each modality pair in the CCA baseline."""
    low_fraction: float = 0.1
    """Claim 1 is judged on label fractions at or below this."""
    pretrain_fractions: tuple[float, ...] = (0.25, 1.0)
    """Fractions of the train-split movies used for pretraining (data-amount curve)."""
    spans: tuple[int, ...] = (8, 32, 128, 512)
    """Pretraining window lengths of the span study."""
    modality_sets: tuple[str, ...] = ("visual", "visual+audio", "visual+text", "visual+audio+text")
    """Modality subsets of the modality ablation ('+'-joined)."""
    objectives: tuple[str, ...] = (
        "masked_shot", "align", "cross_masked", "window_align", "summary", "spread", "recurrence",
    )
    """Objectives removed one at a time by the objective ablation."""
    ablate_fractions: tuple[float, ...] = (0.01, 1.0)
    """Label fractions at which the modality and objective ablations are probed (claim 3 is judged at the largest):
    what a term is worth with few labels need not be what it is worth with all of them."""
    device: str = "auto"
    """auto | cpu | cuda."""
    threads: int = 1
    """CPU threads for torch (0 = torch's default); the studies' small models run fastest on one thread."""
    workers: int = 2
    """Processes that run several studies (`lmp study all`) side by side, each with `threads` threads; 1 = one
    after another in this process."""

    def __post_init__(self) -> None:
        self.out, self.corpus = Path(self.out), Path(self.corpus)
        if self.steps < 1 or self.width < 8 or self.window < 2 or self.eval_window < 2:
            raise ValueError("steps >= 1, width >= 8, window >= 2 and eval_window >= 2 are required")
        if self.workers < 1 or self.threads < 0:
            raise ValueError(f"workers must be >= 1 and threads >= 0, got {self.workers} and {self.threads}")
        if self.pca_components < 1 or self.cca_components < 1:
            raise ValueError("pca_components and cca_components must be >= 1")
        if not self.seeds or not self.tasks or not self.pretrain_seeds:
            raise ValueError("seeds, pretrain_seeds and tasks must not be empty")
        if self.seed not in self.pretrain_seeds:
            raise ValueError(f"pretrain_seeds {list(self.pretrain_seeds)} must include seed ({self.seed}), the run "
                             "the other studies share")  # fmt: skip
        if not self.ablate_fractions:
            raise ValueError("ablate_fractions must not be empty")
        for name in ("label_fractions", "pretrain_fractions", "finetune_fractions", "ablate_fractions"):
            if not all(0 < f <= 1 for f in getattr(self, name)):
                raise ValueError(f"{name}: every fraction must be in (0, 1], got {getattr(self, name)}")
        if any(s < 2 or self.shots_per_batch // s < 2 for s in self.spans):
            raise ValueError(
                f"spans: each span must be >= 2 and leave >= 2 windows per batch of {self.shots_per_batch} shots"
            )
        for ms in self.modality_sets:
            check_modalities(ms.split("+"), f"modality_sets ({ms!r})")
        known = {f.name for f in fields(ObjectivesConfig)} - {"modalities", "proj_dim"}
        if set(self.objectives) - known:
            raise ValueError(f"objectives: unknown {sorted(set(self.objectives) - known)}; choose from {sorted(known)}")

    @classmethod
    def presets(cls) -> dict[str, dict[str, Any]]:
        return {
            # Seconds: a smoke run of every code path (tests).
            "smoke": {
                "synth_preset": "tiny", "steps": 4, "width": 16, "window": 16, "shots_per_batch": 64,
                "eval_window": 32, "tasks": ("scene", "relationship", "writer"), "seeds": (0,), "pretrain_seeds": (0,),
                "label_fractions": (0.5, 1.0), "low_fraction": 0.5, "pretrain_fractions": (0.5, 1.0),
                "finetune_fractions": (0.5,), "finetune_epochs": 1, "finetune_tasks": ("scene",),
                "pca_components": 4, "cca_components": 2,
                "spans": (8, 16), "modality_sets": ("visual", "visual+audio+text"), "objectives": ("movie",),
                "ablate_fractions": (0.5, 1.0),
            },  # fmt: skip
            # `make study`: all three studies on the default MovieWorld (hours on 2 CPU cores: docs/studies.md).
            "default": {},
        }
