"""Predicting corrupted shots: intra-modal masked shot modelling and cross-modal masked modelling
share this loss and differ only in what is corrupted and which tokens predict.

Dimension legend: b batch, s shots, k query slots per window, D_m frozen feature width,
p content width, N = world*b*s keys.

For modality m, each corrupted shot's token goes through a head and is scored by cosine similarity
against a key of EVERY shot of modality m in the batch (all ranks), or of its own window only
(`negatives: window`): the shot's own key is the positive, the other shots of its window (hard
negatives from the same movie) and of the other windows are negatives. The keys (`target`):

* `content` (default): the shots' learned, position-free content embeddings (lmp.objectives.content).
  A frozen feature is mostly per-shot noise (MovieWorld: noise norm 3 against factor weights of ~1;
  real encoders: framing, compression, background), which no context can predict; a learned target
  can drop it, and the negatives keep it from collapsing.
* `raw`: the frozen features themselves (the earlier behaviour): no target-side parameters, but the
  loss then sits near the uniform-guess bound (docs/diagnosis-pretraining.md).
* `regress`: no contrast: the mean squared error to the shot's frozen feature normalised over its
  dimensions (`_regress`).

Our choice: keys whose frozen feature is identical to the target's (a subtitle line spanning two shots,
a repeated title card) are left out of that query's candidates: they are neither a negative the model
cannot tell apart nor a second positive. Identity is tested on a fixed random projection of the
features (a fingerprint), which costs O(N) instead of an [n, N, D] similarity product.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmp.modality import present
from lmp.objectives.content import ContentKeys
from lmp.objectives.contrastive import LogitScale, info_nce, l2norm, window_info_nce
from lmp.objectives.gather import all_gather_no_grad, global_mean, global_offset
from lmp.objectives.heads import ProjectionHead
from lmp.objectives.masking import ShotSample


class FeaturePrediction(nn.Module):
    """Per-modality prediction heads + one temperature; returns {modality: loss} for the sampled shots."""

    def __init__(
        self,
        modalities: tuple[str, ...],
        width: int,
        input_dims: dict[str, int],
        temperature: float,
        learn_temperature: bool,
        negatives: str = "window",
        target: str = "content",
        proj_dim: int = 256,
    ) -> None:
        super().__init__()
        self.modalities = modalities
        self.negatives = negatives
        self.target = target
        out = {m: proj_dim if target == "content" else input_dims[m] for m in modalities}
        self.heads = nn.ModuleDict({m: ProjectionHead(width, out[m]) for m in modalities})
        self.scale = LogitScale(temperature, learn_temperature)
        # Fixed (not learned, not saved, independent of the global RNG) directions for fingerprints.
        g = torch.Generator().manual_seed(0)
        for m in modalities:
            self.register_buffer(f"_probe_{m}", torch.randn(input_dims[m], generator=g), persistent=False)

    def forward(
        self,
        batch: dict[str, torch.Tensor],
        tokens: dict[str, torch.Tensor],
        samples: dict[str, ShotSample],
        content_keys: ContentKeys | None = None,
    ) -> dict[str, torch.Tensor]:
        """tokens[m] [b, s, d]: the encoder outputs that predict; samples[m]: the corrupted shots;
        content_keys: the step's content embeddings (needed when target="content"; gathered ones too with
        batch negatives)."""
        if self.target == "regress":
            return {m: self._regress(batch, tokens[m], samples[m], m) for m in self.modalities}
        window = self.negatives in ("window", "masked")  # only the query's own window competes
        parts = [self._scoring(batch, tokens[m], samples[m], m, content_keys, window) for m in self.modalities]
        # Every modality's problem in one batched InfoNCE: raw targets differ in width between modalities, and
        # zero columns leave the cosines unchanged.
        width = max(part["queries"].shape[-1] for part in parts)
        for part in parts:
            for name in ("queries", "keys"):
                if part[name].shape[-1] < width:
                    part[name] = F.pad(part[name], (0, width - part[name].shape[-1]))
        stacked = {name: torch.stack([part[name] for part in parts]) for name in parts[0]}  # [M, ...] each
        nce = window_info_nce if window else info_nce
        loss_sum, count = nce(scale=self.scale(), **stacked)  # [M] each
        return dict(zip(self.modalities, global_mean(loss_sum, count).unbind(0)))

    def _scoring(
        self, batch: dict[str, torch.Tensor], tokens: torch.Tensor, sample: ShotSample, m: str,
        content_keys: ContentKeys | None, window: bool,
    ) -> dict[str, torch.Tensor]:  # fmt: skip
        """Modality m's InfoNCE problem: the arguments of `window_info_nce` (window negatives) or `info_nce`."""
        b, s = sample.mask.shape
        k = sample.index.shape[1]
        valid = present(batch, m)
        feats = _features(batch, m)
        queries = l2norm(self.heads[m](_slots(tokens, sample)))  # [b*k, D_m or p]
        raw = l2norm(feats.reshape(b * s, -1))  # [b*s, D_m]
        with torch.autocast(raw.device.type, enabled=False):  # equal features, equal fp32 fingerprints
            fingerprint = raw @ getattr(self, f"_probe_{m}")  # [b*s]
        if window:  # [b, k, s] logits
            keys = content_keys.local[m] if self.target == "content" else raw  # [b*s, p or D_m]
            fingerprint = fingerprint.reshape(b, s)
            distinct = fingerprint.gather(1, sample.index)[..., None] != fingerprint[:, None, :]  # [b, k, s]
            candidates = valid & sample.mask if self.negatives == "masked" else valid  # [b, s]
            return {
                "queries": queries.reshape(b, k, -1), "keys": keys.reshape(b, s, -1), "target": sample.index,
                "key_valid": candidates, "query_valid": sample.valid, "distinct": distinct,
            }  # fmt: skip
        raw = all_gather_no_grad(raw)  # [N, D_m]
        keys = content_keys.gathered[m] if self.target == "content" else raw  # [N, p] or [N, D_m]
        fingerprint = all_gather_no_grad(fingerprint)  # [N]
        # Gathered key index of each query's own shot: rank offset + window * s + shot.
        target = global_offset(b * s) + torch.arange(b, device=keys.device)[:, None] * s + sample.index
        target = target.reshape(b * k)
        return {
            "queries": queries, "keys": keys, "target": target,
            "key_valid": all_gather_no_grad(valid.reshape(b * s)),  # [N]
            "query_valid": sample.valid.reshape(b * k),
            "distinct": fingerprint[target][:, None] != fingerprint[None, :],  # [b*k, N]; False at the target
        }  # fmt: skip

    def _regress(
        self, batch: dict[str, torch.Tensor], tokens: torch.Tensor, sample: ShotSample, m: str
    ) -> torch.Tensor:
        """Mean squared error between the head's prediction [b*k, D_m] and the corrupted shots' frozen
        features, each normalised to zero mean and unit variance over its dimensions (MAE's normalised
        targets). The per-shot noise adds a constant to this loss but does not bias its gradient: the
        best prediction is the feature's expectation given the context."""
        target = F.layer_norm(_slots(_features(batch, m), sample).float(), (batch[m].shape[-1],))  # [b*k, D_m]
        err = (self.heads[m](_slots(tokens, sample)).float() - target).pow(2).mean(dim=1)  # [b*k]
        valid = sample.valid.reshape(-1)  # [b*k]
        return global_mean(torch.where(valid, err, 0).sum(), valid.sum())


def _slots(x: torch.Tensor, sample: ShotSample) -> torch.Tensor:
    """The rows of the k query slots per window: [b, s, c] -> [b, k, c] -> [b*k, c]."""
    b, k = sample.index.shape
    return x.gather(1, sample.index[..., None].expand(b, k, x.shape[-1])).reshape(b * k, -1)


def _features(batch: dict[str, torch.Tensor], m: str) -> torch.Tensor:
    """Modality m's frozen features [b, s, D_m], zero where absent or padded: a NaN there would poison the
    gradient through 0 * NaN."""
    return torch.where(present(batch, m)[..., None], batch[m].detach(), 0)
