"""Spread: keeps the transferable shot embeddings from collapsing onto a few directions.

Dimension legend: n real shots of the batch (this rank), d model width.

Contrastive and predictive terms are solved first by the few directions that tell the easy candidates
apart, and the encoders' outputs then concentrate there: after pretraining with the other terms
alone, the top three principal components of a clip's unimodal embedding held ~60 % of its variance
(participation ratio 6 against 21 at random init; docs/studies.md), and a probe with few labels had
little else to use. Following VICReg's variance and covariance terms, for each modality's unimodal
tokens over the batch's real shots:

    relu(1 - std_j) averaged over dimensions j     (every dimension keeps a spread of at least 1)
  + sum of squared off-diagonal covariances / d    (dimensions carry different information)

Our choices: it acts on the encoder outputs that probes read (not on a projection head), over the
real shots of the whole batch on every rank (each rank's sums are gathered, so the term and its
gradient equal the single-process ones under DDP), and each modality counts equally.
"""

from __future__ import annotations

import torch
from torch import nn

from lmp.objectives.gather import all_gather_no_grad, all_gather_with_grad


class Spread(nn.Module):
    def __init__(self, modalities: tuple[str, ...]) -> None:
        super().__init__()
        self.modalities = modalities

    def forward(self, tokens: dict[str, torch.Tensor], present: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """tokens[m] [b, s, d], present[m] bool [b, s] -> {m: variance + covariance term}."""
        w = torch.stack([present[m] for m in self.modalities]).float()[..., None]  # [M, b, s, 1]
        x = torch.stack([tokens[m] for m in self.modalities]).float() * w  # [M, b, s, d]: zero at absent shots
        d = x.shape[-1]
        # Sufficient statistics of every rank's shots: count [M], sum [M, d], sum of outer products [M, d, d].
        shots = all_gather_no_grad(w.sum((1, 2, 3))[None]).sum(0)
        n = shots.clamp_min(2.0)[:, None]  # [M, 1]
        total = all_gather_with_grad(x.sum((1, 2))[None]).sum(0)
        flat = x.flatten(1, 2)  # [M, b*s, d]
        outer = all_gather_with_grad(torch.bmm(flat.transpose(1, 2), flat)[None]).sum(0)
        mean = total / n
        cov = (outer - n[..., None] * mean[:, :, None] * mean[:, None, :]) / (n[..., None] - 1)  # [M, d, d]
        variance = cov.diagonal(dim1=1, dim2=2)  # [M, d]
        std = (variance.clamp_min(0) + 1e-4).sqrt()
        diagonal = torch.eye(d, dtype=torch.bool, device=x.device)
        off = cov.masked_fill(diagonal, 0).pow(2).sum((1, 2))  # [M]: the squared off-diagonal covariances
        # Every rank returns the full-batch term: its mean over ranks is that value, and the gathers'
        # backward sums the ranks' identical gradients, which DDP's averaging then undoes.
        # Fewer than two shots have no spread to keep (the term would be a constant 0.99 without gradient).
        term = (torch.relu(1.0 - std).mean(1) + off / d) * (shots >= 2)  # [M]
        return dict(zip(self.modalities, term.unbind(0)))
