"""A random model batch with the awkward parts real batches have, shared by the objective tests (CPU and GPU)."""

from __future__ import annotations

import torch

DIMS = {"visual": 6, "audio": 5, "text": 4}
"""Input widths of the tiny test model's modalities."""


def random_batch(b: int = 4, s: int = 8, seed: int = 0, device: str = "cpu") -> dict[str, torch.Tensor]:
    """b windows of s shots; windows (0, 1), (2, 3), ... are pairs of movies 0, 1, ...; window 1 is half
    padded; shots miss modalities at random (a quarter of them)."""
    g = torch.Generator().manual_seed(seed)
    shot_mask = torch.ones(b, s, dtype=torch.bool)
    shot_mask[1, s // 2 :] = False
    batch = {m: torch.randn(b, s, d, generator=g) for m, d in DIMS.items()}
    for m in DIMS:
        batch[f"{m}_mask"] = (torch.rand(b, s, generator=g) > 0.25) & shot_mask
    start = torch.cumsum(torch.rand(b, s, generator=g) * 4, dim=1)
    batch["times"] = torch.stack([start - start[:, :1], start - start[:, :1] + 2.0], dim=-1)
    batch["positions"] = torch.arange(s).expand(b, s).clone()
    batch["shot_mask"] = shot_mask
    batch["movie"] = torch.arange(b) // 2
    return {k: v.to(device) for k, v in batch.items()}
