"""SynthConfig: everything `lmp synth` needs to generate a MovieWorld corpus, with named presets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmp.modality import check_modalities


@dataclass
class SynthConfig:
    """MovieWorld generation settings. The same config and seed always give the same corpus, byte for byte."""

    positional = ("out",)

    out: Path = Path("runs/movieworld")
    """Output directory: OUT/store (feature store), OUT/labels/<task>/, OUT/corpus.json, OUT/config.yaml."""
    seed: int = 0
    """Seed of the whole world (directors, writers, actors, codebooks) and of every movie."""
    num_movies: int = 1000
    """Number of movies (store entries)."""
    min_shots: int = 250
    """Fewest shots in a movie (the count is uniform in [min_shots, max_shots])."""
    max_shots: int = 350
    """Most shots in a movie."""
    min_clip_shots: int = 40
    """Shortest labelled clip, in shots. Clips tile each movie; a tail shorter than this is not labelled."""
    max_clip_shots: int = 120
    """Longest labelled clip, in shots."""
    min_scene_shots: int = 4
    """Shortest scene, in shots (a scene is a run of shots at one place; it may be cut short by a clip end)."""
    max_scene_shots: int = 30
    """Longest scene, in shots."""
    visual_dim: int = 64
    """Width of the 'movieworld-visual' features."""
    audio_dim: int = 32
    """Width of the 'movieworld-audio' features."""
    text_dim: int = 48
    """Width of the 'movieworld-text' features."""
    modalities: tuple[str, ...] = ("visual", "audio", "text")
    """Modalities written to the store (e.g. visual,audio: a collection without subtitles). Every modality
    is still drawn, so the written ones equal the full corpus's byte for byte, and so do all labels."""
    num_actors: int = 300
    """Size of the global actor pool (faces and voices are consistent across movies)."""
    min_cast: int = 4
    """Fewest characters in a movie."""
    max_cast: int = 8
    """Most characters in a movie."""
    dialogue_rate: float = 0.5
    """Mean fraction of shots with dialogue (text present); genres shift it by up to +-0.1."""
    audio_dropout: float = 0.03
    """Fraction of shots whose audio is missing (audio_mask False)."""
    visual_noise: float = 1.0
    """Multiplier of the per-shot visual noise (at 1.0 its norm is 3, several times a label factor's weight)."""
    audio_noise: float = 1.0
    """Multiplier of the per-shot audio noise (norm 3 at 1.0)."""
    text_noise: float = 1.0
    """Multiplier of the per-shot text noise (norm 2.5 at 1.0)."""
    nuisance: float = 0.0
    """Strength of label-free, modality-specific variation in a low-rank subspace per modality (a film's grade
    or mix, a shot's exposure, motion or room tone); 0 = none (the default corpus). See docs/movieworld.md."""
    dim_scale: float = 0.0
    """Spread of per-dimension scales and offsets of every modality's features (log-normal scales with this
    sigma), as a row concatenated from several real encoders has; 0 = none. See docs/movieworld.md."""
    label_noise: float = 0.05
    """Fraction of the LVU-shaped clip classification labels replaced by a uniformly random class (annotation noise)."""
    train_fraction: float = 0.7
    """Fraction of movies in the train split (splits are by movie)."""
    val_fraction: float = 0.1
    """Fraction of movies in the val split; the rest is test."""
    overwrite: bool = False
    """Replace a complete corpus already in `out` (otherwise an error; an incomplete one is always replaced)."""
    progress: bool = True
    """Show a tqdm progress bar and a summary line."""

    @classmethod
    def presets(cls) -> dict[str, dict[str, Any]]:
        return {
            # For unit tests: a dozen short movies with narrow features, generated in well under a second.
            "tiny": {
                "num_movies": 12,
                "min_shots": 50,
                "max_shots": 70,
                "min_clip_shots": 16,
                "max_clip_shots": 30,
                "min_scene_shots": 3,
                "max_scene_shots": 10,
                "visual_dim": 16,
                "audio_dim": 8,
                "text_dim": 12,
                "num_actors": 40,
                "progress": False,
            },
            # For `lmp demo`: big enough for probes to separate pretrained from random, small enough that
            # generate + pretrain + probe fits in a few minutes on 2 CPU cores.
            "demo": {"num_movies": 240, "min_shots": 180, "max_shots": 260, "num_actors": 150},
            "default": {},
            # A stress corpus for the transfer claims: strong nuisance that raw features carry into every
            # probe and that only the cross-modal structure tells apart from content (docs/movieworld.md).
            "nuisance": {"nuisance": 1.0},
        }

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.modalities = check_modalities(self.modalities, "modalities")
        positive = (
            "num_movies", "min_shots", "min_clip_shots", "min_scene_shots", "visual_dim", "audio_dim",
            "text_dim", "min_cast",
        )  # fmt: skip
        if self.num_movies < 3:
            raise ValueError(
                f"num_movies must be >= 3 so that train, val and test each get a movie, got {self.num_movies}"
            )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for lo, hi in (
            ("min_shots", "max_shots"),
            ("min_clip_shots", "max_clip_shots"),
            ("min_scene_shots", "max_scene_shots"),
            ("min_cast", "max_cast"),
        ):
            if getattr(self, hi) < getattr(self, lo):
                raise ValueError(f"{hi} ({getattr(self, hi)}) must be >= {lo} ({getattr(self, lo)})")
        if self.min_cast < 2:
            raise ValueError(f"min_cast must be >= 2 (relationships need a pair), got {self.min_cast}")
        if self.max_cast > self.num_actors:
            raise ValueError(f"max_cast ({self.max_cast}) must be <= num_actors ({self.num_actors})")
        if self.max_clip_shots > self.min_shots:
            raise ValueError(
                f"max_clip_shots ({self.max_clip_shots}) must be <= min_shots ({self.min_shots}) "
                "so every movie has a clip"
            )
        for name in ("audio_dropout", "label_noise"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.1 <= self.dialogue_rate <= 0.9:
            raise ValueError(
                f"dialogue_rate must be in [0.1, 0.9] (genres shift it by 0.1), got {self.dialogue_rate}"
            )
        for name in ("visual_noise", "audio_noise", "text_noise", "nuisance", "dim_scale"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not (0 < self.train_fraction < 1 and 0 < self.val_fraction < 1):
            raise ValueError(  # val selects every probe's settings: label files without val rows are unusable
                f"train_fraction/val_fraction must be in (0, 1), got {self.train_fraction}/{self.val_fraction}"
            )
        if self.train_fraction + self.val_fraction >= 1:
            raise ValueError(
                "train_fraction + val_fraction must leave movies for test, "
                f"got {self.train_fraction} + {self.val_fraction}"
            )

    @property
    def dims(self) -> dict[str, int]:
        """{modality: width} of every modality MovieWorld draws (written or not)."""
        return {"visual": self.visual_dim, "audio": self.audio_dim, "text": self.text_dim}

    @property
    def written(self) -> dict[str, int]:
        """{modality: width} of the modalities written to the store."""
        return {m: d for m, d in self.dims.items() if m in self.modalities}
