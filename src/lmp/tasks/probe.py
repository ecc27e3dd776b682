"""Probes over frozen representations (plain tensors), model selection on val, several seeds.

    from lmp.tasks.probe import linear_probe
    result = linear_probe(train_x, train_y, val_x, val_y, test_x, test_y, "classification")
    result["test"]["accuracy"], result["val"]["accuracy"], result["weight_decay"]

Protocol (our choice, the usual one for frozen-feature evaluation): inputs are standardised with the
train split's statistics; the head is trained full-batch (linear) or in mini-batches (attentive) with
AdamW; every weight decay of a small grid is tried, the val metric is checked every `eval_every` steps,
and the (weight decay, step) with the best val metric is kept. Test is scored once, with that head.
Several seeds give mean ± std (`over_seeds`). The loop and the bookkeeping are lmp.tasks.selection's.

Dimension legend: n examples, d representation width, L tokens per example, C outputs.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from lmp.tasks.heads import (
    AttentiveHead,
    TargetScaler,
    check_task_type,
    output_width,
    score,
    task_loss,
    to_scores,
)
from lmp.tasks.selection import BestOnVal, best_index, train_and_select

Split = tuple[Sequence[torch.Tensor], torch.Tensor]  # (head inputs, targets)


def _infer_classes(task_type: str, ys: Sequence[torch.Tensor], num_classes: int | None) -> int | None:
    if task_type == "regression":
        return None
    if num_classes:
        return num_classes
    if task_type == "multilabel":
        return int(ys[0].shape[1])
    return int(max(int(y.max()) for y in ys if y.numel())) + 1


def fit_head(
    head: nn.Module,
    splits: dict[str, Split],
    task_type: str,
    metric: str,
    *,
    steps: int,
    lr: float,
    weight_decay: float,
    batch_size: int | None = None,
    eval_every: int = 25,
    seed: int = 0,
    meta: dict[str, dict[str, list]] | None = None,
) -> dict[str, Any]:
    """Train `head` on splits["train"], keep the state with the best val metric, score val and test.

    splits: name -> (inputs, y) with inputs a tuple of tensors whose first dim is n (passed as
    ``head(*inputs)``). meta: optional name -> {"groups": [...], "shots": [...]} for boundary metrics.
    """
    meta = meta or {}
    (train_in, train_y) = splits["train"]
    scaler = TargetScaler(task_type, train_y)
    target = scaler.encode(train_y)
    n = train_y.shape[0]
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)

    def evaluate(name: str) -> dict[str, float]:
        inputs, y = splits[name]
        head.eval()
        with torch.no_grad():
            out = torch.cat([head(*[t[i : i + 1024] for t in inputs]) for i in range(0, y.shape[0], 1024)])
        head.train()
        return score(task_type, metric, to_scores(task_type, out, scaler), y, **meta.get(name, {}))

    def train(step: int) -> None:
        idx = torch.randperm(n, generator=gen)[:batch_size] if batch_size and batch_size < n else slice(None)
        loss = task_loss(task_type, head(*[t[idx] for t in train_in]), target[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def snapshot() -> dict[str, torch.Tensor]:
        return copy.deepcopy(head.state_dict())

    # Starts from the untrained head: it is the one kept when val never produces a number.
    best = BestOnVal(metric, snapshot())
    train_and_select(steps, train, lambda step: best.offer(evaluate("val"), step, snapshot), every=eval_every)
    head.load_state_dict(best.state)
    result = {"val": best.val, "step": best.at, "test": evaluate("test") if "test" in splits else {}}
    if "test" in splits:
        inputs, _ = splits["test"]
        with torch.no_grad():
            head.eval()
            result["test_scores"] = to_scores(task_type, head(*inputs), scaler)
    return result


def _select(
    make_head: Callable[[], nn.Module],
    splits: dict[str, Split],
    task_type: str,
    metric: str,
    weight_decays: Sequence[float],
    seed: int,
    **fit_kwargs,
) -> dict[str, Any]:
    runs = []
    for wd in weight_decays:
        torch.manual_seed(seed)
        run = fit_head(make_head(), splits, task_type, metric, weight_decay=wd, seed=seed, **fit_kwargs)
        run["weight_decay"] = wd
        runs.append(run)
    best = runs[best_index(metric, [r["val"] for r in runs])]
    best["metric"] = metric
    return best


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

    Returns:
        {"metric": name, "val": {metric: value, ...}, "test": {metric: value, ...}, "weight_decay": float,
         "step": int, "test_scores": probabilities [n, C] or predictions [n]}
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
    scaler = TargetScaler(task_type, train_y)
    target = scaler.encode(train_y)
    decays = torch.tensor([float(w) for w in weight_decays])  # [K]
    k, d = len(weight_decays), z["train"].shape[1]
    # All K weight decays train at once as K independent heads: the summed loss has disjoint
    # gradients, Adam is per-parameter, and the decoupled decay is applied per head as in AdamW.
    # That is why this probe has its own training step instead of K `fit_head` runs: each step is one
    # einsum and one optimiser update for the whole grid, not K of each. Loop and bookkeeping are shared.
    gen = torch.Generator().manual_seed(seed)
    bound = 1 / math.sqrt(max(d, 1))
    weight = ((torch.rand(k, d, width, generator=gen) * 2 - 1) * bound).requires_grad_()  # [K, d, C]
    bias = ((torch.rand(k, width, generator=gen) * 2 - 1) * bound).requires_grad_()  # [K, C]
    opt = torch.optim.Adam([weight, bias], lr=lr)

    def forward(inp: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nd,kdc->knc", inp, weight) + bias[:, None]  # [K, n, C]

    def evaluate(split: str, out: torch.Tensor) -> dict[str, float]:
        return score(task_type, metric, to_scores(task_type, out, scaler), y[split], **meta.get(split, {}))

    def train(step: int) -> None:
        out = forward(z["train"])
        loss = sum(task_loss(task_type, out[i], target) for i in range(k))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            weight.mul_(1 - lr * decays[:, None, None])
        opt.step()

    def head_state(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return weight[i].detach().clone(), bias[i].detach().clone()  # [d, C], [C]

    best = [BestOnVal(metric) for _ in range(k)]

    @torch.no_grad()
    def validate(step: int) -> None:
        val_out = forward(z["val"])
        for i in range(k):
            best[i].offer(evaluate("val", val_out[i]), step, functools.partial(head_state, i))

    train_and_select(steps, train, validate, every=25)
    winner = best_index(metric, [t.val for t in best])
    chosen = best[winner]
    # Val never produced a number (e.g. no positive): keep the final head.
    w, b = chosen.state if chosen.state is not None else (weight[winner].detach(), bias[winner].detach())
    test_out = z["test"] @ w + b
    return {
        "metric": metric,
        "val": chosen.val,
        "test": evaluate("test", test_out),
        "weight_decay": float(weight_decays[winner]),
        "step": chosen.at,
        "test_scores": to_scores(task_type, test_out, scaler),
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
) -> dict[str, Any]:
    """Attentive probe over frozen token sequences; each split is (tokens [n, L, d], mask [n, L], y).

    Same selection protocol, `meta` and return value as `linear_probe`.
    """
    metric = check_task_type(task_type, metric)
    splits = {
        name: ((tok.float(), mask.bool()), y)
        for name, (tok, mask, y) in zip(("train", "val", "test"), (train, val, test))
    }
    classes = _infer_classes(task_type, [train[2], val[2], test[2]], num_classes)
    width = output_width(task_type, classes)
    dim = train[0].shape[-1]

    def make_head() -> nn.Module:
        return AttentiveHead(dim, width, num_heads=num_heads)

    return _select(
        make_head, splits, task_type, metric, weight_decays, seed, steps=steps, lr=lr, batch_size=batch_size, meta=meta
    )


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
    summary["runs"] = [{k: v for k, v in r.items() if k not in ("test_scores", "state")} for r in runs]
    return summary
