"""The YAML files under configs/: each resolves the way `lmp COMMAND --config FILE` resolves it, and a file
named after a preset is that preset plus how to run it, never a second copy of the recipe (issue 9.2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lmp.cli import COMMANDS, _load, config_class, parse_args
from lmp.config import to_dict

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FILES = sorted(CONFIGS.rglob("*.yaml"))
# Settings of how a run executes, not of what it learns: a preset's YAML may set these.
HOW_TO_RUN = ("run.", "data.workers")


def _command(path: Path) -> str:
    """configs/<command>/FILE.yaml (e.g. configs/pretrain/base.yaml, configs/study/data/x.yaml)."""
    return " ".join(path.parent.relative_to(CONFIGS).parts)


def _config_class(path: Path) -> type:
    return config_class(_load(COMMANDS[_command(path)][0]))


def _leaves(d: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_leaves(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_the_files_are_found():
    assert {p.relative_to(CONFIGS).as_posix() for p in FILES} >= {"pretrain/base.yaml", "pretrain/long.yaml",
                                                                  "pretrain/tiny.yaml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(CONFIGS).as_posix())
def test_every_config_file_resolves_through_the_cli(path):
    assert _command(path) in COMMANDS, f"{path}: the folder under configs/ must name an lmp command"
    cls = _config_class(path)
    cfg = parse_args(cls, ["--config", str(path)])  # what `lmp COMMAND --config FILE` does before running
    assert isinstance(cfg, cls)
    # Every value the file states is in the resolved config (nothing silently dropped or renamed).
    resolved = _leaves(to_dict(cfg))
    for key, value in _leaves(yaml.safe_load(path.read_text())).items():
        if key == "preset" or key.endswith(".preset"):
            continue
        assert resolved[key] == value, f"{path}: {key}"


PRESET_FILES = [p for p in FILES if p.stem in getattr(_config_class(p), "presets", dict)()]


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: p.relative_to(CONFIGS).as_posix())
def test_a_preset_file_is_the_preset_plus_how_to_run_it(path):
    """configs/pretrain/long.yaml said lr 3e-4 while the `long` preset trains at 5e-4: the recipe must
    have one source. A file named after a preset builds on it and sets only how-to-run values."""
    cls = _config_class(path)
    from_file = _leaves(to_dict(parse_args(cls, ["--config", str(path)])))
    preset = _leaves(to_dict(parse_args(cls, [f"--preset={path.stem}"])))
    differs = {k: (from_file[k], preset[k]) for k in preset if from_file[k] != preset[k]}
    contradictions = {k: v for k, v in differs.items() if not k.startswith(HOW_TO_RUN)}
    assert contradictions == {}, f"{path} contradicts the preset (file, preset): {contradictions}"
    data = yaml.safe_load(path.read_text())
    assert data.get("preset") == path.stem, f"{path}: start from the preset with `preset: {path.stem}`"
    stated = {k for k in _leaves(data) if k != "preset"}
    assert [k for k in stated if not k.startswith(HOW_TO_RUN)] == [], f"{path}: recipe values belong in the preset"
    restated = sorted(k for k in stated if from_file[k] == preset[k])
    assert not restated, f"{path}: {restated} only repeat the preset"
