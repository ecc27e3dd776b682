"""`lmp synth`: generate a MovieWorld corpus (store + labels); `lmp synth measure`: what its tasks need.
See docs/movieworld.md."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lmp.synth.config import SynthConfig


def synth(cfg: SynthConfig) -> int:
    from lmp.synth.generate import generate

    generate(cfg)
    return 0


@dataclass
class MeasureConfig:
    """Probe MovieWorld's tasks on fixed poolings of the frozen features (the tables in docs/movieworld.md)."""

    positional = ("corpus",)

    corpus: Path = Path("runs/movieworld")
    """A MovieWorld directory (`lmp synth --out`): CORPUS/store, CORPUS/labels, CORPUS/corpus.json."""
    seed: int = 0
    """Seed of the random shots, windows and row samples, and of the probes' initialisation."""
    quick: bool = False
    """Only the 'all' modality subset and the 60 s window (a smoke check)."""


def measure(cfg: MeasureConfig) -> int:
    from lmp.synth.measure import run

    run(cfg.corpus, quick=cfg.quick, seed=cfg.seed)
    return 0
