"""Pretraining objectives: `Pretrainer(model, ObjectivesConfig)(batch)` returns named loss terms."""

from lmp.objectives.config import (
    AlignConfig,
    CrossMaskedConfig,
    MaskedShotConfig,
    MovieContrastConfig,
    ObjectivesConfig,
)
from lmp.objectives.pretrainer import Pretrainer

__all__ = [
    "AlignConfig",
    "CrossMaskedConfig",
    "MaskedShotConfig",
    "MovieContrastConfig",
    "ObjectivesConfig",
    "Pretrainer",
]
