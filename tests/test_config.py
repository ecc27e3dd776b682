"""Typed config resolution (defaults <- YAML <- overrides) and the generic CLI parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from lmp.cli import COMMANDS, format_help, parse_args
from lmp.config import ConfigError, field_docs, from_dict, resolve, save_config, to_dict


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
