"""Pre-norm transformer blocks over padded token sequences, built on scaled_dot_product_attention.

Dimension legend:
    b  batch (windows)          n  tokens in the sequence (shots, or 1 + m*s in the cross-modal encoder)
    d  width                    h  heads, dh = d / h per head

Padding: `valid` is bool [b, n], True = a real token. Keys that are not valid receive no attention,
so whatever sits at a padded position cannot influence a real one. Outputs at padded positions are
meaningless but finite (see `Encoder.forward`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention that attends only to valid keys."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        # [b, n, 3d] -> [3, b, h, n, dh]
        qkv = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        # key_mask [b, n] -> [b, 1, 1, n]: broadcast over heads and queries; True = may be attended to.
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=key_mask[:, None, None, :], dropout_p=self.dropout if self.training else 0.0
        )
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

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), key_mask))
        return x + self.drop(self.mlp(self.norm2(x)))


class Encoder(nn.Module):
    """A stack of blocks plus the final LayerNorm that pre-norm stacks need."""

    def __init__(self, width: int, heads: int, depth: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """x [b, n, d], valid [b, n] -> [b, n, d]."""
        # A row with no valid token at all would softmax over an empty set (NaN). Such a row has no real
        # output to protect, so let it attend to everything; rows with any valid token are unaffected.
        key_mask = valid | ~valid.any(dim=1, keepdim=True)
        for block in self.blocks:
            x = block(x, key_mask)
        return self.norm(x)
