"""The names a transfer command accepts as `representation=` and the error for one that cannot be had.

What each representation computes is described in lmp.tasks.features. The error lives here, not there,
because loading a model for a store (lmp.tasks.loading) raises it too, and features imports the loader.
"""

from __future__ import annotations

from lmp.errors import LMPError
from lmp.modality import MODALITIES


class RepresentationError(LMPError):
    """An unknown representation, or one the model/store cannot provide."""


LINEAR_MAPS = ("pca", "cca")
"""Label-free linear maps of `raw`, fit on unlabeled movies (lmp.tasks.linear_baselines)."""
MODEL_FREE = ("raw", *LINEAR_MAPS)
"""Representations of the frozen features alone."""


def check_representation(name: str) -> str:
    kind, _, modality = name.partition(":")
    if name in ("cls", "fused", "all", *MODEL_FREE) or (kind == "unimodal" and modality in MODALITIES):
        return name
    options = ["cls", "fused", "all", *MODEL_FREE] + [f"unimodal:{m}" for m in MODALITIES]
    raise RepresentationError(f"representation {name!r} is unknown; choose from {options}")


def needs_model(name: str) -> bool:
    return name not in MODEL_FREE
