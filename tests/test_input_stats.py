"""Input standardisation: the store's per-dimension statistics, the model that uses them, and where
they come from (pretraining, checkpoints, random-init baselines)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from lmp.config import from_dict
from lmp.errors import LMPError, StoreError
from lmp.model import LMPModel, ModelConfig
from lmp.model.checkpoint import CheckpointError
from lmp.store import EncoderSpec, FeatureStore, MovieFeatures, StoreWriter
from lmp.store.stats import feature_stats
from lmp.tasks.loading import load_model
from lmp.train.config import PretrainConfig
from lmp.train.loop import pretrain

ENCODERS = {"visual": EncoderSpec("vis-test", 6), "text": EncoderSpec("txt-test", 4)}
# Float16-friendly (the store keeps float16): an offset large against a dimension's spread would round it away.
SCALE = {"visual": np.array([0.05, 0.5, 1.0, 10.0, 50.0, 3.0]), "text": np.array([0.05, 20.0, 1.0, 0.5])}
OFFSET = {"visual": np.array([0.1, -1.0, 0.0, 20.0, -100.0, 1.0]), "text": np.array([0.0, 10.0, -3.0, 0.2])}


def write_store(root, transform: bool = False) -> FeatureStore:
    """Three movies of random features (text in about half the shots); `transform` applies a fixed
    per-dimension scale and offset to every present row (the same story, other encoders' units)."""
    rng = np.random.default_rng(0)
    writer = StoreWriter(root, ENCODERS)
    for i, n in enumerate([30, 45, 20]):
        starts = np.cumsum(rng.uniform(1.0, 3.0, n))
        feats = {m: rng.standard_normal((n, e.dim)) for m, e in ENCODERS.items()}
        masks = {"text": rng.random(n) < 0.5}
        if transform:
            feats = {m: x * SCALE[m] + OFFSET[m] for m, x in feats.items()}
        feats = {m: x.astype(np.float32) for m, x in feats.items()}
        writer.write(MovieFeatures(f"m{i}", np.stack([starts, starts + 0.5], 1), feats, masks))
    return FeatureStore(root)


def test_feature_stats_are_the_present_shots_mean_and_std(tmp_path):
    store = write_store(tmp_path / "s")
    stats = feature_stats(store)
    for m in ENCODERS:
        rows = [store.read(i)[m][store.read(i)[f"{m}_mask"]] for i in store.ids]
        every = np.concatenate(rows).astype(np.float64)
        assert len(every) < 95 if m == "text" else len(every) == 95
        np.testing.assert_allclose(stats[m][0], every.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats[m][1], every.std(0), rtol=1e-5)
    # A cap of one shot stops after the first movie of the seeded order: its statistics, not the store's.
    one = feature_stats(store, max_shots=1)["visual"][0]
    per_movie = [store.read(i)["visual"].astype(np.float64).mean(0) for i in store.ids]
    assert any(np.allclose(one, mean, rtol=1e-5, atol=1e-6) for mean in per_movie)
    assert not np.allclose(one, stats["visual"][0])


def test_a_dimension_that_never_varies_keeps_scale_one(tmp_path):
    writer = StoreWriter(tmp_path / "s", {"visual": EncoderSpec("v", 3)})
    x = np.random.default_rng(1).standard_normal((10, 3)).astype(np.float32)
    x[:, 1] = 7.0
    writer.write(MovieFeatures("m0", np.stack([np.arange(10.0), np.arange(10.0) + 0.5], 1), {"visual": x}, {}))
    mean, std = feature_stats(FeatureStore(tmp_path / "s"))["visual"]
    assert mean[1] == pytest.approx(7.0) and std[1] == 1.0
    assert std[0] == pytest.approx(float(x[:, 0].astype(np.float16).astype(np.float64).std()), rel=1e-5)  # stored


def _outputs(model: LMPModel, store: FeatureStore) -> dict[str, torch.Tensor]:
    shots = store.read("m1")
    batch = {m: torch.from_numpy(shots[m].astype(np.float32))[None] for m in ENCODERS}
    batch |= {f"{m}_mask": torch.from_numpy(shots[f"{m}_mask"])[None] for m in ENCODERS}
    batch["times"] = torch.from_numpy(shots["times"].astype(np.float32))[None]
    with torch.no_grad():
        out = model.forward_features(batch)
    return {"cls": out["cls"], **{m: out["unimodal"][m] for m in ENCODERS}}


@pytest.mark.parametrize("standardize", [True, False])
def test_standardised_model_does_not_see_a_change_of_units(tmp_path, standardize):
    """The same features in other units (per-dimension scale and offset) give the same tokens once each
    store's statistics are set; with the LayerNorm alone they do not."""
    plain, moved = write_store(tmp_path / "a"), write_store(tmp_path / "b", transform=True)
    cfg = ModelConfig.from_name(
        "tiny", input_dims=plain.dims, modalities=tuple(ENCODERS), standardize_inputs=standardize
    )
    torch.manual_seed(0)
    model = LMPModel(cfg).eval()
    model.set_input_stats(feature_stats(plain))
    a = _outputs(model, plain)
    model.set_input_stats(feature_stats(moved))
    b = _outputs(model, moved)
    gap = max((a[k] - b[k]).abs().max().item() for k in a)
    assert gap < 0.02 if standardize else gap > 0.2
    if standardize:
        assert model.input_stats()["visual"][1][4] > 40  # the 50x dimension's std, in the moved store's units
    else:
        assert model.input_stats() == {}


def test_stats_are_validated(tmp_path):
    store = write_store(tmp_path / "s")
    model = LMPModel(ModelConfig.from_name("tiny", input_dims=store.dims, modalities=tuple(ENCODERS)))
    stats = feature_stats(store)
    with pytest.raises(LMPError, match="none for modality 'text'"):
        model.set_input_stats({"visual": stats["visual"]})
    with pytest.raises(LMPError, match="model input width 4"):
        model.set_input_stats({**stats, "text": (np.zeros(5), np.ones(5))})
    with pytest.raises(LMPError, match="std positive"):
        model.set_input_stats({**stats, "text": (np.zeros(4), np.array([1.0, 0.0, 1.0, 1.0]))})


def test_checkpoints_carry_the_stats_and_old_ones_load_without(tmp_path):
    store = write_store(tmp_path / "s")
    model = LMPModel(ModelConfig.from_name("tiny", input_dims=store.dims, modalities=tuple(ENCODERS)))
    stats = feature_stats(store)
    model.set_input_stats(stats)
    model.save_pretrained(tmp_path / "new")
    back = LMPModel.from_pretrained(tmp_path / "new").input_stats()
    for m in ENCODERS:
        np.testing.assert_array_equal(back[m][0].numpy(), stats[m][0])
        np.testing.assert_array_equal(back[m][1].numpy(), stats[m][1])

    # A checkpoint from before the option: no key in config.json, no statistics in the weights.
    old_cfg = ModelConfig.from_name("tiny", input_dims=store.dims, modalities=tuple(ENCODERS), standardize_inputs=False)
    old = LMPModel(old_cfg)
    old.save_pretrained(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["standardize_inputs"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    loaded = LMPModel.from_pretrained(tmp_path / "old")
    assert loaded.cfg.standardize_inputs is False and loaded.input_stats() == {}


def test_random_init_keeps_the_checkpoints_stats_not_its_weights(tmp_path):
    store = write_store(tmp_path / "s")
    trained = LMPModel(ModelConfig.from_name("tiny", input_dims=store.dims, modalities=tuple(ENCODERS)))
    trained.set_input_stats({m: (np.full(e.dim, 3.0), np.full(e.dim, 2.0)) for m, e in ENCODERS.items()})
    trained.save_pretrained(tmp_path / "ckpt")
    random = load_model(tmp_path / "ckpt", store, random_init=True, seed=5)
    assert (random.input_stats()["text"][0] == 3.0).all() and (random.input_stats()["text"][1] == 2.0).all()
    assert not torch.equal(random.inputs["visual"].proj.weight, trained.inputs["visual"].proj.weight)
    # Without a checkpoint a random model takes the probe store's statistics.
    fresh = load_model(None, store, preset="tiny")
    np.testing.assert_array_equal(fresh.input_stats()["visual"][1].numpy(), feature_stats(store)["visual"][1])


def test_pretraining_fits_the_stats_of_its_store(tmp_path):
    store = write_store(tmp_path / "s", transform=True)
    cfg = from_dict(
        PretrainConfig,
        {
            "preset": "tiny", "store": str(tmp_path / "s"), "out": str(tmp_path / "run"),
            "run": {"device": "cpu", "progress": False}, "optim": {"steps": 2, "warmup": 1},
        },
    )  # fmt: skip
    model = LMPModel.from_pretrained(pretrain(cfg))
    every = np.concatenate([store.read(i)["visual"] for i in store.ids]).astype(np.float64)
    mean, std = model.input_stats()["visual"]
    np.testing.assert_allclose(mean.numpy(), every.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(std.numpy(), every.std(0), rtol=1e-4)


def test_bad_requests_are_named(tmp_path):
    store = write_store(tmp_path / "s")
    with pytest.raises(ValueError, match="max_shots: must be >= 1"):
        feature_stats(store, max_shots=0)
    empty = FeatureStore(StoreWriter(tmp_path / "empty", ENCODERS).root)
    with pytest.raises(StoreError, match="has no movies"):
        feature_stats(empty)
    # A checkpoint whose config asks for statistics its weights lack (edited or damaged) is named.
    model = LMPModel(ModelConfig.from_name("tiny", input_dims=store.dims, modalities=tuple(ENCODERS)))
    model.save_pretrained(tmp_path / "ckpt")
    weights = {k: v for k, v in load_file(tmp_path / "ckpt" / "model.safetensors").items() if "feature_" not in k}
    save_file(weights, tmp_path / "ckpt" / "model.safetensors")
    (tmp_path / "ckpt" / "checksums.json").unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="no input statistics"):
        load_model(tmp_path / "ckpt", store, random_init=True)
