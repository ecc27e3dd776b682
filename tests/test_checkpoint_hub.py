"""Checkpoints the way the ecosystem has them: save_pretrained / from_pretrained / push_to_hub (Hugging Face
Hub, extra `hub`) and the model card `lmp pretrain` writes. No test touches the network: sockets are
blocked, and the Hub's download and upload functions are replaced where a test needs them to succeed."""

from __future__ import annotations

import json
import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lmp import __version__
from lmp.config import from_dict, to_dict
from lmp.model import CheckpointError, LMPModel, ModelConfig
from lmp.store import EncoderSpec, FeatureStore, MovieFeatures, StoreWriter

DIMS = {"visual": 12, "audio": 4, "text": 6}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def make_model(seed: int = 0) -> LMPModel:
    torch.manual_seed(seed)
    return LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS))


def same_weights(a: LMPModel, b: LMPModel) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


# -- local directories: today's format, no huggingface_hub needed ------------------------------------------


def test_local_checkpoint_format_is_unchanged_and_needs_no_hub(tmp_path, monkeypatch):
    model = make_model()
    model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    # config.json: the ModelConfig as indented plain JSON, byte for byte what lmp has always written.
    assert (tmp_path / "ckpt" / "config.json").read_text() == json.dumps(to_dict(model.cfg), indent=2) + "\n"
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # `import huggingface_hub` now fails
    loaded = LMPModel.from_pretrained(tmp_path / "ckpt")
    assert same_weights(loaded, model) and loaded.cfg == model.cfg
    assert not loaded.training  # eval mode, as PyTorchModelHubMixin and transformers return models
    # A relative directory whose name could also be a Hub id is still the directory.
    monkeypatch.chdir(tmp_path)
    assert same_weights(LMPModel.from_pretrained("ckpt"), model)


def test_a_missing_path_that_cannot_be_a_hub_id_keeps_the_plain_error(tmp_path):
    for path in (tmp_path / "nowhere", "runs/base/model", "./ckpt"):
        with pytest.raises(CheckpointError, match="no config.json"):
            LMPModel.from_pretrained(path)


def test_hub_id_without_huggingface_hub_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(CheckpointError, match=r"checkpoint you/lmp-tiny: not a local directory.*lmp\[hub\]"):
        LMPModel.from_pretrained("you/lmp-tiny")


# -- Hub ids ---------------------------------------------------------------------------------------------


def test_unreachable_hub_id_is_one_clear_line_offline(tmp_path, monkeypatch):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads the variable when it is imported, which may have happened already.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(CheckpointError) as err:
        LMPModel.from_pretrained("lmp-test/not-cached-anywhere", cache_dir=tmp_path / "cache")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("checkpoint lmp-test/not-cached-anywhere: neither a local directory nor reachable")
    assert "Hugging Face Hub" in msg


def test_unreachable_hub_id_with_a_failing_download(monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub.errors import LocalEntryNotFoundError

    def download(**kwargs):
        raise LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub\nand more")

    monkeypatch.setattr(hub, "hf_hub_download", download)
    with pytest.raises(CheckpointError, match=r"^checkpoint you/lmp: neither a local directory nor reachable .*") as e:
        LMPModel.from_pretrained("you/lmp")
    assert "\n" not in str(e.value) and "LocalEntryNotFoundError" in str(e.value)


def fake_hub_download(remote: Path, cache: Path, calls: list):
    """hf_hub_download that serves files from the directory `remote` through a snapshot directory."""

    def download(repo_id, filename, **kwargs):
        calls.append({"repo_id": repo_id, "filename": filename, **kwargs})
        snapshot = cache / repo_id.replace("/", "--") / "snapshots" / "abc123"
        snapshot.mkdir(parents=True, exist_ok=True)
        shutil.copy(remote / filename, snapshot / filename)
        return str(snapshot / filename)

    return download


def test_hub_id_is_fetched_into_the_cache_and_loaded_strictly(tmp_path, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    model = make_model(seed=1)
    model.save_pretrained(tmp_path / "remote")
    calls: list = []
    monkeypatch.setattr(hub, "hf_hub_download", fake_hub_download(tmp_path / "remote", tmp_path / "cache", calls))
    loaded = LMPModel.from_pretrained("you/lmp-tiny", revision="v1", token="hf_x", cache_dir=tmp_path / "cache")
    assert same_weights(loaded, model) and not loaded.training
    assert sorted(c["filename"] for c in calls) == ["config.json", "model.safetensors"]
    assert {(c["repo_id"], c["revision"], c["token"], c["library_name"]) for c in calls} == {
        ("you/lmp-tiny", "v1", "hf_x", "lmp")
    }
    # A Hub checkpoint that does not match its config is refused like a local one, naming the id.
    cfg = json.loads((tmp_path / "remote" / "config.json").read_text())
    (tmp_path / "remote" / "config.json").write_text(json.dumps({**cfg, "layers": 2}))
    with pytest.raises(CheckpointError, match=r"^you/lmp-tiny \(from the Hugging Face Hub\): checkpoint .*not match"):
        LMPModel.from_pretrained("you/lmp-tiny", force_download=True)


class FakeApi:
    """HfApi's create_repo and upload_folder, recording what would be uploaded."""

    uploads: list[dict] = []

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, private=None, exist_ok=False):
        assert exist_ok
        return type("RepoUrl", (), {"repo_id": repo_id})()

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        FakeApi.uploads.append({"repo_id": repo_id, "files": files, "token": self.token, **kwargs})
        return f"https://huggingface.co/{repo_id}/commit/0123"


def test_push_to_hub_uploads_weights_config_and_card_in_one_commit(tmp_path, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(hub, "HfApi", FakeApi)
    FakeApi.uploads = []
    model = make_model(seed=2)
    model.save_pretrained(tmp_path / "local")
    url = model.push_to_hub("you/lmp-tiny", token="hf_x", private=True)
    assert url == "https://huggingface.co/you/lmp-tiny/commit/0123"
    (up,) = FakeApi.uploads
    assert up["repo_id"] == "you/lmp-tiny" and up["token"] == "hf_x" and up["repo_type"] == "model"
    assert sorted(up["files"]) == ["README.md", "config.json", "model.safetensors"]
    # The same bytes as save_pretrained: a pushed repo is an ordinary lmp checkpoint.
    for name in ("config.json", "model.safetensors"):
        assert up["files"][name] == (tmp_path / "local" / name).read_bytes()
    card = up["files"]["README.md"].decode()
    meta = front_matter(card)
    assert meta["library_name"] == "lmp" and "lmp" in meta["tags"] and "license" in meta and meta["license"] is None
    assert "preset `tiny`" in card and f"lmp {__version__}" in card and "Not recorded" in card
    # A card given explicitly (the one `lmp pretrain` wrote) is published as it is.
    (tmp_path / "card.md").write_text("---\nlibrary_name: lmp\n---\n# mine\n")
    model.push_to_hub("you/lmp-tiny", model_card=tmp_path / "card.md")
    assert FakeApi.uploads[-1]["files"]["README.md"] == b"---\nlibrary_name: lmp\n---\n# mine\n"
    with pytest.raises(CheckpointError, match="model card .* is not a file"):
        model.push_to_hub("you/lmp-tiny", model_card=tmp_path / "missing.md")


def test_push_to_hub_without_huggingface_hub(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(CheckpointError, match=r"push_to_hub\('you/x'\) needs huggingface_hub.*lmp\[hub\]"):
        make_model().push_to_hub("you/x")


# -- the model card of `lmp pretrain` -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("card") / "store"
    rng = np.random.default_rng(0)
    writer = StoreWriter(root, {m: EncoderSpec(f"enc-{m}", d) for m, d in DIMS.items()})
    for i, n in enumerate([40, 24, 30]):
        starts = np.cumsum(rng.uniform(1.0, 3.0, n))
        feats = {m: rng.standard_normal((n, d)).astype(np.float32) for m, d in DIMS.items()}
        writer.write(MovieFeatures(f"m{i}", np.stack([starts, starts + 0.5], 1), feats, {"text": rng.random(n) < 0.6}))
    return root


def test_pretrain_writes_a_model_card_with_the_weights(store, tmp_path):
    from lmp.model.checkpoint import verify_checksums
    from lmp.provenance import git_sha, store_hash
    from lmp.train import PretrainConfig, pretrain

    torch.set_num_threads(1)
    cfg = from_dict(
        PretrainConfig,
        {
            "preset": "tiny", "store": str(store), "out": str(tmp_path / "run"),
            "run": {"device": "cpu", "progress": False, "log_every": 1},
            "optim": {"steps": 2, "warmup": 1}, "objectives": {"summary": {"weight": 0.5}},
        },
    )  # fmt: skip
    final = pretrain(cfg)
    card = (final / "README.md").read_text()
    meta = front_matter(card)
    assert meta["library_name"] == "lmp" and "license" in meta and meta["license"] is None
    assert {"lmp", "video", "multimodal"} <= set(meta["tags"])
    # What data: the store, its size, modalities and frozen encoders.
    assert f"`{store}`" in card and store_hash(store) in card
    assert "3 movies, 94 shots" in card
    for m, d in DIMS.items():
        assert f"| {m} | `enc-{m}` | {d} |" in card
    # What recipe: the preset and what changed from it, steps, objectives with their weights.
    assert "preset `tiny`" in card and "`optim.steps=2`" in card and "`objectives.summary.weight=0.5`" in card
    assert "2 optimizer steps of 8 windows of 16 shots" in card
    assert "| masked_shot | 1 |" in card and "| summary | 0.5 |" in card and "| movie | 0 (off) |" in card
    assert "Last logged training terms (step 2): " in card and "masked_shot " in card
    assert "```yaml" in card and "window: 16" in card
    # Which lmp, which commit; how to get probe results.
    assert f"lmp {__version__}, git commit " in card
    sha = git_sha()
    assert (sha and f"`{sha}`" in card) or (not sha and "unknown" in card)
    assert f"lmp probe LABELS --store {store} --checkpoint {final}" in card
    # The card documents the weights but is not checksummed: editing it (the license) keeps them loadable.
    assert "README.md" not in json.loads((final / "checksums.json").read_text())
    (final / "README.md").write_text(card.replace("license:", "license: mit\n# was:"))
    verify_checksums(final)
    assert LMPModel.from_pretrained(final).cfg.width == 32
    assert FeatureStore(store).summary()["shots"] == 94


def test_transfer_commands_take_a_hub_id(store, tmp_path, monkeypatch):
    """`lmp embed --checkpoint owner/name` loads through from_pretrained (the fake Hub here); a path that
    is neither a directory nor shaped like a Hub id keeps the plain error."""
    from lmp.cli import main

    hub = pytest.importorskip("huggingface_hub")
    model = make_model(seed=3)
    model.save_pretrained(tmp_path / "remote")
    calls: list = []
    monkeypatch.setattr(hub, "hf_hub_download", fake_hub_download(tmp_path / "remote", tmp_path / "cache", calls))
    out = tmp_path / "emb"
    assert main(["embed", "--store", str(store), "--checkpoint", "you/lmp-tiny", "--out", str(out)]) == 0
    assert {c["repo_id"] for c in calls} == {"you/lmp-tiny"}
    # The exported per-shot vectors are the Hub model's (not some other model's): same as the local copy.
    local = tmp_path / "emb-local"
    assert main(["embed", "--store", str(store), "--checkpoint", str(tmp_path / "remote"), "--out", str(local)]) == 0
    exported = sorted(local.glob("*.npy"))
    assert exported
    for f in exported:
        np.testing.assert_array_equal(np.load(out / f.name), np.load(f))
    assert main(["embed", "--store", str(store), "--checkpoint", str(tmp_path / "no" / "such" / "dir")]) != 0
