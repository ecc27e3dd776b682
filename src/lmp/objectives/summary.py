"""Window summary: the [CLS] of a window must reconstruct what the window holds on average, the mean
over its shots of what the encoders pool (the unimodal tokens, by default) in every modality.

Dimension legend: b windows, s shots, d model width, D = sum of D_m over the modalities.

The movie-level contrast alone turns the [CLS] into a film fingerprint: it rewards what two far-apart
windows of a film share (cast, the film's look) and discards what differs between them, the places,
the talk, the people of this stretch (docs/diagnosis-pretraining.md). A regression onto the window
mean keeps all of it: per-shot noise averages out of the target, and no negative can be ruled out by
film identity, since there are none. Each shot's vector is normalised to zero mean and unit variance
over its dimensions first (as the regression targets of masked modelling), so that no modality
dominates by scale; a modality a window lacks entirely does not count. Our choice: a linear head
(after a LayerNorm), so that the [CLS] has to hold the window mean linearly, the way a linear probe
reads it; an MLP head would let it keep a code only the head can decode.

What is averaged (`target`), our choice and why:
  "unimodal" (default): each modality's unimodal tokens, detached (a target, not a path for gradients),
      i.e. what the `all` representation pools: the [CLS] passes on what the other objectives taught the
      encoders (data2vec's and BYOL's regression onto the model's own representation, at window level).
  "features": the frozen features. A [CLS] that regresses them can at best hold the raw window mean,
      which random weights' [CLS] already holds as a random projection, so pretraining cannot pay off
      through it; where the frozen features carry a label-free nuisance it learns the nuisance.
  "both": the two side by side, each part of the target counting alike.
Measured in docs/diagnosis-pretraining.md ("A [CLS] that summarises the encoders").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmp.objectives.gather import global_mean

SOURCES = {"features": ("features",), "unimodal": ("unimodal",), "both": ("features", "unimodal")}


class WindowSummary(nn.Module):
    def __init__(
        self, width: int, input_dims: dict[str, int], modalities: tuple[str, ...], target: str
    ) -> None:
        super().__init__()
        self.modalities = modalities
        # One part of the target per (source, modality): the frozen features' or the unimodal tokens' mean.
        self.parts = [(source, m) for source in SOURCES[target] for m in modalities]
        self.dims = [input_dims[m] if source == "features" else width for source, m in self.parts]
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, sum(self.dims)))

    def forward(
        self,
        batch: dict[str, torch.Tensor],
        cls: torch.Tensor,
        present: dict[str, torch.Tensor],
        unimodal: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """cls [b, d]; present[m] bool [b, s]; unimodal[m] [b, s, d] (targets "unimodal", "both") -> this
        rank's share of the mean squared error."""
        pred = self.head(cls).float().split(self.dims, dim=-1)  # per part [b, D_m or d]
        errors, counts = [], []
        for (source, m), p in zip(self.parts, pred):
            w = present[m].float()  # [b, s]
            x = batch[m] if source == "features" else unimodal[m]
            # Zero absent/padded features first: a NaN there would poison the gradient through 0 * NaN.
            x = torch.where(present[m][..., None], x.detach().float(), 0)
            x = F.layer_norm(x, (x.shape[-1],)) * w[..., None]  # [b, s, D]
            n = w.sum(1)  # [b]
            target = x.sum(1) / n.clamp_min(1.0)[:, None]  # [b, D]
            has = n > 0
            errors.append(torch.where(has, (p - target).pow(2).mean(1), 0))  # [b]
            counts.append(has.float())
        count = torch.stack(counts).sum(0)  # [b]: parts each window has
        per_window = torch.stack(errors).sum(0) / count.clamp_min(1.0)
        valid = count > 0
        return global_mean(torch.where(valid, per_window, 0).sum(), valid.sum())
