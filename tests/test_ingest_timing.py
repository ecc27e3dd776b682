"""Where `lmp ingest` puts things in time: audio around a hole in its stream, subtitles when the video
starts after the container does, timestamps that start late, and the frames picked from a very long shot.

Each movie is built with PyAV (tests/media.py: solid colours, a tone), so what each shot should get is
known exactly; tiny fake encoders report what it got.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from encoder_registry import registry_restored
from lmp.config import from_dict
from lmp.encoders import FrozenEncoder, register
from lmp.ingest.cli import ingest
from lmp.ingest.config import IngestConfig
from lmp.ingest.decode import AudioChunk, frame_rate, probe, stream_media
from lmp.store import FeatureStore
from media import write_srt, write_timed_movie

pytest.importorskip("av")
pytest.importorskip("scenedetect")

RATE = 16000


class Redness(FrozenEncoder):
    """Each frame's mean red level, for movies whose red level encodes time."""

    modality, dim, input_size = "visual", 1, (16, 16)
    seen: list[list[float]] = []

    def _encode_batch(self, items):
        Redness.seen.extend([[float(f[..., 0].mean()) for f in x] for x in items])
        return np.array([[x[..., 0].mean()] for x in items], np.float32)


class Loudness(FrozenEncoder):
    modality, dim, sample_rate = "audio", 1, RATE

    def _encode_batch(self, items):
        return np.array([[np.sqrt((x**2).mean()) if len(x) else 0.0] for x in items], np.float32)


class Length(FrozenEncoder):
    modality, dim = "text", 1

    def _encode_batch(self, items):
        return np.array([[len(t)] for t in items], np.float32)


@pytest.fixture(scope="module", autouse=True)
def fake_encoders():
    with registry_restored():
        register("timing-visual", "visual", 1, Redness, overwrite=True)
        register("timing-audio", "audio", 1, Loudness, overwrite=True)
        register("timing-text", "text", 1, Length, overwrite=True)
        yield


def run(movie, tmp_path, **kw):
    """Ingest one movie into a fresh store -> (its arrays, its report entry)."""
    cfg = dict(visual_encoder="timing-visual", audio_encoder="timing-audio", text_encoder="timing-text",
               paths=[str(movie)], store=str(tmp_path / "store"), report=str(tmp_path / "r.json"), threads=1,
               previews=False, detector="adaptive")
    ingest(from_dict(IngestConfig, {**cfg, **kw}))
    entry = json.loads((tmp_path / "r.json").read_text())["movies"][0]
    store = FeatureStore(tmp_path / "store")
    return (store.read(entry["id"]) if entry["status"] == "ok" else None), entry


def tone(seconds: float, loudness) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (loudness(t) * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_a_hole_in_the_audio_stream_is_silence_and_the_audio_after_it_keeps_its_time(tmp_path):
    """No audio packets from 1.5 to 2.5 s: the samples after the hole were joined end to end, so every
    later shot got audio from a second later in the film."""
    loud = tone(4.0, lambda t: np.where(t < 2.5, 0.5, 0.2))
    movie = write_timed_movie(tmp_path / "hole.mkv", [(100, (200, 30, 30))], audio=loud, audio_gaps=((1.5, 2.5),))
    samples = np.concatenate([c.samples for c in stream_media(movie, probe(movie), small_size=(16, 16),
                                                              sample_size=None, sample_every=1.0, audio_rate=RATE)
                              if isinstance(c, AudioChunk)])  # fmt: skip

    def rms(a, b):
        return float(np.sqrt((samples[int(a * RATE) : int(b * RATE)] ** 2).mean()))

    assert rms(0.2, 1.3) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    assert rms(1.7, 2.3) < 0.01  # the hole (before: the 0.2 tone from 2.7-3.3 s)
    assert rms(2.7, 3.8) == pytest.approx(0.2 / np.sqrt(2), rel=0.1)


def test_subtitles_count_from_the_containers_start_when_the_video_starts_later(tmp_path):
    """Video from 0.5 s, audio from 0 s on the container's clock; a line at 1.8-2.4 s is spoken in the
    second shot (store time 1.3-1.9 s), as a player shows it, not in the third."""
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    movie = write_timed_movie(tmp_path / "late.mkv", [(25, c) for c in colours], video_start=0.5,
                              audio=tone(4.5, lambda t: 0.3 + 0 * t))  # fmt: skip
    write_srt(tmp_path / "late.srt", [(1.8, 2.4, "Where were you?")])
    x, entry = run(movie, tmp_path)
    assert entry["status"] == "ok" and np.allclose(x["times"], [[0, 1], [1, 2], [2, 3], [3, 4]], atol=0.02)
    assert x["text_mask"].tolist() == [False, True, False, False]


def test_timestamps_that_start_late_are_not_a_truncated_file(tmp_path):
    """Matroska declares where its last timestamp ends: with timestamps from 10 s (-output_ts_offset), a
    4-second file declared 14 s and was refused as truncated."""
    movie = write_timed_movie(tmp_path / "offset.mkv", [(50, (200, 30, 30)), (50, (30, 30, 200))],
                              video_start=10.0, audio_start=10.0, audio=tone(4.0, lambda t: 0.3 + 0 * t))
    x, entry = run(movie, tmp_path)
    assert entry["status"] == "ok", entry["error"]
    assert np.allclose(x["times"], [[0, 2], [2, 4]], atol=0.02)


def test_the_frames_of_a_very_long_shot_are_picked_evenly_in_time(tmp_path):
    """One 130-s shot whose red level encodes time. Its 520 sampled frames (4 a second) are more than the
    256 kept pending; thinning them must keep them evenly spread: the middle frame is at 65 s (it was at 92)."""
    seconds, fps = 130, 25
    red = lambda t: 40 + 200 * t / seconds  # noqa: E731
    movie = write_timed_movie(tmp_path / "long.mp4", [(1, (int(round(red(i / fps))), 0, 0))
                                                      for i in range(seconds * fps)], fps=fps)  # fmt: skip
    Redness.seen.clear()
    x, entry = run(movie, tmp_path, modalities=["visual"], frames_per_shot=3)
    assert entry["status"] == "ok" and len(x["times"]) == 1
    picked = [(r - 40) / 200 * seconds for r in Redness.seen[0]]
    assert picked == pytest.approx([seconds / 6, seconds / 2, 5 * seconds / 6], abs=3.0)


def test_a_declared_frame_rate_far_from_ffmpegs_guess_is_not_taken():
    """An AVI of H.264 with B-frames declared 600 fps on average for 25: a 0.1-s shot became 60 frames."""
    from fractions import Fraction

    assert frame_rate(Fraction(600), Fraction(25), Fraction(25)) == 25.0
    assert frame_rate(Fraction(24000, 1001), Fraction(24), Fraction(24)) == pytest.approx(23.976, abs=1e-3)
    assert frame_rate(None, Fraction(30), None) == 30.0 and frame_rate(None, None, Fraction(50)) == 50.0
