"""Pretraining objectives: hand-checked InfoNCE cases, masking, config switches, gradients (tiny, CPU)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from batches import DIMS, random_batch
from compile_shapes import check_compiled_two_shapes
from lmp.config import ConfigError, from_dict
from lmp.errors import LMPError
from lmp.model import LMPModel, ModelConfig
from lmp.objectives import AlignConfig, MaskedShotConfig, ObjectivesConfig, Pretrainer
from lmp.objectives.align import ShotAlignment
from lmp.objectives.contrastive import LogitScale, info_nce, multi_positive_nce
from lmp.objectives.feature_prediction import FeaturePrediction
from lmp.objectives.gather import all_gather_no_grad, all_gather_with_grad, global_mean, world
from lmp.objectives.masking import ShotSample, sample_count, sample_ratio
from lmp.objectives.movie import MovieContrast
from window_nce import check_window_info_nce

E = math.e


def make_pretrainer(seed: int = 0, **cfg) -> Pretrainer:
    torch.manual_seed(seed)
    model = LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS))
    return Pretrainer(model, from_dict(ObjectivesConfig, cfg))


def sample(mask_rows: list[list[int]], s: int) -> ShotSample:
    """A fixed ShotSample choosing the listed shots of each window."""
    k = max(len(r) for r in mask_rows)
    index = torch.tensor([r + [0] * (k - len(r)) for r in mask_rows])
    valid = torch.tensor([[True] * len(r) + [False] * (k - len(r)) for r in mask_rows])
    mask = torch.zeros(len(mask_rows), s, dtype=torch.bool).scatter(1, index, valid)
    return ShotSample(mask=mask, index=index, valid=valid)


# -- the InfoNCE core, by hand ---------------------------------------------------------------------


def test_info_nce_by_hand():
    """Unit vectors and scale 1, so the logits are the cosines [1, 0, -1]."""
    q = torch.tensor([[1.0, 0.0]])
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    one, target, yes = torch.tensor(1.0), torch.tensor([0]), torch.tensor([True])
    loss, count = info_nce(q, keys, one, target, torch.ones(3, dtype=torch.bool), yes)
    assert count == 1
    assert loss.item() == pytest.approx(-math.log(E / (E + 1 + 1 / E)), rel=1e-6)
    # A key that is not a candidate leaves the denominator.
    loss, _ = info_nce(q, keys, one, target, torch.tensor([True, True, False]), yes)
    assert loss.item() == pytest.approx(-math.log(E / (E + 1)), rel=1e-6)
    # The scale multiplies the logits: [2, 0, -2].
    loss, _ = info_nce(q, keys, torch.tensor(2.0), target, torch.ones(3, dtype=torch.bool), yes)
    assert loss.item() == pytest.approx(-math.log(E**2 / (E**2 + 1 + E**-2)), rel=1e-6)
    # A query whose target is not a valid key does not count.
    _, count = info_nce(q, keys, one, target, torch.tensor([False, True, True]), yes)
    assert count == 0


def test_info_nce_leaves_copies_of_the_target_out():
    q = torch.tensor([[1.0, 0.0]])
    keys = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # key 1 is a copy of the target (key 0)
    distinct = torch.tensor([[False, False, True]])
    loss, count = info_nce(
        q,
        keys,
        torch.tensor(1.0),
        torch.tensor([0]),
        torch.ones(3, dtype=torch.bool),
        torch.tensor([True]),
        distinct,
    )
    assert count == 1
    assert loss.item() == pytest.approx(-math.log(E / (E + 1)), rel=1e-6)  # the copy is not a negative


def test_multi_positive_nce_and_uncounted_queries():
    logits = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5], [2.0, 0.0, 0.0]])
    pos = torch.tensor([[True, True, False], [False, False, False], [True, False, False]])
    keys = torch.ones(3, dtype=torch.bool)
    loss, count = multi_positive_nce(logits, pos, keys, torch.tensor([True, True, False]))
    # Query 1 has no positive and query 2 is invalid: only query 0 counts.
    assert count == 1
    assert loss.item() == pytest.approx(-math.log((E + 1) / (E + 1 + 1 / E)))


def test_a_query_without_a_negative_is_not_counted_as_solved():
    """Its loss is 0 whatever it says: counting it lowered the mean (a window alone with its film's other
    windows, a masked shot alone with its modality in its window)."""
    q = torch.nn.functional.normalize(torch.randn(2, 4), dim=-1)
    keys = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    valid = torch.ones(2, dtype=torch.bool)
    # Query 0's target (key 0) is the only valid key; query 1 has key 1 and its copy key 2 only.
    _, count = info_nce(q, keys, torch.tensor(1.0), torch.tensor([0, 0]), torch.tensor([True, False, False]), valid)
    assert count == 0
    distinct = torch.tensor([[False, True, True], [True, False, False]])  # query 1: key 2 copies its target 1
    loss, count = info_nce(q, keys, torch.tensor(1.0), torch.tensor([0, 1]), torch.tensor([False, True, True]),
                           valid, distinct)  # fmt: skip
    assert count == 0 and loss == 0  # query 0's target is not valid, query 1 has no negative
    # Every candidate a positive: no negative either.
    both = torch.ones(1, 2, dtype=torch.bool)
    _, count = multi_positive_nce(torch.zeros(1, 2), both, both[0], torch.tensor([True]))
    assert count == 0


def test_a_modality_no_window_has_is_left_out_of_its_objectives_means():
    """Text absent from the whole batch: its parts are 0 and spread/text was a constant 0.99; averaged in,
    they diluted masked_shot, align and the rest."""
    pre = make_pretrainer()
    batch = random_batch()
    batch["text_mask"][:] = False
    torch.manual_seed(1)
    terms = pre(batch)
    assert terms["spread/text"] == 0 and terms["masked_shot/text"] == 0
    for name, parts in (("masked_shot", ["visual", "audio"]), ("spread", ["visual", "audio"]),
                        ("align", ["visual-audio"]), ("window_align", ["visual-audio"])):
        torch.testing.assert_close(terms[name], torch.stack([terms[f"{name}/{p}"] for p in parts]).mean())


def test_nce_empty_rows_have_zero_gradient_not_nan():
    q = torch.randn(2, 3, requires_grad=True)
    keys = torch.randn(4, 3, requires_grad=True)
    none = torch.zeros(4, dtype=torch.bool)
    loss, count = info_nce(
        q, keys, torch.tensor(1.0), torch.tensor([0, 1]), none, torch.ones(2, dtype=torch.bool)
    )
    assert count == 0
    loss.backward()
    assert torch.equal(q.grad, torch.zeros(2, 3)) and torch.equal(keys.grad, torch.zeros(4, 3))
    logits = torch.zeros(2, 3, requires_grad=True)
    loss, count = multi_positive_nce(
        logits, torch.eye(2, 3, dtype=torch.bool), none[:3], torch.ones(2, dtype=torch.bool)
    )
    assert count == 0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros(2, 3))


def test_logit_scale():
    fixed = LogitScale(0.5, learnable=False)
    assert fixed().item() == pytest.approx(2.0)
    assert not list(fixed.parameters())
    learned = LogitScale(0.07, learnable=True)
    assert learned().item() == pytest.approx(1 / 0.07, rel=1e-5)
    with torch.no_grad():
        learned.log_scale.fill_(10.0)
    assert learned().item() == pytest.approx(100.0)  # clamped: temperature >= 0.01


def test_gather_is_a_no_op_without_distributed():
    x = torch.randn(3, 2, requires_grad=True)
    assert world() == (0, 1)
    assert all_gather_with_grad(x) is x
    assert all_gather_no_grad(x) is x
    assert global_mean(torch.tensor(6.0), torch.tensor(3)).item() == pytest.approx(2.0)
    assert global_mean(torch.tensor(0.0), torch.tensor(0)).item() == 0.0


# -- each objective on a hand-checked tiny case ----------------------------------------------------


def test_feature_prediction_by_hand():
    """Identity head, temperature 1: the loss is -log softmax of cosine similarities to frozen features."""
    obj = FeaturePrediction(("visual",), 2, {"visual": 2}, temperature=1.0, learn_temperature=False, target="raw")
    obj.heads["visual"] = nn.Identity()
    feats = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]]])  # [1, 3, 2]; norms do not matter
    batch = {"visual": feats, "shot_mask": torch.ones(1, 3, dtype=torch.bool)}
    tokens = torch.tensor([[[5.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    loss = obj(batch, {"visual": tokens}, {"visual": sample([[0]], 3)})["visual"]
    assert loss.item() == pytest.approx(-math.log(E / (E + 1 + 1 / E)), rel=1e-5)
    # Shot 2 lacks the modality: it is neither target nor negative.
    batch["visual_mask"] = torch.tensor([[True, True, False]])
    loss = obj(batch, {"visual": tokens}, {"visual": sample([[0]], 3)})["visual"]
    assert loss.item() == pytest.approx(-math.log(E / (E + 1)), rel=1e-5)


def test_masked_negatives_are_only_the_windows_corrupted_shots():
    """negatives=masked: a visible shot, whose content the encoders showed the query, is no candidate."""
    obj = FeaturePrediction(("visual",), 2, {"visual": 2}, temperature=1.0, learn_temperature=False,
                            negatives="masked", target="raw")  # fmt: skip
    obj.heads["visual"] = nn.Identity()
    feats = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [0.0, -1.0]]])  # [1, 4, 2]
    batch = {"visual": feats, "shot_mask": torch.ones(1, 4, dtype=torch.bool)}
    tokens = torch.tensor([[[5.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    # Shots 0 and 2 are masked, 1 and 3 visible: query 0 picks shot 0 among shots 0 and 2 (cosines 1, -1).
    loss = obj(batch, {"visual": tokens}, {"visual": sample([[0, 2]], 4)})["visual"]
    # Query 2 (token 0, cosine 0 to both) contributes log 2.
    assert loss.item() == pytest.approx((-math.log(E / (E + 1 / E)) + math.log(2)) / 2, rel=1e-5)
    feats[0, 1] = torch.tensor([0.8, 0.6])  # a visible shot made to look like query 0's target
    assert obj(batch, {"visual": tokens}, {"visual": sample([[0, 2]], 4)})["visual"].item() == pytest.approx(
        loss.item(), rel=1e-6)


def test_feature_prediction_duplicate_targets_are_not_negatives():
    obj = FeaturePrediction(("text",), 2, {"text": 2}, temperature=1.0, learn_temperature=False, target="raw")
    obj.heads["text"] = nn.Identity()
    feats = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])  # one subtitle line over shots 0 and 1
    batch = {"text": feats, "shot_mask": torch.ones(1, 3, dtype=torch.bool)}
    tokens = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    loss = obj(batch, {"text": tokens}, {"text": sample([[0]], 3)})["text"]
    # Shot 1 has the same feature as the target: it leaves the candidates (logits [1, -, 0]).
    assert loss.item() == pytest.approx(-math.log(E / (E + 1)), rel=1e-5)


def test_alignment_by_hand():
    """Two shots, two modalities, identity heads: symmetric InfoNCE over the batch's shots."""
    obj = ShotAlignment((("visual", "audio"),), 2, 2, temperature=1.0, learn_temperature=False, keys="contextual")
    obj.heads["visual"] = nn.Identity()
    obj.heads["audio"] = nn.Identity()
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    a = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    batch = {"shot_mask": torch.ones(1, 2, dtype=torch.bool)}
    none = torch.zeros(1, 2, dtype=torch.bool)
    every = {"visual-audio": sample([[0, 1]], 2)}
    loss = obj(batch, {"visual": v, "audio": a}, {"visual": none, "audio": none}, every)["visual-audio"]
    # visual->audio: shot 0 logits [1, 1] -> log 2; shot 1 logits [0, 0] -> log 2.
    # audio->visual: shot 0 logits [1, 0] -> -log(e/(e+1)); shot 1 logits [1, 0], positive 0 -> -log(1/(e+1)).
    v2a = math.log(2)
    a2v = 0.5 * (-math.log(E / (E + 1)) - math.log(1 / (E + 1)))
    assert loss.item() == pytest.approx(0.5 * (v2a + a2v), rel=1e-5)
    # A shot without audio has no pair (and is no key): only shot 0 remains, with a single candidate.
    batch["audio_mask"] = torch.tensor([[True, False]])
    loss = obj(batch, {"visual": v, "audio": a}, {"visual": none, "audio": none}, every)["visual-audio"]
    a2v_0 = -math.log(E / (E + 1))  # visual keys: both shots (shot 1 has visual)
    assert loss.item() == pytest.approx(0.5 * (0.0 + a2v_0), rel=1e-5)
    # A corrupted shot is excluded the same way.
    corrupt = torch.tensor([[False, True]])
    batch.pop("audio_mask")
    loss2 = obj(batch, {"visual": v, "audio": a}, {"visual": none, "audio": corrupt}, every)["visual-audio"]
    assert loss2.item() == pytest.approx(loss.item(), rel=1e-5)
    # Only the sampled query shots are queries; every usable shot stays a key.
    only_1 = obj(
        batch, {"visual": v, "audio": a}, {"visual": none, "audio": none}, {"visual-audio": sample([[1]], 2)}
    )
    assert only_1["visual-audio"].item() == pytest.approx(
        0.5 * (math.log(2) - math.log(1 / (E + 1))), rel=1e-5
    )


def test_movie_contrast_by_hand():
    obj = MovieContrast(2, 2, temperature=1.0, learn_temperature=False)
    obj.head = nn.Identity()
    cls = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    batch = {"movie": torch.tensor([0, 0, 1]), "shot_mask": torch.ones(3, 4, dtype=torch.bool)}
    loss = obj(batch, cls)
    # Window 0: keys 1 (positive, logit 0) and 2 (logit -1); window 1: keys 0 (pos, 0) and 2 (0);
    # window 2 has no partner and is not a query.
    expected = 0.5 * (-math.log(1 / (1 + 1 / E)) - math.log(1 / 2))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    batch["shot_mask"][2] = False  # an all-padding window is not even a negative: one candidate each
    assert obj(batch, cls).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(LMPError, match="movie"):
        obj({"shot_mask": batch["shot_mask"]}, cls)


def test_window_info_nce_equals_info_nce_with_other_windows_masked():
    """The [b, k, s] window path equals the full [b*k, b*s] InfoNCE with other windows masked out."""
    check_window_info_nce("cpu")


def test_window_negatives_ignore_other_windows():
    """negatives='window': a query's loss on a 2-window batch equals its loss on its window alone."""
    torch.manual_seed(0)
    feats = {m: torch.randn(2, 4, 3) for m in ("visual", "audio")}
    tokens = {m: torch.randn(2, 4, 5) for m in ("visual", "audio")}
    batch = {**feats, "shot_mask": torch.ones(2, 4, dtype=torch.bool)}
    alone = {k: v[:1] for k, v in batch.items()}
    none = torch.zeros(2, 4, dtype=torch.bool)
    queries = ShotSample(
        mask=torch.tensor([[True, False, True, False], [False] * 4]),
        index=torch.tensor([[0, 2], [0, 2]]),
        valid=torch.tensor([[True, True], [False, False]]),
    )
    q1 = queries.rows(slice(0, 1))
    for negatives in ("batch", "window"):
        torch.manual_seed(1)
        pred = FeaturePrediction(("visual",), 5, {"visual": 3}, 0.5, False, negatives=negatives, target="raw")
        two = pred(batch, tokens, {"visual": queries})["visual"]
        one = pred(alone, {m: t[:1] for m, t in tokens.items()}, {"visual": q1})["visual"]
        torch.manual_seed(1)
        align = ShotAlignment((("visual", "audio"),), 5, 4, 0.5, False, negatives=negatives, keys="contextual")
        corrupted = {"visual": none, "audio": none}
        two_a = align(batch, tokens, corrupted, {"visual-audio": queries})["visual-audio"]
        one_a = align(
            alone,
            {m: t[:1] for m, t in tokens.items()},
            {m: x[:1] for m, x in corrupted.items()},
            {"visual-audio": q1},
        )["visual-audio"]
        if negatives == "window":
            torch.testing.assert_close(two, one)
            torch.testing.assert_close(two_a, one_a)
        else:  # the other window's shots are extra negatives
            assert two.item() > one.item() and two_a.item() > one_a.item()
    with pytest.raises(ValueError, match="negatives"):
        from_dict(ObjectivesConfig, {"align": {"negatives": "movie"}})


# -- masking -------------------------------------------------------------------------------------


def test_sampling_counts_and_eligibility():
    eligible = torch.zeros(3, 10, dtype=torch.bool)
    eligible[0] = True
    eligible[1, [1, 4, 5, 8]] = True
    torch.manual_seed(0)
    out = sample_ratio(eligible, 0.25)
    assert out.index.shape == (3, 3) and out.valid.shape == (3, 3)
    assert out.mask.sum(1).tolist() == [3, 1, 0]  # ceil(0.25 * n): 10 -> 3, 4 -> 1, 0 -> 0
    assert not (out.mask & ~eligible).any()
    chosen = torch.zeros_like(eligible).scatter(1, out.index, out.valid)
    assert torch.equal(chosen, out.mask)
    torch.manual_seed(0)
    assert torch.equal(sample_ratio(eligible, 0.25).mask, out.mask)  # torch's RNG: reproducible
    fixed = sample_count(eligible, 2)
    assert fixed.index.shape == (3, 2) and fixed.mask.sum(1).tolist() == [2, 2, 0]
    assert not (fixed.mask & ~eligible).any()
    assert torch.equal(sample_count(eligible, 0).mask, eligible)  # 0 = every eligible shot


def test_corruptions_are_disjoint_and_only_on_present_shots():
    pre = make_pretrainer(masked_shot={"mask_ratio": 0.3}, cross_masked={"hide_ratio": 0.3})
    batch = random_batch()
    samples = pre.sample(batch)
    masked, hidden = samples.masked, samples.hidden
    for m in DIMS:
        assert not (masked[m].mask & hidden[m].mask).any()
        for x in (masked[m], hidden[m]):
            assert not (x.mask & ~batch[f"{m}_mask"]).any()
        assert masked[m].mask.any() and hidden[m].mask.any()
    # Alignment queries are shots with both modalities, neither corrupted.
    q = samples.align["visual-text"].mask
    assert q.any()
    assert not (
        q & (masked["visual"].mask | hidden["visual"].mask | masked["text"].mask | hidden["text"].mask)
    ).any()
    assert not (q & ~(batch["visual_mask"] & batch["text_mask"])).any()


# -- the Pretrainer --------------------------------------------------------------------------------


def test_every_parameter_gets_a_gradient():
    pre = make_pretrainer()
    with torch.no_grad():  # recall's gain starts at zero, and its key gets a gradient only through the gain
        for r in pre.model.recall.values():
            r.gain.normal_()
    batch = random_batch(s=24)  # recall and recurrence need stretches of 8 shots before a shot
    assert not all(batch["text_mask"][batch["shot_mask"]])  # the missing token is exercised
    terms = pre(batch)
    terms["loss"].backward()
    no_grad = [n for n, p in pre.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []
    assert all(torch.isfinite(v) and v.dim() == 0 for v in terms.values())


def test_terms_and_weighted_loss():
    pre = make_pretrainer(
        masked_shot={"weight": 2.0}, align={"weight": 0.5}, movie={"weight": 0.0}, summary={"weight": 3.0},
        spread={"weight": 0.25}, window_align={"weight": 0.75}, recurrence={"weight": 1.5},
    )  # fmt: skip
    terms = pre(random_batch())
    assert "movie" not in terms and pre.movie is None
    assert {"masked_shot", "align", "cross_masked", "masked_shot/text", "align/visual-audio", "summary",
            "spread/audio", "window_align", "window_align/audio-text", "recurrence",
            "recurrence/text"} <= set(terms)  # fmt: skip
    parts = [terms[f"masked_shot/{m}"] for m in DIMS]
    torch.testing.assert_close(terms["masked_shot"], torch.stack(parts).mean())
    expected = (
        2.0 * terms["masked_shot"] + 0.5 * terms["align"] + 1.0 * terms["cross_masked"] + 3.0 * terms["summary"]
        + 0.25 * terms["spread"] + 0.75 * terms["window_align"] + 1.5 * terms["recurrence"]
    )  # fmt: skip
    torch.testing.assert_close(terms["loss"], expected)


def test_recurrence_pool_reaches_the_term():
    # The same weights, batch and corruptions: only the pooling of the familiarity target differs.
    batch = random_batch(s=16)
    values = []
    for pool in (1, 4):
        pre = make_pretrainer(recurrence={"pool": pool})
        torch.manual_seed(3)
        values.append(pre(batch)["recurrence/visual"])
    assert pre.recurrence.pool == 4
    assert not torch.isclose(values[0], values[1])


def test_modality_and_objective_switches():
    pre = make_pretrainer(modalities=["visual", "audio"], cross_masked={"modalities": ["audio"]})
    terms = pre(random_batch())
    assert set(pre.masked_shot.heads) == {"visual", "audio"}
    assert set(pre.cross_masked.heads) == {"audio"}
    assert [k for k in terms if k.startswith("align/")] == ["align/visual-audio"]
    assert "masked_shot/text" not in terms
    no_text_spread = make_pretrainer(spread={"modalities": ["visual", "audio"]})(random_batch())
    assert "spread/visual" in no_text_spread and "spread/text" not in no_text_spread
    with pytest.raises(ConfigError, match="spread.modalities"):
        make_pretrainer(spread={"modalities": ["smell"]})
    every = ("masked_shot", "align", "cross_masked", "movie", "summary", "spread", "window_align", "recurrence")
    with pytest.raises(ConfigError, match="switched off"):
        make_pretrainer(**{k: {"weight": 0} for k in every})
    only_movie = make_pretrainer(**{k: {"weight": 0} for k in every if k != "movie"}, movie={"weight": 1.0})
    assert set(only_movie(random_batch())) == {"movie", "loss"}


def test_padding_does_not_change_the_loss():
    pre = make_pretrainer()
    batch = random_batch()
    pad = ~batch["shot_mask"]
    poisoned = dict(batch)
    for m in DIMS:
        poisoned[m] = torch.where(pad[..., None], float("nan"), batch[m])
    torch.manual_seed(1)
    ref = pre(batch)
    torch.manual_seed(1)
    out = pre(poisoned)
    for k in ref:
        torch.testing.assert_close(out[k], ref[k], msg=k)
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in pre.parameters() if p.grad is not None)


def test_objectives_config_validation():
    with pytest.raises(ValueError, match="pairs"):
        AlignConfig(pairs=("visual-visual",))
    with pytest.raises(ValueError, match="pairs"):
        AlignConfig(pairs=("visual-audio", "audio-visual"))
    with pytest.raises(ValueError, match="mask_ratio"):
        MaskedShotConfig(mask_ratio=1.0)
    with pytest.raises(ValueError, match="weight"):
        MaskedShotConfig(weight=-1)
    with pytest.raises(ConfigError, match="preset"):
        from_dict(ObjectivesConfig, {"preset": "nope"})
    assert from_dict(ObjectivesConfig, {"preset": "no_align"}).align.weight == 0.0
    with pytest.raises(ValueError, match=r"objectives\.shot_align\.queries_per_window"):
        from_dict(ObjectivesConfig, {"shot_align": {"queries_per_window": -1}})
    with pytest.raises(ValueError, match=r"objectives\.shot_align\.pairs"):
        from_dict(ObjectivesConfig, {"shot_align": {"pairs": ["audio-audio"]}})
    with pytest.raises(ValueError, match=r"summary\.target: 'frozen' is not one of"):
        from_dict(ObjectivesConfig, {"summary": {"target": "frozen"}})
    with pytest.raises(ValueError, match=r"objectives\.recurrence\.pool must be >= 1"):
        from_dict(ObjectivesConfig, {"recurrence": {"pool": 0}})


@pytest.mark.heavy  # Inductor builds C++ kernels for each shape: minutes on 2 cores
def test_compiled_pretrainer_runs_two_window_shapes_in_one_process_on_cpu():
    check_compiled_two_shapes("cpu")
