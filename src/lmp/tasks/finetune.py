"""Full fine-tuning: the backbone and a linear head trained end to end on a task, selected on val.

Protocol (our choice): a copy of the model is trained (the caller's model is untouched) with AdamW,
a lower learning rate for the backbone than for the head, in train mode (so the model's own dropout
applies; none in the presets); after every epoch val is scored and the best (backbone, head) state is
kept; test is scored once with it (the loop and bookkeeping of lmp.tasks.selection). Clip
representations are computed exactly as for probing (`Representer.encode_clips`, long clips in chunks),
shot and boundary tasks use a window centred on the shot (`Representer.encode_shots`).

Linear probing first (`probe_first`, on by default; "LP-FT", Kumar et al., ICLR 2022): the head starts
as the linear probe fit on the frozen representation (lmp.tasks.probe.linear_probe, weight decay
chosen on val), and that starting point is "epoch 0" of the selection. With a random head, the first
epochs' large gradients reshape the backbone to fit a head that knows nothing yet, which with a handful
of labels destroys what pretraining gave (measured: pretrained weights fine-tuned that way ended below
random weights fine-tuned the same way at 1 % of labels, docs/studies.md). Starting from the probe,
fine-tuning can only be kept when it beats the probe on val. `probe_first=False` is the plain protocol
(a LayerNorm and a randomly initialised linear head).

Dimension legend: n examples in a mini-batch, d representation width, C outputs.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from lmp.labels import Task
from lmp.tasks.features import Representer
from lmp.tasks.heads import TargetScaler, output_width, score, task_loss, to_scores
from lmp.tasks.probe import linear_probe
from lmp.tasks.representation_names import RepresentationError, needs_model
from lmp.tasks.selection import BestOnVal, train_and_select


def _inputs(rep: Representer, task: Task, rows) -> torch.Tensor:
    if task.spec.level == "clip":
        return rep.encode_clips(rows)
    return rep.encode_shots(rows, boundary=task.spec.level == "boundary")


def _outputs(rep: Representer, task: Task, rows, head: nn.Module | None = None) -> torch.Tensor:
    """The representations of `rows` (or the head's outputs on them), 32 examples at a time, on the CPU.

    Clips are batched shortest first (a batch is padded to its longest clip; similar lengths about halve
    the time) and returned in the order of `rows`."""
    order = list(range(len(rows)))
    if task.spec.level == "clip":
        order.sort(key=lambda i: rep.span(rows[i])[1] - rep.span(rows[i])[0])
    chunks = (_inputs(rep, task, [rows[j] for j in order[i : i + 32]]) for i in range(0, len(rows), 32))
    out = torch.cat([x if head is None else head(x) for x in chunks]).cpu()
    inverse = torch.empty(len(rows), dtype=torch.long)
    inverse[torch.tensor(order, dtype=torch.long)] = torch.arange(len(rows))
    return out[inverse]


class Standardize(nn.Module):
    """(x - mean) / std with fixed train-split statistics: the input scaling the linear probe was fit under."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _probe_head(net, rep: Representer, task: Task, meta, seed: int) -> tuple[nn.Sequential, torch.Tensor]:
    """The linear probe on the frozen representation (val-selected), as a trainable head, and the
    frozen val representation it was selected on (epoch 0's val inputs: no second encoding)."""
    spec = task.spec
    net.eval()
    with torch.no_grad():
        x = {s: _outputs(rep, task, rows) for s, rows in task.splits.items() if s != "test"}
    net.train()
    # Only the head is wanted here: val stands in for test, which fine-tuning scores once at the end.
    fit = linear_probe(
        x["train"], task.targets("train"), x["val"], task.targets("val"), x["val"], task.targets("val"),
        spec.type, metric=spec.metric, num_classes=spec.num_classes, seed=seed,
        meta={"val": meta["val"], "test": meta["val"]} if meta else None,
    )  # fmt: skip
    h = fit["head"]
    linear = nn.Linear(h["weight"].shape[1], h["weight"].shape[0])
    with torch.no_grad():
        linear.weight.copy_(h["weight"])
        linear.bias.copy_(h["bias"])
    return nn.Sequential(Standardize(h["mean"], h["std"]), linear), x["val"]


def finetune(
    model,
    store,
    task: Task,
    *,
    representation: str = "cls",
    window: int = 128,
    epochs: int = 10,
    lr: float = 1e-4,
    head_lr: float = 1e-3,
    weight_decay: float = 0.05,
    batch_size: int = 8,
    seed: int = 0,
    probe_first: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Fine-tune a copy of `model` on `task` (already restricted to `store`). Returns the same shape
    as `lmp.tasks.probe.linear_probe`: {"metric", "val", "test", "epoch", "test_scores"}."""
    from tqdm import tqdm

    if not needs_model(representation):
        raise RepresentationError(f"fine-tuning needs a model; representation {representation!r} has none")
    spec = task.spec
    torch.manual_seed(seed)
    net = copy.deepcopy(model).train()
    rep = Representer(store, net, representation, window=window, progress=False)
    meta = {
        s: {"groups": [e.video_id for e in rows], "shots": [e.start for e in rows]} for s, rows in task.splits.items()
    } if spec.level == "boundary" else {}  # fmt: skip
    x_val = None
    if probe_first:
        head, x_val = _probe_head(net, rep, task, meta, seed)
        head = head.to(rep.device)
    else:
        if representation == "cls" and spec.level != "boundary":
            dim = net.cfg.cls_width  # the [CLS] tokens side by side
        else:
            per_shot = len(net.modalities) + 1 if representation == "all" else 1  # `all`: M unimodal + fused
            dim = net.cfg.width * per_shot * (3 if spec.level == "boundary" else 1)
        head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, output_width(spec.type, spec.num_classes)))
        head = head.to(rep.device)
    opt = torch.optim.AdamW(
        [{"params": net.parameters(), "lr": lr}, {"params": head.parameters(), "lr": head_lr}],
        weight_decay=weight_decay,
    )
    train_rows = task.splits["train"]
    y_train = task.targets("train")
    scaler = TargetScaler(spec.type, y_train)
    target = scaler.encode(y_train).to(rep.device)
    gen = torch.Generator().manual_seed(seed)

    def evaluate(split: str, x: torch.Tensor | None = None) -> tuple[dict[str, float], torch.Tensor]:
        """The split's metric and scores; x: its representation when already computed by this backbone."""
        rows = task.splits[split]
        net.eval(), head.eval()
        with torch.no_grad():
            out = _outputs(rep, task, rows, head) if x is None else head(x.to(rep.device)).cpu()
        net.train(), head.train()
        scores = to_scores(spec.type, out, scaler)
        return score(spec.type, spec.metric, scores, task.targets(split), **meta.get(split, {})), scores

    def train(epoch: int) -> None:
        order = torch.randperm(len(train_rows), generator=gen).tolist()
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            out = head(_inputs(rep, task, [train_rows[j] for j in idx]))
            loss = task_loss(spec.type, out, target[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def snapshot() -> tuple[dict, dict]:
        return copy.deepcopy(net.state_dict()), copy.deepcopy(head.state_dict())

    def bar(rounds: range):
        return tqdm(rounds, desc=f"fine-tune {spec.name}", unit="epoch", disable=not progress)

    # Starts from the untrained copy: it is the one kept when val never produces a number. With
    # probe_first, that copy (the frozen backbone + the probe's head) competes on val as epoch 0.
    best = BestOnVal(spec.metric, snapshot())
    if x_val is not None:
        best.offer(evaluate("val", x_val)[0], 0, snapshot)
    train_and_select(epochs, train, lambda epoch: best.offer(evaluate("val")[0], epoch, snapshot), progress=bar)
    net.load_state_dict(best.state[0])
    head.load_state_dict(best.state[1])
    test, test_scores = evaluate("test")
    return {"metric": spec.metric, "val": best.val, "test": test, "epoch": best.at, "test_scores": test_scores}
