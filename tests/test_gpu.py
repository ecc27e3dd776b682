"""CUDA-only checks (`pytest -m gpu`): bf16 training matches fp32 on CPU, the window InfoNCE on CUDA, and
torch.compile over two window shapes. Each skips where there is no CUDA device."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from batches import DIMS, random_batch
from lmp.config import from_dict
from lmp.model import LMPModel, ModelConfig
from lmp.objectives import ObjectivesConfig, Pretrainer
from lmp.objectives.contrastive import info_nce, window_info_nce
from lmp.objectives.masking import ShotSample

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
    g = torch.Generator().manual_seed(0)
    b, k, s, c = 3, 4, 6, 5
    unit = lambda x: torch.nn.functional.normalize(x, dim=-1)  # noqa: E731
    q = unit(torch.randn(b, k, c, generator=g)).cuda().requires_grad_()
    keys = unit(torch.randn(b, s, c, generator=g)).cuda().requires_grad_()
    target = torch.randint(0, s, (b, k), generator=g).cuda()
    key_valid = (torch.rand(b, s, generator=g) > 0.2).cuda()
    query_valid = (torch.rand(b, k, generator=g) > 0.2).cuda()
    distinct = (torch.rand(b, k, s, generator=g) > 0.3).cuda()
    distinct.scatter_(2, target[..., None], False)  # the target is never "distinct" from itself
    scale = torch.tensor(3.0, device="cuda")
    loss, count = window_info_nce(q, keys, scale, target, key_valid, query_valid, distinct)
    grads = torch.autograd.grad(loss, (q, keys))
    # Reference: the flat [b*k, b*s] InfoNCE with every other window's keys marked as copies (out of the
    # denominator) through `distinct`.
    own = torch.zeros(b, k, b, s, dtype=torch.bool, device="cuda")
    for w in range(b):
        own[w, :, w] = distinct[w]
    flat_target = (torch.arange(b, device="cuda")[:, None] * s + target).reshape(-1)
    ref, ref_count = info_nce(
        q.reshape(b * k, c), keys.reshape(b * s, c), scale, flat_target, key_valid.reshape(-1),
        query_valid.reshape(-1), own.reshape(b * k, b * s),
    )  # fmt: skip
    ref_grads = torch.autograd.grad(ref, (q, keys))
    assert count.item() == ref_count.item() > 0
    torch.testing.assert_close(loss, ref)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want)
    # One query by hand: log-sum-exp over its window's valid keys minus the positive's logit.
    one = torch.ones(1, 1, dtype=torch.bool, device="cuda")
    loss, _ = window_info_nce(q[:1, :1], keys[:1], scale, target[:1, :1], key_valid[:1], one)
    logits = (scale * (keys[0] @ q[0, 0]))[key_valid[0]]
    pos = scale * (keys[0, target[0, 0]] @ q[0, 0])
    expected = torch.logsumexp(logits, 0) - pos if key_valid[0, target[0, 0]] else torch.zeros((), device="cuda")
    torch.testing.assert_close(loss, expected)


def test_compiled_pretrainer_runs_two_window_shapes_in_one_process():
    pre = _pretrainer().cuda().train()
    compiled = torch.compile(pre.loss_terms)
    for b, s in ((4, 8), (2, 16)):
        batch = random_batch(b, s, seed=s, device="cuda")
        torch.manual_seed(s)
        samples = pre.sample(batch)
        got = compiled(batch, samples)["loss"]
        want = pre.loss_terms(batch, samples)["loss"]
        assert torch.isfinite(got)
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4)
