"""The stretch contrast: its loss by hand, and what it cannot be solved by (film identity, other movies)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from batches import DIMS, random_batch
from lmp.config import from_dict
from lmp.errors import LMPError
from lmp.model import LMPModel, ModelConfig
from lmp.objectives import ObjectivesConfig, Pretrainer
from lmp.objectives.stretch import StretchContrast

X = torch.tensor([1.0, 0.0, 0.0])
Y = torch.tensor([0.0, 1.0, 0.0])
Z = torch.tensor([0.0, 0.0, 1.0])


def term(chunks: int = 2) -> StretchContrast:
    """Temperature 0.1 (logits 10 * cosine) and no projection head, so the loss can be written down."""
    st = StretchContrast(("visual",), width=3, proj_dim=3, chunks=chunks, temperature=0.1, learn_temperature=False)
    st.heads["visual"] = nn.Identity()
    return st


def batch_of(shots: list[list[torch.Tensor]], movie: list[int], present: list[list[bool]] | None = None):
    """One window per row of shot vectors; returns (batch, unimodal tokens)."""
    tokens = torch.stack([torch.stack(row) for row in shots])  # [b, s, 3]
    b, s = tokens.shape[:2]
    mask = torch.ones(b, s, dtype=torch.bool) if present is None else torch.tensor(present)
    batch = {"shot_mask": torch.ones(b, s, dtype=torch.bool), "visual_mask": mask, "movie": torch.tensor(movie)}
    return batch, {"visual": tokens}


def nce(pos: list[float], neg: list[float]) -> float:
    """-log(sum exp(10 pos) / sum exp(10 all)) for given cosines."""
    e = [math.exp(10 * c) for c in pos + neg]
    return -math.log(sum(e[: len(pos)]) / sum(e))


def test_loss_by_hand():
    # Two windows of one movie, two chunks of two shots each. Window 0 is about X, window 1 about Y:
    # a chunk's positive (its window's other chunk) has cosine 1, the other window's two chunks 0.
    batch, tok = batch_of([[X, X, X, X], [Y, Y, Y, Y]], movie=[0, 0])
    torch.testing.assert_close(term()(batch, tok)["visual"], torch.tensor(nce([1], [0, 0])), atol=1e-6, rtol=0)
    # Chunks are contiguous: shots 0-1 and 2-3. Window 0's chunks are X and Z, window 1's Y and Z. A
    # first chunk (X or Y) meets its positive (Z) and both negatives at cosine 0: log 3. A second chunk
    # (Z) meets its positive at 0, the other window's first chunk at 0 and its Z chunk at 1.
    batch, tok = batch_of([[X, X, Z, Z], [Y, Y, Z, Z]], movie=[0, 0])
    expected = (nce([0], [0, 0]) + nce([0], [0, 1])) / 2
    torch.testing.assert_close(term()(batch, tok)["visual"], torch.tensor(expected), atol=1e-5, rtol=0)


def test_film_identity_alone_is_chance():
    # Every chunk of the film carries the same fingerprint: the positive is one of three alike candidates.
    batch, tok = batch_of([[X, X, X, X], [X, X, X, X]], movie=[0, 0])
    torch.testing.assert_close(term()(batch, tok)["visual"], torch.tensor(math.log(3)), atol=1e-6, rtol=0)


def test_windows_of_other_movies_are_no_candidates():
    batch, tok = batch_of([[X, X, X, X], [Y, Y, Y, Y]], movie=[0, 0])
    alone = term()(batch, tok)["visual"]
    # A third window, of another movie, identical to window 0: it would be a perfect impostor if it competed.
    batch, tok = batch_of([[X, X, X, X], [Y, Y, Y, Y], [X, X, X, X]], movie=[0, 0, 1])
    torch.testing.assert_close(term()(batch, tok)["visual"], alone)


def test_chunks_without_the_modality_and_windows_without_a_partner_do_not_count():
    # Window 1's second chunk has no visual shot: it is neither query nor key (its zero mean would be a
    # candidate at cosine 0 otherwise). Window 2 is the only one of its movie: no negatives, no queries.
    present = [[True] * 4, [True, True, False, False], [True] * 4]
    batch, tok = batch_of([[X, X, X, X], [Y, Y, Z, Z], [Z, Z, Z, Z]], movie=[0, 0, 1], present=present)
    # Queries: window 0's two chunks only (window 1's first chunk has no positive). Each: positive cos 1,
    # one negative (window 1's first chunk, Y) cos 0.
    torch.testing.assert_close(term()(batch, tok)["visual"], torch.tensor(nce([1], [0])), atol=1e-6, rtol=0)


def test_a_window_of_one_movie_only_gives_zero_not_nan():
    batch, tok = batch_of([[X, Y, X, Y]], movie=[0])
    assert term()(batch, tok)["visual"].item() == 0.0


def test_missing_movie_ids_name_the_option():
    batch, tok = batch_of([[X, X, X, X], [Y, Y, Y, Y]], movie=[0, 0])
    del batch["movie"]
    with pytest.raises(LMPError, match="objectives.stretch"):
        term()(batch, tok)


def test_pretrainer_reports_it_per_modality_and_it_trains():
    torch.manual_seed(0)
    model = LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS))
    pre = Pretrainer(model, from_dict(ObjectivesConfig, {"stretch": {"weight": 1.0}}))
    terms = pre(random_batch(b=4, s=8))
    assert {"stretch", "stretch/visual", "stretch/audio", "stretch/text"} <= set(terms)
    terms["loss"].backward()
    assert pre.stretch.heads["text"].net[1].weight.grad.abs().sum() > 0
    assert "stretch" not in Pretrainer(model, ObjectivesConfig())(random_batch(b=4, s=8))


def test_bad_settings_name_the_option():
    with pytest.raises(ValueError, match="objectives.stretch.chunks"):
        from_dict(ObjectivesConfig, {"stretch": {"chunks": 1}})
    with pytest.raises(ValueError, match="objectives.stretch.modalities"):
        from_dict(ObjectivesConfig, {"stretch": {"modalities": ["smell"]}})


def test_a_pretraining_config_with_one_window_per_movie_is_refused():
    from lmp.train import PretrainConfig

    for term in ("stretch", "movie"):
        with pytest.raises(ValueError, match=f"objectives.{term} needs several windows"):
            from_dict(PretrainConfig, {"store": "s", "data": {"views": 1}, "objectives": {term: {"weight": 1.0}}})
    # Off, one view per movie is fine; on, the default two views are.
    from_dict(PretrainConfig, {"store": "s", "data": {"views": 1}})
    from_dict(PretrainConfig, {"store": "s", "objectives": {"stretch": {"weight": 1.0}}})
