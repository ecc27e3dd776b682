"""Recurrence: a shot's contextual token must say how familiar its content is from earlier in the window.

Dimension legend: b windows, s shots (query i, earlier shot j), d model width, D frozen feature width.

Films return: to a place left scenes ago, to a face, to a voice heard before. Whether a shot shows
something met earlier is a property of the shot *in its context*, the kind of knowledge long-range
pretraining is for, and none of the other terms rewards it: they predict or align a shot's own content,
which a token can carry without looking back. Measured (docs/studies.md, "Span"): with them alone, no
arm's per-shot tokens tell a returning place from a new one better than the raw features of that one
shot do, while a label-free familiarity score from the frozen features does (below).

Target, per modality m, label-free, for every shot i the model sees (present and not corrupted):

    t_i = max over stretches j that end before shot i of cos(X_i - c, X_j - c)

with X_i the mean over the visible shots i..i+k-1 (k = `pool`, default 8; 1 = single shots) of the frozen
features normalised per shot (zero mean, unit variance over their dimensions, as the other regression
targets), and c the mean of the window's visible shots, so that what the whole window shares (the film's
grade, the room tone of a long scene) does not count as recurrence. One shot's features are too noisy to
recognise a place; a few shots of a scene are not (docs/model.md). A shot with nothing earlier to meet is
no query. A linear head (LayerNorm, then Linear to one number, read as a linear
probe would read it) on the shot's unimodal token predicts t_i standardised over the batch's queries
(every rank's), by mean squared error: 1 for a constant guess, 0 for a perfect one.

A token that only sees its own shot cannot compute t_i (the per-shot ablation's loss stays near 1). One that
attends over the window could in principle, but softmax attention returns an average of values, not how
good its best match was, and the encoders alone did not learn the target (docs/diagnosis-pretraining.md);
the model's recall read-out (lmp.model.recall) computes that similarity in a learned space, and this term
is what trains it. A longer window gives it more of the past to recognise. Our choices: the
maximum (one earlier sighting is enough to be a return), the frozen features as the similarity space
(fixed, so the target cannot drift or collapse), causal (a return is to what came before; in both
directions every shot of a scene would match its neighbours), and the window mean removed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmp.model.recall import best_earlier_match, stretch_means
from lmp.objectives.gather import all_gather_no_grad, global_mean


@torch.no_grad()
def familiarity(
    features: torch.Tensor, visible: torch.Tensor, pool: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """features [b, s, D], visible bool [b, s] -> (t [b, s], query bool [b, s]): each visible shot's
    highest cosine similarity to an earlier visible shot of its window, after removing the window mean;
    query is False where a shot is not visible or has nothing earlier to meet (t is 0 there).

    With pool = k > 1 what is compared is the mean of the visible shots i..i+k-1 (the stretch starting at
    shot i, shorter at the window's end) against the stretches that end before shot i."""
    w = visible.float()[..., None]  # [b, s, 1]
    x = torch.where(visible[..., None], features.float(), 0)  # absent/padded slots may hold NaN
    # In fp32 even under bf16 autocast: the maximum over near-equal similarities must not flip by rounding.
    with torch.autocast(x.device.type, enabled=False):
        x = F.layer_norm(x, (x.shape[-1],)) * w
        centre = x.sum(1, keepdim=True) / w.sum(1, keepdim=True).clamp_min(1.0)  # [b, 1, D]
        sums, seen = stretch_means((x - centre) * w, visible, pool)  # the cosine ignores the count
        best, has = best_earlier_match(F.normalize(sums, dim=-1), seen, pool)
    query = visible & has
    return torch.where(query, best, 0), query


class Recurrence(nn.Module):
    def __init__(self, modalities: tuple[str, ...], width: int, pool: int = 1) -> None:
        super().__init__()
        self.modalities = modalities
        self.pool = pool
        self.heads = nn.ModuleDict({m: nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 1)) for m in modalities})

    def forward(
        self, batch: dict[str, torch.Tensor], unimodal: dict[str, torch.Tensor], visible: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """unimodal[m] [b, s, d]; visible[m] bool [b, s] (present, not corrupted) -> {m: this rank's share
        of the mean squared error against the standardised familiarity}."""
        out = {}
        for m in self.modalities:
            target, query = familiarity(batch[m], visible[m], self.pool)  # [b, s]
            q = query.float()
            # Standardise over every rank's queries: count, sum, sum of squares.
            stats = all_gather_no_grad(torch.stack([q.sum(), (target * q).sum(), (target.pow(2) * q).sum()])[None])
            n, total, squares = stats.sum(0)
            mean = total / n.clamp_min(1.0)
            std = ((squares / n.clamp_min(1.0) - mean.pow(2)).clamp_min(0.0) + 1e-6).sqrt()
            z = (target - mean) / std
            pred = self.heads[m](unimodal[m]).squeeze(-1).float()  # [b, s]
            out[m] = global_mean(torch.where(query, (pred - z).pow(2), 0).sum(), q.sum())
        return out
