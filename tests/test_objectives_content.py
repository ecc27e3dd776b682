"""The content-space objectives (content keys, regression targets, window summary, spread, window
alignment), rotary
positions and the per-shot ablation: hand-checked values and the shortcuts they must not allow."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lmp.config import from_dict
from lmp.model import LMPModel, ModelConfig
from lmp.model.embeddings import rotary, rotary_qkv
from lmp.objectives import ObjectivesConfig, Pretrainer
from lmp.objectives.align import ShotAlignment
from lmp.objectives.config import WindowAlignConfig
from lmp.objectives.content import ContentKeys
from lmp.objectives.feature_prediction import FeaturePrediction
from lmp.objectives.masking import ShotSample
from lmp.objectives.shot_align import ContentAlignment
from lmp.objectives.spread import Spread
from lmp.objectives.summary import WindowSummary
from lmp.objectives.window_align import WindowAlignment

E = math.e


def every_shot(b: int, s: int) -> ShotSample:
    index = torch.arange(s).expand(b, s)
    return ShotSample(mask=torch.ones(b, s, dtype=torch.bool), index=index, valid=torch.ones(b, s, dtype=torch.bool))


@pytest.mark.parametrize("negatives", ["window", "batch"])  # one window: the same candidates either way
def test_alignment_scores_contextual_queries_against_content_keys(negatives):
    """Identity heads, temperature 1: each direction is -log softmax of query . content keys."""
    obj = ShotAlignment(
        (("visual", "audio"),), 2, 2, temperature=1.0, learn_temperature=False, keys="content", negatives=negatives
    )
    obj.heads["visual"] = nn.Identity()
    obj.heads["audio"] = nn.Identity()
    contextual = {"visual": torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]), "audio": torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])}
    content = {"visual": torch.tensor([[1.0, 0.0], [1.0, 0.0]]), "audio": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}
    content = ContentKeys(local=content, gathered=content)  # one process: the gathered keys are the local ones
    batch = {"shot_mask": torch.ones(1, 2, dtype=torch.bool)}
    none = torch.zeros(1, 2, dtype=torch.bool)
    loss = obj(batch, contextual, {"visual": none, "audio": none}, {"visual-audio": every_shot(1, 2)}, content)
    # visual -> audio content: shot 0 logits [1, 0] (positive 0), shot 1 logits [0, 1] (positive 1).
    v2a = -math.log(E / (E + 1))
    # audio -> visual content: both queries score [0, 0]: log 2 each.
    a2v = math.log(2)
    assert loss["visual-audio"].item() == pytest.approx(0.5 * (v2a + a2v), rel=1e-5)
    # A masked visual shot is still a content key (its features are observed), but no query.
    corrupt = {"visual": torch.tensor([[False, True]]), "audio": none}
    loss = obj(batch, contextual, corrupt, {"visual-audio": every_shot(1, 2)}, content)
    assert loss["visual-audio"].item() == pytest.approx(0.5 * (-math.log(E / (E + 1)) + math.log(2)), rel=1e-5)


def test_window_alignment_by_hand():
    """Identity heads, temperature 1. Windows 0 and 1 are one film (neither positive nor negative for each
    other), window 2 another; window 2's second audio shot is absent (and must not count in its mean)."""
    obj = WindowAlignment((("visual", "audio"),), 2, 2, temperature=1.0, learn_temperature=False)
    obj.heads["visual"] = nn.Identity()
    obj.heads["audio"] = nn.Identity()
    visual = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 2.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]])
    audio = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[3.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [5.0, 5.0]]])
    batch = {
        "shot_mask": torch.ones(3, 2, dtype=torch.bool),
        "audio_mask": torch.tensor([[True, True], [True, True], [True, False]]),
        "movie": torch.tensor([0, 0, 1]),
    }
    loss = obj(batch, {"visual": visual, "audio": audio})["visual-audio"]
    # Window means: visual (1,0) (0,1) (0,1); audio (1,0) (1,0) (0,1). Logit = cosine.
    v2a = (-math.log(E / (E + 1)) + math.log(1 + E) + (math.log(E + 2) - 1)) / 3
    a2v = ((math.log(E + 1) - 1) + math.log(2) + (math.log(1 + 2 * E) - 1)) / 3
    assert loss.item() == pytest.approx(0.5 * (v2a + a2v), rel=1e-5)


def test_window_alignment_content_keys_by_hand():
    """Content keys: a window's unimodal mean is scored against the other modality's content means. The
    unimodal tokens agree across modalities (as a shared input would make them), the contents are
    swapped, so the loss must follow the contents: with contextual keys the same batch scores log(1+e)-1
    each way."""
    obj = WindowAlignment((("visual", "audio"),), 2, 2, temperature=1.0, learn_temperature=False, keys="content")
    for heads in (obj.heads, obj.key_heads):
        heads["visual"] = nn.Identity()
        heads["audio"] = nn.Identity()
    one, two = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]), torch.tensor([[[0.0, 1.0]], [[1.0, 0.0]]])  # [b=2, s=1, 2]
    unimodal = {"visual": one, "audio": one}
    content = {"visual": one, "audio": two}
    batch = {"shot_mask": torch.ones(2, 1, dtype=torch.bool), "movie": torch.tensor([0, 1])}
    loss = obj(batch, unimodal, content)["visual-audio"]
    # visual -> audio content: logits [0, 1] and [1, 0], the positive scoring 0 both times.
    v2a = math.log(1 + E)
    # audio -> visual content: logits [1, 0] and [0, 1], the positive scoring 1 both times.
    a2v = math.log(1 + E) - 1
    assert loss.item() == pytest.approx(0.5 * (v2a + a2v), rel=1e-5)
    contextual = WindowAlignment((("visual", "audio"),), 2, 2, temperature=1.0, learn_temperature=False)
    contextual.heads["visual"] = nn.Identity()
    contextual.heads["audio"] = nn.Identity()
    assert contextual(batch, unimodal)["visual-audio"].item() == pytest.approx(math.log(1 + E) - 1, rel=1e-5)


def test_window_alignment_options_are_validated():
    with pytest.raises(ValueError, match="objectives.window_align.keys"):
        WindowAlignConfig(keys="tokens")
    with pytest.raises(ValueError, match="objectives.window_align.head"):
        WindowAlignConfig(head="deep")


def test_window_alignment_linear_head_is_affine():
    """A linear head maps the window mean through LN and one Linear: no GELU between."""
    obj = WindowAlignment((("visual", "audio"),), 4, 3, temperature=1.0, learn_temperature=False, head="linear")
    assert [type(layer) for layer in obj.heads["visual"]] == [nn.LayerNorm, nn.Linear]


def test_shot_alignment_by_hand():
    """Temperature 1, content keys given. Two windows of two shots; window 1's second shot has no audio, so
    it is neither a query nor an audio key. Every shot of the batch is a candidate (batch negatives)."""
    obj = ContentAlignment((("visual", "audio"),), temperature=1.0, learn_temperature=False)
    visual = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # [b*s, p]
    audio = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [7.0, 7.0]])  # the last is absent
    keys = ContentKeys(local={"visual": visual, "audio": audio}, gathered={"visual": visual, "audio": audio})
    batch = {"shot_mask": torch.ones(2, 2, dtype=torch.bool), "audio_mask": torch.tensor([[True, True], [True, False]])}
    loss = obj(batch, keys, {"visual-audio": every_shot(2, 2)})["visual-audio"]
    # visual -> audio: candidates are the 3 present audio keys; logits [1, 1, 0], [0, 0, 1], [1, 1, 0].
    v2a = (-math.log(E / (2 * E + 1)) - math.log(1 / (2 + E)) - math.log(1 / (2 * E + 1))) / 3
    # audio -> visual: 4 visual candidates; logits [1, 0, 1, 0] (positive 0), the same (positive 1),
    # [0, 1, 0, 1] (positive 2).
    a2v = (-math.log(E / (2 * E + 2)) - math.log(1 / (2 * E + 2)) - math.log(1 / (2 * E + 2))) / 3
    assert loss.item() == pytest.approx(0.5 * (v2a + a2v), rel=1e-5)


def test_regression_target_is_the_normalised_frozen_feature():
    obj = FeaturePrediction(("visual",), 3, {"visual": 3}, temperature=1.0, learn_temperature=False, target="regress")
    obj.heads["visual"] = nn.Identity()
    # normalised: [-1.2247, 0, 1.2247], [-.7071, -.7071, 1.4142]
    feats = torch.tensor([[[1.0, 2.0, 3.0], [5.0, 5.0, 8.0]]])
    batch = {"visual": feats, "shot_mask": torch.ones(1, 2, dtype=torch.bool)}
    tokens = torch.zeros(1, 2, 3)
    sample = ShotSample(mask=torch.tensor([[False, True]]), index=torch.tensor([[1]]), valid=torch.tensor([[True]]))
    loss = obj(batch, {"visual": tokens}, {"visual": sample})["visual"]
    assert loss.item() == pytest.approx((0.5 + 0.5 + 2.0) / 3, rel=1e-4)  # mean square of the target


def test_window_summary_regresses_the_mean_of_normalised_features():
    obj = WindowSummary(2, {"visual": 2, "audio": 2}, ("visual", "audio"), target="features")
    obj.head = nn.Identity()  # cls [b, 4] is the prediction of [visual mean, audio mean]
    batch = {
        # Normalised over its 2 dimensions a feature becomes [-1, 1] or [1, -1] (scale and offset vanish).
        "visual": torch.tensor([[[0.0, 2.0], [5.0, 9.0], [7.0, 3.0]]]),
        "audio": torch.tensor([[[1.0, 0.0], [float("nan"), 0.0], [0.0, 1.0]]]),
        "audio_mask": torch.tensor([[True, False, False]]),
        "shot_mask": torch.tensor([[True, True, True]]),
    }
    present = {"visual": batch["shot_mask"], "audio": batch["audio_mask"]}
    cls = torch.zeros(1, 4)
    # visual target: mean of [-1, 1], [-1, 1], [1, -1] = [-1/3, 1/3]; audio: [1, -1] (one shot has it).
    expected = 0.5 * ((1 / 9 + 1 / 9) / 2 + (1 + 1) / 2)
    assert obj(batch, cls, present).item() == pytest.approx(expected, rel=1e-4)
    cls = torch.tensor([[-1 / 3, 1 / 3, 1.0, -1.0]])
    assert obj(batch, cls, present).item() == pytest.approx(0.0, abs=1e-6)
    # A window without audio at all is scored on visual alone.
    present["audio"] = torch.zeros(1, 3, dtype=torch.bool)
    assert obj(batch, torch.zeros(1, 4), present).item() == pytest.approx(1 / 9, rel=1e-4)


def test_window_summary_with_a_cls_per_modality_reads_each_part_from_its_own_token():
    obj = WindowSummary(2, {"visual": 2, "audio": 2}, ("visual", "audio"), "features", ("visual", "audio"))
    head = nn.Linear(2, 4, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.cat([torch.eye(2), torch.eye(2)]))  # every token -> [itself, itself]
    obj.head = head
    batch = {
        "visual": torch.tensor([[[0.0, 2.0], [5.0, 9.0], [7.0, 3.0]]]),  # normalised mean [-1/3, 1/3]
        "audio": torch.tensor([[[1.0, 0.0], [0.0, 1.0], [3.0, 0.0]]]),  # normalised mean [1/3, -1/3]
        "shot_mask": torch.ones(1, 3, dtype=torch.bool),
    }
    present = {"visual": batch["shot_mask"], "audio": batch["shot_mask"]}
    # cls = [visual token, audio token] side by side: each token answers for its own modality only.
    right = torch.tensor([[-1 / 3, 1 / 3, 1 / 3, -1 / 3]])
    assert obj(batch, right, present).item() == pytest.approx(0.0, abs=1e-6)
    # Swapped, each token is wrong by 2/3 in both dimensions: mean square error (2/3)^2 in both parts.
    swapped = torch.tensor([[1 / 3, -1 / 3, -1 / 3, 1 / 3]])
    assert obj(batch, swapped, present).item() == pytest.approx(4 / 9, rel=1e-4)


def test_window_summary_can_regress_the_mean_of_the_unimodal_tokens():
    obj = WindowSummary(2, {"visual": 5}, ("visual",), target="unimodal")  # the target width is d, not D_m
    obj.head = nn.Identity()
    # Normalised over d: [-1, 1], [1, -1], [0, 0].
    tokens = torch.tensor([[[0.0, 2.0], [9.0, 5.0], [4.0, 4.0]]], requires_grad=True)
    batch = {"visual": torch.full((1, 3, 5), float("nan")), "shot_mask": torch.ones(1, 3, dtype=torch.bool)}
    present = {"visual": torch.tensor([[True, True, False]])}  # the mean of the first two is [0, 0]
    cls = torch.tensor([[1.0, -3.0]], requires_grad=True)
    loss = obj(batch, cls, present, {"visual": tokens})
    assert loss.item() == pytest.approx((1.0 + 9.0) / 2, rel=1e-5)  # frozen features (NaN here) are never read
    loss.backward()
    assert tokens.grad is None or not tokens.grad.any()  # the target is detached


def test_window_summary_both_regresses_features_and_tokens_side_by_side():
    obj = WindowSummary(2, {"visual": 3}, ("visual",), target="both")
    obj.head = nn.Identity()  # cls [b, 3 + 2]: [features mean, token mean]
    # Features normalised over 3 dims: [0, 1, 2] -> [-a, 0, a] with a = sqrt(1.5); tokens: [3, 1] -> [1, -1].
    batch = {"visual": torch.tensor([[[0.0, 1.0, 2.0]]]), "shot_mask": torch.ones(1, 1, dtype=torch.bool)}
    present = {"visual": batch["shot_mask"]}
    tokens = torch.tensor([[[3.0, 1.0]]])
    a = math.sqrt(1.5)
    exact = torch.tensor([[-a, 0.0, a, 1.0, -1.0]])
    assert obj(batch, exact, present, {"visual": tokens}).item() == pytest.approx(0.0, abs=1e-5)
    # Zero prediction: features part mean square (a^2 * 2) / 3 = 1, tokens part 1; the parts count alike.
    assert obj(batch, torch.zeros(1, 5), present, {"visual": tokens}).item() == pytest.approx(1.0, rel=1e-4)
    wrong_tokens = torch.tensor([[-a, 0.0, a, 0.0, 0.0]])  # features right, tokens part 1 -> (0 + 1) / 2
    assert obj(batch, wrong_tokens, present, {"visual": tokens}).item() == pytest.approx(0.5, rel=1e-4)


def test_spread_by_hand():
    obj = Spread(("visual",))
    # Two present shots: per dimension std sqrt(2) and 0 (hinge 0 and 1), covariance 0 between them.
    tokens = torch.tensor([[[1.0, 3.0], [-1.0, 3.0], [50.0, 50.0]]])
    present = torch.tensor([[True, True, False]])  # the third shot is absent and ignored
    out = obj({"visual": tokens}, {"visual": present})["visual"]
    hinge = (max(0.0, 1 - math.sqrt(2 + 1e-4)) + (1 - math.sqrt(1e-4))) / 2
    assert out.item() == pytest.approx(hinge, rel=1e-4)
    # Perfectly correlated dimensions: covariance 2 off the diagonal twice, divided by d = 2.
    tokens = torch.tensor([[[1.0, 1.0], [-1.0, -1.0]]])
    out = obj({"visual": tokens}, {"visual": torch.ones(1, 2, dtype=torch.bool)})["visual"]
    assert out.item() == pytest.approx((2 * 2.0**2) / 2, rel=1e-3)


# -- shortcuts ------------------------------------------------------------------------------------

DIMS = {"visual": 8, "audio": 8}


def unrelated_batch(g: torch.Generator, b: int = 8, s: int = 16) -> dict[str, torch.Tensor]:
    """Visual and audio drawn independently for every shot: no content links a shot's two modalities,
    only its index, start time and duration (shared by both) do."""
    start = torch.cumsum(torch.rand(b, s, generator=g) * 5 + 0.5, dim=1)
    dur = torch.rand(b, s, generator=g) * 5 + 0.5
    return {
        "visual": torch.randn(b, s, 8, generator=g),
        "audio": torch.randn(b, s, 8, generator=g),
        "shot_mask": torch.ones(b, s, dtype=torch.bool),
        "times": torch.stack([start - start[:, :1], start - start[:, :1] + dur], dim=-1),
        "positions": torch.arange(s).expand(b, s).clone(),
        "movie": torch.arange(b) // 2,
    }


def train_alignment(position: str, keys: str, steps: int = 150) -> float:
    """Align loss after training on unrelated modalities (window negatives: 16 candidates)."""
    torch.manual_seed(0)
    model = LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS, modalities=tuple(DIMS), position=position))
    off = {"weight": 0.0}
    align = {"keys": keys, "negatives": "window", "pairs": ["visual-audio"], "queries_per_window": 0}
    cfg = {"masked_shot": off, "cross_masked": off, "movie": off, "summary": off, "spread": off, "window_align": off,
           "align": align}
    pre = Pretrainer(model, from_dict(ObjectivesConfig, cfg))
    opt = torch.optim.Adam(pre.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        loss = pre(unrelated_batch(g))["align"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(pre(unrelated_batch(g))["align"])


def test_alignment_cannot_be_solved_by_position_alone():
    """Content carries nothing here, so any loss below chance (ln 16) is a shortcut: the earlier
    contextual keys with added sinusoids learn one, the default content keys cannot."""
    chance = math.log(16)
    assert train_alignment("sinusoidal", "contextual") < 0.5 * chance
    assert train_alignment("rotary", "content") > 0.95 * chance


def train_shot_alignment(related: bool, steps: int = 60) -> float:
    """shot_align loss (alone) after training; related: audio is a fixed linear map of visual plus noise."""
    torch.manual_seed(0)
    model = LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS, modalities=tuple(DIMS)))
    off = {"weight": 0.0}
    cfg = {"masked_shot": off, "cross_masked": off, "align": off, "summary": off, "spread": off, "window_align": off,
           "shot_align": {"weight": 1.0, "pairs": ["visual-audio"], "queries_per_window": 0}}
    pre = Pretrainer(model, from_dict(ObjectivesConfig, cfg))
    opt = torch.optim.Adam(pre.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(8, 8, generator=g)

    def batch() -> dict[str, torch.Tensor]:
        out = unrelated_batch(g)
        if related:
            out["audio"] = out["visual"] @ mix + 0.3 * out["audio"]
        return out

    for _ in range(steps):
        loss = pre(batch())["shot_align"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(pre(batch())["shot_align"])


def test_shot_alignment_is_solved_by_shared_content_only():
    """128 candidates (8 windows x 16 shots). Unrelated modalities share only index, start and duration,
    which content embeddings never see: the loss stays at chance. Related ones are matched."""
    chance = math.log(128)
    assert train_shot_alignment(related=False) > 0.95 * chance
    assert train_shot_alignment(related=True) < 0.5 * chance


# -- positions and context ------------------------------------------------------------------------


def tiny(**cfg) -> LMPModel:
    torch.manual_seed(0)
    return LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS, modalities=tuple(DIMS), **cfg)).eval()


def qkv_of(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """q, k, v [b, h, n, dh] -> the fused projection's layout [b, n, 3, h, dh]."""
    return torch.stack([q, k, v], dim=2).transpose(1, 3).contiguous()


def test_rotary_rotates_each_pair_by_its_angle():
    # Head width 4: dims (0, 2) and (1, 3) are the pairs, at frequencies 1 and 1/100 (base 10,000).
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    pos = 0.5
    expected = []
    for i, (x1, x2) in enumerate(((1.0, 3.0), (2.0, 4.0))):
        a = pos * 10000.0 ** (-i / 2)
        expected.append((x1 * math.cos(a) - x2 * math.sin(a), x1 * math.sin(a) + x2 * math.cos(a)))
    want = torch.tensor([expected[0][0], expected[1][0], expected[0][1], expected[1][1]])
    rope = rotary(torch.tensor([[pos]]), 4)  # b=1, n=1
    x4 = x.view(1, 1, 1, 4)
    q, k, v = rotary_qkv(qkv_of(x4, 2 * x4, 3 * x4), rope)
    torch.testing.assert_close(q.view(4), want)
    torch.testing.assert_close(k.view(4), 2 * want)
    torch.testing.assert_close(v.view(4), 3 * x)  # values are not rotated
    # A score depends on the distance between two positions only.
    qkv = torch.randn(1, 3, 3, 2, 8)  # [b, n, 3, h, dh]
    q, k, _ = rotary_qkv(qkv, rotary(torch.tensor([[0.0, 1.0, 2.0]]), 8))
    q7, k7, _ = rotary_qkv(qkv, rotary(torch.tensor([[7.0, 8.0, 9.0]]), 8))
    torch.testing.assert_close(q @ k.transpose(-1, -2), q7 @ k7.transpose(-1, -2))


def test_rotary_gradient_is_the_rotation_written_out():
    # rotary_qkv has its own backward (the opposite rotation, written into one buffer in qkv's layout);
    # autograd through the rotation written out by hand, pair by pair, must give the same gradient of qkv,
    # in float64 and under bf16 inputs.
    g = torch.Generator().manual_seed(3)
    qkv = torch.randn(2, 5, 3, 3, 8, generator=g, dtype=torch.float64, requires_grad=True)  # [b, n, 3, h, dh]
    pos = torch.rand(2, 5, generator=g, dtype=torch.float64) * 100
    cos, sin = rotary(pos, 8)
    ups = [torch.randn(2, 3, 5, 8, generator=g, dtype=torch.float64) for _ in range(3)]  # [b, h, n, dh] each
    c, s = cos[..., :4].double(), sin[..., 4:].double()  # the pair's cos and sin (the first half's sine is negated)

    def by_hand(x):  # [b, n, h, dh] -> [b, h, n, dh], rotated
        x1, x2 = x.transpose(1, 2)[..., :4], x.transpose(1, 2)[..., 4:]
        return torch.cat([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1)

    want_out = (by_hand(qkv[:, :, 0]), by_hand(qkv[:, :, 1]), qkv[:, :, 2].transpose(1, 2))
    want = torch.autograd.grad(want_out, qkv, ups, retain_graph=True)[0]
    got_out = rotary_qkv(qkv, (cos.double(), sin.double()))
    for got_t, want_t in zip(got_out, want_out):
        torch.testing.assert_close(got_t, want_t)
    torch.testing.assert_close(torch.autograd.grad(got_out, qkv, ups, retain_graph=True)[0], want)
    # A gradient that reaches only the queries leaves zeros, not garbage, for the keys and values.
    only_q = torch.autograd.grad(got_out[0], qkv, ups[0], retain_graph=True)[0]
    torch.testing.assert_close(only_q, torch.autograd.grad(want_out[0], qkv, ups[0], retain_graph=True)[0])
    assert only_q[:, :, 1:].abs().max() == 0
    qb = qkv.detach().bfloat16().requires_grad_()
    gb = torch.autograd.grad(rotary_qkv(qb, (cos, sin)), qb, [u.bfloat16() for u in ups])[0]
    assert gb.dtype == torch.bfloat16
    torch.testing.assert_close(gb.double(), want, atol=0.1, rtol=0.05)


def test_rotary_outputs_depend_on_shot_distances_not_on_the_window_offset():
    g = torch.Generator().manual_seed(1)
    batch = unrelated_batch(g, b=2)
    shifted = {**batch, "positions": batch["positions"] + 1000}
    for position in ("rotary", "sinusoidal"):
        model = tiny(position=position)
        a, b = model.forward_features(batch), model.forward_features(shifted)
        torch.testing.assert_close(a["unimodal"]["visual"], b["unimodal"]["visual"])  # index is relative
    # Identical shots (same features, same duration): with rotary codes attention mixes identical
    # values, so every shot gets the same output wherever it sits; added sinusoids tell them apart.
    same = {**batch, "visual": batch["visual"][:, :1].expand(2, 16, 8), "audio": batch["audio"][:, :1].expand(2, 16, 8)}
    same["times"] = torch.stack([torch.arange(16.0), torch.arange(16.0) + 1], dim=-1).expand(2, 16, 2)
    for position, constant in (("rotary", True), ("sinusoidal", False)):
        out = tiny(position=position).forward_features(same)["unimodal"]["visual"]
        assert torch.allclose(out, out[:, :1].expand_as(out), atol=1e-5) == constant, position


def test_per_shot_context_sees_no_other_shot():
    g = torch.Generator().manual_seed(2)
    batch = unrelated_batch(g, b=2)
    other = {**batch, "visual": batch["visual"].clone(), "audio": batch["audio"].clone()}
    other["visual"][:, 1:] = torch.randn(2, 15, 8, generator=g)  # every shot but the first changes
    other["audio"][:, 1:] = torch.randn(2, 15, 8, generator=g)
    model = tiny(context="shot")
    a, b = model.forward_features(batch), model.forward_features(other)
    for key in ("visual", "audio"):
        torch.testing.assert_close(a["unimodal"][key][:, 0], b["unimodal"][key][:, 0])
        torch.testing.assert_close(a["fused"][key][:, 0], b["fused"][key][:, 0])
    assert not torch.allclose(a["cls"], b["cls"])  # the [CLS] still reads the whole window
    full = tiny()
    assert not torch.allclose(full.forward_features(batch)["unimodal"]["visual"][:, 0],
                              full.forward_features(other)["unimodal"]["visual"][:, 0])  # fmt: skip
