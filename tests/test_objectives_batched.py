"""Objectives score all their modalities (or pairs) in one batched InfoNCE: each part must be what the same
objective gives that part alone, and the batched core what it gives each problem alone (tiny, CPU)."""

from __future__ import annotations

import pytest
import torch

from batches import DIMS, random_batch
from lmp.objectives.align import ShotAlignment
from lmp.objectives.content import ContentKeys
from lmp.objectives.contrastive import info_nce, window_info_nce
from lmp.objectives.feature_prediction import FeaturePrediction
from lmp.objectives.masking import sample_count, sample_ratio
from lmp.objectives.spread import Spread
from lmp.objectives.window_align import WindowAlignment

MODALITIES = tuple(DIMS)
PAIRS = (("visual", "audio"), ("visual", "text"), ("audio", "text"))
D, P = 8, 4  # token width, projection width


def unit(*shape: int, g: torch.Generator) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(*shape, generator=g), dim=-1)


def shot_inputs() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], ContentKeys]:
    """A random batch, random tokens [b, s, D] per modality and random unit content keys; then seeds the
    sampling."""
    batch = random_batch()
    g = torch.Generator().manual_seed(1)
    b, s = batch["shot_mask"].shape
    tokens = {m: torch.randn(b, s, D, generator=g) for m in MODALITIES}
    keys = ContentKeys.of({m: unit(b * s, P, g=g) for m in MODALITIES}, gather=True)
    torch.manual_seed(2)
    return batch, tokens, keys


@pytest.mark.parametrize("window", [False, True])
def test_leading_dimensions_are_independent_problems(window):
    """info_nce / window_info_nce on [3, ...] inputs give, per leading index, the 2-D call's sum and count."""
    g = torch.Generator().manual_seed(0)
    lead, b, n, keys_n, c = 3, 2, 5, 7, 4
    shape = (lead, b) if window else (lead,)
    q = unit(*shape, n, c, g=g).requires_grad_()
    k = unit(*shape, keys_n, c, g=g).requires_grad_()
    target = torch.randint(0, keys_n, (*shape, n), generator=g)
    key_valid = torch.rand(*shape, keys_n, generator=g) > 0.2
    query_valid = torch.rand(*shape, n, generator=g) > 0.2
    distinct = torch.rand(*shape, n, keys_n, generator=g) > 0.3
    distinct.scatter_(-1, target[..., None], False)
    scale = torch.tensor(2.5)
    nce = window_info_nce if window else info_nce
    for with_distinct in (None, distinct):
        loss, count = nce(q, k, scale, target, key_valid, query_valid, with_distinct)
        assert loss.shape == count.shape == (lead,)
        for i in range(lead):
            args = [x[i] for x in (q, k)] + [scale] + [x[i] for x in (target, key_valid, query_valid)]
            one = nce(*args, None if with_distinct is None else with_distinct[i])
            torch.testing.assert_close(loss[i], one[0])
            assert count[i].item() == one[1].item()
        # Problems do not leak into each other: the gradient of part 0 is zero on the others' inputs.
        grad_q, grad_k = torch.autograd.grad(loss[0], (q, k))
        assert grad_q[1:].abs().max() == 0 and grad_k[1:].abs().max() == 0
        assert grad_q[0].abs().max() > 0


def _alone(obj: torch.nn.Module, make, part_names: tuple) -> torch.nn.Module:
    """A copy of `obj` for some of its parts, sharing its heads' weights."""
    one = make(part_names)
    one.load_state_dict(obj.state_dict(), strict=False)
    return one


@pytest.mark.parametrize(
    "target,negatives", [("content", "window"), ("content", "masked"), ("raw", "window"), ("raw", "batch"),
                         ("content", "batch")],
)  # fmt: skip
def test_feature_prediction_gives_each_modality_its_loss_alone(target, negatives):
    """Three modalities in one batched InfoNCE (raw targets of three widths, zero-padded to one) give each
    modality the loss the objective gives it alone."""
    batch, tokens, keys = shot_inputs()
    samples = {m: sample_ratio(batch[f"{m}_mask"] & batch["shot_mask"], 0.3) for m in MODALITIES}

    def make(modalities):
        return FeaturePrediction(modalities, D, DIMS, 0.3, False, negatives=negatives, target=target, proj_dim=P)

    obj = make(MODALITIES)
    together = obj(batch, tokens, samples, keys)
    for m in MODALITIES:
        alone = _alone(obj, make, (m,))(batch, tokens, samples, keys)[m]
        torch.testing.assert_close(together[m], alone)
        assert together[m] > 0


@pytest.mark.parametrize("keys,negatives", [("content", "window"), ("contextual", "window"), ("content", "batch"),
                                            ("contextual", "batch")])  # fmt: skip
def test_shot_alignment_gives_each_pair_its_loss_alone(keys, negatives):
    batch, tokens, content = shot_inputs()
    none = {m: torch.zeros_like(batch["shot_mask"]) for m in MODALITIES}
    queries = {
        f"{a}-{c}": sample_count(batch[f"{a}_mask"] & batch[f"{c}_mask"], 3) for a, c in PAIRS
    }  # fmt: skip

    def make(pairs):
        return ShotAlignment(pairs, D, P, 0.3, False, negatives=negatives, keys=keys)

    obj = make(PAIRS)
    together = obj(batch, tokens, none, queries, content)
    for pair in PAIRS:
        name = "-".join(pair)
        alone = _alone(obj, make, (pair,))(batch, tokens, none, {name: queries[name]}, content)[name]
        torch.testing.assert_close(together[name], alone)
        assert together[name] > 0


@pytest.mark.parametrize("keys", ["contextual", "content"])
def test_window_alignment_gives_each_pair_its_loss_alone(keys):
    torch.manual_seed(0)
    batch = random_batch(b=6)
    g = torch.Generator().manual_seed(1)
    b, s = batch["shot_mask"].shape
    tokens = {m: torch.randn(b, s, D, generator=g) for m in MODALITIES}
    content = {m: torch.randn(b, s, D, generator=g) for m in MODALITIES}

    def make(pairs):
        return WindowAlignment(pairs, D, P, 0.3, False, keys=keys)

    obj = make(PAIRS)
    together = obj(batch, tokens, content)
    for pair in PAIRS:
        name = "-".join(pair)
        torch.testing.assert_close(together[name], _alone(obj, make, (pair,))(batch, tokens, content)[name])
        assert together[name] > 0


def test_spread_gives_each_modality_its_term_alone_and_by_hand():
    """The three modalities' statistics in one batch of matrices; each term equals the term alone and the
    formula written out with torch.cov over the present shots."""
    batch = random_batch()
    g = torch.Generator().manual_seed(1)
    b, s = batch["shot_mask"].shape
    tokens = {m: torch.randn(b, s, D, generator=g) * (i + 0.5) for i, m in enumerate(MODALITIES)}
    present = {m: batch[f"{m}_mask"] for m in MODALITIES}
    together = Spread(MODALITIES)(tokens, present)
    for m in MODALITIES:
        torch.testing.assert_close(together[m], Spread((m,))(tokens, present)[m])
        x = tokens[m][present[m]]  # [n, D]: the present shots
        cov = torch.cov(x.T)
        std = (cov.diagonal() + 1e-4).sqrt()
        off = (cov - torch.diag(cov.diagonal())).pow(2).sum() / D
        torch.testing.assert_close(together[m], torch.relu(1 - std).mean() + off, rtol=1e-5, atol=1e-6)
