"""Every subcommand answers --help, and the demo and the studies run end to end on tiny settings."""

from __future__ import annotations

import json

import pytest

from lmp.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help(command, capsys):
    assert main([*command.split(), "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: lmp {command}") and "--" in out


def test_bad_override_is_one_line(capsys):
    assert main(["demo", "--steps=many"]) == 2
    err = capsys.readouterr().err
    assert "steps: expected an integer" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["study", "span", "--spans", "1"], "spans: each span must be >= 2"),
        (["study", "data", "--label_fractions", "0,0.5"], "label_fractions: every fraction must be in (0, 1]"),
        (["study", "ablate", "--modality_sets", "visual+smell"], "unknown modality"),
        (["demo", "--threads", "-1"], "threads must be >= 0"),
        # Issue 8.8: NaN/inf pass every range check downstream, so they are refused as values.
        (["pretrain", "--optim.lr=nan"], "optim.lr: expected a finite number, got 'nan'"),
        (["pretrain", "--optim.warmup", ".inf"], "optim.warmup: expected a finite number, got inf"),
    ],
)
def test_bad_study_and_demo_settings_are_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.slow
def test_demo_tiny(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--synth_preset", "tiny", "--steps", "3", "--window", "16", "--width", "16",
            "--tasks", "scene,relationship", "--seeds", "0"]  # fmt: skip
    assert main(args) == 0
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["task"] for r in rows] == ["scene", "relationship"]
    assert all(0.0 <= r[arm]["mean"] <= 1.0 for r in rows for arm in ("pretrained", "random init", "raw features"))
    assert (out / "demo.png").stat().st_size > 1000 and (out / "pretrain" / "config.yaml").exists()
    assert "| scene | accuracy |" in (out / "results.md").read_text()
    # A rerun reuses the corpus and the pretrained model.
    assert main(args) == 0
    assert "reusing the pretrained model" in capsys.readouterr().out


@pytest.mark.slow
def test_span_study_smoke(tmp_path):
    out = tmp_path / "study"
    args = ["study", "span", "--preset", "smoke", "--out", str(out), "--steps", "2", "--tasks", "scene,writer",
            "--long_range_tasks", "writer", "--spans", "8,16"]  # fmt: skip
    assert main(args) == 0
    result = json.loads((out / "span" / "results.json").read_text())
    assert {r["setting"] for r in result["records"]} == {8, 16, "context shot"}
    assert {r["task"] for r in result["records"]} == {"scene", "writer", "offscreen_speaker", "place_return"}
    # One probe seed has no spread to judge by: both claim-2 comparisons say so instead of a verdict.
    assert [(c["claim"], c["verdict"]) for c in result["claims"]] == [(2, "inconclusive")] * 2
    assert result["provenance"]["stores"]["movieworld"]["manifest_sha256"]
    md = (out / "span" / "results.md").read_text()
    assert "INCONCLUSIVE (n too small: one probe seed)" in md
    assert "| writer |" in md and "| place_return |" in md and (out / "span" / "span.png").exists()


def test_command_groups_list_their_subcommands_and_literals_their_choices(capsys):
    assert main(["study", "--help"]) == 0
    out = capsys.readouterr().out
    assert "study data" in out and "study span" in out and "\n  pretrain " not in out
    assert main(["store"]) == 2  # a group without a subcommand is a usage error
    assert "store verify" in capsys.readouterr().err
    assert main(["pretrain", "--help"]) == 0
    assert "--model.position (one of rotary, sinusoidal, default: 'rotary')" in capsys.readouterr().out
