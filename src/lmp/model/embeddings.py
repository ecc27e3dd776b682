"""Shot embeddings: what a token knows about where and when its shot is.

Dimension legend: b batch, s shots, d width.

Our choices: the shot's index within the window reaches attention as a rotary code (`rotary`, the
default) or is added to the token as fixed sinusoids (`sinusoidal`, the earlier behaviour). Neither
needs a table, so any window length works. Rotary codes rotate queries and keys only: attention
depends on how far apart two shots are, and no token carries "I am shot 37 of this window", which a
transferable shot embedding should not (with added sinusoids every output keeps that code, probes pool
it as a nuisance, and any objective comparing two modalities' tokens can match them by it).
The shot's timing goes through a small learned MLP on log-compressed values, because durations span
0.1 s to minutes: duration only with rotary positions (the start time would put the position back
into the token), duration and start time (seconds from the window start) with added sinusoids.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal(positions: torch.Tensor, width: int, base: float = 10000.0) -> torch.Tensor:
    """positions [...] (any real values) -> [..., width] of sin/cos at geometric frequencies."""
    half = width // 2
    freqs = torch.exp(
        torch.arange(half, device=positions.device, dtype=torch.float32) * (-math.log(base) / half)
    )
    angles = positions.float()[..., None] * freqs  # [..., half]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def rotary(positions: torch.Tensor, head_width: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """positions [b, n] (real) -> (cos, sin), each [b, 1, n, head_width], for `rotary_qkv`.

    Dimension i is paired with i + head_width / 2; both of a pair get the pair's angle. The sine's first
    half carries the rotation's minus sign, so that a rotation is two products and a sum."""
    angles = sinusoidal(positions, head_width, base)  # [b, n, head_width]: sin half, cos half
    half = head_width // 2
    sin, cos = angles[..., :half], angles[..., half:]
    return torch.cat([cos, cos], dim=-1)[:, None], torch.cat([-sin, sin], dim=-1)[:, None]


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """x cos + (x2, x1) sin without materialising (x2, x1): one product and two in-place halves; written
    into `out` (any strides) when given."""
    half = x.shape[-1] // 2
    out = torch.mul(x, cos, out=out) if out is not None else x * cos
    out[..., :half].addcmul_(x[..., half:], sin[..., :half])
    out[..., half:].addcmul_(x[..., :half], sin[..., half:])
    return out


class _RotaryQKV(torch.autograd.Function):
    """A fused projection's qkv [b, n, 3, h, dh] -> rotated queries and keys and the values, each [b, h, n, dh].

    Its own backward, for two reasons. The rotation is orthogonal, so its gradient is the rotation by the
    opposite angle (sine negated): only the codes are saved, not q and k. And autograd through slices of
    qkv would give each slice's gradient a zero-filled buffer of qkv's full size, add them, and copy the
    sum to undo the permute; this backward writes the three gradients once, into one buffer laid out as
    qkv is."""

    @staticmethod
    def forward(ctx, qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        ctx.save_for_backward(cos, sin)
        ctx.qkv_shape = qkv.shape
        q, k = _rotate(qkv[:, :, :2].permute(2, 0, 3, 1, 4), cos, sin).unbind(0)  # [2, b, h, n, dh] in one call
        return q, k, qkv[:, :, 2].transpose(1, 2)  # the values: a view, not rotated

    @staticmethod
    def backward(ctx, gq, gk, gv):
        cos, sin = ctx.saved_tensors
        grad = cos.new_empty(ctx.qkv_shape)  # [b, n, 3, h, dh]
        into = grad.permute(2, 0, 3, 1, 4)  # [3, b, h, n, dh]: a view of it
        # Autograd hands zeros, not None, for an output that got no gradient (materialised grads).
        back = -sin  # the opposite rotation
        _rotate(gq, cos, back, out=into[0])
        _rotate(gk, cos, back, out=into[1])
        into[2].copy_(gv)
        return grad, None, None  # positions are data: the codes get no gradient


def rotary_qkv(
    qkv: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """qkv [b, n, 3, h, dh] (a fused projection's output) -> (q, k, v), each [b, h, n, dh]. Each (first half,
    second half) pair of a query's or key's dims is rotated by its position's angle:
    (x1, x2) -> (x1 cos - x2 sin, x1 sin + x2 cos); the values are not rotated."""
    cos, sin = (t.to(qkv.dtype) for t in rope)
    return _RotaryQKV.apply(qkv, cos, sin)


class TimeEmbedding(nn.Module):
    """times [b, s, 2] (start, end in seconds from the window start) -> [b, s, d]."""

    def __init__(self, width: int, with_start: bool = True) -> None:
        super().__init__()
        self.with_start = with_start
        self.mlp = nn.Sequential(nn.Linear(2 if with_start else 1, width), nn.GELU(), nn.Linear(width, width))

    def forward(self, times: torch.Tensor) -> torch.Tensor:
        duration = (times[..., 1] - times[..., 0]).clamp(min=0)
        feats = [torch.log1p(duration)]
        if self.with_start:
            feats.append(torch.log1p(times[..., 0].clamp(min=0)))
        return self.mlp(torch.stack(feats, dim=-1).to(self.mlp[0].weight.dtype))  # [b, s, 1 or 2] -> [b, s, d]
