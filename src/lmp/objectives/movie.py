"""Long-range movie-level contrast: the [CLS] embeddings of two windows of the same movie (the sampler
draws them far apart) are positives; windows of other movies, on every rank, are negatives.

Dimension legend: b windows per rank, p projection width, B = world*b gathered windows.

batch["movie"] names a film alike on every rank (docs/design.md), so windows of one film on two ranks
are positives of each other, as they would be in one process's batch. A window is a query only when
the batch holds another window of its movie; with none, the term is 0 (the sampler must pair windows).
A window is never its own key. With several partners the loss is the multi-positive InfoNCE.
"""

from __future__ import annotations

import torch
from torch import nn

from lmp.errors import LMPError
from lmp.objectives.contrastive import LogitScale, l2norm, multi_positive_nce
from lmp.objectives.gather import all_gather_no_grad, all_gather_with_grad, global_mean, global_offset
from lmp.objectives.heads import ProjectionHead


class MovieContrast(nn.Module):
    def __init__(self, width: int, proj_dim: int, temperature: float, learn_temperature: bool) -> None:
        super().__init__()
        self.head = ProjectionHead(width, proj_dim)
        self.scale = LogitScale(temperature, learn_temperature)

    def forward(self, batch: dict[str, torch.Tensor], cls: torch.Tensor) -> torch.Tensor:
        """cls [b, d] -> this rank's share of the mean loss over windows that have a partner."""
        if "movie" not in batch:
            raise LMPError(
                f"objectives.movie: the batch has no 'movie' ids (keys: {sorted(batch)}); "
                "set objectives.movie.weight=0 or use a sampler that provides them"
            )
        b = cls.shape[0]
        device = cls.device
        emb = l2norm(self.head(cls))  # [b, p]
        keys = all_gather_with_grad(emb)  # [B, p]
        movie = all_gather_no_grad(batch["movie"].long())  # [B]
        window_valid = all_gather_no_grad(batch["shot_mask"].bool().any(dim=1))  # [B]: not all padding

        local = global_offset(b) + torch.arange(b, device=device)  # [b] gathered index of local windows
        not_self = torch.arange(movie.shape[0], device=device)[None, :] != local[:, None]  # [b, B]
        same = movie[local][:, None] == movie[None, :]  # [b, B]
        candidates = window_valid[None, :] & not_self  # [b, B]: a window is not its own key
        logits = self.scale() * (emb @ keys.T)  # [b, B]
        loss_sum, count = multi_positive_nce(logits, same, candidates, window_valid[local])
        return global_mean(loss_sum, count)
