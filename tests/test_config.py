"""Typed config resolution (defaults <- YAML <- overrides) and the generic CLI parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import yaml

from lmp.cli import COMMANDS, format_help, parse_args
from lmp.config import ConfigError, did_you_mean, field_docs, from_dict, resolve, save_config, to_dict


@dataclass
class Inner:
    width: int = 8
    """Model width."""
    dropout: float = 0.0
    """Dropout probability."""

    def __post_init__(self):
        if self.width <= 0:
            raise ValueError(f"width must be positive, got {self.width}")

    @classmethod
    def presets(cls):
        return {"small": {"width": 16}, "big": {"width": 64, "dropout": 0.1}}


@dataclass
class Outer:
    positional = ("paths",)
    paths: list[Path] = field(default_factory=list)
    """Input paths."""
    inner: Inner = field(default_factory=Inner)
    """Nested section."""
    name: str = "run"
    """Run name."""
    verbose: bool = False
    """Talk more."""
    modalities: tuple[str, ...] = ("visual", "audio")
    """Modalities in use."""


def test_field_docs():
    assert field_docs(Inner) == {"width": "Model width.", "dropout": "Dropout probability."}


def test_resolution_order(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text(yaml.safe_dump({"inner": {"preset": "big"}, "name": "from-yaml"}))
    cfg = resolve(Outer, files=[f], overrides=["inner.dropout=0.3", "modalities=visual,text"])
    assert cfg.inner.width == 64 and cfg.inner.dropout == 0.3  # preset, then override on top
    assert cfg.name == "from-yaml" and cfg.modalities == ("visual", "text")


def test_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['widht'\]"):
        from_dict(Outer, {"inner": {"widht": 3}})
    with pytest.raises(ConfigError, match="inner.width: expected an integer"):
        from_dict(Outer, {"inner": {"width": "wide"}})
    with pytest.raises(ConfigError, match="width must be positive"):
        from_dict(Outer, {"inner": {"width": -1}})
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        from_dict(Outer, {"inner": {"preset": "huge"}})
    with pytest.raises(ConfigError, match="not found"):
        resolve(Outer, files=[tmp_path / "missing.yaml"])


def test_save_round_trip(tmp_path):
    cfg = resolve(Outer, overrides=["inner.preset=small", "paths=[a.mp4, b.mp4]"])
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    again = resolve(Outer, files=[path])
    assert again == cfg and to_dict(again)["paths"] == ["a.mp4", "b.mp4"]


def test_cli_parser_forms():
    cfg = parse_args(Outer, ["x.mp4", "y.mp4", "--verbose", "--name", "n1", "--inner.width=32"])
    assert cfg.paths == [Path("x.mp4"), Path("y.mp4")] and cfg.verbose and cfg.name == "n1" and cfg.inner.width == 32
    with pytest.raises(ConfigError, match="unknown option --nmae"):
        parse_args(Outer, ["--nmae=x"])
    text = format_help("x", Outer, "Does x.")
    assert "--inner.width (int, default: 8)  Model width." in text and "positional: PATHS" in text


@dataclass
class Job:
    positional = ("store",)
    store: Path = Path("s")
    """Input."""
    out: Path = Path("runs/x")
    """Output."""
    checkpoint: Path | None = None
    """Optional input."""
    movie: str = ""
    """A movie id."""
    seed: int = 0
    """Seed."""
    overwrite: bool = False
    """Replace what is there."""
    inner: Inner = field(default_factory=Inner)
    """Nested section."""

    @classmethod
    def presets(cls):
        return {"quick": {"seed": 3, "inner": {"preset": "small", "dropout": 0.2}}}


def test_command_line_values_are_read_as_their_fields_type_wants():
    # Text fields keep the text: YAML 1.1 read 0012 as octal 10, 2024-06-01 as a date, 1.10 as 1.1.
    cfg = parse_args(Job, ["--movie=0012", "--out=2024-06-01", "--store", "0012"])
    assert cfg.movie == "0012" and cfg.out == Path("2024-06-01") and cfg.store == Path("0012")
    assert parse_args(Job, ["--movie=1.10"]).movie == "1.10" and parse_args(Job, ["--movie=yes"]).movie == "yes"
    assert parse_args(Job, ["--seed=9007199254740993"]).seed == 9007199254740993  # not through a float
    # A bool flag takes the next word only if it spells a bool; `--overwrite no` was true, `no` a path.
    assert parse_args(Job, ["--overwrite", "no"]).overwrite is False
    assert parse_args(Job, ["--overwrite", "off", "st"]) == Job(store=Path("st"), overwrite=False)
    assert parse_args(Job, ["--overwrite", "st"]) == Job(store=Path("st"), overwrite=True)
    assert parse_args(Job, ["--overwrite=1"]).overwrite is True
    assert parse_args(Job, ["--overwrite=0"]).overwrite is False
    # An empty path is refused (Path("") is the current directory); an optional one is unset.
    with pytest.raises(ConfigError, match="out: expected a path, got ''"):
        parse_args(Job, ["--out="])
    assert parse_args(Job, ["--checkpoint="]).checkpoint is None
    assert parse_args(Job, ["--checkpoint=null"]).checkpoint is None


def test_a_section_given_whole_on_the_command_line_merges_with_its_keys_given_before():
    cfg = parse_args(Job, ["--inner.dropout=0.3", "--inner={width: 32}"])
    assert cfg.inner == Inner(width=32, dropout=0.3)  # dropout was dropped


def test_a_section_that_names_its_own_preset_replaces_the_outer_presets_section():
    cfg = parse_args(Job, ["--preset=quick", "--inner.preset=big"])
    assert cfg.seed == 3 and cfg.inner == Inner(width=64, dropout=0.1)  # not quick's dropout 0.2 on top of big
    assert parse_args(Job, ["--preset=quick"]).inner == Inner(width=16, dropout=0.2)
    assert parse_args(Job, ["--preset=quick", "--inner.width=32"]).inner == Inner(width=32, dropout=0.2)


def test_every_command_has_help(capsys):
    from lmp.cli import main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    assert main(["no-such-command"]) == 2


@pytest.mark.parametrize("raw", ["nan", ".nan", "inf", "-.inf", "1e999"])
@pytest.mark.parametrize("key", ["width", "dropout"])
def test_non_finite_numbers_are_refused(raw, key):
    """Issue 8.8: any int or float option, from YAML or the command line."""
    with pytest.raises(ConfigError, match=f"{key}: expected a finite number"):
        resolve(Inner, overrides=[f"{key}={raw}"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--inner.widht=3"], "unknown option --inner.widht; did you mean --inner.width?"),
        (["--inner.widht", "3"], "unknown option --inner.widht; did you mean --inner.width?"),
        (["--nmae=x"], "unknown option --nmae; did you mean --name?"),
        (["--width=3"], "unknown option --width; did you mean --inner.width?"),  # a field at the wrong depth
        (["--inner.prest=big"], "unknown option --inner.prest; did you mean --inner.preset?"),
        (["--zzzqqq=1"], "unknown option --zzzqqq; see --help"),  # nothing close: no guess
    ],
)
def test_unknown_options_suggest_the_closest_at_any_depth(argv, message):
    with pytest.raises(ConfigError) as e:
        parse_args(Outer, argv)
    assert str(e.value) == message


def test_unknown_keys_and_presets_in_files_suggest_the_closest(tmp_path):
    with pytest.raises(ConfigError) as e:
        from_dict(Outer, {"inner": {"widht": 3}})
    assert str(e.value) == "inner: unknown key(s) ['widht'] (did you mean inner.width?); valid keys are " + str(
        ["dropout", "preset", "width"]
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("nmae: x\nverbos: true\nzzzqqq: 1\n")
    with pytest.raises(ConfigError) as e:
        parse_args(Outer, ["--config", str(bad)])
    assert str(e.value) == (
        "Outer: unknown key(s) ['nmae', 'verbos', 'zzzqqq'] (did you mean name, verbose?); "
        "valid keys are ['inner', 'modalities', 'name', 'paths', 'verbose']"
    )
    with pytest.raises(ConfigError) as e:
        from_dict(Outer, {"inner": {"preset": "smal"}})
    assert str(e.value) == "inner.preset: unknown preset 'smal'; choose from ['big', 'small']; did you mean 'small'?"
    with pytest.raises(ConfigError) as e:
        from_dict(Outer, {"inner": {"preset": "huge"}})
    assert str(e.value) == "inner.preset: unknown preset 'huge'; choose from ['big', 'small']"


def test_did_you_mean():
    assert did_you_mean("optim.lr_warmup", ["optim.lr", "optim.warmup", "optim.steps"]) == "optim.warmup"
    assert did_you_mean("warmup", ["optim.lr", "optim.warmup", "data.window"]) == "optim.warmup"
    assert did_you_mean("lr", ["optim.lr", "head.lr"]) is None  # two fields of that name: no guess
    assert did_you_mean("qqq", ["alpha", "beta"]) is None


@dataclass
class WithChoices:
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to run."""


def test_help_lists_print_config_and_literal_choices():
    text = format_help("x", WithChoices, "Does x.")
    assert text.startswith("usage: lmp x [--config FILE.yaml ...] [--key=value ...] [--print_config]")
    assert "  --print_config  Print the resolved config (the config.yaml a run saves) and exit without running." in text
    assert "  --device (one of auto, cpu, cuda, default: 'auto')  Where to run." in text


def test_a_yaml_key_given_twice_is_an_error_naming_the_file(tmp_path):
    """PyYAML keeps the last of two equal keys; a hand-edited config then silently used the other value."""
    from lmp.config import load_yaml

    path = tmp_path / "dup.yaml"
    path.write_text("optim:\n  lr: 0.1\n  lr: 0.2\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml: invalid YAML \(key 'lr' appears twice in one mapping"):
        load_yaml(path)
    path.write_text("optim:\n  lr: 0.1\nrun:\n  lr: 0.2\n")  # the same name in two mappings is fine
    assert load_yaml(path) == {"optim": {"lr": 0.1}, "run": {"lr": 0.2}}


def test_a_warmup_longer_than_the_run_is_warned_about():
    from lmp.errors import LMPWarning
    from lmp.train import PretrainConfig

    with pytest.warns(LMPWarning, match="optim.warmup=1000 is longer than optim.steps=300"):
        from_dict(PretrainConfig, {"optim": {"steps": 300}})
