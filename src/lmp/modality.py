"""Modalities and the batch contract shared by the store, the model and the objectives.

A batch is a dict of tensors keyed by modality:

    batch["visual"]       float [b, s, Dv]   frozen shot features
    batch["visual_mask"]  bool  [b, s]       True = the shot HAS this modality (present)
    batch["times"]        float [b, s, 2]    shot start/end in seconds
    batch["shot_mask"]    bool  [b, s]       True = a real shot, False = padding

Mask polarity is the same everywhere in lmp: **True means present/valid**. A shot with no dialogue
has ``text_mask == False``; that is a normal case, not an error. Batches are built by lmp.batch.

This module stays free of torch (``import lmp`` imports it): `present` only calls tensor methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

MODALITIES: tuple[str, ...] = ("visual", "audio", "text")


def mask_key(modality: str) -> str:
    """Name of the presence mask that goes with a modality's features."""
    return f"{modality}_mask"


def present(batch: dict[str, torch.Tensor], modality: str, shot_mask: torch.Tensor | None = None) -> torch.Tensor:
    """bool [b, s]: real shots that have `modality`; a batch without its mask has it in every real shot.

    shot_mask: the batch's own by default; the model passes the one it derived (all True when the batch
    has none).
    """
    shot_mask = batch["shot_mask"].bool() if shot_mask is None else shot_mask
    key = mask_key(modality)
    return shot_mask & batch[key].bool() if key in batch else shot_mask


def check_modalities(names, where: str) -> tuple[str, ...]:
    """Validate a user-given list of modalities, keeping lmp's canonical order."""
    names = tuple(names)
    unknown = [m for m in names if m not in MODALITIES]
    if unknown:
        raise ValueError(f"{where}: unknown modality {unknown}; choose from {list(MODALITIES)}")
    if not names:
        raise ValueError(f"{where}: at least one modality is required")
    return tuple(m for m in MODALITIES if m in names)
