"""Window-level cross-modal alignment: the mean of a window's modality-a shot embeddings must pick out the
same window's modality-b mean among the batch's windows (all ranks).

Dimension legend: b windows per rank, s shots, d model width, p projection width, B = world*b windows.

Why (our choice, docs/pretraining.md): the shot-level terms score a shot against the other shots of its own
window, so whatever is constant over a window (the genre, the director's style, the decade, the cast of
a stretch) can never help them and is not learnt. Across windows it is what tells them apart, and across
modalities only what the modalities share can: a film's grade in the picture and its mix in the sound are
drawn independently, so they cannot pair a window's picture with its sound, while its genre, era and
people can. This is the contrastive, non-linear counterpart of CCA on window means (audio-visual instance
discrimination at clip level, as in AVID or CLIP on clips), read out of the same mean-pooled unimodal
tokens that clip-level transfer uses.

The batch's other windows of the same movie (the sampler's second view) share the film, so they are
neither positives nor negatives: they leave the denominator. A window lacking a modality is no query or
key for that modality's pairs.

Keys (`keys`): with "contextual" keys both sides are means of unimodal tokens, and every modality's
encoder is given the same shot durations (its time embedding), so a window's picture and sound agree on
their cutting rhythm whatever they show: the pair can be told from other films' windows by the shared
input, the shortcut the shot alignment's content keys remove (lmp.objectives.align). With "content"
keys a query (the mean of modality a's unimodal tokens) must pick out the mean of modality b's content
embeddings (one shot's own features, no context, position or time; lmp.objectives.content), each
direction alike: only what the modalities' contents share can match them. Measured, content keys lose
(docs/model.md): a film's rhythm is also its director's and genre's, so "contextual" stays the default.

Head (`head`): "mlp" (LN, Linear, GELU, Linear; SimCLR's) lets the window means keep what the term ignores
in directions the head discards; "linear" (LN, Linear) asks that what the modalities share be a linear
function of the window means, the form in which a linear probe (and CCA) reads them.
"""

from __future__ import annotations

import torch
from torch import nn

from lmp.modality import present
from lmp.objectives.contrastive import LogitScale, info_nce, l2norm
from lmp.objectives.gather import all_gather_no_grad, all_gather_with_grad, global_mean, window_targets
from lmp.objectives.heads import ProjectionHead


class WindowAlignment(nn.Module):
    def __init__(
        self, pairs: tuple[tuple[str, str], ...], width: int, proj_dim: int, temperature: float,
        learn_temperature: bool, keys: str = "contextual", head: str = "mlp",
    ) -> None:  # fmt: skip
        super().__init__()
        self.pairs = pairs
        modalities = sorted({m for pair in pairs for m in pair})
        self.heads = nn.ModuleDict({m: window_head(head, width, proj_dim) for m in modalities})
        # Content keys get heads of their own: content and unimodal tokens are different spaces.
        self.key_heads = (
            nn.ModuleDict({m: window_head(head, width, proj_dim) for m in modalities}) if keys == "content" else None
        )
        self.scale = LogitScale(temperature, learn_temperature)

    def forward(
        self, batch: dict[str, torch.Tensor], unimodal: dict[str, torch.Tensor],
        content: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:  # fmt: skip
        """unimodal[m] (and, with content keys, content[m]) [b, s, d] -> {"a-b": loss}, the mean of the a->b
        and b->a directions."""
        emb, key, has = {}, {}, {}
        for m in self.heads:
            w = present(batch, m).to(unimodal[m].dtype)  # [b, s]
            n = w.sum(1)  # [b]
            emb[m] = l2norm(self.heads[m](window_mean(unimodal[m], w, n)))  # [b, p]
            key[m] = emb[m] if self.key_heads is None else l2norm(self.key_heads[m](window_mean(content[m], w, n)))
            has[m] = n > 0
        local, same_film = window_targets(batch["movie"])  # [b], [b, B]
        gathered = {m: all_gather_with_grad(x) for m, x in key.items()}  # [B, p]
        key_ok = {m: all_gather_no_grad(x) for m, x in has.items()}  # [B]
        # Both directions of every pair, adjacent, as the leading dimension D of one batched InfoNCE.
        directions = [(qm, km) for a, b_ in self.pairs for qm, km in ((a, b_), (b_, a))]
        d = len(directions)
        nce = info_nce(
            torch.stack([emb[qm] for qm, _ in directions]), torch.stack([gathered[km] for _, km in directions]),
            self.scale(), local.expand(d, -1), torch.stack([key_ok[km] for _, km in directions]),
            torch.stack([has[qm] for qm, _ in directions]),
            (~same_film).expand(d, -1, -1),  # False = a copy of the target: the window itself and its film's others
        )  # fmt: skip
        both = 0.5 * global_mean(*nce).view(len(self.pairs), 2).sum(1)  # [pairs]: the mean of the two directions
        return dict(zip((f"{a}-{b_}" for a, b_ in self.pairs), both.unbind(0)))


def window_head(kind: str, width: int, proj_dim: int) -> nn.Module:
    """The projection of a window mean: "mlp" (ProjectionHead) or "linear" (LN, Linear)."""
    if kind == "linear":
        return nn.Sequential(nn.LayerNorm(width), nn.Linear(width, proj_dim))
    return ProjectionHead(width, proj_dim)


def window_mean(x: torch.Tensor, w: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """x [b, s, d], weights w [b, s] with sums n [b] -> the weighted mean over shots [b, d]."""
    return (x * w[..., None]).sum(1) / n.clamp_min(1.0)[:, None]
