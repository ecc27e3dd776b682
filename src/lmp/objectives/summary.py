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

With one [CLS] per modality (model.summary_tokens="per_modality"), token i regresses only the parts of
its own modality, through the same head: one 64-wide [CLS] regressing three modalities keeps the
directions that vary most between windows (the pictures' and the sound's), and the dialogue's, which
vary least, were crowded out (docs/diagnosis-pretraining.md, "The [CLS] and dialogue").
"""

from __future__ import annotations

from itertools import accumulate

import torch
import torch.nn.functional as F
from torch import nn

from lmp.objectives.gather import global_mean

SOURCES = {"features": ("features",), "unimodal": ("unimodal",), "both": ("features", "unimodal")}


class WindowSummary(nn.Module):
    def __init__(
        self,
        width: int,
        input_dims: dict[str, int],
        modalities: tuple[str, ...],
        target: str,
        cls_modalities: tuple[str, ...] = (),
    ) -> None:
        """cls_modalities: the modality each [CLS] token summarises, in the model's token order (one per
        modality of the model), or () for a single [CLS] that summarises every modality."""
        super().__init__()
        self.modalities = modalities
        self.n_tokens = max(len(cls_modalities), 1)
        # One part of the target per (source, modality): the frozen features' or the unimodal tokens' mean.
        self.parts = [(source, m) for source in SOURCES[target] for m in modalities]
        self.dims = [input_dims[m] if source == "features" else width for source, m in self.parts]
        # Which [CLS] token predicts each part. One head for every token, so that its weights (and the random
        # draws that initialise them) are the same with one [CLS] or several.
        self.token = [cls_modalities.index(m) if cls_modalities else 0 for _, m in self.parts]
        self.ends = list(accumulate(self.dims))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, sum(self.dims)))

    def forward(
        self,
        batch: dict[str, torch.Tensor],
        cls: torch.Tensor,
        present: dict[str, torch.Tensor],
        unimodal: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """cls [b, k*d] (k [CLS] tokens side by side); present[m] bool [b, s]; unimodal[m] [b, s, d] (targets
        "unimodal", "both") -> this rank's share of the mean squared error."""
        b = cls.shape[0]
        # [b, k*d] -> [b, k, d] -> every token through the whole head [b, k, D], then each part from its token.
        full = self.head(cls.view(b, self.n_tokens, -1)).float()
        pred = [full[:, t, e - n : e] for t, n, e in zip(self.token, self.dims, self.ends)]  # per part [b, D_m or d]
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
