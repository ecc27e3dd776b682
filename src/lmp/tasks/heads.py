"""Task heads, losses and scoring shared by the linear probe, the attentive probe and fine-tuning.

Dimension legend: n examples, d representation width, L tokens per example (attentive probe), C outputs.

Task types (``task.json`` "type"; the vocabulary, metric choice and direction are in `lmp.labels`) decide
the loss and the output width:

    classification  C = number of classes, cross-entropy, scores = softmax
    multilabel      C = number of classes, per-class binary cross-entropy, scores = sigmoid
    regression      C = 1, MSE on the target standardised with the train split's mean/std

The metric ("metric") decides how scores are graded: accuracy, mse, mAP (multi-label), AP (binary:
the score of class 1, or of the single multi-label class) and, for boundary tasks graded by AP, the
MovieScenes scene-segmentation set (AP, mAP, mIoU, F1, ...) computed per movie.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lmp.labels import TASK_TYPES
from lmp.tasks import metrics as M


def output_width(task_type: str, num_classes: int | None) -> int:
    if task_type not in TASK_TYPES:
        raise ValueError(f"task type {task_type!r} is not one of {list(TASK_TYPES)}")
    if task_type == "regression":
        return 1
    if not num_classes or num_classes < 1:
        raise ValueError(f"{task_type} task needs num_classes >= 1, got {num_classes}")
    return num_classes


class TargetScaler:
    """Standardises regression targets with train statistics (so one learning rate fits every task)."""

    def __init__(self, task_type: str, train_y: torch.Tensor):
        self.active = task_type == "regression"
        y = train_y.float()
        self.mean = y.mean() if self.active else torch.tensor(0.0)
        self.std = y.std().clamp_min(1e-6) if self.active and y.numel() > 1 else torch.tensor(1.0)

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        return (y.float() - self.mean) / self.std if self.active else y

    def decode(self, out: torch.Tensor) -> torch.Tensor:
        """Head output [n, 1] -> prediction in target units [n]."""
        return out.squeeze(-1) * self.std + self.mean


def task_loss(task_type: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """out [n, C] raw head outputs; y: class ids [n] | multi-hot [n, C] | standardised targets [n]."""
    if task_type == "classification":
        return F.cross_entropy(out, y.long())
    if task_type == "multilabel":
        return F.binary_cross_entropy_with_logits(out, y.float())
    return F.mse_loss(out.squeeze(-1), y.float())


def to_scores(task_type: str, out: torch.Tensor, scaler: TargetScaler) -> torch.Tensor:
    """Raw head outputs -> what the metric grades: probabilities, or predictions in target units."""
    if task_type == "classification":
        return out.softmax(-1)
    if task_type == "multilabel":
        return out.sigmoid()
    return scaler.decode(out)


def binary_scores(scores: torch.Tensor) -> torch.Tensor:
    """Score of the positive class for AP: class 1 of a 2-way softmax, or the single multi-label column."""
    if scores.ndim == 1:
        return scores
    return scores[:, 1] if scores.shape[1] == 2 else scores[:, -1]


def score(
    task_type: str,
    metric: str,
    scores: torch.Tensor,
    y: torch.Tensor,
    groups: list[str] | None = None,
    shots: list[int] | None = None,
) -> dict[str, float]:
    """All metrics for one split. `groups`/`shots` (movie id and shot index per example) enable the
    scene-segmentation set for boundary tasks graded by AP. The primary metric is under the key `metric`."""
    if metric == "accuracy":
        return {"accuracy": M.accuracy(scores, y)}
    if metric == "mse":
        return {"mse": M.mse(scores, y)}
    if metric == "mAP":
        value, counted = M.mean_average_precision(scores, y)
        return {"mAP": value, "mAP_classes": float(counted)}
    positive = binary_scores(scores)
    labels = y if y.ndim == 1 else y[:, -1]
    out = {"AP": M.average_precision(positive, labels)}
    if groups is not None and shots is not None:
        gt: dict[str, list[tuple[int, float]]] = {}
        pr: dict[str, list[tuple[int, float]]] = {}
        for g, s, label, p in zip(groups, shots, labels.tolist(), positive.tolist()):
            gt.setdefault(g, []).append((s, label))
            pr.setdefault(g, []).append((s, p))
        # Boundaries of a movie in shot order, so scenes are contiguous runs of shots.
        gt_arr = {g: [v for _, v in sorted(rows)] for g, rows in gt.items()}
        pr_arr = {g: [v for _, v in sorted(rows)] for g, rows in pr.items()}
        scene = M.scene_segmentation_metrics(gt_arr, pr_arr)
        out.update({k: v for k, v in scene.items() if k != "AP"})
    return out


class AttentiveHead(nn.Module):
    """Attentive probe: learned queries cross-attend over a sequence of frozen tokens, then a linear layer.

    This is the attentive probe of V-JEPA / LV-MAE: it can weigh informative shots instead of averaging
    them, at the cost of ~4 d² parameters (query, key, value and output projections). The modules
    (LayerNorm → MultiheadAttention → LayerNorm → Linear) hold the parameters and their initialisation;
    `attend` computes the same function without projecting every token (see there).
    """

    def __init__(self, dim: int, out: int, num_heads: int = 4, num_queries: int = 1):
        super().__init__()
        heads = num_heads if dim % num_heads == 0 else 1
        self.num_heads = heads
        self.norm = nn.LayerNorm(dim)
        self.query = nn.Parameter(torch.randn(1, num_queries, dim) * 0.02)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.out_norm = nn.LayerNorm(dim)
        self.linear = nn.Linear(dim, out)

    def stacked(self) -> dict[str, torch.Tensor]:
        """This head's parameters as a grid of one head (name -> [1, ...]; views, so gradients reach them)."""
        return {name: p[None] for name, p in self.named_parameters()}

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """tokens [n, L, d], mask [n, L] (True = real token) -> [n, C]."""
        return attend(self.stacked(), tokens, mask, self.num_heads)[0]


def attend(params: dict[str, torch.Tensor], tokens: torch.Tensor, mask: torch.Tensor, num_heads: int) -> torch.Tensor:
    """K attentive heads over the same tokens: params as `AttentiveHead.stacked` with a leading K -> [K, n, C].

    The same function as the head's modules (LayerNorm, then MultiheadAttention with the learned
    queries, mean over queries, LayerNorm, Linear), rewritten so that no token is projected: with
    x = γ⊙x̂ + β the LayerNorm of a token, a query's attention logits in head h are
    x·(W_k,hᵀ q_h)/√d_h + a constant, so they need one d-vector per (query, head) instead of W_k on every
    token (the constants, from β and the key bias, cancel in the softmax); the values are linear, so
    W_v,h (Σ a_i x_i) + b_v,h replaces Σ a_i (W_v,h x_i + b_v,h) as the weights sum to 1. Per example that
    is O(L·d·Q·h + Q·d²) instead of O(L·d²): on 64 tokens of 2,176-d raw features, ~50x fewer flops,
    which is what made the attentive probe take minutes per weight decay on a CPU.
    """
    k, n, length, d = params["query"].shape[0], tokens.shape[0], tokens.shape[1], tokens.shape[2]
    q_count = params["query"].shape[2]
    dh = d // num_heads
    w_q, w_k, w_v = params["attn.in_proj_weight"].split(d, dim=1)  # [K, d, d] each
    b_q, _, b_v = params["attn.in_proj_bias"].split(d, dim=1)  # [K, d]
    xh = F.layer_norm(tokens, (d,))  # [n, L, d] normalised, before the learned scale and shift
    q = torch.einsum("kqe,kde->kqd", params["query"][:, 0], w_q) + b_q[:, None]  # [K, Q, d]
    q = q.view(k, q_count, num_heads, dh)
    u = torch.einsum("kqhe,khed->kqhd", q, w_k.view(k, num_heads, dh, d)) / math.sqrt(dh)  # [K, Q, h, d]
    u = u * params["norm.weight"][:, None, None]  # γ folded in: logits are x̂ · (γ ⊙ u)
    logits = (xh.reshape(n * length, d) @ u.reshape(-1, d).T).view(n, length, -1)  # [n, L, K·Q·h]
    logits = logits.masked_fill(~mask[..., None], float("-inf"))
    weights = logits.softmax(1)  # over the tokens
    pooled = weights.transpose(1, 2) @ xh  # [n, K·Q·h, d]: attention-weighted mean of x̂
    pooled = pooled.view(n, k, q_count, num_heads, d)
    pooled = pooled * params["norm.weight"][None, :, None, None] + params["norm.bias"][None, :, None, None]
    v = torch.einsum("nkqhd,khed->nkqhe", pooled, w_v.view(k, num_heads, dh, d)).reshape(n, k, q_count, d)
    v = v + b_v[None, :, None]
    o = torch.einsum("nkqe,kde->nkqd", v, params["attn.out_proj.weight"]) + params["attn.out_proj.bias"][None, :, None]
    o = F.layer_norm(o.mean(2), (d,)) * params["out_norm.weight"] + params["out_norm.bias"]  # [n, K, d]
    return torch.einsum("nkd,kcd->knc", o, params["linear.weight"]) + params["linear.bias"][:, None]  # [K, n, C]


class AttentiveGrid(nn.Module):
    """K independent attentive heads trained as one module (a weight-decay grid): each starts as a copy of
    `head`, and `attend` runs all K over a mini-batch in one pass (the tokens are normalised once)."""

    def __init__(self, head: AttentiveHead, k: int):
        super().__init__()
        self.num_heads = head.num_heads
        # "." is not allowed in a ParameterDict key.
        self.params = nn.ParameterDict(
            {name.replace(".", "/"): nn.Parameter(p.detach()[None].repeat(k, *[1] * p.ndim).clone())
             for name, p in head.named_parameters()}
        )  # fmt: skip

    def stacked(self) -> dict[str, torch.Tensor]:
        return {name.replace("/", "."): p for name, p in self.params.items()}

    def state(self, i: int) -> dict[str, torch.Tensor]:
        """Head i's parameters (a copy), name -> tensor of the single head's shape."""
        return {name: p[i].detach().clone() for name, p in self.stacked().items()}

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """tokens [n, L, d], mask [n, L] -> [K, n, C]."""
        return attend(self.stacked(), tokens, mask, self.num_heads)
