"""One task under one protocol, over several seeds: the function `lmp lvu` and `lmp probe` share.

    summary = evaluate_task(task, store, model, protocol="linear", representation="cls", seeds=(0, 1, 2))
    summary["test"]["accuracy"] -> {"mean", "std", "values"}

Representations for the probes are computed once (they do not depend on the seed); the seed changes
the attentive probe's initialisation and mini-batch order and, for fine-tuning, the whole training run.
The linear probe is solved to its optimum, so its seeds agree (its std is 0: no seed spread to report).
Pass one
`EncodingCache` to every call of a run to encode each clip and movie once across tasks (`lmp probe`,
`lmp lvu` do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lmp.labels import Task
from lmp.tasks.features import EncodingCache, Representer
from lmp.tasks.finetune import finetune
from lmp.tasks.linear_baselines import LinearMap
from lmp.tasks.probe import L2_GRID, attentive_probe, linear_probe, over_seeds, reduce_token_width

PROTOCOLS = ("linear", "attentive", "finetune")


@dataclass
class ProbeOptions:
    """Probe and fine-tuning hyper-parameters (the model-selection grid is searched on val)."""

    linear_steps: int = 200
    """L-BFGS iterations at most per penalty of the linear probe (L2-regularised, on standardised inputs)."""
    linear_weight_decays: tuple[float, ...] = L2_GRID
    """L2 penalties λ tried by the linear probe (mean loss + λ/2 ||W||²); val picks one."""
    attentive_steps: int = 300
    """Mini-batch steps of the attentive probe."""
    attentive_lr: float = 1e-3
    """Learning rate of the attentive probe."""
    attentive_weight_decays: tuple[float, ...] = (1e-3, 1e-1)
    """Weight decays tried by the attentive probe; val picks one."""
    attentive_patience: int = 0
    """Stop the attentive probe after this many val scorings (every 25 steps) without improvement; 0 = never."""
    attentive_max_width: int = 512
    """Wider tokens are projected once onto their top principal components (train split) first; 0 = never."""
    attentive_position_frequencies: int = 4
    """Sin/cos pairs coding each token's relative place in its clip for the attentive probe; 0 = order-blind."""
    finetune_epochs: int = 10
    """Fine-tuning epochs (val picks the best epoch)."""
    finetune_lr: float = 1e-4
    """Backbone learning rate when fine-tuning."""
    finetune_head_lr: float = 1e-3
    """Head learning rate when fine-tuning."""
    finetune_weight_decay: float = 0.05
    """AdamW weight decay when fine-tuning."""
    finetune_probe_first: bool = True
    """Start fine-tuning from the linear probe's head (LP-FT; it competes on val as epoch 0)."""
    batch_size: int = 8
    """Clips per fine-tuning step."""
    pca_components: int = 32
    """Directions of the `pca` representation (fit without labels on the movies outside val and test)."""
    cca_components: int = 16
    """Canonical directions per side of every modality pair of the `cca` representation (fit likewise)."""

    def __post_init__(self) -> None:
        for name in ("linear_steps", "attentive_steps", "finetune_epochs", "batch_size", "pca_components",
                     "cca_components"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("attentive_patience", "attentive_max_width", "attentive_position_frequencies"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")
        for name in ("attentive_lr", "finetune_lr", "finetune_head_lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        if not self.linear_weight_decays or not self.attentive_weight_decays:
            raise ValueError("linear_weight_decays / attentive_weight_decays: need at least one value")


def grid_edge_note(summary: dict[str, Any], options: ProbeOptions) -> str | None:
    """A line for the user when val chose the same end of a probe's penalty grid for every seed (the best
    penalty may lie beyond it), else None. `summary` is evaluate_task's. Grids of fewer than three values
    (the attentive probe's default two) are all ends, so they get no note."""
    protocol = summary["protocol"]
    grid = {"linear": options.linear_weight_decays, "attentive": options.attentive_weight_decays}.get(protocol)
    if not grid or len(set(grid)) < 3:
        return None
    chosen = {float(r["weight_decay"]) for r in summary["runs"]}
    for end, which in ((max(grid), "largest"), (min(grid), "smallest")):
        if chosen == {float(end)}:
            return (
                f"note: {summary['task']} ({protocol} probe on {summary['representation']}): val chose the {which} "
                f"penalty of the grid ({end:g}) for every seed; the best may lie beyond it "
                f"(--options.{protocol}_weight_decays)"
            )
    return None


def _boundary_meta(task: Task) -> dict[str, dict[str, list]] | None:
    if task.spec.level != "boundary":
        return None
    return {
        s: {"groups": [e.video_id for e in rows], "shots": [e.start for e in rows]} for s, rows in task.splits.items()
    }


def _tokens(rep: Representer, task: Task, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Token sequences for the attentive probe: a clip's shots (at most 64: longer clips are averaged
    in groups); a shot alone; a boundary's two shots."""
    rows = task.splits[split]
    if task.spec.level == "clip":
        _, (tok, mask) = rep.clips(rows, tokens=True)
        return tok, mask
    x = rep.shots(rows, boundary=task.spec.level == "boundary")
    if task.spec.level == "boundary":
        d = x.shape[1] // 3
        tok = torch.stack([x[:, :d], x[:, d : 2 * d]], dim=1)  # [n, 2, d]
    else:
        tok = x[:, None]  # [n, 1, d]
    return tok, torch.ones(tok.shape[:2], dtype=torch.bool)


def evaluate_task(
    task: Task,
    store,
    model,
    *,
    protocol: str = "linear",
    representation: str = "cls",
    seeds: Sequence[int] = (0, 1, 2),
    window: int = 128,
    options: ProbeOptions | None = None,
    progress: bool = True,
    cache: EncodingCache | None = None,
    linear_map: LinearMap | None = None,
) -> dict[str, Any]:
    """Mean ± std over seeds of val and test metrics for a task restricted to `store`.

    progress: bars while encoding and fitting. cache: encodings shared with the other tasks of a run
    (None: this call's own, so each of its clips is still encoded once for all protocols' splits).
    linear_map: the fitted map of the `pca` and `cca` representations (lmp.tasks.linear_baselines).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not one of {list(PROTOCOLS)}")
    empty = [s for s in ("train", "val", "test") if not task.splits.get(s)]
    if empty:
        from lmp.labels import LabelError

        raise LabelError(
            f"{task.source}: no {'/'.join(empty)} example with a video in the store ({task.missing_summary()})"
        )
    o = options or ProbeOptions()
    spec = task.spec
    common = {"metric": spec.metric, "num_classes": spec.num_classes}
    if protocol == "finetune":

        def run(seed: int) -> dict[str, Any]:
            return finetune(
                model, store, task, representation=representation, window=window, epochs=o.finetune_epochs,
                lr=o.finetune_lr, head_lr=o.finetune_head_lr, weight_decay=o.finetune_weight_decay,
                batch_size=o.batch_size, seed=seed, probe_first=o.finetune_probe_first, progress=progress,
            )  # fmt: skip

    else:
        shared = cache if cache is not None else EncodingCache()
        rep = Representer(
            store, model, representation, window=window, progress=progress, cache=shared, linear_map=linear_map
        )
        y = {s: task.targets(s) for s in ("train", "val", "test")}
        if protocol == "linear":
            x = rep.task(task)
            meta = _boundary_meta(task)
            fitted: list[dict[str, Any]] = []

            def run(seed: int) -> dict[str, Any]:
                # The probe's optimum depends only on its data, the same for every seed: fit it once.
                if not fitted:
                    fitted.append(linear_probe(
                        x["train"][0], y["train"], x["val"][0], y["val"], x["test"][0], y["test"], spec.type,
                        weight_decays=o.linear_weight_decays, steps=o.linear_steps, seed=seed, meta=meta,
                        progress=progress, **common,
                    ))  # fmt: skip
                return fitted[0]

        else:
            # Projected once for every seed (a no-op up to attentive_max_width).
            tok = {s: _tokens(rep, task, s) for s in ("train", "val", "test")}
            tok = reduce_token_width(tok, o.attentive_max_width)
            meta = _boundary_meta(task)

            def run(seed: int) -> dict[str, Any]:
                return attentive_probe(
                    (*tok["train"], y["train"]), (*tok["val"], y["val"]), (*tok["test"], y["test"]), spec.type,
                    weight_decays=o.attentive_weight_decays, steps=o.attentive_steps, lr=o.attentive_lr,
                    seed=seed, meta=meta, patience=o.attentive_patience, progress=progress,
                    max_width=o.attentive_max_width, position_frequencies=o.attentive_position_frequencies, **common,
                )  # fmt: skip

    summary = over_seeds(run, seeds)
    summary.update(
        task=spec.name,
        level=spec.level,
        type=spec.type,
        protocol=protocol,
        representation=representation,
        counts={s: len(rows) for s, rows in task.splits.items()},
        missing={s: {k: v for k, v in m.items() if k != "missing_ids"} for s, m in task.missing.items()},
    )
    return summary
