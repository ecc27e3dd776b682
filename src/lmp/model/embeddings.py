"""Shot embeddings: what a token knows about where and when its shot is.

Dimension legend: b batch, s shots, d width.

Our choice: the shot's index within the window is encoded with fixed sinusoids (no table, so any
window length works, and windows longer than those seen in pretraining still get distinct codes);
the shot's timing (duration and start time relative to the window start, in seconds) goes through
a small learned MLP on log-compressed values, because durations span 0.1 s to minutes.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal(positions: torch.Tensor, width: int, base: float = 10000.0) -> torch.Tensor:
    """positions [...] (any real values) -> [..., width] of sin/cos at geometric frequencies."""
    half = width // 2
    freqs = torch.exp(
        torch.arange(half, device=positions.device, dtype=torch.float32) * (-math.log(base) / half)
    )
    angles = positions.float()[..., None] * freqs  # [..., half]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class TimeEmbedding(nn.Module):
    """times [b, s, 2] (start, end in seconds from the window start) -> [b, s, d]."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2, width), nn.GELU(), nn.Linear(width, width))

    def forward(self, times: torch.Tensor) -> torch.Tensor:
        start = times[..., 0].clamp(min=0)
        duration = (times[..., 1] - times[..., 0]).clamp(min=0)
        feats = torch.stack([torch.log1p(duration), torch.log1p(start)], dim=-1)  # [b, s, 2]
        return self.mlp(feats.to(self.mlp[0].weight.dtype))
