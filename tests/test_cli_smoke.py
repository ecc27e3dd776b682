"""Every subcommand answers --help, and the demo and the studies run end to end on tiny settings."""

from __future__ import annotations

import json

import numpy as np
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
        (["study", "ablate", "--ablate_fractions", "0.01,1.5"], "ablate_fractions: every fraction must be in (0, 1]"),
        (["study", "ablate", "--ablate_fractions=[]"], "ablate_fractions must not be empty"),
        (["study", "data", "--pretrain_seeds", "1,2"], "pretrain_seeds [1, 2] must include seed (0)"),
        (["study", "all", "--workers", "0"], "workers must be >= 1 and threads >= 0, got 0 and 1"),
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
    arms = ("random init", "pretrained", "raw features", "CCA")
    # One probe seed: no spread. The CSV and the verdict report exactly the JSON's numbers.
    assert all(r[arm]["std"] == 0.0 for r in rows for arm in arms)
    csv_rows = (out / "results.csv").read_text().splitlines()[1:]
    assert [line.split(",")[2::2] for line in csv_rows] == [[f"{r[a]['mean']:.6f}" for a in arms] for r in rows]
    wins = [sum(r["pretrained"]["mean"] > r[a]["mean"] for r in rows) for a in ("random init", "raw features", "CCA")]
    verdict = f"Pretrained beats random init on {wins[0]} of 2 tasks, raw features on {wins[1]} of 2 tasks, "
    verdict += f"CCA on {wins[2]} of 2 tasks (mean of 1 probe seeds, all train labels)."
    assert verdict in (out / "results.md").read_text()
    assert (out / "demo.png").stat().st_size > 1000 and (out / "pretrain" / "config.yaml").exists()
    assert "| scene | accuracy |" in (out / "results.md").read_text()
    # A rerun reuses the corpus and the pretrained model.
    assert main(args) == 0
    assert "reusing the pretrained model" in capsys.readouterr().out


SMOKE_STUDY = ["--preset", "smoke", "--steps", "2", "--tasks", "scene,writer", "--long_range_tasks", "writer",
               "--spans", "8,16", "--pretrain_seeds", "0,1"]  # fmt: skip


@pytest.fixture(scope="module")
def smoke_studies(tmp_path_factory):
    """`lmp study all` on the smoke preset, its studies side by side in two worker processes."""
    out = tmp_path_factory.mktemp("study")
    assert main(["study", "all", *SMOKE_STUDY, "--out", str(out), "--workers", "2"]) == 0
    return out


@pytest.mark.slow
def test_span_study_smoke(smoke_studies):
    out = smoke_studies
    result = json.loads((out / "span" / "results.json").read_text())
    assert {r["setting"] for r in result["records"]} == {8, 16, "context shot", "order"}
    tasks = {"scene", "writer", "offscreen_speaker", "place_return", "place_order"}
    assert {r["task"] for r in result["records"]} == tasks
    # The order-aware task is read by every arm, raw features included.
    order = {r["arm"] for r in result["records"] if r["task"] == "place_order"}
    assert order == {"window 8", "window 16", "per-shot", "raw features"}
    # Every arm once per pretraining seed (0 and 1), each probed with the one probe seed, values pooled.
    runs = {p.name for p in (out / "pretrain").iterdir()}
    assert {"span-8", "span-8-seed1", "base-w16-seed1", "per-shot-seed1"} <= runs
    assert all(len(r["values"]) == (1 if r["arm"] == "raw features" else 2) for r in result["records"])
    # One probe seed has no spread to judge by: the four claim-2 comparisons say so instead of a verdict.
    assert [(c["claim"], c["verdict"]) for c in result["claims"]] == [(2, "inconclusive")] * 4
    assert result["provenance"]["stores"]["movieworld"]["manifest_sha256"]
    md = (out / "span" / "results.md").read_text()
    assert "INCONCLUSIVE (n too small: one probe seed)" in md
    assert "| writer |" in md and "| place_return |" in md and "| place_order |" in md
    assert (out / "span" / "span.png").exists()


@pytest.mark.slow
def test_ablate_study_smoke_probes_the_default_arm_once_for_both_tables(smoke_studies):
    result = json.loads((smoke_studies / "ablate" / "results.json").read_text())
    table = {(r["curve"], r["arm"], r["setting"], r["task"]): r["values"] for r in result["records"]}
    assert set(table) == {
        (curve, arm, f, t) for curve, arms in (("modalities", ("visual", "visual+audio+text")),
                                               ("objectives", ("default objectives", "no movie")))
        for arm in arms for f in (1.0, 0.5) for t in ("scene", "writer")
    }  # fmt: skip
    for f in (1.0, 0.5):
        for t in ("scene", "writer"):
            assert table[("modalities", "visual+audio+text", f, t)] == table[("objectives", "default objectives", f, t)]
            # Claim 3's arms pool both pretraining runs (one probe seed each); an objective ablation is one run.
            for arm in ("visual", "visual+audio+text"):
                assert len(table[("modalities", arm, f, t)]) == 2
            assert len(table[("objectives", "no movie", f, t)]) == 1
    assert {"mod-visual", "mod-visual-seed1", "no-movie"} <= {p.name for p in (smoke_studies / "pretrain").iterdir()}
    assert "no-movie-seed1" not in {p.name for p in (smoke_studies / "pretrain").iterdir()}
    md = (smoke_studies / "ablate" / "results.md").read_text()
    assert "## Objectives, 0.5 of the train labels" in md and "## Modalities, all train labels" in md
    for png in ("objectives.png", "modalities.png", "objectives-labels0.5.png", "modalities-labels0.5.png"):
        assert (smoke_studies / "ablate" / png).exists() and f"({png})" in md
    assert [(c["claim"], c["verdict"]) for c in result["claims"]] == [(3, "inconclusive")]


@pytest.mark.slow
def test_studies_side_by_side_give_what_one_after_another_gives(smoke_studies):
    out = smoke_studies
    assert {p.name for p in (out / "logs").iterdir()} == {
        "pretrain-base-w16.log", "pretrain-per-shot.log", "pretrain-base-w16-seed1.log", "pretrain-per-shot-seed1.log",
        "pretrain-span-8.log", "pretrain-span-8-seed1.log", "pretrain-data-50pct.log", "pretrain-mod-visual.log",
        "pretrain-mod-visual-seed1.log", "pretrain-no-movie.log", "data.log", "span.log", "ablate.log",
        "finetune-base-w16.log", "finetune-base-w16-random-init.log", "finetune-base-w16-seed1.log",
        "finetune-base-w16-seed1-random-init.log",
    }  # fmt: skip
    # The fine-tuning runs were jobs of their own; the data study found them cached.
    assert "fine-tuning" in (out / "logs" / "finetune-base-w16-seed1-random-init.log").read_text()
    assert "fine-tuning" not in (out / "logs" / "data.log").read_text()
    assert len(list((out / "finetune").glob("*.json"))) == 4
    # Every study's arms were pretrained before the studies, side by side; they found them cached.
    assert "pretraining arm 'span-8-seed1'" in (out / "logs" / "pretrain-span-8-seed1.log").read_text()
    assert "pretraining arm 'data-50pct' on 4 movies" in (out / "logs" / "pretrain-data-50pct.log").read_text()
    for study in ("data", "span", "ablate"):
        assert "pretraining arm" not in (out / "logs" / f"{study}.log").read_text()
    before = json.loads((out / "span" / "results.json").read_text())["records"]
    # In this process this time; every arm is cached, so only the probes run again.
    assert main(["study", "span", *SMOKE_STUDY, "--out", str(out), "--workers", "1"]) == 0
    assert json.loads((out / "span" / "results.json").read_text())["records"] == before


@pytest.mark.slow
def test_a_cached_fine_tuning_run_is_reused_only_with_the_same_settings(smoke_studies, monkeypatch):
    from lmp.config import from_dict
    from lmp.studies import runner
    from lmp.studies.config import StudyConfig

    overrides = {"preset": "smoke", "steps": 2, "tasks": ("scene", "writer"), "long_range_tasks": ("writer",),
                 "spans": (8, 16), "pretrain_seeds": (0, 1), "out": str(smoke_studies)}  # = SMOKE_STUDY
    cfg = from_dict(StudyConfig, overrides)
    corpus = runner.load_corpus(cfg)
    model_dir = smoke_studies / "pretrain" / "base-w16-seed1" / "model"
    saved = json.loads((smoke_studies / "finetune" / "base-w16-seed1-random-init.json").read_text())
    calls = []
    monkeypatch.setattr(runner, "finetune_arm", lambda *a: calls.append(a) or {"scene": {0.5: {"values": [0.0]}}})
    again = runner.finetune_run(corpus, cfg, model_dir, 1, (0.5,), random_init=True)
    assert calls == [] and again == {"scene": {0.5: saved["result"]["scene"]["0.5"]}}
    # The same run's pretrained weights have their own cached result; one more fine-tuning epoch is another key.
    runner.finetune_run(corpus, cfg, model_dir, 1, (0.5,), random_init=False)
    assert len(calls) == 0
    cached = smoke_studies / "finetune" / "base-w16-seed1.json"
    kept = cached.read_bytes()
    try:
        runner.finetune_run(corpus, from_dict(StudyConfig, {**overrides, "finetune_epochs": 2}), model_dir, 1, (0.5,))
        assert len(calls) == 1 and json.loads(cached.read_text())["key"]["settings"]["epochs"] == 2
    finally:
        cached.write_bytes(kept)


@pytest.mark.slow
def test_a_cached_arm_pretrained_with_another_config_is_not_reused(smoke_studies, capsys):
    more_steps = [a if a != "2" else "3" for a in SMOKE_STUDY]  # --steps 3: every arm's config differs
    assert main(["study", "span", *more_steps, "--out", str(smoke_studies), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "optim.steps: 2 -> 3" in err and "was pretrained with another config" in err and "Traceback" not in err


@pytest.mark.slow
def test_a_cached_arm_is_reused_across_settings_that_do_not_change_the_model(smoke_studies):
    # An arm saved by an lmp without activation checkpointing, and logged more often: the same model.
    config = smoke_studies / "pretrain" / "span-8" / "config.yaml"
    saved = config.read_text()
    assert "activation_checkpointing: false" in saved
    config.write_text(saved.replace("  activation_checkpointing: false\n", "").replace("log_every: 5", "log_every: 1"))
    try:
        assert main(["study", "span", *SMOKE_STUDY, "--out", str(smoke_studies), "--workers", "1"]) == 0
    finally:
        config.write_text(saved)


@pytest.mark.slow
def test_a_second_ablation_study_reuses_every_arm_including_the_modality_ablations(smoke_studies, capsys):
    # The modality arms were trained with data.modalities=[visual], which the run saves as its model's
    # modalities: the same config, not another one.
    assert main(["study", "ablate", *SMOKE_STUDY, "--out", str(smoke_studies), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "pretraining arm" not in captured.out and "another config" not in captured.err


@pytest.mark.slow
def test_data_study_smoke(smoke_studies):
    out = smoke_studies
    # Pretraining seed 0 is the run the other studies share; seed 1 gets its own runs.
    runs = {p.name for p in (out / "pretrain").iterdir()}
    assert {"base-w16", "base-w16-seed1", "per-shot", "per-shot-seed1"} <= runs
    result = json.loads((out / "data" / "results.json").read_text())
    records = result["records"]
    curves = {}
    for r in records:
        curves.setdefault(r["curve"], set()).add((r["setting"], r["arm"], r["task"]))
    linear = {"pretrained", "random init", "raw features", "PCA", "CCA", "per-shot"}
    # The smoke preset: label fractions (0.5, 1), fine-tuning at 0.5 on scene, pretrain fractions (0.5, 1).
    assert curves["label_fraction"] == {(f, a, t) for f in (0.5, 1.0) for a in linear for t in ("scene", "writer")}
    assert curves["finetune"] == {(0.5, f"{a} (fine-tuned)", "scene") for a in ("pretrained", "random init")}
    assert curves["pretrain_fraction"] == {
        (p, a, t) for p in (0.5, 1.0) for a in ("labels 0.5", "labels 1") for t in ("scene", "writer")
    }
    # Claim 4: the [CLS] of the pretrained and random-weight runs at every label fraction.
    arms = ("pretrained", "random init")
    assert curves["cls"] == {(f, a, t) for f in (0.5, 1.0) for a in arms for t in ("scene", "writer")}
    assert len(records) == 24 + 2 + 8 + 8  # one record per curve point, none repeated
    # One probe seed: a record holds one value per pretraining run of its arm (two for the arms pretrained
    # or drawn per seed, fine-tuned ones included; one for the others), pooled; no verdict can be drawn from
    # one probe seed.
    per_run = {"pretrained", "random init", "per-shot", "pretrained (fine-tuned)", "random init (fine-tuned)"}
    for r in (r for r in records if r["curve"] in ("label_fraction", "cls", "finetune")):
        assert len(r["values"]) == (2 if r["arm"] in per_run else 1), r
        assert r["mean"] == pytest.approx(np.mean(r["values"])) and r["std"] == pytest.approx(np.std(r["values"]))
    # Two random inits are two different networks: their probes differ somewhere.
    assert any(len(set(r["values"])) == 2 for r in records if r["arm"] == "random init")
    assert [(c["claim"], c["verdict"]) for c in result["claims"]] == [(1, "inconclusive")] * 2 + [(4, "inconclusive")]
    assert "| writer | " in (out / "data" / "results.md").read_text().split("[CLS] linear probe")[-1]
    assert (out / "data" / "results.md").exists() and (out / "data" / "data_efficiency.png").exists()


def test_command_groups_list_their_subcommands_and_literals_their_choices(capsys):
    assert main(["study", "--help"]) == 0
    out = capsys.readouterr().out
    assert "study data" in out and "study span" in out and "\n  pretrain " not in out
    assert main(["store"]) == 2  # a group without a subcommand is a usage error
    assert "store verify" in capsys.readouterr().err
    assert main(["pretrain", "--help"]) == 0
    assert "--model.position (one of rotary, sinusoidal, default: 'rotary')" in capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_print_config_prints_what_the_run_saves_and_runs_nothing(command, tmp_path, capsys):
    from lmp.cli import _load, config_class, parse_args
    from lmp.config import config_yaml

    assert main([*command.split(), "--print_config"]) == 0
    printed = capsys.readouterr().out
    cls = config_class(_load(COMMANDS[command][0]))
    assert printed == config_yaml(parse_args(cls, []))  # the text save_config writes as config.yaml
    (tmp_path / "printed.yaml").write_text(printed)
    assert parse_args(cls, ["--config", str(tmp_path / "printed.yaml")]) == parse_args(cls, [])


def test_print_config_resolves_presets_files_and_overrides(tmp_path, capsys):
    import yaml

    (tmp_path / "over.yaml").write_text("optim:\n  warmup: 7\n")
    out = tmp_path / "run"
    args = ["pretrain", str(tmp_path / "no-store"), "--preset=tiny", "--config", str(tmp_path / "over.yaml"),
            "--optim.lr=2e-3", "--out", str(out), "--print_config"]  # fmt: skip
    assert main(args) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert (cfg["store"], cfg["model"]["width"], cfg["data"]["window"]) == (str(tmp_path / "no-store"), 32, 16)
    assert (cfg["optim"]["warmup"], cfg["optim"]["lr"], cfg["optim"]["steps"]) == (7, 2e-3, 50)
    assert not out.exists()  # the store does not exist and nothing ran
    assert main(["pretrain", "--optim.lr_warmup=5", "--print_config"]) == 2  # a bad config still fails


@pytest.mark.parametrize(
    "args, message",
    [
        (["pretrain", "--optim.lr_warmup=5"],
         "lmp pretrain: unknown option --optim.lr_warmup; did you mean --optim.warmup?"),
        (["pretrain", "--warmup", "5"], "lmp pretrain: unknown option --warmup; did you mean --optim.warmup?"),
        (["pretrain", "--model.preset=tiyn"],
         "lmp pretrain: model.preset: unknown preset 'tiyn'; choose from ['base', 'large', 'tiny']; "
         "did you mean 'tiny'?"),
        (["pretrain", "--objectives.align.temprature=0.1"],
         "lmp pretrain: unknown option --objectives.align.temprature; did you mean --objectives.align.temperature?"),
        (["pretrian", "runs/store"], "lmp: unknown command 'pretrian'; did you mean 'pretrain'?"),
        (["study", "spna"], "lmp: unknown command 'study spna'; did you mean 'study span'?"),
        (["stuyd", "data"], "lmp: unknown command 'stuyd'; did you mean 'study data'?"),
        (["store", "infoo", "runs/store"], "lmp: unknown command 'store infoo'; did you mean 'store info'?"),
        (["xyzzy"], "lmp: unknown command 'xyzzy'"),
        # `synth` is a command too: a near-miss of its subcommand is not taken as its OUT (a corpus in ./mesure).
        (["synth", "mesure", "--print_config"],
         "lmp: unknown command 'synth mesure'; did you mean 'synth measure'? (for a path, write ./mesure)"),
    ],
)  # fmt: skip
def test_did_you_mean_for_options_presets_and_commands(args, message, capsys):
    assert main(args) == 2
    assert capsys.readouterr().err.splitlines()[0] == message
