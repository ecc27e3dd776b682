"""CUDA-only checks (`pytest -m gpu`): bf16 training matches fp32 on CPU, the window InfoNCE on CUDA, and
torch.compile over two window shapes. Each skips where there is no CUDA device."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from batches import DIMS, random_batch
from compile_shapes import check_compiled_two_shapes
from lmp.config import from_dict
from lmp.model import LMPModel, ModelConfig
from lmp.objectives import ObjectivesConfig, Pretrainer
from lmp.objectives.masking import ShotSample
from window_nce import check_window_info_nce

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]



def _pretrainer() -> Pretrainer:
    torch.manual_seed(0)
    return Pretrainer(LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS)), from_dict(ObjectivesConfig, {}))


def _samples_to(samples, device: str):
    """The same draws (masked, hidden and query shots) on another device."""

    def to(x: ShotSample) -> ShotSample:
        return ShotSample(mask=x.mask.to(device), index=x.index.to(device), valid=x.valid.to(device))

    moved = {f.name: {k: to(v) for k, v in getattr(samples, f.name).items()} for f in dataclasses.fields(samples)}
    return dataclasses.replace(samples, **moved)


def _one_step(pre: Pretrainer, batch, samples, dtype: torch.dtype | None) -> tuple[float, float]:
    """Loss before and after one SGD step on fixed samples (autocast to `dtype` when given)."""
    device = batch["shot_mask"].device.type
    opt = torch.optim.SGD(pre.parameters(), lr=0.05)
    losses = []
    for _ in range(2):
        with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = pre.loss_terms(batch, samples)["loss"]
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses[0], losses[1]


def test_bf16_training_step_on_cuda_matches_fp32_on_cpu():
    pre = _pretrainer().train()
    gpu = copy.deepcopy(pre).cuda()
    batch = random_batch(4, 8)
    torch.manual_seed(1)
    samples = pre.sample(batch)
    cpu_before, cpu_after = _one_step(pre, batch, samples, None)
    on_gpu = random_batch(4, 8, device="cuda")
    cuda_before, cuda_after = _one_step(gpu, on_gpu, _samples_to(samples, "cuda"), torch.bfloat16)
    # bf16 keeps ~3 significant digits: the losses agree to a few percent, and the step moves both the same way.
    assert cuda_before == pytest.approx(cpu_before, rel=3e-2)
    assert cuda_after == pytest.approx(cpu_after, rel=3e-2)
    assert cpu_after < cpu_before and cuda_after < cuda_before


def test_window_info_nce_equals_info_nce_on_cuda():
    check_window_info_nce("cuda")


def test_compiled_pretrainer_runs_two_window_shapes_in_one_process():
    check_compiled_two_shapes("cuda")
