"""Recall: hands each shot's token how well what starts at it matches something earlier in its window.

Dimension legend: b windows, s shots (query i, earlier shot j), d model width, k shots pooled.

Whether a shot returns to something met before (a place left scenes ago, a face) is a similarity: how
close the best earlier match is. Softmax attention cannot put that in a token: it returns an average of
the values it attends to, whatever the scores were, and the recurrence objective, which asks a token for
exactly this, was not learnt by the encoders alone (docs/diagnosis-pretraining.md, "The place is in the
features"). Recall computes it in a learned space and adds it to the token:

    z_i = mean over the k shots i..i+k-1 of W LN(u_j), minus the window's mean     (what starts at shot i)
    f_i = max over stretches that end before shot i of cos(z_i, z_j)               (0 when there is none)
    out_i = u_i + f_i * g

with u the unimodal encoder's output, W a learned square map and g a learned vector that starts at zero,
so that a new model's outputs are those of the model without recall until pretraining finds a use for it.
Only shots that have the modality (and are not padding) count as matches. Our choices: the maximum (one
earlier sighting is a return, as in the recurrence objective), stretches of k shots rather than single
shots (one shot's features are too noisy to recognise a place; a few shots of a scene are not), and the
window mean removed (what the whole window shares is not a return).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def stretch_means(x: torch.Tensor, valid: torch.Tensor, pool: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x [b, s, c], valid bool [b, s] -> (sums [b, s, c] of the valid rows of each stretch i..i+pool-1 (fewer
    at the window's end), bool [b, s]: the stretch has a valid row). Rows of x that are not valid must be 0."""
    if pool == 1:  # exactly the rows (differences of cumulative sums would round)
        return x, valid
    s = x.shape[1]
    end = (torch.arange(s, device=x.device) + pool).clamp(max=s)
    cum_x = F.pad(x.cumsum(1), (0, 0, 1, 0))  # [b, s+1, c]
    cum_n = F.pad(valid.float().cumsum(1), (1, 0))  # [b, s+1]
    return cum_x[:, end] - cum_x[:, :s], (cum_n[:, end] - cum_n[:, :s]) > 0


def best_earlier_match(z: torch.Tensor, seen: torch.Tensor, pool: int) -> tuple[torch.Tensor, torch.Tensor]:
    """z [b, s, c] (unit rows), seen bool [b, s] -> (best [b, s], has bool [b, s]): each row's highest cosine
    with a seen row at least `pool` places earlier (its stretch ends before this one starts), and whether
    there is one (best is 0 where not)."""
    s = z.shape[1]
    sim = torch.einsum("bic,bjc->bij", z, z)  # [b, s, s]
    earlier = torch.ones(s, s, dtype=torch.bool, device=z.device).tril(-pool)  # [i, j]: j + pool <= i
    candidate = earlier[None] & seen[:, None, :]  # [b, s, s]
    best = sim.masked_fill(~candidate, float("-inf")).amax(-1)
    has = candidate.any(-1)
    return torch.where(has, best, 0), has


class Recall(nn.Module):
    def __init__(self, width: int, pool: int) -> None:
        super().__init__()
        self.pool = pool
        self.norm = nn.LayerNorm(width)
        self.key = nn.Linear(width, width, bias=False)
        nn.init.trunc_normal_(self.key.weight, std=0.02)  # as the model's other linear maps
        self.gain = nn.Parameter(torch.zeros(width))

    def forward(self, u: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """u [b, s, d] unimodal tokens, valid bool [b, s] (the shot is real and has the modality) -> [b, s, d]."""
        w = valid[..., None].to(u.dtype)
        z = self.key(self.norm(u)) * w  # [b, s, d]
        z = (z - z.sum(1, keepdim=True) / w.sum(1, keepdim=True).clamp_min(1.0)) * w  # the window mean removed
        sums, seen = stretch_means(z, valid, self.pool)
        f, _ = best_earlier_match(F.normalize(sums.float(), dim=-1), seen, self.pool)  # [b, s]
        return u + f[..., None].to(u.dtype) * self.gain
