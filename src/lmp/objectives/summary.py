"""Window summary: the [CLS] of a window must reconstruct what the window holds on average, the mean
of its shots' normalised frozen features in every modality.

Dimension legend: b windows, s shots, d model width, D = sum of D_m over the modalities.

The movie-level contrast alone turns the [CLS] into a film fingerprint: it rewards what two far-apart
windows of a film share (cast, the film's look) and discards what differs between them, the places,
the talk, the people of this stretch (docs/diagnosis-pretraining.md). A regression onto the window
mean keeps all of it: per-shot noise averages out of the target, and no negative can be ruled out by
film identity, since there are none. Each shot's features are normalised to zero mean and unit
variance over their dimensions first (as the regression targets of masked modelling), so that no
modality or frozen encoder dominates by scale; a modality a window lacks entirely does not count.
Our choice: a linear head (after a LayerNorm), so that the [CLS] has to hold the window mean linearly,
the way a linear probe reads it; an MLP head would let it keep a code only the head can decode.

`target: unimodal` regresses instead the window mean of each modality's unimodal tokens (detached: a
target, not a path for gradients), i.e. what the `all` representation pools, in the encoders' own space.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmp.objectives.gather import global_mean


class WindowSummary(nn.Module):
    def __init__(
        self, width: int, input_dims: dict[str, int], modalities: tuple[str, ...], target: str = "features"
    ) -> None:
        super().__init__()
        self.modalities = modalities
        self.target = target
        self.dims = [input_dims[m] if target == "features" else width for m in modalities]
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, sum(self.dims)))

    def forward(
        self,
        batch: dict[str, torch.Tensor],
        cls: torch.Tensor,
        present: dict[str, torch.Tensor],
        unimodal: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """cls [b, d]; present[m] bool [b, s]; unimodal[m] [b, s, d] (target "unimodal") -> this rank's
        share of the mean squared error."""
        pred = self.head(cls).float().split(self.dims, dim=-1)  # per modality [b, D_m]
        errors, counts = [], []
        for m, p in zip(self.modalities, pred):
            w = present[m].float()  # [b, s]
            source = batch[m] if self.target == "features" else unimodal[m]
            # Zero absent/padded features first: a NaN there would poison the gradient through 0 * NaN.
            x = torch.where(present[m][..., None], source.detach().float(), 0)
            x = F.layer_norm(x, (x.shape[-1],)) * w[..., None]  # [b, s, D_m]
            n = w.sum(1)  # [b]
            target = x.sum(1) / n.clamp_min(1.0)[:, None]  # [b, D_m]
            has = n > 0
            errors.append(torch.where(has, (p - target).pow(2).mean(1), 0))  # [b]
            counts.append(has.float())
        count = torch.stack(counts).sum(0)  # [b]: modalities each window has
        per_window = torch.stack(errors).sum(0) / count.clamp_min(1.0)
        valid = count > 0
        return global_mean(torch.where(valid, per_window, 0).sum(), valid.sum())
