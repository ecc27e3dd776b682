"""Per-shot cross-modal alignment in the content space: a shot's modality-a content embedding must pick out
the same shot's modality-b content embedding among every shot of the batch (all ranks).

Dimension legend: b windows, s shots, q query slots per window, p projection width, N = world*b*s keys.

Both sides are content embeddings (lmp.objectives.content): one shot's own features, with no context,
position, time or corruption, so only what the two modalities of that shot share can solve it (the
contrastive per-shot objective of CLIP and VATT). Negatives are every shot of the batch: most belong to
other films, so what a film's picture and sound share (its people, places, genre) tells them apart —
which the window-negative terms rule out by construction. **Why it exists (added 30 Nov 2026):** the
issue's independent corpus measured this objective, trained alone, above lmp's recipe and level with a
linear CCA at 20-60 labels; here it shares the content heads with the masked-prediction and alignment
keys, so all of them score in one joint space. **Why it is off by default:** on three MovieWorld corpora
it changed the study's probe by no more than a probe seed's spread (docs/diagnosis-pretraining.md). A
query is a shot that has both modalities; every shot that has modality b is a candidate key.
"""

from __future__ import annotations

import torch
from torch import nn

from lmp.modality import present
from lmp.objectives.align import pair_name
from lmp.objectives.content import ContentKeys
from lmp.objectives.contrastive import LogitScale, info_nce
from lmp.objectives.gather import all_gather_no_grad, global_mean, global_offset
from lmp.objectives.masking import ShotSample


class ContentAlignment(nn.Module):
    def __init__(self, pairs: tuple[tuple[str, str], ...], temperature: float, learn_temperature: bool) -> None:
        super().__init__()
        self.pairs = pairs
        self.scale = LogitScale(temperature, learn_temperature)

    def forward(
        self, batch: dict[str, torch.Tensor], keys: ContentKeys, queries: dict[str, ShotSample]
    ) -> dict[str, torch.Tensor]:
        """keys: the step's content embeddings, gathered ones included; queries["a-b"]: the pair's query
        shots. Returns {"a-b": loss}, the mean of the a->b and b->a directions."""
        scale = self.scale()
        out = {}
        for a, b_ in self.pairs:
            sample = queries[pair_name(a, b_)]
            n_win, q = sample.index.shape
            s = batch["shot_mask"].shape[1]
            local = (torch.arange(n_win, device=sample.index.device)[:, None] * s + sample.index).reshape(n_win * q)
            both = (present(batch, a) & present(batch, b_)).reshape(n_win * s)
            valid = sample.valid.reshape(n_win * q) & both[local]
            target = global_offset(n_win * s) + local  # the same shot's gathered index
            losses = []
            for qm, km in ((a, b_), (b_, a)):
                key_ok = all_gather_no_grad(present(batch, km).reshape(n_win * s))  # [N]
                nce = info_nce(keys.local[qm][local], keys.gathered[km], scale, target, key_ok, valid)
                losses.append(global_mean(*nce))
            out[pair_name(a, b_)] = 0.5 * (losses[0] + losses[1])
        return out
