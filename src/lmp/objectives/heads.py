"""Heads that map backbone tokens into objective spaces. They live outside the backbone."""

from __future__ import annotations

import torch
from torch import nn


class ProjectionHead(nn.Module):
    """LN -> Linear -> GELU -> Linear: the SimCLR-style MLP head, so the backbone's tokens need not
    carry only what the objective rewards."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(in_dim), nn.Linear(in_dim, in_dim), nn.GELU(), nn.Linear(in_dim, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
