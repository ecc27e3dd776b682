"""Probes over frozen representations (plain tensors), model selection on val, several seeds.

    from lmp.tasks.probe import linear_probe
    result = linear_probe(train_x, train_y, val_x, val_y, test_x, test_y, "classification")
    result["test"]["accuracy"], result["val"]["accuracy"], result["weight_decay"]

Protocol (our choice, the usual one for frozen-feature evaluation): inputs are standardised with the
train split's statistics. The linear probe is L2-regularised logistic (or least-squares) regression, as
CLIP's and most papers' linear probes are: for each penalty of a small grid the convex objective is
solved with full-batch L-BFGS, and the penalty with the best val metric is kept. The attentive probe is
trained in mini-batches with AdamW for every weight decay of its grid, the val metric is checked every
25 steps, and the (weight decay, step) with the best val metric is kept. Test is scored once, with the
chosen head. Several seeds give mean ± std (`over_seeds`). The attentive loop and the bookkeeping are
lmp.tasks.selection's.

Why L-BFGS and a penalty, not AdamW (until 1 Dec 2026 the linear probe was 300 full-batch AdamW steps
with decoupled weight decay): Adam scales each coordinate's step by its own gradient's size, so with a
few dozen labels a dimension that only fits noise moves as fast as one that carries the class, and the
decoupled decay does not undo it. On the studies' MovieWorld corpus that probe scored raw features
0.03-0.07 below scikit-learn's L2 logistic regression with its penalty chosen on val, and trained
encoders' concentrated features less so (docs/studies.md); this one matches scikit-learn's optimum
(tests/test_probe_l2.py).

Speed (docs/transfer.md, docs/benchmarks.md): each penalty's fit starts from the previous one's optimum
(strongest first), so a grid of nine costs a few solves; the attentive probe trains its whole
weight-decay grid as one batched model of K independent heads (Adam is per parameter and the decoupled
decay is applied per head), which is K separate AdamW runs in one forward and backward pass, sharing
their initialisation and mini-batches. `patience` optionally stops the attentive probe once val has not
improved for that many scorings; `progress` shows a bar.

Dimension legend: n examples, d representation width, L tokens per example, C outputs.
"""

from __future__ import annotations

import functools
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


def _fit_l2(
    task_type: str, x: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, lam: float,
    steps: int,
) -> int:
    """Minimise task_loss(x Wᵀ + b) + λ/2 ||W||² over weight [C, d] and bias [C] in place, from their current
    values, with full-batch L-BFGS (strong Wolfe line search); returns the iterations run. The objective is
    convex, so its optimum does not depend on the start, only the iterations do."""
    opt = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=steps, history_size=10, line_search_fn="strong_wolfe",
        tolerance_grad=1e-5, tolerance_change=1e-9,
    )  # fmt: skip

    def objective() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = task_loss(task_type, x @ weight.T + bias, target) + 0.5 * lam * weight.square().sum()
        loss.backward()
        return loss

    opt.step(objective)
    return int(opt.state[weight].get("n_iter", 0))


L2_GRID = tuple(float(f"{10.0 ** (e / 2):.6g}") for e in range(-8, 1))
"""The linear probe's default penalties λ: 1e-4 to 1 in half decades (val picks one)."""


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
    weight_decays: Sequence[float] = L2_GRID,
    steps: int = 200,
    seed: int = 0,
    meta: dict[str, dict[str, list]] | None = None,
    progress: bool = False,
    path: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Linear probe on frozen representations: L2-regularised regression of the task's loss on train, the
    penalty selected on val, test scored once.

    Args:
        train_x, val_x, test_x: float [n, d] representations.
        train_y, val_y, test_y: class ids long [n] (classification), multi-hot [n, C] (multilabel) or
            float [n] (regression).
        task_type: "classification" | "multilabel" | "regression".
        metric: "accuracy" | "mAP" | "mse" | "AP"; default by task type (accuracy, mAP, mse).
        num_classes: output width for classification (default: largest class id seen + 1).
        weight_decays: the penalties λ tried: the head minimises the mean task loss (cross-entropy, binary
            cross-entropy or squared error on standardised targets) + λ/2 · ||W||² (the bias is free), on
            inputs standardised with train statistics. The best on val wins (ties: the larger λ).
        steps: L-BFGS iterations at most per penalty (each warm-starts from the previous, larger, one).
        seed: kept for the callers' per-seed loops; the optimum of each penalty is unique, so it changes
            nothing (label subsets drawn per seed are what varies between seeds).
        meta: optional {"val"|"test": {"groups": movie ids, "shots": shot indices}} for boundary tasks.
        progress: a tqdm bar over the penalties (when writing to a terminal).
        path: a list to append each penalty's fit to, strongest first: {"weight_decay": λ, "val": {metric:
            value, ..., "loss": the task loss}, "test": the same}. For studying the selection itself
            (benchmarks/probe_selection.py); the choice still reads val only.

    Returns:
        {"metric": name, "val": {metric: value, ...}, "test": {metric: value, ...}, "weight_decay": the
         chosen λ, "step": L-BFGS iterations of the chosen fit, "steps_run": of all fits, "test_scores":
         probabilities [n, C] or predictions [n], "head": {"weight": [C, d], "bias": [C], "mean": [d],
         "std": [d]}}: the chosen head reads (x - mean) / std, so fine-tuning can start from it
        (lmp.tasks.finetune).
    """
    metric = check_task_type(task_type, metric)
    classes = _infer_classes(task_type, [train_y, val_y, test_y], num_classes)
    width = output_width(task_type, classes)
    # float64: near the optimum, L-BFGS's line search and stopping tests compare values that float32 rounds.
    x = {"train": train_x.detach().double(), "val": val_x.detach().double(), "test": test_x.detach().double()}
    y = {"train": train_y, "val": val_y, "test": test_y}
    meta = meta or {}
    # Standardise with train statistics (a constant feature keeps std 1 instead of dividing by 0).
    mean = x["train"].mean(0)
    std = x["train"].std(0).nan_to_num(1.0) if len(train_y) > 1 else torch.ones_like(mean)
    std = torch.where(std < 1e-6, 1.0, std)
    z = {k: (v - mean) / std for k, v in x.items()}
    scaler = TargetScaler(task_type, train_y)
    target = scaler.encode(train_y)
    if task_type != "classification":
        target = target.double()
    d = z["train"].shape[1]
    weight = torch.zeros(width, d, dtype=torch.float64, requires_grad=True)  # [C, d]
    bias = torch.zeros(width, dtype=torch.float64, requires_grad=True)  # [C]

    def evaluate(split: str, out: torch.Tensor) -> dict[str, float]:
        return score(task_type, metric, to_scores(task_type, out, scaler), y[split], **meta.get(split, {}))

    best, ran = BestOnVal(metric), 0
    # Strongest penalty first: each fit starts from the previous optimum, which is close (a path).
    penalties = sorted((float(w) for w in weight_decays), reverse=True)
    for lam in _bar(progress, f"fit linear (seed {seed})")(penalties):
        iterations = _fit_l2(task_type, z["train"], target, weight, bias, lam, steps)
        ran += iterations
        with torch.no_grad():
            val_out = (z["val"] @ weight.T + bias).float()
            val = evaluate("val", val_out)
            if path is not None:
                test_out = (z["test"] @ weight.T + bias).float()
                scored = {"val": (val, val_out), "test": (evaluate("test", test_out), test_out)}
                path.append({"weight_decay": lam} | {
                    split: {**metrics, "loss": float(task_loss(task_type, out, scaler.encode(y[split])))}
                    for split, (metrics, out) in scored.items()
                })  # fmt: skip
        best.offer(val, iterations, lambda lam=lam: (weight.detach().clone(), bias.detach().clone(), lam))
    # Val never produced a number (e.g. no positive): keep the last (least penalised) head.
    w, b, lam = best.state if best.state is not None else (weight.detach(), bias.detach(), penalties[-1])
    test_out = (z["test"] @ w.T + b).float()
    result = _selected(metric, best, evaluate("test", test_out), lam, ran, to_scores(task_type, test_out, scaler))
    head = {"weight": w, "bias": b, "mean": mean, "std": std}
    return {**result, "head": {k: v.float() for k, v in head.items()}}


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


def with_position_code(
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]], frequencies: int
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """name -> (tokens [n, L, d + 2F], mask [n, L]): each real token gets a code of its relative place in
    its sequence, r = (i + 1/2) / length in (0, 1): sin and cos of pi 2^j r for j < F (F = `frequencies`;
    cos(pi r) alone falls from start to end), scaled to the train split's root mean square token entry;
    padding stays zero (real tokens first, as every caller lays them out). Unchanged when F is 0. With F
    even the code adds a multiple of 4 dimensions, so a width the head's 4 heads divide stays divisible.

    Why: attention pooling is blind to order (any permutation of the tokens gives the same output), and
    lmp's encoders put position into attention scores only (rotary codes), not into the tokens, so without
    this the attentive probe cannot tell a story that goes from A to B from one that goes from B to A
    (MovieWorld's `place_order`, docs/movieworld.md). Relative, because clips differ in length and long
    ones reach the probe averaged in groups (`Representer.clips`). The scale keeps the code on par with
    the tokens' own entries in the head's LayerNorm, whatever the encoder's units.
    """
    if frequencies <= 0:
        return splits
    tok, mask = splits["train"]
    real = tok[mask.bool()]
    scale = real.float().pow(2).mean().sqrt() if real.numel() else torch.tensor(1.0)

    def code(m: torch.Tensor) -> torch.Tensor:
        length = m.sum(1, keepdim=True).clamp_min(1).float()  # [n, 1]
        r = (torch.arange(m.shape[1], dtype=torch.float32)[None] + 0.5) / length  # [n, L]
        angles = r[..., None] * (torch.pi * 2.0 ** torch.arange(frequencies, dtype=torch.float32))  # [n, L, F]
        parts = torch.cat([angles.sin(), angles.cos()], dim=-1)  # [n, L, 2F]
        return parts * m[..., None].float() * scale

    return {name: (torch.cat([t.float(), code(m.bool())], dim=-1), m) for name, (t, m) in splits.items()}


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
    position_frequencies: int = 4,
) -> dict[str, Any]:
    """Attentive probe over frozen token sequences; each split is (tokens [n, L, d], mask [n, L], y).

    Same selection protocol, `meta`, `patience`, `progress` and return value as `linear_probe`. Every
    weight decay's head starts from the same initialisation (seeded) and sees the same mini-batches, so
    the grid trains as one `AttentiveGrid`. Tokens wider than `max_width` are first projected onto their
    top principal components (`reduce_token_width`; 0 = never); callers running several seeds project
    once themselves, as `evaluate_task` does. Each token then gets a code of its relative place in the
    sequence (`with_position_code`, `position_frequencies`; 0 = none), so the probe can read order.
    """
    metric = check_task_type(task_type, metric)
    tokens = {
        name: (tok.float(), mask.bool()) for name, (tok, mask, _) in zip(("train", "val", "test"), (train, val, test))
    }
    tokens = with_position_code(reduce_token_width(tokens, max_width), position_frequencies)
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
