"""Probes over frozen representations (plain tensors), model selection on val, several seeds.

    from lmp.tasks.probe import linear_probe
    result = linear_probe(train_x, train_y, val_x, val_y, test_x, test_y, "classification")
    result["test"]["accuracy"], result["val"]["accuracy"], result["weight_decay"]

Protocol (our choice, the usual one for frozen-feature evaluation): inputs are standardised with the
train split's statistics; the head is trained full-batch (linear) or in mini-batches (attentive) with
AdamW; every weight decay of a small grid is tried, the val metric is checked every 25 steps, and the
(weight decay, step) with the best val metric is kept. Test is scored once, with that head. Several
seeds give mean ± std (`over_seeds`). The loop and the bookkeeping are lmp.tasks.selection's.

Speed (docs/transfer.md, docs/benchmarks.md): each probe trains its whole weight-decay grid as one
batched model of K independent heads (Adam is per parameter and the decoupled decay is applied per head),
which is K separate AdamW runs in one forward and backward pass; the attentive heads also share their
initialisation and mini-batches, as its separate runs with one seed did. `patience` optionally stops once
val has not improved for that many scorings; `progress` shows a bar.

Dimension legend: n examples, d representation width, L tokens per example, C outputs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from lmp.labels import check_task_type
from lmp.tasks.heads import (
    AttentiveGrid,
    AttentiveHead,
    TargetScaler,
    attend,
    output_width,
    score,
    task_loss,
    to_scores,
)
from lmp.tasks.selection import BestOnVal, best_index, train_and_select


def _infer_classes(task_type: str, ys: Sequence[torch.Tensor], num_classes: int | None) -> int | None:
    if task_type == "regression":
        return None
    if num_classes:
        return num_classes
    if task_type == "multilabel":
        return int(ys[0].shape[1])
    return int(max(int(y.max()) for y in ys if y.numel())) + 1


def _bar(progress: bool, desc: str) -> Callable[[Iterable[int]], Iterable[int]]:
    """A tqdm bar over the fit steps: shown only when asked for and writing to a terminal."""
    from tqdm import tqdm

    return lambda steps: tqdm(steps, desc=desc, unit="step", leave=False, disable=None if progress else True)


def _grid_loss(task_type: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over the K heads of each head's `task_loss`: out [K, n, C] (any strides), target as for one head.

    One call over all heads: the loss is a mean over K·n (·C) terms, so times K it is the sum of the K
    per-head means. Classification passes [K, C, n] with targets [K, n] (cross-entropy's class dimension
    is 1), which is the linear probe's own layout, so no copy is made.
    """
    k = out.shape[0]
    if task_type == "classification":
        return task_loss(task_type, out.transpose(1, 2), target.expand(k, *target.shape)) * k
    return task_loss(task_type, out, target.expand(k, *target.shape)) * k


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    task_type: str,
    *,
    metric: str | None = None,
    num_classes: int | None = None,
    weight_decays: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0),
    steps: int = 300,
    lr: float = 1e-2,
    seed: int = 0,
    meta: dict[str, dict[str, list]] | None = None,
    patience: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Linear probe on frozen representations: train on train, select weight decay and step on val, score test.

    Args:
        train_x, val_x, test_x: float [n, d] representations.
        train_y, val_y, test_y: class ids long [n] (classification), multi-hot [n, C] (multilabel) or
            float [n] (regression).
        task_type: "classification" | "multilabel" | "regression".
        metric: "accuracy" | "mAP" | "mse" | "AP"; default by task type (accuracy, mAP, mse).
        num_classes: output width for classification (default: largest class id seen + 1).
        weight_decays: AdamW weight decays tried; the best on val wins.
        steps, lr: full-batch AdamW steps and learning rate (inputs are standardised on train).
        seed: initialisation seed.
        meta: optional {"val"|"test": {"groups": movie ids, "shots": shot indices}} for boundary tasks.
        patience: stop after this many val scorings (every 25 steps) without improvement; 0 = never.
        progress: a tqdm bar over the steps (when writing to a terminal).

    Returns:
        {"metric": name, "val": {metric: value, ...}, "test": {metric: value, ...}, "weight_decay": float,
         "step": int, "steps_run": int, "test_scores": probabilities [n, C] or predictions [n],
         "head": {"weight": [C, d], "bias": [C], "mean": [d], "std": [d]}}: the chosen head reads
        (x - mean) / std, so fine-tuning can start from it (lmp.tasks.finetune).
    """
    metric = check_task_type(task_type, metric)
    classes = _infer_classes(task_type, [train_y, val_y, test_y], num_classes)
    width = output_width(task_type, classes)
    x = {"train": train_x.float(), "val": val_x.float(), "test": test_x.float()}
    y = {"train": train_y, "val": val_y, "test": test_y}
    meta = meta or {}
    # Standardise with train statistics (a constant feature keeps std 1 instead of dividing by 0).
    mean = x["train"].mean(0)
    std = x["train"].std(0).nan_to_num(1.0).clamp_min(1e-6) if len(train_y) > 1 else torch.ones_like(mean)
    z = {k: (v - mean) / std for k, v in x.items()}
    # Feature-major copies for the training steps: outputs come out as [K, C, n], contiguous along the
    # examples, which makes the softmax over a few classes ~3x faster than [n, K, C] on 37k boundary rows.
    zt = {k: z[k].T.contiguous() for k in ("train", "val")}  # [d, n]
    scaler = TargetScaler(task_type, train_y)
    target = scaler.encode(train_y)
    decays = torch.tensor([float(w) for w in weight_decays])  # [K]
    k, d = len(weight_decays), z["train"].shape[1]
    # All K weight decays train at once as K independent heads: the summed loss has disjoint
    # gradients, Adam is per-parameter, and the decoupled decay is applied per head as in AdamW.
    # That is why this probe has its own training step instead of K separate runs: each step is one
    # matmul and one optimiser update for the whole grid, not K of each. Loop and bookkeeping are shared.
    gen = torch.Generator().manual_seed(seed)
    bound = 1 / math.sqrt(max(d, 1))
    weight = (torch.rand(k, d, width, generator=gen) * 2 - 1) * bound  # drawn [K, d, C] as always
    weight = weight.transpose(1, 2).contiguous().requires_grad_()  # [K, C, d]
    bias = ((torch.rand(k, width, generator=gen) * 2 - 1) * bound).requires_grad_()  # [K, C]
    opt = torch.optim.Adam([weight, bias], lr=lr)

    def forward(split: str) -> torch.Tensor:
        return (weight.view(k * width, d) @ zt[split]).view(k, width, -1) + bias[..., None]  # [K, C, n]

    def evaluate(split: str, out: torch.Tensor) -> dict[str, float]:
        return score(task_type, metric, to_scores(task_type, out, scaler), y[split], **meta.get(split, {}))

    def train(step: int) -> None:
        loss = _grid_loss(task_type, forward("train").transpose(1, 2), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            weight.mul_(1 - lr * decays[:, None, None])
        opt.step()

    def head_state(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return weight[i].detach().clone(), bias[i].detach().clone()  # [C, d], [C]

    best = [BestOnVal(metric) for _ in range(k)]

    @torch.no_grad()
    def validate(step: int) -> bool:
        val_out = forward("val")  # [K, C, n]
        improved = [
            best[i].offer(evaluate("val", val_out[i].T), step, functools.partial(head_state, i)) for i in range(k)
        ]
        return any(improved)

    ran = train_and_select(
        steps, train, validate, every=25, patience=patience, progress=_bar(progress, f"fit linear (seed {seed})")
    )
    winner = best_index(metric, [t.val for t in best])
    chosen = best[winner]
    # Val never produced a number (e.g. no positive): keep the final head.
    w, b = chosen.state if chosen.state is not None else (weight[winner].detach(), bias[winner].detach())
    test_out = z["test"] @ w.T + b
    result = _selected(metric, chosen, evaluate("test", test_out), float(weight_decays[winner]), ran,
                       to_scores(task_type, test_out, scaler))  # fmt: skip
    return {**result, "head": {"weight": w, "bias": b, "mean": mean, "std": std}}


def reduce_token_width(
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]], width: int
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """name -> (tokens [n, L, d], mask [n, L]) with tokens wider than `width` projected once onto the top
    `width` principal components of the train split's real tokens (centred with their mean; padding stays
    zero). Unchanged when d <= width or width is 0.

    Why: the attentive head has ~4 d² parameters (query, key, value and output projections), so at d =
    2,176 (raw features at the real encoders' widths) every step updates 19 M of them per weight decay:
    ~1 s per step of the two-decay grid on one CPU thread; at 512, 40 ms. The principal directions come
    from at most 16,384 evenly spaced real train tokens (float32 covariance, float64 eigendecomposition:
    ~5 s at d = 2,176), so the projection is the same for every seed and never sees val or test.
    """
    tok, mask = splits["train"]
    d = tok.shape[-1]
    if not width or d <= width:
        return splits
    rows = tok[mask.bool()].float()  # [N, d] real train tokens
    if len(rows) > 16384:
        rows = rows[torch.linspace(0, len(rows) - 1, 16384).long()]
    mean = rows.mean(0)
    centred = rows - mean
    cov = (centred.T @ centred / max(len(rows) - 1, 1)).double()
    _, vectors = torch.linalg.eigh(cov)  # ascending eigenvalues
    basis = vectors[:, -width:].flip(1).float()  # [d, width], largest variance first
    return {
        name: (((t.float() - mean) @ basis) * m[..., None].float(), m)  # [n, L, width]
        for name, (t, m) in splits.items()
    }


def attentive_probe(
    train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    task_type: str,
    *,
    metric: str | None = None,
    num_classes: int | None = None,
    weight_decays: Sequence[float] = (1e-3, 1e-1),
    steps: int = 300,
    lr: float = 1e-3,
    batch_size: int = 64,
    num_heads: int = 4,
    seed: int = 0,
    meta: dict[str, dict[str, list]] | None = None,
    patience: int = 0,
    progress: bool = False,
    max_width: int = 512,
) -> dict[str, Any]:
    """Attentive probe over frozen token sequences; each split is (tokens [n, L, d], mask [n, L], y).

    Same selection protocol, `meta`, `patience`, `progress` and return value as `linear_probe`. Every
    weight decay's head starts from the same initialisation (seeded) and sees the same mini-batches, so
    the grid trains as one `AttentiveGrid`. Tokens wider than `max_width` are first projected onto their
    top principal components (`reduce_token_width`; 0 = never); callers running several seeds project
    once themselves, as `evaluate_task` does.
    """
    metric = check_task_type(task_type, metric)
    tokens = {
        name: (tok.float(), mask.bool()) for name, (tok, mask, _) in zip(("train", "val", "test"), (train, val, test))
    }
    tokens = reduce_token_width(tokens, max_width)
    y = {"train": train[2], "val": val[2], "test": test[2]}
    meta = meta or {}
    classes = _infer_classes(task_type, [train[2], val[2], test[2]], num_classes)
    width = output_width(task_type, classes)
    dim = tokens["train"][0].shape[-1]
    scaler = TargetScaler(task_type, y["train"])
    target = scaler.encode(y["train"])
    decays = torch.tensor([float(w) for w in weight_decays])  # [K]
    k, n = len(weight_decays), y["train"].shape[0]
    torch.manual_seed(seed)
    grid = AttentiveGrid(AttentiveHead(dim, width, num_heads=num_heads), k)
    params = list(grid.parameters())
    opt = torch.optim.Adam(params, lr=lr)  # decoupled decay per head below, as AdamW does
    gen = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def outputs(split: str, stacked: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """[K, n, C] over a split, 256 examples at a time (bounds the n · L · d activations)."""
        tok, mask = tokens[split]
        stacked = stacked if stacked is not None else grid.stacked()
        return torch.cat(
            [attend(stacked, tok[i : i + 256], mask[i : i + 256], grid.num_heads) for i in range(0, len(tok), 256)],
            dim=1,
        )

    def evaluate(split: str, out: torch.Tensor) -> dict[str, float]:
        return score(task_type, metric, to_scores(task_type, out, scaler), y[split], **meta.get(split, {}))

    def train_step(step: int) -> None:
        idx = torch.randperm(n, generator=gen)[:batch_size] if batch_size and batch_size < n else slice(None)
        tok, mask = tokens["train"]
        loss = _grid_loss(task_type, grid(tok[idx], mask[idx]), target[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.mul_(1 - lr * decays.view(k, *[1] * (p.ndim - 1)))
        opt.step()

    # Each head starts from the untrained state: it is the one kept when val never produces a number.
    best = [BestOnVal(metric, grid.state(i)) for i in range(k)]

    def validate(step: int) -> bool:
        val_out = outputs("val")
        improved = [
            best[i].offer(evaluate("val", val_out[i]), step, functools.partial(grid.state, i)) for i in range(k)
        ]
        return any(improved)

    ran = train_and_select(
        steps, train_step, validate, every=25, patience=patience,
        progress=_bar(progress, f"fit attentive (seed {seed})"),
    )  # fmt: skip
    winner = best_index(metric, [t.val for t in best])
    chosen = best[winner]
    test_out = outputs("test", {name: t[None] for name, t in chosen.state.items()})[0]
    return _selected(metric, chosen, evaluate("test", test_out), float(weight_decays[winner]), ran,
                     to_scores(task_type, test_out, scaler))  # fmt: skip


def _selected(metric: str, chosen, test: dict, weight_decay: float, steps_run: int, test_scores) -> dict[str, Any]:
    """The result of a probe: the val-selected run (a selection.BestOnVal), scored once on test."""
    return {
        "metric": metric,
        "val": chosen.val,
        "test": test,
        "weight_decay": weight_decay,
        "step": chosen.at,
        "steps_run": steps_run,
        "test_scores": test_scores,
    }


def over_seeds(run: Callable[[int], dict[str, Any]], seeds: Sequence[int]) -> dict[str, Any]:
    """Run `run(seed)` per seed; mean and std (population, ddof=0) of every val/test metric."""
    runs = [run(s) for s in seeds]
    summary: dict[str, Any] = {"seeds": list(seeds), "metric": runs[0]["metric"], "runs": []}
    for split in ("val", "test"):
        keys = runs[0][split].keys()
        values = {k: [float(r[split][k]) for r in runs] for k in keys}
        summary[split] = {
            k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "values": v} for k, v in values.items()
        }
    summary["runs"] = [{k: v for k, v in r.items() if k not in ("test_scores", "state", "head")} for r in runs]
    return summary
