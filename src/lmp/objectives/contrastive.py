"""The InfoNCE core shared by every objective, and its learnable temperature.

Dimension legend: n local queries, N gathered keys (all ranks); b windows, k queries and s keys per window.

Every objective reduces to: each valid query has one positive key among N candidates, and the loss is
-log softmax(l)[positive] over the candidates, with l = scale * cos(query, key): that is `info_nce`.
`multi_positive_nce` allows several positives per query (windows of the same movie):
-log( sum_pos exp(l) / sum_candidates exp(l) ), the MIL-NCE form.

`info_nce` and `window_info_nce` take leading dimensions as independent problems: an objective stacks its
modalities (or both directions of its pairs) and scores them in one batched product, one operator per step
where a loop over modalities dispatched one per modality (docs/benchmarks.md, "One batched InfoNCE per term").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Stands in for -inf: finite, so that a row with no candidate gives finite (then discarded) values and
# a zero gradient, instead of NaN from (-inf) - (-inf).
_NEG = -1e9


class LogitScale(nn.Module):
    """CLIP-style 1/temperature, learned in log space and clamped to <= 100 (temperature >= 0.01)."""

    def __init__(self, temperature: float, learnable: bool) -> None:
        super().__init__()
        init = torch.tensor(math.log(1.0 / temperature))
        if learnable:
            self.log_scale = nn.Parameter(init)
        else:
            self.register_buffer("log_scale", init)

    def forward(self) -> torch.Tensor:
        return self.log_scale.clamp(max=math.log(100.0)).exp()


def info_nce(
    queries: torch.Tensor,
    keys: torch.Tensor,
    scale: torch.Tensor,
    target: torch.Tensor,
    key_valid: torch.Tensor,
    query_valid: torch.Tensor,
    distinct: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Single-positive InfoNCE of unit queries [..., n, c] against unit keys [..., N, c] -> (loss sum, count),
    each of the leading shape [...] (scalars for [n, c] queries).

    target long [..., n]: each query's positive key. key_valid bool [..., N]: candidate keys. query_valid
    bool [..., n]. distinct bool [..., n, N] (optional): False marks keys that are copies of the query's target
    (the target included); they leave the denominator and the target is added back once. Leading dimensions
    are independent problems (an objective's modalities or pairs), scored in one batched product.

    A query counts if it is valid, its target is a valid key and some other valid key is not a copy of it
    (a negative). Returns the loss summed over counted queries and their number (tensors: no host sync),
    for the caller to normalise globally. Written for memory traffic, since [n, N] is ~10^9 on a 30k-shot
    batch: the key mask is a bias fused into the matmul, and the only full-size float32 tensor is the one
    log-sum-exp keeps for backward.
    """
    (n, c), N = queries.shape[-2:], keys.shape[-2]
    bias = torch.zeros(key_valid.shape, dtype=keys.dtype, device=keys.device).masked_fill(~key_valid, _NEG)
    # [..., n, c] x [..., N, c] -> [G, n, N] with the leading dimensions flattened to G (1 for 2-D inputs).
    logits = torch.baddbmm(
        bias.reshape(-1, 1, N), (queries * scale).reshape(-1, n, c), keys.reshape(-1, N, c).transpose(1, 2)
    ).float()
    logits = logits.reshape(*queries.shape[:-2], n, N)
    # A query with no negative (no other valid key that is not a copy of its target) is no query: its loss
    # is 0 whatever it says, and counting it would lower the mean for nothing learnt.
    if distinct is not None:
        rival = (distinct & key_valid[..., None, :]).any(-1)  # [..., n]
    else:
        rival = (key_valid.sum(-1, keepdim=True) > 1).expand_as(target)
    counted = query_valid & key_valid.gather(-1, target) & rival
    positive = logits.gather(-1, target[..., None]).squeeze(-1)  # [..., n]
    if distinct is None:
        log_all = torch.logsumexp(logits, dim=-1)
    else:
        log_all = torch.logaddexp(torch.logsumexp(logits.masked_fill(~distinct, _NEG), dim=-1), positive)
    loss = torch.where(counted, log_all - positive, torch.zeros_like(positive))
    return loss.sum(-1), counted.sum(-1)


def window_info_nce(
    queries: torch.Tensor,
    keys: torch.Tensor,
    scale: torch.Tensor,
    target: torch.Tensor,
    key_valid: torch.Tensor,
    query_valid: torch.Tensor,
    distinct: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`info_nce` when only a query's own window competes (`negatives: window`): unit queries [..., b, k, c]
    against their window's unit keys [..., b, s, c] -> (loss sum, count) of the leading shape [...].

    target long [..., b, k]: the positive's shot index in the window; key_valid bool [..., b, s]; query_valid
    bool [..., b, k]; distinct bool [..., b, k, s] as in `info_nce`. The same loss as `info_nce` over the
    gathered keys with every other window masked out, but in [b, k, s] logits instead of [b*k, world*b*s]: a
    batch of b windows costs b times less, and no other rank's keys are needed (no gather).
    """
    loss, count = info_nce(queries, keys, scale, target, key_valid, query_valid, distinct)  # [..., b] each
    return loss.sum(-1), count.sum(-1)


def multi_positive_nce(
    logits: torch.Tensor, positive: torch.Tensor, candidates: torch.Tensor, query_valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """logits [n, N], positive bool [n, N], candidates bool [N] or [n, N], query_valid [n] -> (sum, count).

    A query counts if it is valid and has at least one positive and one negative among its candidates.
    """
    logits = logits.float().masked_fill(~candidates, _NEG)
    positive = positive & candidates
    counted = query_valid & positive.any(dim=1) & (candidates & ~positive).any(dim=1)  # a positive and a negative
    log_all = torch.logsumexp(logits, dim=1)
    log_pos = torch.logsumexp(logits.masked_fill(~positive, _NEG), dim=1)
    loss = torch.where(counted, log_all - log_pos, torch.zeros_like(log_all))
    return loss.sum(), counted.sum()


def l2norm(x: torch.Tensor) -> torch.Tensor:
    # Computed in float32: normalising bf16 vectors loses the precision contrastive logits need.
    return F.normalize(x.float(), dim=-1, eps=1e-6)
