"""LMPModel: shapes, padding and missing-modality masks, corruptions, configs and checkpoints (tiny, CPU)."""

from __future__ import annotations

import json

import pytest
import torch

from lmp.config import ConfigError, from_dict
from lmp.model import BatchError, CheckpointError, LMPModel, ModelConfig

DIMS = {"visual": 6, "audio": 5, "text": 4}


def make_batch(b: int = 3, s: int = 8, seed: int = 0, dims: dict[str, int] = DIMS) -> dict[str, torch.Tensor]:
    """Window 0 is full, window 1 ends in padding, window 2 has missing modalities; movies 0,0,1."""
    g = torch.Generator().manual_seed(seed)
    shot_mask = torch.ones(b, s, dtype=torch.bool)
    shot_mask[1, s // 2 :] = False
    batch = {m: torch.randn(b, s, d, generator=g) for m, d in dims.items()}
    for m in dims:
        present = torch.rand(b, s, generator=g) > 0.3
        present[0] = True
        batch[f"{m}_mask"] = present & shot_mask
    start = torch.cumsum(torch.rand(b, s, generator=g) * 5, dim=1)
    batch["times"] = torch.stack([start - start[:, :1], start - start[:, :1] + 1.0], dim=-1)
    batch["positions"] = torch.arange(s).expand(b, s) + torch.tensor([0, 100, 7])[:b, None]
    batch["shot_mask"] = shot_mask
    batch["movie"] = torch.tensor([0, 0, 1])[:b]
    return batch


def make_model(seed: int = 0, **overrides) -> LMPModel:
    torch.manual_seed(seed)
    model = LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS, **overrides)).eval()
    if model.recall is not None:  # its gain starts at zero, which would make it invisible to every test
        with torch.no_grad():
            for r in model.recall.values():
                r.gain.normal_()
    return model


def assert_same_at(out_a: dict, out_b: dict, where: torch.Tensor) -> None:
    """Every per-shot output agrees at the shots selected by `where` [b, s]; [CLS] agrees everywhere."""
    for key in ("unimodal", "fused"):
        for m in out_a[key]:
            torch.testing.assert_close(out_a[key][m][where], out_b[key][m][where], msg=f"{key}[{m}]")
    torch.testing.assert_close(out_a["fused_shot"][where], out_b["fused_shot"][where])
    torch.testing.assert_close(out_a["cls"], out_b["cls"])


def test_output_shapes_and_keys():
    model, batch = make_model(), make_batch()
    out = model.forward_features(batch)
    assert set(out) == {"unimodal", "fused", "fused_shot", "cls", "content", "shot_mask"}
    for key in ("unimodal", "fused"):
        assert set(out[key]) == set(DIMS)
        assert all(v.shape == (3, 8, 32) for v in out[key].values())
    assert out["fused_shot"].shape == (3, 8, 32)
    assert out["cls"].shape == (3, 96)  # one [CLS] per modality, side by side
    assert torch.equal(out["shot_mask"], batch["shot_mask"])


@pytest.mark.parametrize("recall", [0, 2])
def test_padding_is_excluded_everywhere(recall):
    model, batch = make_model(recall=recall), make_batch()
    out = model.forward_features(batch)
    pad = ~batch["shot_mask"]
    poisoned = dict(batch)
    for m in DIMS:
        x = batch[m].clone()
        x[pad] = float("nan")
        x[1, -1] = 1e6
        poisoned[m] = x
        # A padded shot claiming to have the modality must still be ignored.
        poisoned[f"{m}_mask"] = batch[f"{m}_mask"] | pad
    poisoned["times"] = torch.where(pad[..., None], 1e5, batch["times"])
    poisoned["positions"] = torch.where(pad, 99999, batch["positions"])
    out2 = model.forward_features(poisoned)
    assert_same_at(out, out2, batch["shot_mask"])
    # Outputs at padded shots are zero (not NaN), so downstream pooling cannot be poisoned either.
    for m in DIMS:
        assert torch.equal(out2["unimodal"][m][pad], torch.zeros_like(out2["unimodal"][m][pad]))
        assert torch.equal(out2["fused"][m][pad], torch.zeros_like(out2["fused"][m][pad]))
    assert torch.isfinite(out2["fused_shot"]).all()


def test_padding_changes_output_when_it_is_not_padding():
    """Guard against a vacuous padding test: the same edit at REAL shots does change the outputs."""
    model, batch = make_model(), make_batch()
    out = model.forward_features(batch)
    # (A constant shift would not do: the input LayerNorm removes it.)
    edited = dict(batch, visual=batch["visual"] + torch.randn_like(batch["visual"]))
    out2 = model.forward_features(edited)
    assert not torch.allclose(out["cls"], out2["cls"])


@pytest.mark.parametrize(
    ("context", "recall", "summary_tokens"),
    [("window", 0, "one"), ("shot", 0, "one"), ("window", 2, "one"), ("window", 0, "per_modality"),
     ("shot", 0, "per_modality")],
)  # fmt: skip
def test_unpadded_batch_without_mask_matches_the_masked_path(context, recall, summary_tokens):
    """A batch with no padding attends with no mask at all; window 0 (full) must come out the same as when
    it shares a batch with a padded window, which takes the masked path."""
    model, batch = make_model(context=context, recall=recall, summary_tokens=summary_tokens), make_batch()
    assert not batch["shot_mask"].all()
    alone = {k: v[:1] for k, v in batch.items()}
    assert alone["shot_mask"].all()
    out, out_alone = model.forward_features(batch), model.forward_features(alone)
    first = {"unimodal": {}, "fused": {}}
    for key in first:
        first[key] = {m: v[:1] for m, v in out[key].items()}
    first.update(fused_shot=out["fused_shot"][:1], cls=out["cls"][:1])
    assert_same_at(first, out_alone, alone["shot_mask"])


def test_recall_by_hand():
    # Zero-mean, unit-variance, orthogonal rows (the LayerNorm keeps them), an identity key, a window mean of
    # zero: pooled in twos, the stretches are A+B, 0, -A-B, 0, A+B, B-A, -A-B, -B, and each meets only those
    # that end before it starts. 2 meets A+B (-1), 4 returns to it (1), 6 to -A-B (1), 7 is nearest -A-B.
    from lmp.model.recall import Recall

    a, b_ = torch.tensor([1.0, -1.0, 1.0, -1.0]), torch.tensor([1.0, 1.0, -1.0, -1.0])
    u = torch.stack([a, b_, -b_, -a, a, b_, -a, -b_])[None]
    recall = Recall(4, pool=2)
    with torch.no_grad():
        recall.key.weight.copy_(torch.eye(4))
    every = torch.ones(1, 8, dtype=torch.bool)
    torch.testing.assert_close(recall(u, every), u)  # the gain starts at zero
    g = torch.tensor([1.0, 2.0, 3.0, 4.0])
    with torch.no_grad():
        recall.gain.copy_(g)
    f = torch.tensor([0.0, 0.0, -1.0, 0.0, 1.0, 0.0, 1.0, 0.5**0.5])
    torch.testing.assert_close(recall(u, every), u + f[None, :, None] * g, atol=1e-5, rtol=0)


def test_recall_leaves_every_other_initial_weight_as_it_was():
    # So that recall on and off, at one seed, differ in recall only (lmp.model.rng).
    torch.manual_seed(7)
    without = LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS, recall=0)).state_dict()
    torch.manual_seed(7)
    model = LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS, recall=4))
    after = torch.rand(3)  # the global stream, where it would be without recall
    torch.manual_seed(7)
    LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS, recall=0))
    torch.testing.assert_close(after, torch.rand(3))
    with_recall = model.state_dict()
    assert set(with_recall) - set(without) == {k for k in with_recall if k.startswith("recall.")} != set()
    for k, v in without.items():
        torch.testing.assert_close(with_recall[k], v, msg=k)
    assert 0.01 < model.recall["visual"].key.weight.std() < 0.03  # drawn, as the other linear maps


def test_a_cls_per_modality_leaves_every_other_initial_weight_as_it_was():
    torch.manual_seed(7)
    one = LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS, summary_tokens="one")).state_dict()
    torch.manual_seed(7)
    model = LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS, summary_tokens="per_modality"))
    after = torch.rand(3)  # the global stream, where it would be with one [CLS]
    torch.manual_seed(7)
    LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS, summary_tokens="one"))
    torch.testing.assert_close(after, torch.rand(3))
    several = model.state_dict()
    assert set(several) == set(one)
    for k, v in one.items():
        if k != "cls_token":
            torch.testing.assert_close(several[k], v, msg=k)
    assert several["cls_token"].shape == (3, 32)
    torch.testing.assert_close(several["cls_token"][0], one["cls_token"])  # the first as the single one
    assert not torch.allclose(several["cls_token"][1], several["cls_token"][0])  # the others drawn afresh


@pytest.mark.parametrize("context", ["window", "shot"])
def test_a_cls_per_modality_gives_a_clip_vector_of_every_token(context):
    model, batch = make_model(summary_tokens="per_modality", context=context), make_batch()
    assert model.cfg.cls_width == 96
    out = model.forward_features(batch)
    assert out["cls"].shape == (3, 96)
    # Every [CLS] token reads the window, even when shots read only themselves (context="shot") ...
    edited = dict(batch, text=batch["text"] + torch.randn_like(batch["text"]))
    moved = (model.forward_features(edited)["cls"] - out["cls"]).view(3, 3, 32).abs().amax(dim=(0, 2))
    assert (moved > 1e-4).all()
    # ... and with context="shot" the shots' tokens do not read the [CLS] tokens (with "window" they do).
    with torch.no_grad():
        model.cls_token.add_(torch.randn_like(model.cls_token))  # not a constant, which LayerNorm removes
    after = model.forward_features(batch)
    fused_moved = not torch.allclose(after["fused_shot"], out["fused_shot"])
    assert fused_moved == (context == "window")
    assert not torch.allclose(after["cls"], out["cls"])
    with pytest.raises(ValueError, match="model.summary_tokens"):
        ModelConfig.from_name("tiny", input_dims=DIMS, summary_tokens="two")


def test_recall_is_off_without_cross_shot_context():
    assert make_model(recall=4, context="shot").recall is None
    assert make_model(recall=4).recall is not None
    with pytest.raises(ValueError, match="model.recall"):
        ModelConfig.from_name("tiny", input_dims=DIMS, recall=-1)


def test_fully_padded_window_is_finite():
    model, batch = make_model(), make_batch()
    batch["shot_mask"][2] = False
    for m in DIMS:
        batch[f"{m}_mask"][2] = False
    out = model.forward_features(batch)
    assert torch.isfinite(out["cls"]).all()
    assert all(torch.isfinite(v).all() for v in out["fused"].values())
    # The other windows do not notice.
    ref = model.forward_features({k: v[:2] for k, v in batch.items()})
    torch.testing.assert_close(out["cls"][:2], ref["cls"])


def test_missing_modality_uses_the_learned_missing_token():
    model, batch = make_model(), make_batch()
    missing = batch["shot_mask"] & ~batch["text_mask"]
    assert missing.any()
    out = model.forward_features(batch)
    # The features stored at a missing shot are never read ...
    edited = dict(batch, text=torch.where(missing[..., None], float("nan"), batch["text"]))
    assert_same_at(out, model.forward_features(edited), batch["shot_mask"])
    # ... the learned [MISSING] token is what stands in for them.
    with torch.no_grad():
        model.inputs["text"].missing_token.add_(torch.randn(32))
    out2 = model.forward_features(batch)
    assert not torch.allclose(out["unimodal"]["text"][missing], out2["unimodal"]["text"][missing])
    # Without any missing text shot, the token has no effect at all.
    full = dict(batch, text_mask=batch["shot_mask"])
    before = model.forward_features(full)["cls"]
    with torch.no_grad():
        model.inputs["text"].missing_token.add_(torch.randn(32))
    torch.testing.assert_close(model.forward_features(full)["cls"], before)


def test_fused_shot_averages_present_modalities():
    model, batch = make_model(), make_batch()
    out = model.forward_features(batch)
    i, j = torch.nonzero(batch["shot_mask"] & ~batch["audio_mask"])[0].tolist()
    present = [m for m in DIMS if batch[f"{m}_mask"][i, j]]
    expected = torch.stack([out["fused"][m][i, j] for m in present]).mean(0)
    torch.testing.assert_close(out["fused_shot"][i, j], expected)


def test_masked_shot_input_is_invisible_to_the_unimodal_encoder():
    model, batch = make_model(), make_batch()
    masked = torch.zeros(3, 8, dtype=torch.bool)
    masked[0, 3] = True
    out = model.forward_features(batch, masked={"visual": masked})
    edited = dict(batch, visual=batch["visual"].clone())
    edited["visual"][0, 3] = torch.randn(6) * 5
    out2 = model.forward_features(edited, masked={"visual": masked})
    torch.testing.assert_close(out["unimodal"]["visual"], out2["unimodal"]["visual"])
    torch.testing.assert_close(out["cls"], out2["cls"])
    # Unmasked, the same edit is visible.
    assert not torch.allclose(model.forward_features(batch)["cls"], model.forward_features(edited)["cls"])


def test_hidden_shot_cannot_leak_through_neighbours():
    """A hidden shot's features reach no output: not its own token, and not via its neighbours'."""
    model, batch = make_model(), make_batch()
    hidden = torch.zeros(3, 8, dtype=torch.bool)
    hidden[0, 2] = True
    out = model.forward_features(batch, hidden={"audio": hidden})
    edited = dict(batch, audio=batch["audio"].clone())
    edited["audio"][0, 2] = torch.randn(5) * 5
    out2 = model.forward_features(edited, hidden={"audio": hidden})
    assert_same_at(out, out2, batch["shot_mask"])
    # The hidden token itself matters.
    with torch.no_grad():
        model.inputs["audio"].hidden_token.add_(torch.randn(32))
    assert not torch.allclose(
        out["fused"]["visual"][0, 2],
        model.forward_features(batch, hidden={"audio": hidden})["fused"]["visual"][0, 2],
    )


def test_window_position_is_relative():
    """Absolute shot positions only matter relative to the window start."""
    model, batch = make_model(), make_batch()
    shifted = dict(batch, positions=batch["positions"] + 5000)
    torch.testing.assert_close(model.forward_features(batch)["cls"], model.forward_features(shifted)["cls"])
    reversed_order = dict(batch, positions=batch["positions"].flip(1))
    assert not torch.allclose(
        model.forward_features(batch)["cls"], model.forward_features(reversed_order)["cls"]
    )


def test_long_window_beyond_2048_shots():
    torch.manual_seed(0)
    model = LMPModel(ModelConfig.from_name("tiny", input_dims={"visual": 4}, modalities=("visual",))).eval()
    s = 2100
    batch = {"visual": torch.randn(1, s, 4), "shot_mask": torch.ones(1, s, dtype=torch.bool)}
    with torch.no_grad():
        out = model.forward_features(batch)
    assert out["unimodal"]["visual"].shape == (1, s, 32)
    assert torch.isfinite(out["cls"]).all()


def test_batch_errors_name_the_problem():
    model = make_model(max_shots=4)
    with pytest.raises(BatchError, match="max_shots"):
        model.forward_features(make_batch())
    model = make_model()
    batch = make_batch()
    del batch["text"]
    with pytest.raises(BatchError, match="text"):
        model.forward_features(batch)
    with pytest.raises(BatchError, match=r"batch\['audio'\]"):
        model.forward_features(dict(make_batch(), audio=torch.zeros(3, 8, 7)))


def test_config_presets_and_validation():
    base = ModelConfig(preset="base")
    assert (base.width, base.heads, base.layers, base.cross_layers) == (512, 8, 4, 4)
    assert ModelConfig(preset="tiny") == ModelConfig.from_name("tiny")
    assert from_dict(ModelConfig, {"preset": "large", "dropout": 0.0}).width == 768
    assert from_dict(ModelConfig, {"preset": "large", "dropout": 0.0}).dropout == 0.0
    assert set(ModelConfig.presets()) >= {"tiny", "base", "large"}
    with pytest.raises(ValueError, match="heads"):
        ModelConfig(width=30, heads=4)
    with pytest.raises(ValueError, match="modalities"):
        ModelConfig(modalities=("smell",))
    with pytest.raises(ValueError, match="preset"):
        ModelConfig(preset="huge")
    with pytest.raises(ConfigError, match="input_dims.*text"):
        LMPModel(ModelConfig.from_name("tiny", input_dims={"visual": 3, "audio": 3}))


def test_orthogonal_input_init_starts_every_input_direction_at_the_same_gain():
    dims = {"visual": 16, "audio": 8, "text": 40}  # width 16: square, tall and wide projections
    ortho = LMPModel(ModelConfig.from_name("tiny", width=16, heads=2, input_dims=dims, input_init="orthogonal"))
    normal = LMPModel(ModelConfig.from_name("tiny", width=16, heads=2, input_dims=dims))
    for m in dims:
        s = torch.linalg.svdvals(ortho.inputs[m].proj.weight.detach())
        torch.testing.assert_close(s, torch.ones_like(s))
        spread = torch.linalg.svdvals(normal.inputs[m].proj.weight.detach())
        assert spread.max() / spread.min() > 2  # the default draw shrinks some directions against others
    with pytest.raises(ValueError, match="input_init"):
        ModelConfig(input_init="xavier")


def _nested(**values):
    from lmp.train import PretrainConfig

    return from_dict(PretrainConfig, {"model": values}).model


def _command_line(**values):
    from lmp.cli import parse_args
    from lmp.train import PretrainConfig

    return parse_args(PretrainConfig, [f"--model.{k}={v}" for k, v in values.items()]).model


PRESET_ROUTES = {
    "constructor": lambda **v: ModelConfig(**v),
    "from_name": lambda preset, **v: ModelConfig.from_name(preset, **v),
    "from_dict": lambda **v: from_dict(ModelConfig, v),
    "nested in PretrainConfig": _nested,
    "command line": _command_line,
}


@pytest.mark.parametrize("route", list(PRESET_ROUTES))
def test_explicit_values_win_over_the_preset(route):
    """Issue 9.1: width 512 and dropout 0.1 are the dataclass defaults; given explicitly, they still win
    over tiny's 32 and 0.0. The fields not given are tiny's."""
    cfg = PRESET_ROUTES[route](preset="tiny", dropout=0.1, width=512)
    assert (cfg.width, cfg.dropout) == (512, 0.1)
    assert (cfg.heads, cfg.layers, cfg.cross_layers, cfg.mlp_ratio) == (2, 1, 1, 2.0)
    # A value that differs from the default wins too, and an unknown preset is named on every route.
    assert PRESET_ROUTES[route](preset="base", layers=2).layers == 2
    assert PRESET_ROUTES[route](preset="base", layers=2).width == 512
    with pytest.raises(ValueError, match="preset.*'huge'"):
        PRESET_ROUTES[route](preset="huge")


def test_base_preset_size():
    cfg = ModelConfig(preset="base", input_dims={"visual": 1280, "audio": 256, "text": 384})
    with torch.device("meta"):
        model = LMPModel(cfg)
    blocks = sum(len(e.blocks) for e in model.unimodal.values()) + len(model.cross.blocks)
    assert blocks == 16
    assert 40e6 < sum(p.numel() for p in model.parameters()) < 60e6


def test_save_and_load_round_trip(tmp_path):
    model, batch = make_model(seed=3), make_batch()
    model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    cfg = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert cfg["width"] == 32 and cfg["input_dims"] == DIMS
    loaded = LMPModel.from_pretrained(tmp_path / "ckpt").eval()
    assert loaded.cfg == model.cfg
    torch.testing.assert_close(loaded.forward_features(batch)["cls"], model.forward_features(batch)["cls"])
    # A fresh model differs, so the comparison above is not vacuous.
    assert not torch.allclose(
        make_model(seed=4).forward_features(batch)["cls"], model.forward_features(batch)["cls"]
    )


def test_a_checkpoint_from_before_summary_tokens_loads_with_its_one_cls(tmp_path):
    model, batch = make_model(seed=3, summary_tokens="one"), make_batch()
    model.save_pretrained(tmp_path / "ckpt")
    path = tmp_path / "ckpt" / "config.json"
    cfg = json.loads(path.read_text())
    del cfg["summary_tokens"]  # as written before the option existed
    path.write_text(json.dumps(cfg))
    loaded = LMPModel.from_pretrained(tmp_path / "ckpt").eval()
    assert loaded.cfg.summary_tokens == "one" and ModelConfig().summary_tokens == "per_modality"
    torch.testing.assert_close(loaded.forward_features(batch)["cls"], model.forward_features(batch)["cls"])


def test_save_pretrained_over_a_checkpointed_model_drops_the_old_config_and_checksums(tmp_path, monkeypatch):
    """Saving into a trainer's RUN/model (weights, config and checksums.json): the old checksums must not
    make the new model look damaged, and a save cut short must not leave new weights beside the old config."""
    from lmp.model import checkpoint as ck
    from lmp.model.checkpoint import write_checksums

    target = tmp_path / "model"
    make_model(seed=1).save_pretrained(target)
    write_checksums(target, ["config.json", "model.safetensors"])
    make_model(seed=2, context="shot").save_pretrained(target)
    assert LMPModel.from_pretrained(target).cfg.context == "shot"
    assert not (target / "checksums.json").exists()

    def killed(path, text):  # the process dies before the new config.json is written
        raise KeyboardInterrupt

    monkeypatch.setattr(ck, "atomic_write_text", killed)
    with pytest.raises(KeyboardInterrupt):
        make_model(seed=3).save_pretrained(target)
    with pytest.raises(CheckpointError, match="config.json"):
        LMPModel.from_pretrained(target)


def test_an_edited_config_is_held_to_the_checksum_saved_with_the_weights(tmp_path):
    """config.json edited after a run (context: shot, same shapes) loaded silently into the same weights."""
    from lmp.model.checkpoint import write_checksums

    target = tmp_path / "model"
    make_model(seed=1, recall=0).save_pretrained(target)  # context: shot drops recall
    write_checksums(target, ["config.json", "model.safetensors"])
    assert LMPModel.from_pretrained(target).cfg.context != "shot"
    cfg = json.loads((target / "config.json").read_text())
    (target / "config.json").write_text(json.dumps({**cfg, "context": "shot"}))
    with pytest.raises(CheckpointError, match=r"config\.json: differs from the config saved with these weights "
                                              r"\(checksums\.json\); restore it, or delete checksums\.json"):
        LMPModel.from_pretrained(target)
    (target / "checksums.json").unlink()  # the user's explicit choice
    assert LMPModel.from_pretrained(target).cfg.context == "shot"


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        LMPModel.from_pretrained(tmp_path / "nowhere")
    make_model().save_pretrained(tmp_path / "a")
    # Weights of another shape under the same config: named as a mismatch, not a torch traceback.
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    cfg["layers"] = 2
    (tmp_path / "a" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not match"):
        LMPModel.from_pretrained(tmp_path / "a")
    cfg["bogus"] = 1
    (tmp_path / "a" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="bogus"):
        LMPModel.from_pretrained(tmp_path / "a")
    (tmp_path / "a" / "model.safetensors").write_bytes(b"not a safetensors file")
    cfg.pop("bogus")
    cfg["layers"] = 1
    (tmp_path / "a" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="unreadable"):
        LMPModel.from_pretrained(tmp_path / "a")


def test_wrong_shape_weights_are_one_line_naming_checkpoint_and_tensor(tmp_path, capsys):
    """Issue 8.7: `lmp embed --checkpoint DIR` with weights of another shape than config.json says."""
    import numpy as np

    from lmp.cli import main
    from lmp.store import EncoderSpec, MovieFeatures, StoreWriter

    store = tmp_path / "store"
    writer = StoreWriter(store, {m: EncoderSpec(f"{m}-test", d) for m, d in DIMS.items()})
    writer.write(MovieFeatures("m", np.array([[0.0, 1.0], [1.0, 2.0]]), {m: np.zeros((2, d)) for m, d in DIMS.items()}))
    ckpt = tmp_path / "ckpt"
    make_model().save_pretrained(ckpt)
    make_model(width=16, heads=2).save_pretrained(tmp_path / "other")
    (ckpt / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match=r"tensor '.+' has shape \[.*16.*\] but the model config gives it"):
        LMPModel.from_pretrained(ckpt)
    assert main(["embed", "--store", str(store), "--checkpoint", str(ckpt), "--out", str(tmp_path / "emb")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"checkpoint {ckpt}: tensor '" in err and "Traceback" not in err


def test_saved_weights_are_deterministic_and_world_readable(tmp_path):
    """Issue 8.14: the same weights give the same bytes, with the permissions of any other new file."""
    model = make_model()
    for i in range(8):  # the safetensors library orders its metadata differently from call to call
        model.save_pretrained(tmp_path / f"ckpt{i}")
    weights = {(tmp_path / f"ckpt{i}" / "model.safetensors").read_bytes() for i in range(8)}
    assert len(weights) == 1
    (tmp_path / "plain").write_text("")  # created by open(): 0666 minus the umask
    mode = (tmp_path / "plain").stat().st_mode & 0o777
    assert {(tmp_path / "ckpt0" / f).stat().st_mode & 0o777 for f in ("model.safetensors", "config.json")} == {mode}
    loaded = LMPModel.from_pretrained(tmp_path / "ckpt0").state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())
