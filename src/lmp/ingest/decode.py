"""Decoding with PyAV: one pass over the file yields small frames for shot detection, sampled frames
at the visual encoder's size, and mono audio at the audio encoder's rate.

Dimension legend:
    N  frames in a chunk     h, w  shot-detector frame size (48x27 for TransNetV2)
    H, W  visual-encoder frame size    T  audio samples

Frames are converted straight to the size each consumer needs (`VideoFrame.reformat`): converting a
720p frame to full-size RGB costs more than most encoders, a 48x27 one almost nothing.
Times are the frames' presentation times (seconds from the first frame), so variable-frame-rate
files get correct shot times; the frame rate recorded in the store is the container's average.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lmp.errors import LMPError


class DecodeError(LMPError):
    """A movie file cannot be decoded (corrupt, truncated, empty, no video stream); names the file."""


@dataclass(frozen=True)
class MediaInfo:
    """What the container says about a movie, before decoding it."""

    path: str
    duration: float
    """Seconds (container duration; 0 when unknown)."""
    fps: float
    """Average frame rate of the video stream."""
    width: int
    height: int
    """Coded frame size (before rotation)."""
    rotation: int
    """Display rotation in degrees counter-clockwise (0, 90, 180, 270)."""
    has_audio: bool
    audio_rate: int
    audio_channels: int
    video_codec: str
    audio_codec: str
    num_frames: int
    """Frames declared by the container (0 when unknown)."""
    video_start: float = 0.0
    """Seconds from the container's start to the first video frame. The store's times count from that
    frame; subtitles (as players and ffmpeg read them) count from the container's start."""

    @property
    def display_size(self) -> tuple[int, int]:
        """(W, H) as shown to a viewer, i.e. after rotation."""
        return (self.height, self.width) if self.rotation % 180 else (self.width, self.height)

    def to_json(self) -> dict[str, Any]:
        return {
            "duration": round(self.duration, 3),
            "fps": round(self.fps, 4),
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "has_audio": self.has_audio,
            "audio_rate": self.audio_rate,
            "audio_channels": self.audio_channels,
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
            "num_frames": self.num_frames,
            "video_start": round(self.video_start, 6),
        }


def _open(path: str | os.PathLike):
    import av

    p = Path(path)
    if not p.is_file():
        raise DecodeError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise DecodeError(f"{p}: empty file (0 bytes)")
    try:
        return av.open(str(p), metadata_errors="ignore")
    except av.FFmpegError as e:
        raise DecodeError(f"{p}: not a readable media file ({type(e).__name__}: {e})") from None


def _rotation(stream, first_frame) -> int:
    rot = getattr(first_frame, "rotation", 0) if first_frame is not None else 0
    if not rot:
        # Old muxers wrote a "rotate" tag instead of a display matrix; its angle is clockwise.
        tag = stream.metadata.get("rotate")
        rot = -int(float(tag)) if tag else 0
    return int(round(rot / 90.0)) * 90 % 360


def frame_rate(average: Any, guessed: Any, base: Any) -> float:
    """The video's frame rate: the average one (right for variable frame rates), unless FFmpeg's own guess
    differs from it by more than 2x, then the guess. An AVI of H.264 with B-frames declared an average of 600
    fps for 25: the 0.1-s minimum shot became 60 frames and merged real shots."""
    average, guessed = float(average or 0), float(guessed or 0)
    if average and guessed and not 0.5 <= average / guessed <= 2.0:
        return guessed
    return average or guessed or float(base or 0)


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read the container header (and the first frame, for its rotation); raises DecodeError."""
    import av

    with _open(path) as c:
        if not c.streams.video:
            kinds = sorted({s.type for s in c.streams}) or ["none"]
            raise DecodeError(f"{path}: no video stream (streams: {', '.join(kinds)})")
        vs = c.streams.video[0]
        first = None
        try:
            first = next(c.decode(vs), None)
        except av.FFmpegError as e:
            raise DecodeError(f"{path}: the first video frame does not decode ({type(e).__name__}: {e})") from None
        if first is None:
            raise DecodeError(f"{path}: the video stream has no frames (zero length)")
        rate = frame_rate(vs.average_rate, vs.guessed_rate, vs.base_rate)
        start = c.start_time / 1e6 if c.start_time is not None else 0.0
        duration = float(c.duration / 1e6) if c.duration else 0.0
        if vs.duration and vs.time_base:
            duration = float(vs.duration * vs.time_base)
        elif duration and "matroska" in c.format.name:
            # Matroska's duration is where the last timestamp ends, so a file whose timestamps start late
            # (-output_ts_offset, -copyts) declares its start too, and a whole file read as truncated.
            duration = max(0.0, duration - start)
        video_start = max(0.0, float(first.time) - start) if first.time is not None else 0.0
        aus = c.streams.audio[0] if c.streams.audio else None
        return MediaInfo(
            path=str(path),
            duration=duration,
            fps=rate,
            width=first.width,
            height=first.height,
            rotation=_rotation(vs, first),
            has_audio=aus is not None,
            audio_rate=int(aus.rate or 0) if aus is not None else 0,
            audio_channels=int(aus.channels or 0) if aus is not None else 0,
            video_codec=vs.codec_context.name,
            audio_codec=aus.codec_context.name if aus is not None else "",
            num_frames=int(vs.frames or 0),
            video_start=video_start,
        )


@dataclass
class VideoChunk:
    """Consecutive decoded frames."""

    start: int
    """Index of the first frame in the movie."""
    times: np.ndarray
    """float64 [N]: presentation time of each frame, seconds from the first frame."""
    small: np.ndarray
    """uint8 [N, h, w, 3] RGB frames for the shot detector."""
    sampled: list[tuple[int, float, np.ndarray]]
    """(frame index, time, uint8 [H, W, 3] RGB upright frame) for frames picked for the visual encoder."""


@dataclass
class DecodeWarning:
    """Something was wrong but decoding went on (e.g. a few corrupt packets were skipped)."""

    message: str


@dataclass
class AudioChunk:
    """Mono float32 samples [T] at the requested rate, continuing the previous chunk."""

    samples: np.ndarray


AUDIO_JITTER = 0.04
"""Seconds an audio frame's timestamp may differ from where the samples before it end without being moved:
timestamps rounded to a coarse time base, or a resampler's delay; a gap or an overlap beyond it is real."""


def place_audio(x: np.ndarray, t: float | None, t0: float, emitted: int, rate: int) -> np.ndarray:
    """The samples of an audio frame that starts at `t` (container seconds; None = unknown), after
    `emitted` samples since the first video frame, which plays at `t0`: silence fills a gap before the
    frame and an overlap is cut, so each sample stays at its own time. The first frame is placed exactly;
    later ones only when they are off by more than AUDIO_JITTER (a stream with a hole in it: samples were
    joined end to end, and every shot after the hole got audio from later in the film)."""
    if t is None:
        return x
    offset = int(round((t - t0) * rate)) - emitted
    if emitted and abs(offset) <= AUDIO_JITTER * rate:
        return x
    return np.concatenate([np.zeros(offset, np.float32), x]) if offset > 0 else x[-offset:]


def _upright(img: np.ndarray, rotation: int) -> np.ndarray:
    # np.rot90 turns counter-clockwise, the same sense as the display matrix angle.
    return np.ascontiguousarray(np.rot90(img, k=rotation // 90)) if rotation else img


def stream_media(
    path: str | os.PathLike,
    info: MediaInfo,
    *,
    small_size: tuple[int, int],
    sample_size: tuple[int, int] | None,
    sample_every: float,
    audio_rate: int | None,
    chunk_frames: int = 64,
    small_interpolation: str | None = None,
    max_bad_packets: float = 0.01,
    allow_partial: bool = False,
) -> Iterator[VideoChunk | AudioChunk | DecodeWarning]:
    """Decode a movie once, in file order, as VideoChunk and AudioChunk items (+ DecodeWarning).

    small_size: (w, h) for every frame (shot detection). sample_size: (W, H) of the upright frames
    kept every `sample_every` seconds for the visual encoder (None: keep none). audio_rate: resample the
    first audio stream to mono at this rate (None: skip audio). small_interpolation: swscale filter
    for the small frames (None: FFmpeg's default).

    A packet the decoder rejects is skipped (the codec conceals the damage until the next keyframe,
    as the ffmpeg CLI does) and reported as a DecodeWarning; more than `max_bad_packets` (fraction,
    at least 10 packets) raises DecodeError unless `allow_partial`. A demuxing error (the container
    itself is broken) raises DecodeError; frames decoded before it have been yielded already.
    """
    import av
    from av.video.reformatter import VideoReformatter

    with _open(path) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"  # FFmpeg's frame + slice threads, one per core
        streams = [vs]
        aus = c.streams.audio[0] if (audio_rate and c.streams.audio) else None
        resampler = None
        if aus is not None:
            streams.append(aus)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=audio_rate)
        t0: float | None = None
        audio_pos = 0  # samples emitted so far; audio is aligned to the first video frame
        audio_pending: list[tuple[float | None, np.ndarray]] = []
        index = 0
        start = 0
        times: list[float] = []
        small: list[np.ndarray] = []
        sampled: list[tuple[int, float, np.ndarray]] = []
        next_sample = 0.0
        rot = info.rotation
        # One reformatter per output size keeps its SwsContext (filter tables) across frames; a bare
        # frame.reformat() rebuilds it every frame (~40 % slower).
        to_small, to_sample = VideoReformatter(), VideoReformatter()
        packets = bad = 0
        last_t = 0.0

        def decode(packet) -> list:
            nonlocal bad
            try:
                return packet.decode()
            except (av.InvalidDataError, PermissionError):
                # Frame-threaded h264 reports the packets after a damaged one as EPERM.
                bad += 1
                return []

        # For 90/270 degrees the coded frame is transposed relative to what is shown.
        coded_sample = sample_size if (sample_size is None or not rot % 180) else (sample_size[1], sample_size[0])

        def audio_out(frames) -> Iterator[AudioChunk]:
            for af in frames:
                x = af.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                if t0 is None:
                    audio_pending.append((af.time, x))  # time zero is the first video frame: wait for it
                    continue
                yield from aligned(af.time, x)

        def aligned(t: float | None, x: np.ndarray) -> Iterator[AudioChunk]:
            nonlocal audio_pos
            x = place_audio(x, t, t0, audio_pos, audio_rate)  # sample 0 plays with the first video frame
            audio_pos += len(x)
            if len(x):
                yield AudioChunk(x)

        try:
            for packet in c.demux(*streams):
                packets += 1
                if packet.stream is aus:
                    for frame in decode(packet):
                        yield from audio_out(resampler.resample(frame))
                    continue
                for frame in decode(packet):
                    t = float(frame.time) if frame.time is not None else index / (info.fps or 25.0)
                    if t0 is None:
                        t0 = t
                        for at, x in audio_pending:
                            yield from aligned(at, x)
                        audio_pending.clear()
                    t -= t0
                    last_t = t
                    times.append(t)
                    small.append(
                        to_small.reformat(frame, width=small_size[0], height=small_size[1], format="rgb24",
                                          interpolation=small_interpolation).to_ndarray()
                    )
                    if coded_sample is not None and t >= next_sample:
                        img = to_sample.reformat(frame, width=coded_sample[0], height=coded_sample[1],
                                                 format="rgb24").to_ndarray()
                        sampled.append((index, t, _upright(img, rot)))
                        next_sample = t + sample_every - 1e-6
                    index += 1
                    if len(small) >= chunk_frames:
                        yield VideoChunk(start, np.asarray(times), np.stack(small), sampled)
                        start, times, small, sampled = index, [], [], []
            if resampler is not None:
                yield from audio_out(resampler.resample(None))
        except av.FFmpegError as e:
            raise DecodeError(f"{path}: corrupt data at {last_t:.2f} s ({type(e).__name__}: {e})") from None
        if small:
            yield VideoChunk(start, np.asarray(times), np.stack(small), sampled)
        if index == 0:
            raise DecodeError(f"{path}: the video stream has no decodable frames")
        if bad:
            msg = f"{path}: {bad} of {packets} packets are corrupt"
            if bad > max(10, max_bad_packets * packets) and not allow_partial:
                raise DecodeError(msg + " (pass --allow_partial to keep what decodes)")
            yield DecodeWarning(msg + "; skipped them (the decoder conceals the damage)")


def _audio_chunks(path: str | os.PathLike, rate: int) -> Iterator[tuple[float | None, np.ndarray]]:
    """(time of the first sample or None, mono float32 samples at `rate`) for the first audio stream."""
    import av

    with _open(path) as c:
        if not c.streams.audio:
            return
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in c.decode(c.streams.audio[0]):
            for f in resampler.resample(frame):
                yield (None if f.time is None else float(f.time)), f.to_ndarray().reshape(-1)
        for f in resampler.resample(None):
            yield (None if f.time is None else float(f.time)), f.to_ndarray().reshape(-1)


def stream_media_torchcodec(
    path: str | os.PathLike,
    info: MediaInfo,
    *,
    small_size: tuple[int, int],
    sample_size: tuple[int, int] | None,
    sample_every: float,
    audio_rate: int | None,
    device: str = "cuda",
    chunk_frames: int = 64,
) -> Iterator[VideoChunk | AudioChunk]:
    """Same items as `stream_media`, with video decoded by torchcodec (NVDEC when device is cuda) and
    resized on the device; audio still comes from PyAV (cheap). Optional: needs `pip install torchcodec`."""
    try:
        import torch
        import torch.nn.functional as F
        from torchcodec.decoders import VideoDecoder
    except ImportError:
        raise DecodeError(f"{path}: decoder 'torchcodec' needs: pip install torchcodec") from None

    try:
        dec = VideoDecoder(str(path), device=device, dimension_order="NCHW")
    except Exception as e:  # noqa: BLE001 - torchcodec raises plain RuntimeError/ValueError
        raise DecodeError(f"{path}: torchcodec cannot open it ({type(e).__name__}: {e})") from None

    def resize(x, size: tuple[int, int]) -> np.ndarray:
        # [N, 3, H, W] uint8 on the device -> [N, h, w, 3] uint8 numpy (antialiased, like swscale's area)
        y = F.interpolate(x.float(), size=(size[1], size[0]), mode="bilinear", antialias=True, align_corners=False)
        return y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()

    audio = _audio_chunks(path, audio_rate) if audio_rate and info.has_audio else iter(())
    pending_audio: tuple[float, np.ndarray] | None = None
    t0: float | None = None
    next_sample = 0.0
    emitted = 0  # audio samples emitted, aligned to the first video frame
    n = len(dec)
    for start in range(0, n, chunk_frames):
        try:
            batch = dec.get_frames_in_range(start, min(start + chunk_frames, n))
        except Exception as e:  # noqa: BLE001
            raise DecodeError(f"{path}: corrupt data near frame {start} ({type(e).__name__}: {e})") from None
        x = batch.data  # [N, 3, H, W] uint8 on the device
        if info.rotation and tuple(x.shape[-2:]) == (info.height, info.width):
            x = torch.rot90(x, k=info.rotation // 90, dims=(2, 3))  # to upright, counter-clockwise
        times = batch.pts_seconds.double().cpu().numpy()
        if t0 is None:
            t0 = float(times[0])
        times = times - t0
        sampled = []
        if sample_size is not None:
            picks = []
            for i, t in enumerate(times):
                if t >= next_sample:
                    picks.append(i)
                    next_sample = t + sample_every - 1e-6
            if picks:
                big = resize(x[picks], sample_size)
                sampled = [(start + i, float(times[i]), big[j]) for j, i in enumerate(picks)]
        yield VideoChunk(start, times, resize(x, small_size), sampled)
        # Interleave audio up to the end of this chunk, so memory stays bounded.
        end = float(times[-1]) + t0
        while True:
            if pending_audio is None:
                pending_audio = next(audio, None)
                if pending_audio is None:
                    break
            at, samples = pending_audio
            if at is not None and at > end and start + chunk_frames < n:
                break
            pending_audio = None
            samples = place_audio(samples, at, t0, emitted, audio_rate)
            emitted += len(samples)
            if len(samples):
                yield AudioChunk(samples)
