"""lmp.encoders without pretrained weights: registry (NAME:VALUE names), devices, input contract, log-mel
baseline, resampling, ASR weight assembly, and the CLIP/CLAP local-checkpoint paths: error paths, and the
real open_clip package on a tiny randomly initialised model (skipped where open_clip is not installed)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import lmp.encoders as enc
from lmp.device import DeviceError, resolve_device
from lmp.encoders import EncoderError, FrozenEncoder, get_encoder, list_encoders, register
from lmp.encoders.base import _REGISTRY
from lmp.modality import MODALITIES

torch.set_num_threads(1)
RNG = np.random.default_rng(0)


def tone(freq: float, seconds: float, sr: int, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# ---- registry -------------------------------------------------------------------------------------


def test_import_is_light():
    code = (
        "import sys, lmp.encoders; print(any(m in sys.modules for m in ('torch', 'sentence_transformers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_list_encoders_groups_by_modality():
    listed = list_encoders()
    assert set(listed) == set(MODALITIES)
    assert "efficientnet-lite0" in listed["visual"]
    assert {"logmel-stats", "aisfx", "silero-vad", "resemblyzer", "voice"} <= set(listed["audio"])
    assert "all-minilm-l6-v2" in listed["text"]
    assert list_encoders("audio") == {"audio": listed["audio"]}
    assert "logmel-stats" in list_encoders(available_only=True)["audio"]  # needs no package
    with pytest.raises(EncoderError, match="unknown modality"):
        list_encoders("smell")


def test_registry_dims_without_building():
    assert enc.encoder_entry("efficientnet-lite0").dim == 1280
    assert enc.encoder_entry("voice").dim == 257
    assert enc.encoder_entry("all-minilm-l6-v2").modality == "text"


def test_unknown_encoder_lists_known_ones():
    with pytest.raises(EncoderError, match="unknown encoder 'nope'.*clip:ARCH.*logmel-stats"):
        get_encoder("nope")


def test_name_value_names():
    """clip:ARCH is the clip entry with arch=ARCH, its width known without building anything."""
    assert "clip:ARCH" in list_encoders()["visual"] and "clip-text:ARCH" in list_encoders()["text"]
    e = enc.encoder_entry("clip:ViT-L-14")
    assert (e.name, e.modality, e.dim, e.defaults["arch"]) == ("clip:ViT-L-14", "visual", 768, "ViT-L-14")
    assert (e.weights_arg, e.weights_required) == ("weights_path", True)
    assert enc.encoder_entry("clip-text:ViT-B-16-quickgelu").dim == 512
    with pytest.raises(EncoderError, match=r"'clip' needs its arch: write clip:ARCH; arch is one of: ViT-B-32,"):
        enc.encoder_entry("clip")
    with pytest.raises(EncoderError, match=r"'clip:ViT-X': unknown arch 'ViT-X'; arch is one of: .*ViT-B-16"):
        enc.encoder_entry("clip:ViT-X")
    with pytest.raises(EncoderError, match="'logmel-stats' takes no ':VALUE', got 'logmel-stats:x'"):
        enc.encoder_entry("logmel-stats:x")
    assert enc.encoder_entry("logmel-stats").weights_arg == ""
    with pytest.raises(ValueError, match="reserved for NAME:VALUE"):
        register("a:b", "audio", 2, _Doubler)
    # A VALUE reaches the encoder as its keyword; the full string is the built encoder's name.
    register("doubler-rate", "audio", None, _Doubler, arg="sample_rate", arg_dims={"8000": 2})
    try:
        built = get_encoder("doubler-rate:8000")
        assert built.name == "doubler-rate:8000" and built.sample_rate == "8000"
    finally:
        del _REGISTRY["doubler-rate"]


def test_resolve_device_is_checked():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match="bad device 'gpu0'.*use cpu, cuda, cuda:N or auto"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="'cuda:1' requested but CUDA is not available"):
            resolve_device("cuda:1")


def test_resolve_device_spreads_local_ranks_over_gpus(monkeypatch):
    """torchrun: a bare 'cuda' (or 'auto') is cuda:<LOCAL_RANK mod GPUs>; an index past the last GPU fails."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda", local_rank=3) == torch.device("cuda", 1)
    assert resolve_device("auto", local_rank=2) == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda")  # no rank: torch's current device
    assert resolve_device("cuda:1", local_rank=0) == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match="'cuda:2': this machine has 2 CUDA device"):
        resolve_device("cuda:2")


def test_missing_package_names_what_to_install():
    register("fake-needs-pkg", "audio", 4, "x:y", packages=("no-such-dist",), modules=("no_such_module_xyz",))
    try:
        assert not enc.is_available("fake-needs-pkg")
        with pytest.raises(EncoderError, match="pip install no-such-dist"):
            get_encoder("fake-needs-pkg")
    finally:
        del _REGISTRY["fake-needs-pkg"]


class _Doubler(FrozenEncoder):
    modality = "audio"
    dim = 2
    sample_rate = 8000

    def __init__(self, sample_rate=8000, **kwargs):
        super().__init__(**kwargs)
        self.sample_rate = sample_rate

    def _encode_batch(self, items):
        self.calls.append(len(items))
        return np.stack([[len(w), 2 * len(w)] for w in items])


def test_register_decorator_batches_and_records_info():
    register("doubler", "audio", 2)(_Doubler)
    try:
        e = get_encoder("doubler", batch_size=2)
        e.calls = []
        out = e.encode([np.zeros(n, np.float32) for n in (1, 2, 3)])
        assert out.dtype == np.float32 and out.shape == (3, 2)
        np.testing.assert_array_equal(out[:, 0], [1, 2, 3])
        assert e.calls == [2, 1]  # batch_size respected
        assert e.encode([]).shape == (0, 2)
        info = e.info()
        assert info["name"] == "doubler" and info["dim"] == 2 and info["sample_rate"] == 8000
        with pytest.raises(ValueError, match="already registered"):
            register("doubler", "audio", 2)(_Doubler)
        with pytest.raises(EncoderError, match="dim 2, registry says 3"):
            register("doubler", "audio", 3, overwrite=True)(_Doubler)
            get_encoder("doubler")
    finally:
        del _REGISTRY["doubler"]


def test_bad_config_errors():
    with pytest.raises(EncoderError, match="precision"):
        get_encoder("logmel-stats", precision="int4")
    with pytest.raises(EncoderError, match="batch_size"):
        get_encoder("logmel-stats", batch_size=0)
    if not torch.cuda.is_available():
        with pytest.raises(EncoderError, match="CUDA is not available"):
            get_encoder("logmel-stats", device="cuda")
    with pytest.raises(EncoderError, match="bad device 'gpu0'"):
        get_encoder("logmel-stats", device="gpu0")
    assert get_encoder("logmel-stats", device="auto").device.type in ("cpu", "cuda")


# ---- log-mel baseline -------------------------------------------------------------------------------


def test_logmel_shape_determinism_and_content():
    e = get_encoder("logmel-stats")
    assert (e.modality, e.dim, e.sample_rate) == ("audio", 128, 16000)
    noise = (0.1 * RNG.standard_normal(16000)).astype(np.float32)
    items = [
        tone(440, 1.0, 16000),
        tone(3000, 0.5, 16000),
        noise,
        np.zeros(0, np.float32),
        np.zeros(50, np.float32),
    ]
    a = e.encode(items)
    assert a.shape == (5, 128) and a.dtype == np.float32
    np.testing.assert_array_equal(a, e.encode(items))  # deterministic
    np.testing.assert_array_equal(a[1], e.encode(items[1:2])[0])  # independent of the batch
    # A 440 Hz tone puts its energy in a lower mel band than a 3 kHz tone.
    assert np.argmax(a[0, :64]) < np.argmax(a[1, :64])
    # White noise is spread out: flatter band means than a tone.
    assert a[2, :64].std() < a[0, :64].std()
    # Empty and tiny waveforms are silence: the log floor, no variation.
    np.testing.assert_allclose(a[3, :64], np.log(e.log_floor), rtol=1e-5)
    np.testing.assert_allclose(a[3], a[4])


def test_logmel_matches_librosa():
    librosa = pytest.importorskip("librosa")
    y = (tone(440, 1.0, 16000) + 0.05 * RNG.standard_normal(16000)).astype(np.float32)
    got = get_encoder("logmel-stats").encode([y])[0]
    mel = librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=400, hop_length=160, n_mels=64, htk=True, fmin=0, fmax=8000, pad_mode="constant"
    )
    ref = np.log(mel + 1e-6)
    np.testing.assert_allclose(got[:64], ref.mean(1), atol=1e-3)
    np.testing.assert_allclose(got[64:], ref.std(1), atol=1e-3)


@pytest.mark.parametrize(
    "item, match",
    [
        (np.zeros((2, 100), np.float32), "mono waveform"),
        (np.zeros(100, np.int16), "float samples"),
        (np.array([0.0, np.nan], np.float32), "NaN"),
    ],
)
def test_audio_item_validation(item, match):
    with pytest.raises(EncoderError, match=f"item 0 .*{match}|item 0 has {match}"):
        get_encoder("logmel-stats").encode([item])


def test_encode_rejects_a_single_item():
    with pytest.raises(EncoderError, match="list of items"):
        get_encoder("logmel-stats").encode(np.zeros(100, np.float32))


# ---- resampling ---------------------------------------------------------------------------------------


def test_resample_preserves_in_band_tone_and_removes_aliases():
    from lmp.encoders.audio import resample

    y = resample(tone(440, 1.0, 44100), 44100, 16000)
    assert len(y) == 16000
    np.testing.assert_allclose(y[200:-200], tone(440, 1.0, 16000)[200:-200], atol=2e-3)
    # 12 kHz is above the new Nyquist (8 kHz): it must be filtered out, not folded to 4 kHz.
    alias = resample(tone(12000, 1.0, 44100), 44100, 16000)
    assert np.abs(alias[200:-200]).max() < 0.01
    assert len(resample(y, 16000, 48000)) == 48000
    np.testing.assert_array_equal(resample(y, 16000, 16000), y)
    with pytest.raises(EncoderError, match="positive"):
        resample(y, 0, 16000)


# ---- ASR weight assembly ------------------------------------------------------------------------------


def test_join_parts_checks_sha_and_is_atomic(tmp_path):
    from lmp.encoders.asr import join_parts

    p1, p2 = tmp_path / "m.bin.part1", tmp_path / "m.bin.part2"
    p1.write_bytes(b"hello " * 1000)
    p2.write_bytes(b"world")
    whole = p1.read_bytes() + p2.read_bytes()
    sha = hashlib.sha256(whole).hexdigest()
    out = join_parts(
        [p1, p2], tmp_path / "cache" / "model.bin", expected_sha256=sha, expected_bytes=len(whole)
    )
    assert out.read_bytes() == whole
    assert (tmp_path / "cache" / "model.bin.sha256").read_text().strip() == sha
    # Reused without re-reading the parts once recorded.
    p1.unlink()
    assert join_parts([p1, p2], out, expected_sha256=sha, expected_bytes=len(whole)) == out
    # A wrong hash leaves nothing behind and names the parts.
    with pytest.raises(EncoderError, match="sha256 of joined bad.bin"):
        join_parts([p2, p2], tmp_path / "bad.bin", expected_sha256="0" * 64)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["cache", "m.bin.part2"]
    with pytest.raises(EncoderError, match="expected 3"):
        join_parts([p2], tmp_path / "short.bin", expected_bytes=3)
    with pytest.raises(EncoderError, match="part file.* missing"):
        join_parts([tmp_path / "nope"], tmp_path / "x.bin")


def test_asr_unknown_name():
    with pytest.raises(EncoderError, match="unknown ASR model"):
        enc.get_asr("whisper-huge")


# ---- CLIP / CLAP from local checkpoints ----------------------------------------------------------------


def test_clip_without_weights_says_so(tmp_path):
    from lmp.encoders.clip import OpenCLIPText, OpenCLIPVisual

    with pytest.raises(EncoderError, match="pass weights_path="):
        OpenCLIPVisual()
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(EncoderError, match=f"clip-text:ViT-B-16: weights_path {missing} does not exist"):
        OpenCLIPText(arch="ViT-B-16", weights_path=missing)
    # A tag name is not a file: open_clip would download it, lmp refuses (checked before open_clip loads).
    with pytest.raises(EncoderError, match="weights_path openai does not exist"):
        OpenCLIPVisual(arch="ViT-B-16", weights_path="openai")


def test_clap_without_weights_says_so(tmp_path):
    from lmp.encoders.clap import LaionCLAPAudio

    with pytest.raises(EncoderError, match="clap-htsat: no weights ship .*pass weights_path="):
        LaionCLAPAudio()
    with pytest.raises(EncoderError, match="does not exist"):
        LaionCLAPAudio(weights_path=tmp_path / "630k.pt")


def test_clip_missing_package_is_named():
    if enc.is_available("clip:ViT-B-32"):
        pytest.skip("open_clip is installed")
    with pytest.raises(EncoderError, match="pip install open-clip-torch"):
        get_encoder("clip:ViT-B-32", weights_path="/nonexistent")


HAS_OPEN_CLIP = importlib.util.find_spec("open_clip") is not None
needs_open_clip = pytest.mark.skipif(
    not HAS_OPEN_CLIP, reason='open_clip not installed (pip install -e ".[clip]"; it brings torchvision)'
)
TINY = "lmp-test-tiny-clip"
"""A two-layer OpenCLIP architecture: real open_clip code, random weights, ~2 M parameters."""


@pytest.fixture
def tiny_clip(tmp_path, monkeypatch):
    """(weights file, open_clip module): a randomly initialised tiny CLIP saved as a state dict, with its
    architecture known to open_clip and accepted by lmp as clip:TINY / clip-text:TINY."""
    import open_clip

    config = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    (tmp_path / f"{TINY}.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / f"{TINY}.json")
    torch.manual_seed(0)
    weights = tmp_path / "tiny_clip.pt"
    torch.save(open_clip.create_model(TINY).state_dict(), weights)
    for name in ("clip", "clip-text"):
        monkeypatch.setitem(_REGISTRY[name].arg_dims, TINY, 16)
    return weights, open_clip


@needs_open_clip
def test_clip_towers_equal_open_clip_on_local_weights(tiny_clip):
    """lmp's CLIP encoders load local weights through the real open_clip and give what open_clip itself
    computes: its own model, preprocessing (PIL + torchvision transform) and tokenizer, run here."""
    from PIL import Image

    weights, open_clip = tiny_clip
    e = get_encoder(f"clip:{TINY}", weights_path=weights)
    assert (e.name, e.dim, e.input_size) == (f"clip:{TINY}", 16, (32, 32))
    assert all(p.requires_grad is False for p in e.model.parameters())
    shots = [RNG.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8), RNG.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)]
    got = e.encode(shots)

    ref, _, preprocess = open_clip.create_model_and_transforms(TINY, pretrained=str(weights))
    ref.eval()
    with torch.no_grad():
        want = [ref.encode_image(torch.stack([preprocess(Image.fromarray(f)) for f in shot]), normalize=True)
                .mean(0).numpy() for shot in shots]
    np.testing.assert_allclose(got, np.stack(want), atol=1e-5)
    assert e.encode([RNG.integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)]).shape == (1, 16)  # other sizes resized

    t = get_encoder(f"clip-text:{TINY}", weights_path=weights)
    assert t.name == f"clip-text:{TINY}" and t.dim == 16
    got = t.encode(["The rabbit is waking up.", "", "Look at all those bikes."])
    with torch.no_grad():
        tok = open_clip.get_tokenizer(TINY)
        want = ref.encode_text(tok(["The rabbit is waking up.", "Look at all those bikes."]), normalize=True).numpy()
    np.testing.assert_allclose(got[[0, 2]], want, atol=1e-5)
    assert not got[1].any()  # empty dialogue -> zero row


@needs_open_clip
def test_clip_refuses_missing_or_mismatched_weights_without_the_hub(tiny_clip, tmp_path, monkeypatch):
    weights, open_clip = tiny_clip

    def no_hub(*args, **kwargs):
        raise AssertionError(f"open_clip tried to download: {args} {kwargs}")

    for module in (open_clip.pretrained, open_clip.factory):
        for fn in ("download_pretrained", "download_pretrained_from_hf"):
            if hasattr(module, fn):
                monkeypatch.setattr(module, fn, no_hub)
    missing = tmp_path / "ViT-B-16.pt"
    with pytest.raises(EncoderError, match=f"clip:ViT-B-16: weights_path {missing} does not exist"):
        get_encoder("clip:ViT-B-16", weights_path=missing)
    with pytest.raises(EncoderError, match="pass weights_path="):
        get_encoder("clip:ViT-B-16")
    # A checkpoint of another architecture (here: wider) is refused by open_clip's strict load, named.
    wide = json.loads((weights.parent / f"{TINY}.json").read_text())
    wide["vision_cfg"]["width"] = 48
    (tmp_path / "lmp-test-wide-clip.json").write_text(json.dumps(wide))
    open_clip.add_model_config(tmp_path / "lmp-test-wide-clip.json")
    monkeypatch.setitem(_REGISTRY["clip"].arg_dims, "lmp-test-wide-clip", 16)
    with pytest.raises(EncoderError, match=f"cannot load {weights} as OpenCLIP lmp-test-wide-clip"):
        get_encoder("clip:lmp-test-wide-clip", weights_path=weights)


# ---- composites (A+B) and audio_encoder 'auto' ------------------------------------------------------------


class _RateProbe(FrozenEncoder):
    """[samples, sample rate]: shows which rate each part of a composite was fed at."""

    modality, dim = "audio", 2

    def _encode_batch(self, items):
        return np.array([[len(x), self.sample_rate] for x in items], dtype=np.float32)


class _Probe32k(_RateProbe):
    sample_rate = 32000


class _Probe16k(_RateProbe):
    sample_rate = 16000


@pytest.fixture
def probes():
    register("probe-32k", "audio", 2, _Probe32k)
    register("probe-16k", "audio", 2, _Probe16k)
    yield
    del _REGISTRY["probe-32k"], _REGISTRY["probe-16k"]


def test_composite_concatenates_parts_at_their_own_rates(probes):
    entry = enc.encoder_entry("probe-32k+probe-16k")
    assert (entry.name, entry.modality, entry.dim, entry.weights_arg) == ("probe-32k+probe-16k", "audio", 4, "")
    e = get_encoder("probe-32k+probe-16k")
    assert (e.name, e.dim, e.sample_rate) == ("probe-32k+probe-16k", 4, 32000)  # decoded at the highest rate
    out = e.encode([np.zeros(32000, np.float32), np.zeros(3200, np.float32)])
    np.testing.assert_array_equal(out, [[32000, 32000, 16000, 16000], [3200, 32000, 1600, 16000]])
    assert [p["name"] for p in e.info()["parts"]] == ["probe-32k", "probe-16k"]
    with pytest.raises(EncoderError, match="parts must share one modality"):
        enc.encoder_entry("probe-32k+efficientnet-lite0")
    with pytest.raises(EncoderError, match="write distinct names joined by"):
        enc.encoder_entry("probe-32k+probe-32k")
    with pytest.raises(EncoderError, match=r"\['clap-htsat'\] need local weights; composites take none"):
        enc.encoder_entry("probe-32k+clap-htsat")
    with pytest.raises(ValueError, match="reserved"):
        register("a+b", "audio", 1, _Probe16k)
    assert enc.encoder_entry("aisfx+voice").dim == 512 + 257  # known without building


def test_auto_audio_resolves_to_the_learned_pair_when_installed():
    if importlib.util.find_spec("aisfx") is None or importlib.util.find_spec("resemblyzer") is None:
        pytest.skip("aisfx / resemblyzer not installed (make venv installs them)")
    assert enc.resolve_auto_audio() == ("aisfx+voice", "")


def test_auto_audio_falls_back_to_logmel_with_what_to_install(monkeypatch):
    monkeypatch.setattr(enc, "learned_audio_missing", lambda: ["aisfx"])
    name, warning = enc.resolve_auto_audio()
    assert name == "logmel-stats"
    assert warning == (
        "audio_encoder auto: aisfx+voice needs Python module(s) ['aisfx'], so audio is encoded with logmel-stats; "
        'for learned audio features install them with: pip install "lmp[ingest]" && '
        'pip install --no-deps "resemblyzer==0.1.4" "aisfx==0.1.2"'
    )
