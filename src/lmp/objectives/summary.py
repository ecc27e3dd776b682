"""Window summary contrast: the [CLS] of a window must pick out that window's own content summary (the
mean of its frozen shot features) among the summaries of every window of the batch (all ranks).

Dimension legend: b windows per rank, D = sum of D_m over the modalities used, B = world*b windows.

Why (docs/diagnosis-pretraining.md): the movie contrast is the only other objective that reaches the
[CLS], and it is an invariance objective: it rewards what two far-apart windows of a movie share (cast,
the film's own look) and discards the rest (the place, the speaking style, the relationship of the
segment). On its own it turns the [CLS] into a per-film fingerprint. This term is its counterweight: the
other window of the same movie is the hardest negative here, so the [CLS] must keep what distinguishes
its window. The target has no parameters (nothing can collapse), and the mean over tens of shots
averages out the per-shot noise that makes single-shot targets hard to predict.

Summary of modality m: the mean over the window's shots that have m of their L2-normalised frozen
features, L2-normalised; the key is the concatenation over modalities, L2-normalised (a modality the
window lacks contributes zeros).
"""

from __future__ import annotations

import torch
from torch import nn

from lmp.objectives.contrastive import LogitScale, info_nce, l2norm
from lmp.objectives.feature_prediction import present
from lmp.objectives.gather import all_gather_no_grad, global_mean, global_offset
from lmp.objectives.heads import ProjectionHead


def window_summary(batch: dict[str, torch.Tensor], modalities: tuple[str, ...]) -> torch.Tensor:
    """[b, D]: unit summary of each window's frozen features (zero for an all-padding window)."""
    parts = []
    for m in modalities:
        valid = present(batch, m)  # [b, s]
        # Zero absent/padded features first: a NaN there would survive a 0 weight.
        feats = torch.where(valid[..., None], l2norm(batch[m].detach()), 0)  # [b, s, D_m]
        mean = feats.sum(1) / valid.sum(1, keepdim=True).clamp_min(1)
        parts.append(l2norm(mean))
    return l2norm(torch.cat(parts, dim=-1))


class WindowSummary(nn.Module):
    def __init__(
        self,
        modalities: tuple[str, ...],
        width: int,
        input_dims: dict[str, int],
        temperature: float,
        learn_temperature: bool,
    ) -> None:
        super().__init__()
        self.modalities = modalities
        self.head = ProjectionHead(width, sum(input_dims[m] for m in modalities))
        self.scale = LogitScale(temperature, learn_temperature)

    def forward(self, batch: dict[str, torch.Tensor], cls: torch.Tensor) -> torch.Tensor:
        """cls [b, d] -> this rank's share of the mean loss over non-empty windows."""
        b = cls.shape[0]
        queries = l2norm(self.head(cls))  # [b, D]
        keys = all_gather_no_grad(window_summary(batch, self.modalities))  # [B, D]
        window_valid = all_gather_no_grad(batch["shot_mask"].bool().any(dim=1))  # [B]
        target = global_offset(b) + torch.arange(b, device=cls.device)  # [b]
        loss_sum, count = info_nce(queries, keys, self.scale(), target, window_valid, window_valid[target])
        return global_mean(loss_sum, count)
