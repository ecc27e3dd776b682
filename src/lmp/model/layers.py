"""Pre-norm transformer blocks over padded token sequences, built on scaled_dot_product_attention.

Dimension legend:
    b  batch (windows)          n  tokens in the sequence (shots, or 1 + m*s in the cross-modal encoder)
    d  width                    h  heads, dh = d / h per head

Positions: an optional rotary code (lmp.model.embeddings.rotary) rotates queries and keys, so scores
depend on token distance and the values carry no position.

Padding: `valid` is bool [b, n], True = a real token. Keys that are not valid receive no attention,
so whatever sits at a padded position cannot influence a real one. Outputs at padded positions are
meaningless but finite (see `Encoder.forward`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from lmp.model.embeddings import rotary_qkv

Rope = tuple[torch.Tensor, torch.Tensor] | None


class Attention(nn.Module):
    """Multi-head self-attention that attends only to valid keys."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, rope: Rope = None) -> torch.Tensor:
        """x [b, n, d]; mask bool [b, 1, 1 or n, n], True = the query may attend to the key; None = all."""
        b, n, d = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.heads, d // self.heads)  # [b, n, 3d] -> [b, n, 3, h, dh]
        if rope is None:
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [b, h, n, dh]
        else:
            q, k, v = rotary_qkv(qkv, rope)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        # [b, h, n, dh] -> [b, n, d]
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class MLP(nn.Module):
    def __init__(self, width: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(F.gelu(self.fc1(x))))


class Block(nn.Module):
    """x + Attn(LN(x)), then x + MLP(LN(x)): pre-norm, as in ViT/GPT-2, stable without warm-up tricks."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads, dropout)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = MLP(width, int(width * mlp_ratio), dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, rope: Rope = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), mask, rope))
        return x + self.drop(self.mlp(self.norm2(x)))


class Encoder(nn.Module):
    """A stack of blocks plus the final LayerNorm that pre-norm stacks need."""

    def __init__(self, width: int, heads: int, depth: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.grad_checkpointing = False
        """Recompute each block in the backward instead of keeping its activations (set_grad_checkpointing)."""

    def forward(
        self, x: torch.Tensor, valid: torch.Tensor | None, rope: Rope = None, pairs: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x [b, n, d], valid [b, n] or None (every token is real), rope: rotary (cos, sin) of the n tokens
        or None, pairs: optional bool [b, n, n] restricting which token may attend to which -> [b, n, d]."""
        mask = None  # no mask at all lets SDPA pick its fused kernels
        if valid is not None:
            # A row with no valid token at all would softmax over an empty set (NaN). Such a row has no real
            # output to protect, so let it attend to everything; rows with any valid token are unaffected.
            key_mask = valid | ~valid.any(dim=1, keepdim=True)
            mask = key_mask[:, None, None, :]  # [b, 1, 1, n]: broadcast over heads and queries
        if pairs is not None:
            # Every token may attend to itself, so that a row left with no key stays finite.
            eye = torch.eye(x.shape[1], dtype=torch.bool, device=x.device)
            mask = (pairs[:, None] if mask is None else mask & pairs[:, None]) | eye  # [b, 1, n, n]
        for block in self.blocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                # Keep only each block's input; the backward recomputes the rest (dropout replays its RNG).
                x = checkpoint(block, x, mask, rope, use_reentrant=False)
            else:
                x = block(x, mask, rope)
        return self.norm(x)
