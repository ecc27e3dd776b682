"""lmp.encoders without pretrained weights: registry, input contract, log-mel baseline, resampling,
ASR weight assembly, and the CLIP/CLAP local-checkpoint paths (error paths + glue with a fake open_clip)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

import lmp.encoders as enc
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
    with pytest.raises(EncoderError, match="unknown encoder 'nope'.*logmel-stats"):
        get_encoder("nope")


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
    with pytest.raises(EncoderError, match="does not exist"):
        OpenCLIPText(weights_path=tmp_path / "missing.safetensors")


def test_clap_without_weights_says_so(tmp_path):
    from lmp.encoders.clap import LaionCLAPAudio

    with pytest.raises(EncoderError, match="clap-htsat: no CLIP weights|pass weights_path="):
        LaionCLAPAudio()
    with pytest.raises(EncoderError, match="does not exist"):
        LaionCLAPAudio(weights_path=tmp_path / "630k.pt")


def test_clip_missing_package_is_named():
    if enc.is_available("clip-vit-b-32"):
        pytest.skip("open_clip is installed")
    with pytest.raises(EncoderError, match="pip install open_clip_torch"):
        get_encoder("clip-vit-b-32", weights_path="/nonexistent")


class _FakeCLIP(torch.nn.Module):
    """Just enough of open_clip's CLIP for lmp's glue: a linear image tower on mean-pooled pixels."""

    def __init__(self, state):
        super().__init__()
        self.visual = torch.nn.Linear(3, 4, bias=False)
        self.visual.load_state_dict(state)
        self.visual.image_size = 32
        self.visual.output_dim = 4
        self.token_emb = torch.nn.Embedding(100, 4)

    def encode_image(self, x, normalize=False):
        assert x.shape[1:] == (3, 32, 32)
        f = self.visual(x.mean(dim=(2, 3)))
        return torch.nn.functional.normalize(f, dim=-1) if normalize else f

    def encode_text(self, tokens, normalize=False):
        f = self.token_emb(tokens).mean(1)
        return torch.nn.functional.normalize(f, dim=-1) if normalize else f


def test_clip_loads_local_weights_through_open_clip_api(tmp_path, monkeypatch):
    """The loading path with small local weights, against a stand-in for open_clip's factory API."""
    weights = tmp_path / "tiny_clip.pt"
    torch.save({"weight": torch.randn(4, 3, generator=torch.Generator().manual_seed(0))}, weights)
    calls = []

    def create_model_and_transforms(name, pretrained=None, device=None, precision=None):
        calls.append((name, pretrained, precision))
        return _FakeCLIP(torch.load(pretrained, weights_only=True)), None, None

    fake = types.SimpleNamespace(
        create_model_and_transforms=create_model_and_transforms,
        get_tokenizer=lambda name: lambda texts: torch.tensor([[len(t) % 100, 1] for t in texts]),
    )
    monkeypatch.setitem(sys.modules, "open_clip", fake)
    # Registered like the built-in clip-* entries, with the fake's width.
    register(
        "clip-tiny", "visual", 4, "lmp.encoders.clip:OpenCLIPVisual", modules=("open_clip",), arch="Tiny"
    )
    register(
        "clip-tiny-text", "text", 4, "lmp.encoders.clip:OpenCLIPText", modules=("open_clip",), arch="Tiny"
    )
    monkeypatch.setattr(enc.base.importlib.util, "find_spec", lambda name, *a: object())
    try:
        _check_tiny_clip(weights, calls)
    finally:
        del _REGISTRY["clip-tiny"], _REGISTRY["clip-tiny-text"]


def _check_tiny_clip(weights, calls):
    e = get_encoder("clip-tiny", weights_path=weights)
    assert calls == [("Tiny", str(weights), "fp32")]
    assert (e.dim, e.input_size) == (4, (32, 32))
    shots = [
        RNG.integers(0, 255, (2, 48, 64, 3), dtype=np.uint8),
        RNG.integers(0, 255, (1, 32, 32, 3), dtype=np.uint8),
    ]
    out = e.encode(shots)
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out[1], e.encode(shots[1:])[0], atol=1e-6)
    assert all(p.requires_grad is False for p in e.model.parameters())
    t = get_encoder("clip-tiny-text", weights_path=weights)
    txt = t.encode(["hello", ""])
    assert txt.shape == (2, 4) and np.allclose(txt[1], 0) and np.isclose(np.linalg.norm(txt[0]), 1, atol=1e-5)
