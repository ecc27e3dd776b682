"""Pretraining loop: a tiny run end to end, exact resume, checkpoint layout, the CLI and a 2-process DDP run."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ddp import requires_torchrun, run_torchrun
from lmp.cli import main
from lmp.config import from_dict
from lmp.errors import LMPError, LMPWarning, StoreError
from lmp.model import CheckpointError, LMPModel
from lmp.store import EncoderSpec, MovieFeatures, StoreWriter
from lmp.train import PretrainConfig, pretrain
from lmp.train.checkpoint import list_checkpoints, resolve_resume
from lmp.train.logger import read_log

ENCODERS = {
    "visual": EncoderSpec("vis-test", 12), "audio": EncoderSpec("aud-test", 8), "text": EncoderSpec("txt-test", 10)
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train") / "store"
    rng = np.random.default_rng(0)
    writer = StoreWriter(root, ENCODERS)
    for i, n in enumerate([70, 40, 90, 12, 55, 64]):
        starts = np.cumsum(rng.uniform(1.0, 3.0, n))
        feats = {m: rng.standard_normal((n, e.dim)).astype(np.float32) for m, e in ENCODERS.items()}
        writer.write(MovieFeatures(f"m{i}", np.stack([starts, starts + 0.5], 1), feats, {"text": rng.random(n) < 0.6}))
    return root


def tiny(store: Path, out: Path, **over) -> PretrainConfig:
    data = {
        "preset": "tiny",
        "store": str(store),
        "out": str(out),
        "run": {"device": "cpu", "log_every": 1, "progress": False, "ckpt_every": 3, "keep_checkpoints": 2},
        "optim": {"steps": 6, "warmup": 2},
    }
    for key, value in over.items():
        data.setdefault(key, {}).update(value)
    return from_dict(PretrainConfig, data)


def losses(run: Path) -> dict[int, dict]:
    return {r["step"]: r for r in read_log(run)}


def test_pretrain_writes_run_and_resumes_exactly(store, tmp_path):
    torch.set_num_threads(1)
    straight = tmp_path / "straight"
    final = pretrain(tiny(store, straight))
    log = losses(straight)
    assert sorted(log) == [1, 2, 3, 4, 5, 6]
    rec = log[6]
    terms = {"masked_shot", "align", "cross_masked", "window_align", "summary", "spread"}  # the default objectives
    assert {"loss", "lr", "grad_norm", "windows_per_s", *terms} <= set(rec)
    assert all(np.isfinite(r["loss"]) for r in log.values())
    assert log[1]["lr"] == pytest.approx(0.5e-3) and log[2]["lr"] == pytest.approx(1e-3)  # warmup 2, peak 1e-3

    # Layout: the final model loads, the resolved config is saved, checkpoints are pruned to the last 2.
    assert final == straight / "model"
    model = LMPModel.from_pretrained(final)
    assert model.cfg.input_dims == {"visual": 12, "audio": 8, "text": 10}
    saved = yaml.safe_load((straight / "config.yaml").read_text())
    assert saved["model"]["input_dims"] == {"visual": 12, "audio": 8, "text": 10} and saved["data"]["window"] == 16
    assert "git_sha" in json.loads((straight / "run.json").read_text())
    assert [s for s, _ in list_checkpoints(straight)] == [3, 6]
    assert os.readlink(straight / "checkpoints" / "last") == "step-000006"
    state = torch.load(straight / "checkpoints" / "step-000006" / "train_state.pt", weights_only=True)
    assert state["step"] == 6 and state["sampler"]["consumed"] == 6 * 4  # 4 groups of 2 views per step

    # Interrupted after the step-3 checkpoint (later files lost), then `--run.resume auto`:
    # steps 4-6 must reproduce the straight run exactly.
    split = tmp_path / "split"
    shutil.copytree(straight, split, symlinks=True)
    shutil.rmtree(split / "checkpoints" / "step-000006")
    shutil.rmtree(split / "model")
    with pytest.raises(LMPError, match="already has checkpoints"):
        pretrain(tiny(store, split))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pretrain(tiny(store, split, run={"resume": "auto"}))
    assert not [w for w in caught if "settings changed" in str(w.message)]  # only run.resume differs
    resumed = losses(split)
    assert sorted(resumed) == [1, 2, 3, 4, 5, 6]
    assert json.loads((split / "run.json").read_text())["resumed_from"].endswith("step-000003")
    for step in (4, 5, 6):
        for key in ("loss", *terms, "grad_norm", "lr"):
            assert resumed[step][key] == log[step][key], (step, key)
    a = LMPModel.from_pretrained(final).state_dict()
    b = LMPModel.from_pretrained(split / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_between_log_lines_keeps_the_steps_the_next_line_averages(store, tmp_path):
    """log_every 2, ckpt_every 3: the line at step 4 averages steps 3 and 4, resumed from step 3 or not."""
    torch.set_num_threads(1)
    run = {"log_every": 2, "ckpt_every": 3}
    straight, split = tmp_path / "straight", tmp_path / "split"
    pretrain(tiny(store, straight, run=run, optim={"steps": 4}))
    step3 = torch.load(straight / "checkpoints" / "step-000003" / "train_state.pt", weights_only=True)
    assert step3["log_interval"]["steps"] == 1 and "loss" in step3["log_interval"]["names"]
    shutil.copytree(straight, split, symlinks=True)
    shutil.rmtree(split / "checkpoints" / "step-000004")
    shutil.rmtree(split / "model")
    (split / "checkpoints" / "last").unlink()
    pretrain(tiny(store, split, run={**run, "resume": "auto"}, optim={"steps": 4}))
    a, b = losses(straight), losses(split)
    assert sorted(a) == sorted(b) == [2, 4]
    assert {k: v for k, v in b[4].items() if k not in ("windows_per_s", "elapsed_s")} == {
        k: v for k, v in a[4].items() if k not in ("windows_per_s", "elapsed_s")}


def test_accumulation_and_strided_windows(store, tmp_path):
    torch.set_num_threads(1)
    cfg = tiny(store, tmp_path / "acc", optim={"steps": 2, "accumulation": 2}, data={"strided": True, "window": 32})
    pretrain(cfg)
    log = losses(tmp_path / "acc")
    assert sorted(log) == [1, 2] and all(np.isfinite(r["loss"]) for r in log.values())
    state = torch.load(tmp_path / "acc" / "checkpoints" / "last" / "train_state.pt", weights_only=True)
    assert state["sampler"]["consumed"] == 2 * 2 * 4


def test_pad_multiple_and_buckets_train_on_batches_cut_to_their_longest_window(store, tmp_path, monkeypatch):
    import lmp.train.loop as loop

    torch.set_num_threads(1)
    seen = []
    real_to_device = loop.to_device
    monkeypatch.setattr(loop, "to_device", lambda b, d: seen.append(b["shot_mask"].shape) or real_to_device(b, d))
    # Every movie (12 to 90 shots) is shorter than the 128-shot window.
    # With length buckets too: a batch's windows come sorted by length (same data, fewer padded shots).
    pretrain(tiny(store, tmp_path / "pad", optim={"steps": 3}, data={"window": 128, "pad_multiple": 16, "bucket": 2}))
    log = losses(tmp_path / "pad")
    assert sorted(log) == [1, 2, 3] and all(np.isfinite(r["loss"]) for r in log.values())
    assert seen and all(s[1] % 16 == 0 and s[1] <= 96 for s in seen), seen  # 90 shots at most -> 96
    with pytest.raises(ValueError, match="data.pad_multiple"):
        tiny(store, tmp_path / "bad", data={"pad_multiple": -1})
    with pytest.raises(ValueError, match="data.bucket"):
        tiny(store, tmp_path / "bad", data={"bucket": -1})


def test_modality_subset_and_bad_modality(store, tmp_path):
    torch.set_num_threads(1)
    cfg = tiny(store, tmp_path / "va", optim={"steps": 1}, data={"modalities": ["visual", "audio"]})
    model = LMPModel.from_pretrained(pretrain(cfg))
    assert model.cfg.modalities == ("visual", "audio") and "text" not in model.cfg.input_dims
    bad = tiny(store, tmp_path / "x", optim={"steps": 1}, model={"input_dims": {"visual": 99}})
    with pytest.raises(LMPError, match="input_dims"):
        pretrain(bad)


def test_cli_help_and_two_step_run(store, tmp_path, capsys):
    assert main(["pretrain", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert "--data.window" in help_text and "--run.resume" in help_text and "--optim.accumulation" in help_text
    out = tmp_path / "cli"
    code = main(["pretrain", str(store), "--preset=tiny", f"--out={out}", "--optim.steps=2", "--run.device=cpu",
                 "--run.log_every=1", "--run.progress=false"])
    assert code == 0
    assert (out / "model" / "model.safetensors").is_file() and sorted(losses(out)) == [1, 2]
    assert main(["pretrain", str(tmp_path / "nope"), "--preset=tiny", f"--out={out}"]) == 1
    assert "not a feature store" in capsys.readouterr().err


@requires_torchrun
def test_ddp_two_processes_gloo(store, tmp_path):
    out = tmp_path / "ddp"
    args = ["-m", "lmp.cli", "pretrain", str(store), "--preset=tiny", f"--out={out}", "--optim.steps=3",
            "--run.device=cpu", "--run.log_every=1", "--run.ckpt_every=2", "--run.progress=false",
            # An ablation leaves parameters without gradients ([HIDDEN] tokens): DDP must still run.
            "--objectives.cross_masked.weight=0"]
    proc = run_torchrun(args, env={"PYTHONPATH": str(Path(__file__).parents[1] / "src")}, fresh=out, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = losses(out)
    assert sorted(log) == [1, 2, 3]  # one writer: one record per step, not two
    assert all(np.isfinite(r["loss"]) for r in log.values())
    # batch 8 windows per process x 2 processes
    assert log[3]["windows_per_s"] > 0
    state = torch.load(out / "checkpoints" / "last" / "train_state.pt", weights_only=True)
    assert state["world_size"] == 2 and state["rng"]["cpu"].shape[0] == 2
    assert not any(p.name.startswith(".") for p in (out / "checkpoints").iterdir())
    frozen = json.loads((out / "run.json").read_text())["frozen_parameters"]
    assert frozen and all("hidden_token" in name for name in frozen)
    # Resumed from step 2 with two processes again: step 3 is the uninterrupted run's, term for term (each
    # rank restores its own RNG row; rank 1's used to crash).
    again = tmp_path / "ddp-again"
    shutil.copytree(out, again, symlinks=True)
    shutil.rmtree(again / "checkpoints" / "step-000003")
    shutil.rmtree(again / "model")
    (again / "checkpoints" / "last").unlink()
    proc = run_torchrun([*args[:3], str(store), *[a.replace(str(out), str(again)) for a in args[4:]],
                         "--run.resume=auto"], env={"PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    resumed = losses(again)[3]
    assert {k: v for k, v in resumed.items() if k not in ("windows_per_s", "elapsed_s")} == {
        k: v for k, v in log[3].items() if k not in ("windows_per_s", "elapsed_s")}
    # Resumed in one process (another world size): the 2-rank RNG state cannot continue exactly, so the
    # run reseeds it, and the stream goes on at the same point of the epoch (WindowSampler.relayout).
    torch.set_num_threads(1)
    resumed = ["pretrain", *args[3:]]
    resumed[resumed.index("--optim.steps=3")] = "--optim.steps=5"
    with pytest.warns(UserWarning, match=r"settings changed since it started: optim.steps: 3 -> 5"):
        assert main([*resumed, "--run.resume=auto"]) == 0
    log = losses(out)
    assert sorted(log) == [1, 2, 3, 4, 5] and all(np.isfinite(r["loss"]) for r in log.values())
    state = torch.load(out / "checkpoints" / "last" / "train_state.pt", weights_only=True)
    assert state["step"] == 5 and state["world_size"] == 1 and state["rng"]["cpu"].shape[0] == 1
    # batch 8 windows = 4 groups of 2 views per step. An epoch has 9 groups (max(1, shots // 32) per movie:
    # 2 + 1 + 2 + 1 + 1 + 2), 4 per rank with two ranks (the odd one dropped). After 3 steps of 4 groups
    # each, the two ranks were at the start of epoch 3: group 27 of one process's stream, which then
    # takes 2 steps of 4 groups. (It used to go on from 3 steps' worth, 12, repeating two epochs.)
    assert state["sampler"]["consumed"] == 3 * 9 + 2 * 4


@requires_torchrun
def test_padding_per_process_is_refused_where_shot_keys_are_gathered(store, tmp_path):
    """Ranks pad to their own lengths with data.pad_multiple; gathering [b*s] keys then aborted in gloo."""
    out = tmp_path / "pad"
    args = ["-m", "lmp.cli", "pretrain", str(store), "--preset=tiny", f"--out={out}", "--optim.steps=2",
            "--run.device=cpu", "--run.progress=false", "--data.pad_multiple=8", "--objectives.shot_align.weight=1"]
    proc = run_torchrun(args, env={"PYTHONPATH": str(Path(__file__).parents[1] / "src")}, fresh=out, timeout=240)
    assert proc.returncode != 0
    assert ("data.pad_multiple=8: each process pads its batches to its own length, but objectives ['shot_align'] "
            "gather every shot's key across the 2 processes") in proc.stderr
    assert not (out / "checkpoints").exists()


def _flip_bytes(path: Path, count: int = 200) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, middle + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_diverged_weights_are_never_checkpointed(store, tmp_path, monkeypatch):
    """Issue 8.3: weights turn NaN at step 4, a checkpoint step but not a log step. The old loop wrote
    that checkpoint and pruned the good one; now the run stops there and keeps the good one."""
    from lmp.train import loop

    real = loop.build_trainer

    def diverging(*args, **kwargs):
        trainer = real(*args, **kwargs)
        step, calls = trainer.step, []

        def poisoned(next_batch, lr):
            out = step(next_batch, lr)
            calls.append(lr)
            if len(calls) == 4:
                with torch.no_grad():
                    next(trainer.model.parameters()).fill_(float("nan"))
            return out

        trainer.step = poisoned
        return trainer

    monkeypatch.setattr(loop, "build_trainer", diverging)
    torch.set_num_threads(1)
    out = tmp_path / "nan"
    with pytest.raises(LMPError, match="non-finite loss or weights at step 4; no checkpoint written"):
        pretrain(tiny(store, out, run={"log_every": 5, "ckpt_every": 2, "keep_checkpoints": 1}))
    [(step, path)] = list_checkpoints(out)
    assert step == 2
    assert all(torch.isfinite(t).all() for t in LMPModel.from_pretrained(path).state_dict().values())


def test_damaged_checkpoint_is_refused_and_auto_resume_falls_back(store, tmp_path):
    """Issue 8.4: 200 flipped bytes in train_state.pt (torch.load accepts them)."""
    torch.set_num_threads(1)
    run = tmp_path / "run"
    pretrain(tiny(store, run))
    newest = run / "checkpoints" / "step-000006"
    _flip_bytes(newest / "train_state.pt")
    with pytest.raises(CheckpointError, match="step-000006/train_state.pt: damaged"):
        pretrain(tiny(store, run, run={"resume": str(newest)}))
    checksums = json.loads((newest / "checksums.json").read_text())
    assert checksums.keys() == {"config.json", "model.safetensors", "train_state.pt"}
    with pytest.warns(LMPWarning, match="resuming from .*step-000003, an older checkpoint, .*train_state.pt: damaged"):
        pretrain(tiny(store, run, run={"resume": "auto"}))
    assert json.loads((run / "run.json").read_text())["resumed_from"].endswith("step-000003")
    # The final model is checked when loaded too (lmp embed, probe, lvu).
    _flip_bytes(run / "model" / "model.safetensors")
    with pytest.raises(CheckpointError, match="model.safetensors: damaged"):
        LMPModel.from_pretrained(run / "model")


def test_leftovers_of_interrupted_checkpoint_writes_are_removed_at_resume(store, tmp_path):
    """Issue 8.13: stages a crash left in RUN/checkpoints and RUN."""
    torch.set_num_threads(1)
    run = tmp_path / "run"
    pretrain(tiny(store, run, optim={"steps": 2}, run={"ckpt_every": 1}))
    crumbs = [run / "checkpoints" / ".tmp-step-000003-dead", run / "checkpoints" / ".old-step-000001-beef",
              run / ".tmp-model-cafe"]
    for p in crumbs:
        p.mkdir()
        (p / "train_state.pt").write_bytes(b"half written")
    os.symlink("step-000002", run / "checkpoints" / ".tmp-last-f00d")
    crumbs.append(run / "checkpoints" / ".tmp-last-f00d")
    with pytest.warns(LMPWarning, match="removed 4 leftovers of interrupted checkpoint writes"):
        pretrain(tiny(store, run, optim={"steps": 3}, run={"ckpt_every": 1, "resume": "auto"}))
    assert not any(os.path.lexists(p) for p in crumbs)


def test_damaged_feature_values_are_named_in_training(store, tmp_path):
    """Issue 8.6: NaN in a store file must name the movie and field, not suggest a lower learning rate."""
    torch.set_num_threads(1)
    damaged = tmp_path / "store"
    shutil.copytree(store, damaged)
    audio = np.load(damaged / "movies" / "m2" / "audio.npy", mmap_mode="r+")
    audio[:] = np.nan
    audio.flush()
    del audio
    with pytest.raises(StoreError, match=r"movie m2: field 'audio' has NaN/inf values .*lmp store verify"):
        pretrain(tiny(damaged, tmp_path / "run"))


def test_resuming_from_an_older_checkpoint_sets_the_later_ones_aside(store, tmp_path):
    """Going back to step 3 of a run that reached step 6, and stopping at 5 with one checkpoint kept: the
    old pruning ranked by step, kept the abandoned step 6, deleted the step 5 just written and left `last`
    pointing at nothing, so `resume auto` later picked the abandoned continuation."""
    torch.set_num_threads(1)
    run = tmp_path / "run"
    pretrain(tiny(store, run))  # checkpoints at steps 3 and 6
    with pytest.warns(LMPWarning, match=r"resuming from step 3: set aside 1 later checkpoints .*step-000006"):
        pretrain(tiny(store, run, optim={"steps": 5},
                      run={"resume": str(run / "checkpoints" / "step-000003"), "ckpt_every": 1, "keep_checkpoints": 1}))
    assert [step for step, _ in list_checkpoints(run)] == [5]
    assert (run / "checkpoints" / "last").resolve() == run / "checkpoints" / "step-000005"
    assert len(list((run / "checkpoints").glob("step-000006.abandoned-*"))) == 1
    assert resolve_resume("auto", run) == run / "checkpoints" / "step-000005"


def test_a_finished_run_is_not_reused_for_a_store_whose_movies_changed(store, tmp_path):
    """The same config can name a store whose content changed (a regenerated corpus, a rewritten movie):
    the run's run.json records the movies it trained on, and reuse refuses other ones."""
    import shutil

    from lmp.config import ConfigError
    from lmp.store import FeatureStore
    from lmp.train.reuse import finished_model

    store = Path(shutil.copytree(store, tmp_path / "store"))  # the module's store is shared: change a copy
    torch.set_num_threads(1)
    run = tmp_path / "run"
    cfg = tiny(store, run, optim={"steps": 2})
    pretrain(cfg)
    assert finished_model(run, cfg) == run / "model"
    before = FeatureStore(store).fingerprint()
    rng = np.random.default_rng(5)
    n = FeatureStore(store).num_shots("m1")
    feats = {m: rng.standard_normal((n, e.dim)).astype(np.float32) for m, e in ENCODERS.items()}
    times = np.stack([np.arange(n, dtype=float), np.arange(n) + 0.5], 1)
    StoreWriter(store, ENCODERS).write(MovieFeatures("m1", times, feats))  # same id, other content
    assert FeatureStore(store).fingerprint() != before
    with pytest.raises(ConfigError, match="pretrained on other movies than it would be now"):
        finished_model(run, cfg)
    assert finished_model(run, cfg, data=before) == run / "model"  # what it trained on is still accepted


def test_a_continuation_cut_short_is_not_taken_for_a_finished_run(store, tmp_path, monkeypatch):
    """Continuing a finished 3-step run to 6 steps writes the 6-step config at the start: if the continuation
    is interrupted, the 3-step model must not be left where reuse takes it for the 6-step run's."""
    from lmp.train import loop
    from lmp.train.reuse import finished_model

    torch.set_num_threads(1)
    run = tmp_path / "run"
    pretrain(tiny(store, run, optim={"steps": 3}))
    longer = tiny(store, run, optim={"steps": 6}, run={"resume": "auto"})
    real = loop.build_trainer

    def interrupted(*args, **kwargs):
        trainer = real(*args, **kwargs)

        def step(next_batch, lr):
            raise KeyboardInterrupt

        trainer.step = step
        return trainer

    monkeypatch.setattr(loop, "build_trainer", interrupted)
    with pytest.warns(LMPWarning, match="the final model it had is now model.previous"):
        with pytest.raises(KeyboardInterrupt):
            pretrain(longer)
    assert finished_model(run, longer) is None
    assert (run / "model.previous" / "model.safetensors").is_file()
