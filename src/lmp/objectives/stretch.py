"""Stretch contrast: within one film, which stretch of it a run of shots comes from, per modality.

Dimension legend: b windows (this rank), s shots, k chunks per window, c = s // k shots per chunk,
d model width, p projection width, B = world*b windows of all ranks.

Why (our choice, docs/diagnosis-pretraining.md): the cross-modal terms reward what the modalities share,
so a trained encoder gives its variance to film-level shared content and keeps less of what only one
modality says about a stretch of the film (who speaks to whom, in the dialogue). Contrasting stretches
of one modality with each other rewards that, but only if film identity cannot solve it: a film's own
look, mix or writing style (and any per-film nuisance of a real encoder: grade, room tone) is the same
in every stretch. So each window is cut into k contiguous chunks; a chunk's mean embedding must pick
out the other chunks of its own window (positives) among the chunks of the batch's other windows **of
the same movie** (the sampler's second view, drawn far away): only what is consistent within a stretch
and changes within the film tells them apart. Windows of other movies are not candidates at all. A
film's windows on other ranks are candidates as they would be in one batch (keys gathered across ranks).

Chunks are pooled from each modality's unimodal tokens (what clip probes read) over the chunk's shots
that have the modality; a chunk without any is neither query nor key. A window whose movie has no other
window in the batch has no negatives, and its chunks are no queries.
"""

from __future__ import annotations

import torch
from torch import nn

from lmp.errors import LMPError
from lmp.modality import present
from lmp.objectives.contrastive import LogitScale, l2norm, multi_positive_nce
from lmp.objectives.gather import all_gather_no_grad, all_gather_with_grad, global_mean, global_offset
from lmp.objectives.heads import ProjectionHead


class StretchContrast(nn.Module):
    def __init__(
        self, modalities: tuple[str, ...], width: int, proj_dim: int, chunks: int, temperature: float,
        learn_temperature: bool,
    ) -> None:  # fmt: skip
        super().__init__()
        self.modalities = modalities
        self.chunks = chunks
        self.heads = nn.ModuleDict({m: ProjectionHead(width, proj_dim) for m in modalities})
        self.scale = LogitScale(temperature, learn_temperature)

    def forward(self, batch: dict[str, torch.Tensor], unimodal: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """unimodal[m] [b, s, d] -> {m: this rank's share of the mean loss over counted chunks}."""
        if "movie" not in batch:
            raise LMPError(
                f"objectives.stretch: the batch has no 'movie' ids (keys: {sorted(batch)}); "
                "set objectives.stretch.weight=0 or use a sampler that draws several windows per movie"
            )
        b, s = batch["shot_mask"].shape
        k = min(self.chunks, s)
        c = s // k  # the window's last s - k*c shots are in no chunk
        device = batch["shot_mask"].device
        movie = all_gather_no_grad(batch["movie"].long())  # [B]
        window = torch.arange(movie.shape[0], device=device).repeat_interleave(k)  # [B*k]: each chunk's window
        mine = global_offset(b * k) + torch.arange(b * k, device=device)  # [b*k]: this rank's chunks among them
        same_window = window[mine][:, None] == window[None, :]  # [b*k, B*k]
        same_movie = movie[window[mine]][:, None] == movie[window][None, :]  # [b*k, B*k]
        not_self = mine[:, None] != torch.arange(window.shape[0], device=device)[None, :]  # [b*k, B*k]
        out = {}
        for m in self.modalities:
            w = present(batch, m)[:, : k * c].reshape(b, k, c).to(unimodal[m].dtype)  # [b, k, c]
            x = unimodal[m][:, : k * c].reshape(b, k, c, -1)  # [b, k, c, d]
            n = w.sum(2)  # [b, k]
            mean = (x * w[..., None]).sum(2) / n.clamp_min(1.0)[..., None]  # [b, k, d]
            has = (n > 0).reshape(b * k)  # [b*k]
            emb = l2norm(self.heads[m](mean.reshape(b * k, -1)))  # [b*k, p]
            keys, key_has = all_gather_with_grad(emb), all_gather_no_grad(has)  # [B*k, p], [B*k]
            candidates = same_movie & not_self & key_has[None, :]  # [b*k, B*k]
            # A query needs a negative too: some chunk of another window of its movie.
            has_negative = (candidates & ~same_window).any(dim=1)
            logits = self.scale() * (emb @ keys.T)  # [b*k, B*k]
            loss_sum, count = multi_positive_nce(logits, same_window, candidates, has & has_negative)
            out[m] = global_mean(loss_sum, count)
        return out
