"""Sampling which shots to corrupt or query, with torch's RNG and static shapes (compile-friendly).

Dimension legend: b batch, s shots, k fixed number of slots per window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class ShotSample:
    """A random subset of each window's eligible shots."""

    mask: torch.Tensor
    """bool [b, s]: the chosen shots."""
    index: torch.Tensor
    """long [b, k]: shot indices of the chosen shots, padded with other shots to a fixed k per window."""
    valid: torch.Tensor
    """bool [b, k]: which entries of `index` are chosen shots (False = padding of the slot list)."""

    def rows(self, rows: slice) -> ShotSample:
        """The sample of some windows (a rank's share of a batch)."""
        return ShotSample(mask=self.mask[rows], index=self.index[rows], valid=self.valid[rows])


def _sample(eligible: torch.Tensor, k: int, n_chosen: torch.Tensor) -> ShotSample:
    """n_chosen[i] <= k random eligible shots of window i, listed in k slots."""
    b, s = eligible.shape
    noise = torch.rand(b, s, device=eligible.device)
    noise = torch.where(eligible, noise, 2.0)  # ineligible shots sort after every eligible one
    index = noise.argsort(dim=1)[:, :k]  # [b, k]
    valid = torch.arange(k, device=eligible.device)[None, :] < n_chosen[:, None]  # [b, k]
    mask = torch.zeros_like(eligible).scatter(1, index, valid)
    return ShotSample(mask=mask, index=index, valid=valid)


def sample_ratio(eligible: torch.Tensor, ratio: float) -> ShotSample:
    """Choose ceil(ratio * n) of the n eligible shots of each window, uniformly at random.

    Our choice: at least one shot per window that has any eligible shot (ceil), so short windows still
    train. Uses torch.rand on the batch's device, so the trainer's RNG checkpoint makes it reproducible.
    """
    k = max(1, math.ceil(ratio * eligible.shape[1]))
    n_chosen = torch.ceil(eligible.sum(dim=1) * ratio).clamp(max=k)
    return _sample(eligible, k, n_chosen)


def sample_count(eligible: torch.Tensor, count: int) -> ShotSample:
    """Choose min(count, n) of the n eligible shots of each window; count 0 = all of them."""
    s = eligible.shape[1]
    k = s if count <= 0 else min(count, s)
    return _sample(eligible, k, eligible.sum(dim=1).clamp(max=k))
