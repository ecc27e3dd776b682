"""The names a transfer command accepts as `representation=` and the error for one that cannot be had.

What each representation computes is described in lmp.tasks.features. The error lives here, not there,
because loading a model for a store (lmp.tasks.loading) raises it too, and features imports the loader.
"""

from __future__ import annotations

from lmp.errors import LMPError
from lmp.modality import MODALITIES


class RepresentationError(LMPError):
    """An unknown representation, or one the model/store cannot provide."""


def check_representation(name: str) -> str:
    kind, _, modality = name.partition(":")
    if name in ("cls", "fused", "all", "raw") or (kind == "unimodal" and modality in MODALITIES):
        return name
    options = ["cls", "fused", "all", "raw"] + [f"unimodal:{m}" for m in MODALITIES]
    raise RepresentationError(f"representation {name!r} is unknown; choose from {options}")
