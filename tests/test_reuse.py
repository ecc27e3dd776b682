"""Which saved pretraining configs count as the config asked for now (lmp.train.reuse)."""

from __future__ import annotations

import re

import pytest

import lmp
from lmp.config import from_dict, save_config
from lmp.train import PretrainConfig
from lmp.train.reuse import config_changes


def saved(tmp_path, values: dict, drop: str = "") -> tuple:
    """Save PretrainConfig(values) as a run would, optionally without the YAML block `drop` (a section an
    older lmp did not have); returns (file, config)."""
    cfg = from_dict(PretrainConfig, {"store": "s", **values})
    path = tmp_path / "config.yaml"
    save_config(cfg, path)
    if drop:
        lines = path.read_text().splitlines(keepends=True)
        start = lines.index(drop)
        indent = len(drop) - len(drop.lstrip())
        end = start + 1
        while end < len(lines) and len(lines[end]) - len(lines[end].lstrip()) > indent:
            end += 1
        path.write_text("".join(lines[:start] + lines[end:]))
    return path, cfg


def test_an_objective_off_in_both_is_the_same_whatever_its_settings(tmp_path):
    path, _ = saved(tmp_path, {})
    now = from_dict(PretrainConfig, {"store": "s", "objectives": {"movie": {"temperature": 0.5}}})
    assert config_changes(path, now) == []  # the movie term is off (weight 0): nothing is built from it


def test_an_objective_the_saved_config_predates_counts_as_off(tmp_path):
    path, cfg = saved(tmp_path, {}, drop="  stretch:\n")
    assert "stretch" not in path.read_text()
    assert config_changes(path, cfg) == []
    on = from_dict(PretrainConfig, {"store": "s", "objectives": {"stretch": {"weight": 1.0}}})
    assert "objectives.stretch.weight: '<absent>' -> 1.0" in config_changes(path, on)


def test_an_objective_on_in_either_config_is_compared(tmp_path):
    path, _ = saved(tmp_path, {"objectives": {"stretch": {"weight": 1.0}}})
    now = from_dict(PretrainConfig, {"store": "s", "objectives": {"stretch": {"weight": 1.0, "chunks": 8}}})
    assert config_changes(path, now) == ["objectives.stretch.chunks: 4 -> 8"]
    off = from_dict(PretrainConfig, {"store": "s"})
    assert config_changes(path, off) == ["objectives.stretch.weight: 1.0 -> 0.0"]


def test_a_data_setting_the_saved_config_predates_is_read_at_its_old_behaviour(tmp_path):
    path, cfg = saved(tmp_path, {})
    text = path.read_text()
    path.write_text("".join(line for line in text.splitlines(keepends=True) if "pad_multiple" not in line
                            and "bucket" not in line))  # fmt: skip
    assert "pad_multiple" not in path.read_text() and "bucket" not in path.read_text()
    assert config_changes(path, cfg) == []  # 0 pads to the window and 0 draws random batches, as before
    cut = from_dict(PretrainConfig, {"store": "s", "data": {"pad_multiple": 64}})
    assert config_changes(path, cut) == ["data.pad_multiple: 0 -> 64"]


def test_a_run_on_a_store_without_text_is_reused_for_the_same_config(tmp_path):
    """A pretraining run saves the modalities its store has (resolve_model_config); asked again with the same
    options, whose model.modalities default to all three, it must count as the same run, not as another config
    (the few-label protocol on a pictures-and-sound corpus stopped at its rerun)."""
    import dataclasses

    from lmp.config import ConfigError
    from lmp.synth import SynthConfig, generate
    from lmp.train.reuse import finished_model

    corpus = generate(from_dict(SynthConfig, {"preset": "tiny", "out": str(tmp_path / "mw"), "num_movies": 3,
                                              "modalities": "visual,audio"}))  # fmt: skip
    cfg = from_dict(PretrainConfig, {"store": str(corpus / "store")})
    run = tmp_path / "run"
    # What `lmp pretrain` saves for this store, and a finished model beside it.
    as_run = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, modalities=("visual", "audio")))
    save_config(as_run, run / "config.yaml")
    (run / "model").mkdir()
    (run / "model" / "model.safetensors").write_bytes(b"")
    assert finished_model(run, cfg) == run / "model"
    # Another modality list asked for explicitly is another config.
    visual_only = from_dict(PretrainConfig, {"store": str(corpus / "store"), "data": {"modalities": ["visual"]}})
    with pytest.raises(ConfigError, match="modalities"):
        finished_model(run, visual_only)
    # The same config, trained by another lmp (run.json records the version), is not the same run.
    (run / "run.json").write_text('{"lmp": "0.0.1"}')
    with pytest.raises(ConfigError, match=re.escape(f"it was pretrained by lmp 0.0.1, this is lmp {lmp.__version__}")):
        finished_model(run, cfg)


def test_a_model_setting_the_saved_config_predates_is_read_at_its_old_behaviour(tmp_path):
    path, cfg = saved(tmp_path, {})
    path.write_text("".join(line for line in path.read_text().splitlines(keepends=True) if "input_init" not in line))
    assert config_changes(path, cfg) == []  # runs saved before the option were initialised "normal"
    ortho = from_dict(PretrainConfig, {"store": "s", "model": {"input_init": "orthogonal"}})
    assert config_changes(path, ortho) == ["model.input_init: 'normal' -> 'orthogonal'"]


def test_window_alignment_options_the_saved_config_predates_are_read_at_their_old_behaviour(tmp_path):
    """Runs of the few-label rehearsal were refused for `head` and `keys`, added with the old behaviour as default."""
    path, cfg = saved(tmp_path, {})
    text = path.read_text().replace("    keys: contextual\n", "").replace("    head: mlp\n", "")
    assert "head: mlp" not in text and "keys: contextual" not in text
    path.write_text(text)
    assert config_changes(path, cfg) == []
    linear = from_dict(PretrainConfig, {"store": "s", "objectives": {"window_align": {"head": "linear"}}})
    assert config_changes(path, linear) == ["objectives.window_align.head: 'mlp' -> 'linear'"]


def test_recall_and_pooled_recurrence_the_saved_config_predates_are_read_as_none(tmp_path):
    """Runs saved before 2 Dec 2026 had no recall and single-shot recurrence: they are not the new default."""
    old = {"model": {"recall": 0}, "objectives": {"recurrence": {"pool": 1}}}
    path, cfg = saved(tmp_path, old)
    text = path.read_text().replace("    pool: 1\n", "").replace("  recall: 0\n", "")
    assert "pool:" not in text and "recall:" not in text
    path.write_text(text)
    assert config_changes(path, cfg) == []
    now = from_dict(PretrainConfig, {"store": "s"})
    assert config_changes(path, now) == ["model.recall: 0 -> 8", "objectives.recurrence.pool: 1 -> 8"]


def test_a_saved_config_without_summary_tokens_had_one_cls(tmp_path):
    """Runs saved before 2 Dec 2026 (afternoon) had one [CLS]: they are not the new default's model."""
    path, cfg = saved(tmp_path, {"model": {"summary_tokens": "one"}})
    text = path.read_text().replace("  summary_tokens: one\n", "")
    assert "summary_tokens" not in text
    path.write_text(text)
    assert config_changes(path, cfg) == []
    now = from_dict(PretrainConfig, {"store": "s"})
    assert config_changes(path, now) == ["model.summary_tokens: 'one' -> 'per_modality'"]


def test_a_saved_config_without_spread_modalities_spread_every_modality(tmp_path):
    """`objectives.spread.modalities` came on 2 Dec 2026 (evening); before it the term acted on all three, which
    is the default: a run saved before it is the same run, and one that leaves out a modality is not."""
    path, cfg = saved(tmp_path, {})
    text = path.read_text()
    block = "  spread:\n    weight: 1.0\n    modalities:\n    - visual\n    - audio\n    - text\n"
    assert block in text
    path.write_text(text.replace(block, "  spread:\n    weight: 1.0\n"))
    assert config_changes(path, cfg) == []
    two = from_dict(PretrainConfig, {"store": "s", "objectives": {"spread": {"modalities": ["visual", "audio"]}}})
    assert config_changes(path, two) == [
        "objectives.spread.modalities: ['visual', 'audio', 'text'] -> ['visual', 'audio']"
    ]
