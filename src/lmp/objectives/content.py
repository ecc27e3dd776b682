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

from dataclasses import dataclass, field

import torch
from torch import nn

from lmp.objectives.contrastive import l2norm
from lmp.objectives.gather import all_gather_with_grad
from lmp.objectives.heads import ProjectionHead


class ContentSpace(nn.Module):
    """Per-modality heads from content tokens [b, s, d] to unit keys [b*s, p]."""

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


@dataclass
class ContentKeys:
    """One step's content keys, computed once and shared by the terms that score against them."""

    local: dict[str, torch.Tensor]
    """{m: unit keys [b*s, p]} of this rank's shots (all that window negatives need)."""
    gathered: dict[str, torch.Tensor] = field(default_factory=dict)
    """{m: [N, p]}: every rank's keys, gathered only when some term uses batch negatives."""

    @classmethod
    def of(cls, local: dict[str, torch.Tensor], gather: bool) -> ContentKeys:
        # Gradients flow back through the gather to each key's owner.
        return cls(local, {m: all_gather_with_grad(x) for m, x in local.items()} if gather else {})
