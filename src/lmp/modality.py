"""Modalities and the batch contract shared by the store, the model and the objectives.

A batch is a dict of tensors keyed by modality:

    batch["visual"]       float [b, s, Dv]   frozen shot features
    batch["visual_mask"]  bool  [b, s]       True = the shot HAS this modality (present)
    batch["times"]        float [b, s, 2]    shot start/end in seconds
    batch["shot_mask"]    bool  [b, s]       True = a real shot, False = padding

Mask polarity is the same everywhere in lmp: **True means present/valid**. A shot with no dialogue
has ``text_mask == False``; that is a normal case, not an error.
"""

from __future__ import annotations

MODALITIES: tuple[str, ...] = ("visual", "audio", "text")


def mask_key(modality: str) -> str:
    """Name of the presence mask that goes with a modality's features."""
    return f"{modality}_mask"


def check_modalities(names, where: str) -> tuple[str, ...]:
    """Validate a user-given list of modalities, keeping lmp's canonical order."""
    names = tuple(names)
    unknown = [m for m in names if m not in MODALITIES]
    if unknown:
        raise ValueError(f"{where}: unknown modality {unknown}; choose from {list(MODALITIES)}")
    if not names:
        raise ValueError(f"{where}: at least one modality is required")
    return tuple(m for m in MODALITIES if m in names)
