"""Run logging: log.jsonl, TensorBoard (on by default where installed) and the optional Weights & Biases logger.
TensorBoard and W&B must hold exactly the scalars of log.jsonl; both are read back from the files they wrote (the
W&B offline run through wandb's own protobuf records), not from the calls lmp made."""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lmp.config import ConfigError, from_dict
from lmp.errors import LMPError, LMPWarning
from lmp.store import EncoderSpec, MovieFeatures, StoreWriter
from lmp.train import PretrainConfig, pretrain
from lmp.train.config import RunConfig
from lmp.train.logger import RunLogger, read_log, scalars

ENCODERS = {"visual": EncoderSpec("vis-test", 12), "audio": EncoderSpec("aud-test", 8)}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("logging") / "store"
    rng = np.random.default_rng(0)
    writer = StoreWriter(root, ENCODERS)
    for i, n in enumerate([40, 30, 50]):
        starts = np.cumsum(rng.uniform(1.0, 3.0, n))
        feats = {m: rng.standard_normal((n, e.dim)).astype(np.float32) for m, e in ENCODERS.items()}
        writer.write(MovieFeatures(f"m{i}", np.stack([starts, starts + 0.5], 1), feats, {}))
    return root


def tiny(store: Path, out: Path, steps: int = 3, **run) -> PretrainConfig:
    return from_dict(PretrainConfig, {
        "preset": "tiny",
        "store": str(store),
        "out": str(out),
        "run": {"device": "cpu", "log_every": 1, "progress": False, "ckpt_every": 3, **run},
        "optim": {"steps": steps, "warmup": 1},
    })


def test_tensorboard_is_on_by_default_and_holds_the_jsonl_scalars(store, tmp_path):
    assert RunConfig().tensorboard and "tensorboard" not in PretrainConfig.presets()["base"].get("run", {})
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    torch.set_num_threads(1)
    out = tmp_path / "tb-run"
    pretrain(tiny(store, out, tensorboard=True))  # the tiny preset turns it off for speed
    acc = EventAccumulator(str(out / "tb"))
    acc.Reload()
    got = {(tag, e.step): e.value for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)}
    expected = {(k, r["step"]): v for r in read_log(out) for k, v in scalars(r).items()}
    assert {k for k, _ in expected} >= {"train/loss", "train/lr", "train/grad_norm", "train/windows_per_s"}
    assert got.keys() == expected.keys()
    assert all(got[k] == pytest.approx(v, rel=1e-6) for k, v in expected.items())  # TensorBoard keeps float32


def _wandb_records(run_file: Path) -> list:
    """The records of an offline W&B run file: wandb's LevelDB-style log (7-byte file header ':W&B', 0xBEE1,
    version; 32 KiB blocks of chunks with a 7-byte header: crc32, length, type 1 full / 2 first / 3 middle /
    4 last), each record a wandb_internal_pb2.Record. wandb ships no Python reader for it any more."""
    from wandb.proto import wandb_internal_pb2

    data, block = run_file.read_bytes(), 32768
    assert struct.unpack("<4sHB", data[:7]) == (b":W&B", 0xBEE1, 0), run_file
    pos, buf, records = 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a chunk header never straddles blocks: the tail is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        buf += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(buf)
            records.append(record)
            buf = b""
    return records


def _wandb_run(run_dir: Path) -> tuple[dict, dict[int, dict]]:
    """(run info: name, group, project, config) and {step: {key: value}} of the one offline run of this launch."""
    [run_file] = sorted(run_dir.glob("offline-run-*/run-*.wandb"))
    info, history = {}, {}
    for r in _wandb_records(run_file):
        kind = r.WhichOneof("record_type")
        if kind == "run":
            config = {i.key: json.loads(i.value_json) for i in r.run.config.update}
            info = {"name": r.run.display_name, "group": r.run.run_group, "project": r.run.project, "config": config}
        elif kind == "history":
            items = {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item}
            history[r.history.step.num] = {k: v for k, v in items.items() if not k.startswith("_")}
    return info, history


@pytest.fixture
def wandb_home(tmp_path, monkeypatch):
    """W&B keeps settings and caches in the home folder; keep the test's in tmp_path and W&B quiet."""
    pytest.importorskip("wandb")
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    return tmp_path


def test_wandb_offline_run_holds_exactly_the_jsonl_scalars_and_resume_starts_a_new_one(store, wandb_home):
    torch.set_num_threads(1)
    out = wandb_home / "wb-run"
    pretrain(tiny(store, out, steps=6, wandb=True, wandb_project="lmp-test"))
    log = read_log(out)
    [first] = list((out / "wandb").glob("offline-run-*"))
    info, history = _wandb_run(out / "wandb")
    assert (info["name"], info["group"], info["project"]) == ("wb-run", "wb-run", "lmp-test")
    assert info["config"]["optim"]["steps"] == 6 and info["config"]["resumed_from_step"] is None
    assert sorted(history) == [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    for r in log:
        assert history[r["step"]] == scalars(r), r["step"]  # the same keys and the very same numbers

    # Interrupted after the step-3 checkpoint: the resumed launch is a second W&B run with steps 4-6 only.
    shutil.rmtree(out / "checkpoints" / "step-000006")
    shutil.rmtree(out / "model")
    shutil.move(first, wandb_home / "first-launch")
    pretrain(tiny(store, out, steps=6, wandb=True, wandb_project="lmp-test", resume="auto"))
    info, history = _wandb_run(out / "wandb")
    assert info["config"]["resumed_from_step"] == 3
    log = {r["step"]: r for r in read_log(out)}
    assert sorted(history) == [4, 5, 6] and all(history[s] == scalars(log[s]) for s in history)


def test_wandb_missing_is_a_clear_error_and_rank_nonzero_or_disabled_needs_none(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    settings = {"project": "p", "mode": "offline", "config": None}
    with pytest.raises(LMPError, match=r"run.wandb: needs the wandb package; install with: pip install 'lmp\[wandb\]'"):
        RunLogger(tmp_path, enabled=True, tensorboard=False, resume_step=None, wandb=settings)
    RunLogger(tmp_path, enabled=False, tensorboard=False, resume_step=None, wandb=settings).close()  # rank 1
    disabled = {**settings, "mode": "disabled"}
    logger = RunLogger(tmp_path, enabled=True, tensorboard=False, resume_step=None, wandb=disabled)
    logger.log({"step": 1, "loss": 0.5})
    logger.close()
    assert read_log(tmp_path) == [{"step": 1, "loss": 0.5}] and not (tmp_path / "wandb").exists()


def test_wandb_config_fields_are_checked():
    cfg = from_dict(PretrainConfig, {"run": {"wandb": "true", "wandb_mode": "online", "wandb_project": "movies"}})
    assert (cfg.run.wandb, cfg.run.wandb_mode, cfg.run.wandb_project) == (True, "online", "movies")
    assert (RunConfig().wandb, RunConfig().wandb_mode) == (False, "offline")
    with pytest.raises(ConfigError, match=r"run.wandb_mode: 'cloud' is not one of"):
        from_dict(PretrainConfig, {"run": {"wandb_mode": "cloud"}})
    with pytest.raises(ValueError, match="run.wandb_project: must not be empty"):
        RunConfig(wandb=True, wandb_project=" ")


def test_a_torn_last_log_line_does_not_stop_a_resume(tmp_path):
    """A crash or a full disk can cut the last line of log.jsonl short; resuming must still work and keep
    the complete records up to the checkpoint."""
    (tmp_path / "log.jsonl").write_text('{"step": 10, "loss": 1.5}\n{"step": 20, "loss": 1.25}\n{"step": 30, "lo')
    with pytest.warns(LMPWarning, match="line 3 is not a log record"):
        logger = RunLogger(tmp_path, enabled=True, tensorboard=False, resume_step=20)
    logger.log({"step": 21, "loss": 1.0})
    logger.close()
    assert read_log(tmp_path) == [{"step": 10, "loss": 1.5}, {"step": 20, "loss": 1.25}, {"step": 21, "loss": 1.0}]
