"""One optimizer step: the code path shared by `lmp pretrain` and benchmarks/gpu_train.py.

A step runs `accumulation` micro-batches (forward under autocast, backward of loss / accumulation;
DDP gradient all-reduce only on the last one), clips the global gradient norm, sets the learning rate
and steps AdamW. It returns the micro-batch mean of every loss term and the gradient norm as device
tensors: nothing here waits for the GPU, so the loop decides when to pay for a host sync.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lmp.model import LMPModel, ModelConfig
from lmp.objectives import ObjectivesConfig, Pretrainer
from lmp.train.config import OptimConfig, RunConfig
from lmp.train.distributed import DistInfo
from lmp.train.host_memory import retain_freed_memory


def build_optimizer(module: nn.Module, cfg: OptimConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only: biases, norms, tokens and temperatures are not decayed."""
    decay, no_decay = [], []
    for _, p in module.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel is the fastest AdamW on CUDA and on CPU (5x the default foreach step on 2 cores, about
    # 8 % of a `base` training step; docs/benchmarks.md).
    fused = device.type in ("cuda", "cpu")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, fused=fused)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """None = fp32 (no autocast). 'auto' is bf16 on CUDA and fp32 on CPU."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    return torch.bfloat16 if precision == "bf16" else None


class TrainStep:
    """Callable: `terms, grad_norm = step(next_batch, lr)`; `next_batch()` returns a device batch."""

    def __init__(
        self,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        accumulation: int,
        clip: float,
        device: torch.device,
        dtype: torch.dtype | None,
        ddp: nn.Module | None = None,
    ):
        self.module = module
        """What is called on a batch: the Pretrainer, possibly DDP-wrapped and/or compiled."""
        self.optimizer = optimizer
        self.accumulation = accumulation
        self.clip = clip
        self.device = device
        self.dtype = dtype
        self.ddp = ddp
        """The DDP wrapper (for no_sync), when distributed."""
        self.params = [p for g in optimizer.param_groups for p in g["params"]]

    def _autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def __call__(
        self, next_batch: Callable[[], dict[str, torch.Tensor]], lr: float
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        sums: dict[str, torch.Tensor] = {}
        for i in range(self.accumulation):
            last = i == self.accumulation - 1
            # Gradients are all-reduced once per optimizer step, on the last micro-batch.
            sync = contextlib.nullcontext() if (self.ddp is None or last) else self.ddp.no_sync()
            with sync:
                with self._autocast():
                    terms = self.module(next_batch())
                (terms["loss"] / self.accumulation).backward()
            for k, v in terms.items():
                v = v.detach().float()
                sums[k] = sums[k] + v if k in sums else v
        # inf = measure without clipping, so the norm is logged either way.
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.clip if self.clip > 0 else float("inf"))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {k: v / self.accumulation for k, v in sums.items()}, grad_norm



@dataclass
class Trainer:
    """The pieces of a training run, as built by `build_trainer`."""

    model: LMPModel
    """The backbone (what is saved with save_pretrained)."""
    pretrainer: Pretrainer
    """Backbone + objective heads, unwrapped (for state dicts)."""
    optimizer: torch.optim.AdamW
    step: TrainStep
    """Runs one optimizer step through the DDP-wrapped and/or compiled Pretrainer."""
    frozen: list[str]
    """Parameters that no enabled objective trains (see `freeze_unused`)."""


def freeze_unused(pre: nn.Module, batch: dict[str, torch.Tensor], dtype: torch.dtype | None) -> list[str]:
    """Freeze the parameters that one forward/backward leaves without a gradient; returns their names.

    Switching an objective off (an ablation) leaves backbone parameters that only it used, e.g. the
    [HIDDEN] tokens without cross-modal masking. DDP would wait forever for their gradients (or need
    find_unused_parameters, a graph traversal every step); AdamW skips them anyway. The probe runs
    under a forked RNG, so the training stream is the same with or without it.
    """
    device = next(pre.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = pre(batch)["loss"]
        loss.backward()
    unused = [name for name, p in pre.named_parameters() if p.requires_grad and p.grad is None]
    for name, p in pre.named_parameters():
        p.grad = None
        if name in unused:
            p.requires_grad_(False)
    return unused


def build_trainer(
    model_cfg: ModelConfig,
    objectives: ObjectivesConfig,
    optim: OptimConfig,
    run: RunConfig,
    info: DistInfo,
    probe_batch: dict[str, torch.Tensor],
    input_stats: dict | None = None,
) -> Trainer:
    """Model, objectives, AdamW, DDP and torch.compile, exactly as `lmp pretrain` uses them.

    `probe_batch` (a device batch of the training shape) finds the parameters to freeze, before the
    optimizer is built, so its parameter groups are the same for any number of processes.
    `input_stats` ({modality: (mean, std)}, lmp.store.stats) are what the model standardises its inputs
    with; a run that resumes gets them from its checkpoint instead.
    """
    if info.device.type == "cpu" and run.retain_host_memory:
        retain_freed_memory()
    if info.device.type == "cuda":
        # fp32 matmuls (precision=fp32, or outside autocast) may use TF32 tensor cores, as in most trainers.
        torch.set_float32_matmul_precision("high")
    # Same init on every rank (DDP also broadcasts rank 0's weights), then a per-rank stream for masking.
    torch.manual_seed(run.seed)
    model = LMPModel(model_cfg)
    if input_stats is not None:
        model.set_input_stats(input_stats)
    model.set_grad_checkpointing(run.activation_checkpointing)
    pre = Pretrainer(model, objectives).to(info.device)
    torch.manual_seed(run.seed + info.rank)
    dtype = autocast_dtype(run.precision, info.device)
    pre.train()
    frozen = freeze_unused(pre, probe_batch, dtype)
    optimizer = build_optimizer(pre, optim, info.device)
    ddp = None
    module: nn.Module = pre
    if info.enabled:
        ddp = torch.nn.parallel.DistributedDataParallel(
            pre,
            device_ids=[info.device.index] if info.device.type == "cuda" else None,
            find_unused_parameters=run.find_unused_parameters,
        )
        module = ddp
    if run.compile:
        module = torch.compile(module)
    step = TrainStep(
        module,
        optimizer,
        accumulation=optim.accumulation,
        clip=optim.clip,
        device=info.device,
        dtype=dtype,
        ddp=ddp,
    )
    return Trainer(model=model, pretrainer=pre, optimizer=optimizer, step=step, frozen=frozen)
