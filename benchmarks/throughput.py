"""Training-step throughput and FLOPs of the real trainer step: a helper of benchmarks/ (not part of lmp).

FLOPs are counted analytically from the shapes one step actually runs (forward hooks, no hardware
counters), with the usual convention that backward costs twice the forward:

    FLOPs/step = Σ_linear 6 · (in · out) · tokens_through_it            (every nn.Linear: backbone + heads)
               + Σ_attention 12 · b · n² · d                             (QKᵀ and AV: 2·2·b·n²·d forward, ×3)

so for a plain transformer this is the familiar "6 × params-in-matmuls × tokens + attention FLOPs",
with each layer's own token count (unimodal encoders see s tokens, the cross-modal encoder 1 + m·s).
Padding is counted (it is computed). Not counted: the contrastive similarity matrices of the
objectives, norms, softmax and the optimizer; slightly overcounted: the input projections, whose
backward needs no input gradient (4x, not 6x). Against torch.utils.flop_counter (every matmul, from
the dispatched ops) the two nearly cancel: base at N=64, batch 4 gives 127.07 vs 127.60 GFLOP/step.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from lmp.modality import MODALITIES, mask_key
from lmp.model import ModelConfig
from lmp.model.layers import Attention
from lmp.objectives import ObjectivesConfig
from lmp.store.format import TIMES_FIELD
from lmp.train.config import OptimConfig, RunConfig
from lmp.train.data import collate_windows, to_device
from lmp.train.distributed import DistInfo
from lmp.train.step import Trainer, build_trainer


def parse_dims(text: str) -> dict[str, int]:
    """'1280,512,384' -> input widths of visual, audio, text (the scripts' --dims)."""
    return dict(zip(MODALITIES, (int(x) for x in text.split(","))))


def synthetic_batch(
    batch_size: int, window: int, dims: dict[str, int], *, views: int = 2, seed: int = 0, text_presence: float = 0.4,
    lengths: list[int] | None = None, pad_multiple: int = 0,
) -> dict[str, torch.Tensor]:
    """A random CPU batch through the real collate: for benchmarks that must not measure the loader.

    Every window is full (no padding) unless `lengths` gives each window's real shots (padded as
    `data.pad_multiple` says); text is present in `text_presence` of the shots, like dialogue.
    """
    rng = np.random.default_rng(seed)
    views = min(views, batch_size)  # batch 1 (the longest windows): one window of one movie
    lengths = lengths or [window] * batch_size
    groups = []
    for g in range(batch_size // views):
        group = []
        for v in range(views):
            n = lengths[g * views + v]
            starts = np.cumsum(rng.uniform(0.5, 8.0, n))
            view: dict = {TIMES_FIELD: np.stack([starts, starts + 0.4], axis=1), "start": v * n, "movie": g}
            for m, d in dims.items():
                view[m] = rng.standard_normal((n, d), dtype=np.float32).astype(np.float16)
                view[mask_key(m)] = rng.random(n) < text_presence if m == "text" else np.ones(n, dtype=bool)
            group.append(view)
        groups.append(group)
    return collate_windows(groups, window, tuple(dims), pad_multiple)


@dataclass
class StepFigures:
    window: int
    batch: int
    compiled: bool
    windows_per_s: float
    step_ms: float
    tflop_per_step: float
    tflops: float
    peak_mem_gb: float
    params_m: float


def count_step_flops(trainer: Trainer, next_batch) -> float:
    """FLOPs of one optimizer step by the formula in the module docstring (runs one real step)."""
    total = [0.0]

    def linear_hook(mod: nn.Linear, inputs, _out) -> None:
        tokens = inputs[0].numel() // mod.in_features
        total[0] += 6.0 * mod.in_features * mod.out_features * tokens

    def attention_hook(_mod: Attention, inputs, _out) -> None:
        b, n, d = inputs[0].shape
        total[0] += 12.0 * b * n * n * d

    handles = []
    for mod in trainer.pretrainer.modules():
        if isinstance(mod, nn.Linear):
            handles.append(mod.register_forward_hook(linear_hook))
        elif isinstance(mod, Attention):
            handles.append(mod.register_forward_hook(attention_hook))
    try:
        # Hooks need the eager module: count through the unwrapped Pretrainer (same math, same shapes).
        eager = trainer.step.module
        trainer.step.module = trainer.pretrainer
        trainer.step(next_batch, 0.0)
    finally:
        trainer.step.module = eager
        for h in handles:
            h.remove()
    return total[0]  # all micro-batches of the step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux reports KiB: process peak RSS


def build_step(
    model: ModelConfig, *, window: int, batch: int, device: torch.device, precision: str, compiled: bool, steps: int,
    checkpointing: bool = False, lengths: list[int] | None = None, pad_multiple: int = 0,
    objectives: ObjectivesConfig | None = None,
) -> tuple[Trainer, Callable[[], dict[str, torch.Tensor]], OptimConfig]:
    """The real trainer (`lmp pretrain`'s build_trainer) and a next_batch that hands it one in-memory batch;
    `checkpointing` is `--run.activation_checkpointing`; `lengths` and `pad_multiple` as in synthetic_batch;
    `objectives` defaults to lmp's default objectives."""
    info = DistInfo(rank=0, world_size=1, local_rank=0, device=device)
    optim = OptimConfig(lr=1e-4, warmup=0, steps=steps)
    run = RunConfig(device=device.type, precision=precision, compile=compiled, activation_checkpointing=checkpointing)
    batch_cpu = synthetic_batch(batch, window, model.input_dims, lengths=lengths, pad_multiple=pad_multiple)
    data = to_device(batch_cpu, device)
    trainer = build_trainer(model, objectives or ObjectivesConfig(), optim, run, info, probe_batch=data)

    def next_batch() -> dict[str, torch.Tensor]:
        return data

    return trainer, next_batch, optim


def measure_step(
    model: ModelConfig,
    *,
    window: int,
    batch: int,
    device: torch.device,
    precision: str,
    compiled: bool,
    steps: int,
    warmup: int,
    flops: float | None = None,
    checkpointing: bool = False,
) -> StepFigures:
    """Time `steps` optimizer steps (after `warmup` untimed ones) of the real trainer on one in-memory batch."""
    trainer, next_batch, optim = build_step(
        model, window=window, batch=batch, device=device, precision=precision, compiled=compiled,
        steps=steps + warmup + 1, checkpointing=checkpointing,
    )

    if flops is None:
        flops = count_step_flops(trainer, next_batch)
    for _ in range(warmup):
        trainer.step(next_batch, optim.lr)
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.step(next_batch, optim.lr)
    _sync(device)
    elapsed = time.perf_counter() - t0
    params = sum(p.numel() for p in trainer.model.parameters())
    return StepFigures(
        window=window,
        batch=batch,
        compiled=compiled,
        windows_per_s=steps * batch / elapsed,
        step_ms=1e3 * elapsed / steps,
        tflop_per_step=flops / 1e12,
        tflops=flops * steps / elapsed / 1e12,
        peak_mem_gb=_peak_gb(device),
        params_m=params / 1e6,
    )


class CountOps(TorchDispatchMode):
    """Counts the aten operators a step dispatches (forward, backward and optimizer), views included."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def ops_per_step(step: Callable[[], object]) -> int:
    """Aten operators that one call of `step` dispatches."""
    with CountOps() as counter:
        step()
    return counter.count
