"""The analytic FLOP count of benchmarks/throughput.py, against a hand count and torch's own counter."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lmp.model.layers import Attention

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from throughput import count_step_flops, synthetic_batch  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


class _Toy(nn.Module):
    """One self-attention block (qkv 8 -> 24, proj 8 -> 8) and a head Linear 8 -> 3."""

    def __init__(self):
        super().__init__()
        self.attn = Attention(width=8, heads=2, dropout=0.0)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.attn(x, None)).square().mean()


class _Step:
    """Stands in for the trainer's (possibly compiled) step: runs forward + backward of `module`."""

    def __init__(self, module):
        self.module = module
        self.calls = 0

    def __call__(self, next_batch, lr):
        self.calls += 1
        self.module(next_batch()).backward()


class _Trainer:
    def __init__(self):
        torch.manual_seed(0)
        self.pretrainer = _Toy()
        self.step = _Step(object())  # a "compiled" module the count must not call, and must put back


def _batch():
    # b=2 windows of n=5 tokens of width d=8; requires_grad so backward computes every input gradient.
    return torch.randn(2, 5, 8, requires_grad=True)


def test_count_step_flops_matches_a_hand_count():
    trainer = _Trainer()
    compiled = trainer.step.module
    flops = count_step_flops(trainer, _batch)
    tokens = 2 * 5
    qkv = 6 * 8 * 24 * tokens  # 2·m·n·k forward, ×3 with the backward: 11520
    proj = 6 * 8 * 8 * tokens  # 3840
    head = 6 * 8 * 3 * tokens  # 1440
    # QKᵀ and AV: each 2·b·n·n·d forward (summed over heads, d = h·dh), ×3 with the backward: 4800.
    attention = 3 * (2 * 2 * 5 * 5 * 8 + 2 * 2 * 5 * 5 * 8)
    assert flops == qkv + proj + head + attention == 21600
    assert trainer.step.calls == 1 and trainer.step.module is compiled
    # The hooks are removed: a second count is the same, not doubled.
    assert count_step_flops(trainer, _batch) == 21600


def test_count_step_flops_agrees_with_torch_flop_counter_on_the_same_step():
    trainer = _Trainer()
    trainer.step.module = trainer.pretrainer
    with FlopCounterMode(display=False) as counter:
        trainer.step(_batch, 0.0)
    # torch counts every matmul of forward + backward from the dispatched ops, but not CPU's fused
    # scaled_dot_product_attention kernel: here it sees the three Linears only (qkv + proj + head).
    assert counter.get_total_flops() == 11520 + 3840 + 1440
    # The attention term, counted by torch on the same shapes written as plain matmuls (b=2, h=2, n=5, dh=4).
    q, k, v = (torch.randn(2, 2, 5, 4, requires_grad=True) for _ in range(3))
    with FlopCounterMode(display=False) as counter:
        ((q @ k.transpose(-1, -2)).softmax(-1) @ v).sum().backward()
    assert counter.get_total_flops() == 12 * 2 * 5 * 5 * 8 == count_step_flops(trainer, _batch) - 16800


def test_real_tiny_step_is_close_to_torch_flop_counter():
    """On the real trainer step the formula leaves out the objectives' similarity matrices (docstring)."""
    from lmp.model import ModelConfig
    from lmp.objectives import ObjectivesConfig
    from lmp.train.config import OptimConfig, RunConfig
    from lmp.train.distributed import DistInfo
    from lmp.train.step import build_trainer

    torch.manual_seed(0)
    model = ModelConfig.from_name("tiny", input_dims={"visual": 12, "audio": 4, "text": 6})
    info = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    run = RunConfig(device="cpu", precision="fp32", compile=False)
    data = synthetic_batch(2, 16, model.input_dims)
    trainer = build_trainer(model, ObjectivesConfig(), OptimConfig(lr=1e-4, warmup=0, steps=10), run, info,
                            probe_batch=data)  # fmt: skip
    ours = count_step_flops(trainer, lambda: data)
    with FlopCounterMode(display=False) as counter:
        trainer.step(lambda: data, 0.0)
    total = counter.get_total_flops()
    # The formula leaves out the objectives' similarity matrices, torch (on CPU) the fused attention kernel;
    # on this step the first is the larger (about 11% of torch's count).
    assert 0.8 * total < ours < total
