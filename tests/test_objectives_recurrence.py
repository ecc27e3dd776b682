"""The recurrence term: familiarity targets and the loss, by hand; what a per-shot token cannot learn."""

from __future__ import annotations

import torch
from torch import nn

from batches import random_batch
from lmp.objectives.recurrence import Recurrence, familiarity

# Zero-mean, unit-variance, mutually orthogonal shot features: layer norm leaves them as they are.
A = torch.tensor([1.0, -1.0, 1.0, -1.0])
B = torch.tensor([1.0, 1.0, -1.0, -1.0])
C = torch.tensor([1.0, -1.0, -1.0, 1.0])


def test_familiarity_by_hand():
    # The window's mean is zero, so centring changes nothing; cosines are then +-1 or 0.
    window = torch.stack([A, -A, B, -B, A, -A])[None]
    t, query = familiarity(window, torch.ones(1, 6, dtype=torch.bool))
    assert query.tolist() == [[False, True, True, True, True, True]]  # the first shot has no past
    # -A meets only A (-1); B meets A, -A (0); -B meets B too (-1) but the max is 0; A and -A return (1).
    torch.testing.assert_close(t, torch.tensor([[0.0, -1.0, 0.0, 0.0, 1.0, 1.0]]))


def test_invisible_shots_neither_ask_nor_answer():
    # Shot 1 (A) is masked or absent: it must not make shot 3 (A) a return. Its slot may even hold NaN.
    window = torch.stack([B, A, -B, A, -A])[None]
    visible = torch.tensor([[True, False, True, True, True]])
    t, query = familiarity(window, visible)
    assert query.tolist() == [[False, False, True, True, True]]
    torch.testing.assert_close(t, torch.tensor([[0.0, 0.0, -1.0, 0.0, 0.0]]))
    window[0, 1] = float("nan")
    torch.testing.assert_close(familiarity(window, visible)[0], t)


def test_stretch_familiarity_by_hand():
    # Stretches of 2 (the last one is shot 7 alone): A+B, 0, -A-B, 0, A+B, B-A, -A-B, -B; the window mean is 0.
    window = torch.stack([A, B, -B, -A, A, B, -A, -B])[None]
    t, query = familiarity(window, torch.ones(1, 8, dtype=torch.bool), pool=2)
    # A stretch meets only the stretches that end before it starts: shots 0 and 1 have none.
    assert query.tolist() == [[False, False, True, True, True, True, True, True]]
    # 2 meets A+B (-1); 3 is the zero vector (0); 4 returns to A+B (1); 5 (B-A) is orthogonal to all it meets;
    # 6 meets -A-B at 2 (1); 7 (-B) is closest to -A-B (cos 1/sqrt 2).
    torch.testing.assert_close(t, torch.tensor([[0.0, 0.0, -1.0, 0.0, 1.0, 0.0, 1.0, 0.5**0.5]]), atol=1e-6, rtol=0)


def test_a_stretch_averages_only_its_visible_shots():
    # Shot 3 is masked (its slot holds NaN): stretch 2 at shot 2 is then -A alone and at shot 3 it is B.
    window = torch.stack([A, B, -A, A, B, -A])[None]
    visible = torch.tensor([[True, True, True, False, True, True]])
    window[0, 3] = float("nan")
    t, query = familiarity(window, visible, pool=2)
    assert query.tolist() == [[False, False, True, False, True, True]]  # a masked shot asks nothing
    # Centred by the visible mean (A + B - A + B - A) / 5 = (2B - A) / 5; the values below are the cosines of
    # the centred stretch sums, worked out by hand: s0 = A+B-2c, s2 = -A-c, s4 = B-A-2c, s5 = -A-c.
    c = (2 * B - A) / 5
    s0, s1, s2, s4 = A + B - 2 * c, B - A - 2 * c, -A - c, B - A - 2 * c
    cos = torch.nn.functional.cosine_similarity
    expected = [0.0, 0.0, cos(s2, s0, dim=0), 0.0, max(cos(s4, s0, dim=0), cos(s4, s1, dim=0), cos(s4, s2, dim=0)),
                max(cos(-A - c, k, dim=0) for k in (s0, s1, s2, B - c))]  # fmt: skip
    torch.testing.assert_close(t, torch.tensor([expected]), atol=1e-5, rtol=0)


def test_what_the_whole_window_shares_is_not_recurrence():
    # A large offset shared by every shot (a film's grade) would make every pair alike; it is removed.
    base = torch.stack([A, -A, B, -B, A, -A])  # [6, 4]
    offset = torch.cat([torch.zeros(6, 4), 3 * C.expand(6, 4)], dim=1)  # orthogonal to the content dims
    graded = torch.cat([base, torch.zeros(6, 4)], dim=1) + offset  # [6, 8]
    t, _ = familiarity(graded[None], torch.ones(1, 6, dtype=torch.bool))
    torch.testing.assert_close(t, torch.tensor([[0.0, -1.0, 0.0, 0.0, 1.0, 1.0]]), atol=1e-6, rtol=0)


class Fixed(nn.Module):
    """A head that outputs given values [b, s], whatever its input."""

    def __init__(self, values: torch.Tensor) -> None:
        super().__init__()
        self.values = values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.values[..., None]


def test_loss_by_hand():
    window = torch.stack([A, -A, B, -B, A, -A])[None]  # targets -1, 0, 0, 1, 1 at shots 1-5
    batch = {"visual": window}
    visible = {"visual": torch.ones(1, 6, dtype=torch.bool)}
    rec = Recurrence(("visual",), width=8)
    tokens = {"visual": torch.zeros(1, 6, 8)}
    # Standardised: mean 0.2, population std sqrt(0.6 - 0.04) = sqrt(0.56).
    z = (torch.tensor([[0.0, -1.0, 0.0, 0.0, 1.0, 1.0]]) - 0.2) / 0.56**0.5
    for pred, expected in ((z, 0.0), (torch.zeros(1, 6), 1.0), (torch.ones(1, 6), 2.0)):
        rec.heads["visual"] = Fixed(pred)
        loss = rec(batch, tokens, visible)["visual"]
        torch.testing.assert_close(loss, torch.tensor(expected), atol=1e-5, rtol=0)
    # The first shot (no past) is no query: what the head says there does not count.
    rec.heads["visual"] = Fixed(torch.cat([torch.full((1, 1), 50.0), z[:, 1:]], dim=1))
    torch.testing.assert_close(rec(batch, tokens, visible)["visual"], torch.tensor(0.0), atol=1e-5, rtol=0)


def test_a_token_without_context_cannot_learn_it_one_with_context_can():
    # Train the head alone on two kinds of token for the same random windows: the shot's own features
    # (no context), or its own features plus its familiarity (what attention over the past can compute),
    # written as +t and -t so that the head's LayerNorm keeps it.
    torch.manual_seed(0)
    batch = random_batch(b=16, s=24)
    feats = batch["visual"]
    visible = {"visual": batch["shot_mask"]}
    t, _ = familiarity(feats, visible["visual"])
    own = torch.nn.functional.layer_norm(feats, feats.shape[-1:])
    past = torch.cat([own, t[..., None], -t[..., None]], dim=-1)
    losses = {}
    for name, tokens in (("own shot", own), ("with its past", past)):
        torch.manual_seed(1)
        rec = Recurrence(("visual",), width=tokens.shape[-1])
        opt = torch.optim.Adam(rec.parameters(), lr=0.05)
        for _ in range(200):
            loss = rec({"visual": feats}, {"visual": tokens}, visible)["visual"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses[name] = loss.item()
    assert losses["with its past"] < 0.05
    assert losses["own shot"] > 0.6


def test_targets_stay_fp32_under_bf16_autocast():
    batch = random_batch(b=2, s=16)
    ref = familiarity(batch["visual"], batch["shot_mask"])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = familiarity(batch["visual"], batch["shot_mask"])
    assert out[0].dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
