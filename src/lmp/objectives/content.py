"""The content space: a per-modality embedding of each shot from its own features alone.

Dimension legend: b windows, s shots, d model width, p projection width, N = world*b*s gathered shots.

`content[m]` (LMPModel.forward_features) is a shot's projected modality-m features before any context,
position, time or corruption. A head per modality maps it into one joint space of width p. These are
the *keys* of the shot-level objectives by default: a query built from context (a contextual token, a
[MASK]ed or [HIDDEN] position) must pick out a shot's content embedding. Keys carry no shot
index, start time or duration, so nothing shared between a query and its key but the content can solve
the task (the position shortcut of docs/diagnosis-pretraining.md), and being learned, the keys can drop
what is unpredictable noise in the frozen features, unlike raw feature targets.
"""

from __future__ import annotations

import torch
from torch import nn

from lmp.objectives.contrastive import l2norm
from lmp.objectives.gather import all_gather_with_grad
from lmp.objectives.heads import ProjectionHead


class ContentSpace(nn.Module):
    """Per-modality heads from content tokens [b, s, d] to unit keys [b*s, p], gathered over ranks."""

    def __init__(self, modalities: tuple[str, ...], width: int, proj_dim: int) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({m: ProjectionHead(width, proj_dim) for m in modalities})

    def forward(self, content: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """content[m] [b, s, d] -> {m: local unit keys [b*s, p]} for the modalities with a head."""
        out = {}
        for m, head in self.heads.items():
            b, s, d = content[m].shape
            out[m] = l2norm(head(content[m].reshape(b * s, d)))
        return out


def gather_keys(local: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{m: [b*s, p]} -> {m: [N, p]}: every rank's keys; gradients flow back to each key's owner."""
    return {m: all_gather_with_grad(x) for m, x in local.items()}
