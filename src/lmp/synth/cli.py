"""`lmp synth`: generate a MovieWorld corpus (store + labels). See docs/movieworld.md."""

from __future__ import annotations

from lmp.synth.config import SynthConfig


def synth(cfg: SynthConfig) -> int:
    from lmp.synth.generate import generate

    generate(cfg)
    return 0
