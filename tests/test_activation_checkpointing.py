"""Activation checkpointing (`--run.activation_checkpointing`): the same loss and gradients, fewer saved activations."""

from __future__ import annotations

import copy

import torch

from lmp.model import LMPModel, ModelConfig
from lmp.objectives import ObjectivesConfig, Pretrainer
from lmp.train.config import OptimConfig, RunConfig
from lmp.train.distributed import DistInfo
from lmp.train.step import build_trainer
from test_model import DIMS, make_batch


def tiny(dropout: float = 0.0) -> ModelConfig:
    return ModelConfig.from_name("tiny", input_dims=DIMS, layers=2, cross_layers=2, dropout=dropout)


def test_checkpointed_blocks_give_the_same_loss_and_gradients_even_with_dropout():
    torch.manual_seed(0)
    plain = Pretrainer(LMPModel(tiny(dropout=0.2)), ObjectivesConfig()).train()
    ckpt = copy.deepcopy(plain)
    ckpt.model.set_grad_checkpointing(True)
    batch = make_batch(s=12)
    samples = plain.sample(batch)
    results = []
    for pre in (plain, ckpt):
        torch.manual_seed(1)  # the same dropout masks in the forward; the recomputation must replay them
        terms = pre.loss_terms(batch, samples)
        terms["loss"].backward()
        results.append((terms, {n: p.grad for n, p in pre.named_parameters() if p.grad is not None}))
    (terms_a, grads_a), (terms_b, grads_b) = results
    for name in terms_a:
        torch.testing.assert_close(terms_b[name], terms_a[name], msg=name)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 20
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], msg=name)
    # Dropout is really on: another seed gives another loss (so the equality above is not vacuous).
    torch.manual_seed(2)
    assert not torch.equal(plain.loss_terms(batch, samples)["loss"], terms_a["loss"])


def saved_bytes(model: LMPModel, batch: dict[str, torch.Tensor]) -> int:
    """Bytes of the tensors autograd keeps for the backward during one forward."""
    total = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.forward_features(batch)
    return total[0]


def test_checkpointing_keeps_a_fraction_of_the_activations_and_only_when_training():
    torch.manual_seed(0)
    model = LMPModel(tiny()).train()
    batch = make_batch(s=64)
    plain = saved_bytes(model, batch)
    model.set_grad_checkpointing(True)
    kept = saved_bytes(model, batch)
    assert kept < 0.4 * plain, (kept, plain)
    # Without gradients (encoding for probes) nothing is checkpointed and nothing is saved either way.
    with torch.no_grad():
        assert saved_bytes(model, batch) == 0
    model.set_grad_checkpointing(False)
    assert saved_bytes(model, batch) == plain


def test_run_option_turns_it_on_for_every_encoder():
    info = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    for on in (False, True):
        trainer = build_trainer(
            tiny(), ObjectivesConfig(), OptimConfig(steps=2), RunConfig(device="cpu", activation_checkpointing=on),
            info, probe_batch=make_batch(),
        )  # fmt: skip
        encoders = [*trainer.model.unimodal.values(), trainer.model.cross]
        assert [e.grad_checkpointing for e in encoders] == [on] * 4
