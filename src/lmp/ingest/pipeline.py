"""One movie file -> one store entry (+ previews), with decoding overlapped with embedding.

    encoders = build_encoders(cfg)                  # once per worker process, at its first movie to ingest
    result = ingest_movie(path, movie_id, cfg, MoviePipeline(cfg, encoders), detector, writer, sha256)

Data flow (two threads):

    decode thread:  PyAV demux/decode -> VideoChunk (small frames, sampled frames) / AudioChunk
                    -> bounded queue (cfg.queue_chunks)
    main thread:    shot detector (streaming) -> finished shots -> batches of cfg.batch_shots shots
                    -> visual / audio encoders;  at the end: subtitles/ASR -> text encoder -> store

Decoding releases the GIL, so on 2 cores the decoder runs beside the encoders and the pipeline costs
little more than the slower of the two. Shot k is final once the detector confirms the cut that ends
it, so memory holds only the frames and audio of shots not yet embedded.

Dimension legend:
    S  shots   F  frames per shot   H, W  visual encoder input   T  audio samples   D_m  feature width
"""

from __future__ import annotations

import json
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmp.atomic import replace_dir, stage_path
from lmp.ingest.config import IngestConfig, weights_digest
from lmp.ingest.decode import (
    AudioChunk,
    DecodeError,
    DecodeWarning,
    MediaInfo,
    probe,
    stream_media,
    stream_media_torchcodec,
)
from lmp.ingest.shots import ShotDetector, cuts_to_shots, filter_cuts
from lmp.ingest.subtitles import Cue, SubtitleError, assign_dialogue, find_subtitles, read_subtitles
from lmp.store.format import PREVIEWS_DIR

ENERGY_HOP = 0.1
"""Seconds per audio-energy value saved for `lmp inspect`."""
PREVIEW_RATE = 16000
"""Audio rate used for previews / ASR when no audio encoder asks for another."""
MAX_PENDING_FRAMES = 256
"""Sampled frames held for unfinished shots (256 x 224x224x3 = 38 MB) before thinning them."""
LONG_MOVIE_SECONDS = 600.0
"""A movie longer than this shows a progress bar (seconds decoded) in an interactive, one-worker run."""


def build_encoders(cfg: IngestConfig) -> dict[str, Any]:
    """modality -> frozen encoder (lmp.encoders) with its weights from cfg, for the modalities in cfg."""
    from lmp.encoders import get_encoder

    device = cfg.resolved_device()
    return {m: get_encoder(name, device=device, **cfg.encoder_kwargs(m)) for m, name in cfg.encoder_names().items()}


@dataclass
class _Shot:
    index: int
    start: int
    stop: int
    """Frames [start, stop)."""


@dataclass
class MovieState:
    """Everything accumulated while one movie streams through."""

    times: list[np.ndarray] = field(default_factory=list)
    """Frame times per chunk (seconds)."""
    num_frames: int = 0
    cuts: list[int] = field(default_factory=list)
    sampled: list[tuple[int, float, np.ndarray]] = field(default_factory=list)
    """Frames at the visual encoder's size not yet consumed by a finished shot."""
    sample_gap: float = 0.0
    """Seconds kept between pending sampled frames once a long shot made them too many (0: keep all)."""
    audio: list[np.ndarray] = field(default_factory=list)
    audio_offset: int = 0
    """Sample index of audio[0][0] (earlier samples were dropped once their shots were embedded)."""
    audio_total: int = 0
    energy: list[float] = field(default_factory=list)
    energy_rest: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    full_audio: list[np.ndarray] | None = None
    """Whole soundtrack, kept only for ASR."""
    done: int = 0
    """Shots handed to the encoders."""
    audio_wait: list[tuple[int, int, int]] = field(default_factory=list)
    """(shot, first sample, end sample) of finished shots whose audio is not fully decoded yet."""
    audio_done_until: int = 0
    """End sample of the last finished shot: audio before it is no longer needed."""
    shot_frames: dict[int, np.ndarray] = field(default_factory=dict)
    shot_audio: dict[int, np.ndarray] = field(default_factory=dict)
    thumbs: dict[int, np.ndarray] = field(default_factory=dict)
    features: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    partial: bool = False
    """Decoding stopped at a demuxer error (kept because allow_partial)."""

    def tick(self, stage: str, t0: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - t0
        return now


def _frame_times(state: MovieState) -> np.ndarray:
    return np.concatenate(state.times) if state.times else np.zeros(0)


class _Decoder(threading.Thread):
    """Runs stream_media in a thread, handing items over a bounded queue (errors are forwarded)."""

    _END = object()

    def __init__(self, items, maxsize: int):
        super().__init__(daemon=True)
        self.items = items
        self.q: queue.Queue = queue.Queue(maxsize=maxsize)
        self.seconds = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            t = time.perf_counter()
            for item in self.items:
                self.seconds += time.perf_counter() - t
                while not self._stop_event.is_set():
                    try:
                        self.q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop_event.is_set():
                    return
                t = time.perf_counter()
            self.seconds += time.perf_counter() - t
            self.q.put(self._END)
        except BaseException as e:  # noqa: BLE001 - forwarded to the consumer, which re-raises
            self.q.put(e)

    def __iter__(self):
        while True:
            item = self.q.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        self._stop_event.set()


def spaced(kept: list[tuple[int, float, np.ndarray]], new: list[tuple[int, float, np.ndarray]],
           gap: float) -> list[tuple[int, float, np.ndarray]]:
    """`kept` + the frames of `new` (index, seconds, image) that lie at least `gap` seconds after the last
    frame kept before them."""
    out = list(kept)
    for frame in new:
        if not out or gap <= 0 or frame[1] >= out[-1][1] + gap - 1e-6:
            out.append(frame)
    return out


def _pick_frames(sampled: list[tuple[int, float, np.ndarray]], shot: _Shot, k: int) -> np.ndarray:
    """k sampled frames inside the shot at the centres of k equal parts (k=1: the middle one), fewer
    if the shot has fewer; the nearest one if none is inside. Returns uint8 [F, H, W, 3]."""
    inside = [img for idx, _, img in sampled if shot.start <= idx < shot.stop]
    if not inside:
        mid = (shot.start + shot.stop) / 2
        return min(sampled, key=lambda s: abs(s[0] - mid))[2][None]
    n = len(inside)
    picks = sorted({int((i + 0.5) * n / k) for i in range(min(k, n))})
    return np.stack([inside[i] for i in picks])


def _thumbnail(img: np.ndarray, height: int, display: tuple[int, int]) -> np.ndarray:
    """A small RGB image at the movie's display aspect ratio (sampled frames are squashed squares)."""
    import cv2

    width = max(8, int(round(height * display[0] / max(display[1], 1))))
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


class MoviePipeline:
    """Ingests one movie; reusable across movies (the detector and encoders are kept)."""

    def __init__(self, cfg: IngestConfig, encoders: dict[str, Any], device: str = "cpu"):
        self.cfg = cfg
        self.encoders = encoders
        self.device = device
        visual = encoders.get("visual")
        self.sample_size = None
        if visual is not None or cfg.previews:
            h, w = getattr(visual, "input_size", (224, 224))
            self.sample_size = (w, h)
        audio = encoders.get("audio")
        self.audio_rate = int(getattr(audio, "sample_rate", PREVIEW_RATE)) if audio is not None else PREVIEW_RATE
        self.asr = None
        if cfg.text_source in ("asr", "auto") and "text" in cfg.modalities:
            # Built once per worker (loading Whisper takes seconds); a missing backend fails the run
            # up front with the package to install, instead of failing every movie.
            from lmp.encoders import get_asr

            self.asr = get_asr(cfg.asr_model, device=device)

    # -- streaming ----------------------------------------------------------------------------
    def _finish_shots(self, state: MovieState, info: MediaInfo, shots: list[_Shot], final: bool) -> None:
        """Cut out the frames of finished shots and queue their audio spans; drop frames no later
        shot needs."""
        times = _frame_times(state)
        for shot in shots:
            if self.sample_size is not None and state.sampled:
                frames = _pick_frames(state.sampled, shot, self.cfg.frames_per_shot)
                state.shot_frames[shot.index] = frames
                if self.cfg.previews:
                    state.thumbs[shot.index] = _thumbnail(frames[len(frames) // 2], self.cfg.thumb_height,
                                                          info.display_size)
            start, end = _shot_span(times, shot, info)
            b = int(round(end * self.audio_rate))
            state.audio_wait.append((shot.index, int(round(start * self.audio_rate)), b))
            state.audio_done_until = b
        if shots and not final:
            keep_from = shots[-1].stop
            # Keep the last sampled frame before the next shot: a very short shot may need it.
            before = [s for s in state.sampled if s[0] < keep_from]
            state.sampled = before[-1:] + [s for s in state.sampled if s[0] >= keep_from]
            state.sample_gap = 0.0  # a new shot: its frames at the decoder's rate again
        self._cut_audio(state, final)

    def _cut_audio(self, state: MovieState, final: bool) -> None:
        """Hand each waiting shot its audio once the decoder has delivered all of it (audio and video
        packets interleave, so audio can lag the frames that confirmed a cut)."""
        waiting = []
        for index, a, b in state.audio_wait:
            if final or state.audio_total >= b:
                state.shot_audio[index] = _take_audio(state, a, b)
            else:
                waiting.append((index, a, b))
        state.audio_wait = waiting
        if waiting:
            _drop_audio(state, waiting[0][1])
        elif not final:
            _drop_audio(state, state.audio_done_until)

    def _embed_pending(self, state: MovieState, force: bool) -> None:
        for modality, pending in (("visual", state.shot_frames), ("audio", state.shot_audio)):
            enc = self.encoders.get(modality)
            if enc is None:
                pending.clear()
                continue
            if not pending or (len(pending) < self.cfg.batch_shots and not force):
                continue
            t0 = time.perf_counter()
            ids = sorted(pending)
            items = [pending.pop(i) for i in ids]
            nonempty = [(i, x) for i, x in zip(ids, items) if len(x)]
            if nonempty:
                feats = enc.encode([x for _, x in nonempty])  # [n, D_m]
                out = state.features.setdefault(modality, {})
                for (i, _), f in zip(nonempty, feats):
                    out[i] = f
            state.tick(modality, t0)

    def _energy(self, state: MovieState, x: np.ndarray) -> None:
        hop = int(ENERGY_HOP * self.audio_rate)
        x = np.concatenate([state.energy_rest, x])
        n = len(x) // hop
        if n:
            blocks = x[: n * hop].reshape(n, hop)  # [n, hop]
            state.energy += np.sqrt((blocks**2).mean(axis=1)).tolist()
        state.energy_rest = x[n * hop :]

    def run(self, path: Path, info: MediaInfo, detector: ShotDetector, want_full_audio: bool) -> MovieState:
        cfg = self.cfg
        state = MovieState(full_audio=[] if want_full_audio else None)
        need_audio = info.has_audio and ("audio" in self.encoders or cfg.previews or want_full_audio)
        stream = stream_media
        extra: dict[str, Any] = {"small_interpolation": detector.interpolation, "allow_partial": cfg.allow_partial}
        if cfg.decoder == "torchcodec":
            stream, extra = stream_media_torchcodec, {"device": self.device}
        items = stream(
            path,
            info,
            small_size=detector.input_size,
            sample_size=self.sample_size,
            sample_every=1.0 / cfg.sample_fps,
            audio_rate=self.audio_rate if need_audio else None,
            **extra,
        )
        decoder = _Decoder(items, maxsize=cfg.queue_chunks)
        decoder.start()
        bar = _progress(path, info, cfg)
        min_frames = max(1, int(round(cfg.min_shot_seconds * (info.fps or 25.0))))
        try:
            for item in decoder:
                if isinstance(item, DecodeWarning):
                    state.warnings.append(item.message)
                    continue
                if isinstance(item, AudioChunk):
                    state.audio.append(item.samples)
                    state.audio_total += len(item.samples)
                    if state.full_audio is not None:
                        state.full_audio.append(item.samples)
                    if cfg.previews:
                        self._energy(state, item.samples)
                    if state.audio_wait:
                        self._cut_audio(state, final=False)
                        self._embed_pending(state, force=False)
                    continue
                t0 = time.perf_counter()
                if bar is not None and len(item.times):
                    bar.update(max(0.0, round(float(item.times[-1]) - bar.n, 1)))
                state.times.append(item.times)
                state.num_frames += len(item.times)
                state.sampled = spaced(state.sampled, item.sampled, state.sample_gap)
                while len(state.sampled) > MAX_PENDING_FRAMES:
                    # A very long shot (or a movie without cuts) must not hold every sampled frame in
                    # memory: twice the spacing, for the frames pending and those to come, keeps them
                    # evenly spread in time. (Halving the list alone thinned early frames again and again
                    # and left the picks of a 5-minute shot in its last minutes.)
                    state.sample_gap = 2 * (state.sample_gap or 1.0 / cfg.sample_fps)
                    state.sampled = spaced([], state.sampled, state.sample_gap)
                state.cuts += detector.push(item.small)
                state.tick("shots", t0)
                # Shots ending at or before the last confirmed cut are final.
                kept = filter_cuts(state.cuts, min_frames)
                shots = cuts_to_shots(kept, kept[-1]) if kept else []
                new = [_Shot(i, a, b) for i, (a, b) in enumerate(shots) if i >= state.done]
                if new:
                    self._finish_shots(state, info, new, final=False)
                    state.done += len(new)
                self._embed_pending(state, force=False)
        except DecodeError:
            if not cfg.allow_partial or state.num_frames == 0:
                raise
            state.partial = True
        finally:
            decoder.stop()
            decoder.join(timeout=5)
            if bar is not None:
                bar.close()
        state.seconds["decode"] = decoder.seconds
        t0 = time.perf_counter()
        state.cuts += detector.flush()
        state.tick("shots", t0)
        shots = cuts_to_shots(filter_cuts(state.cuts, min_frames), state.num_frames)
        new = [_Shot(i, a, b) for i, (a, b) in enumerate(shots) if i >= state.done]
        self._finish_shots(state, info, new, final=True)
        state.done += len(new)
        state.cuts = [a for a, _ in shots[1:]]
        self._embed_pending(state, force=True)
        return state


def _progress(path: Path, info: MediaInfo, cfg: IngestConfig) -> Any:
    """A tqdm bar over the movie's seconds, or None: only for a long movie in an interactive run with one
    worker (several workers' bars would overwrite each other; logs and tests get no bar)."""
    import sys

    if info.duration <= LONG_MOVIE_SECONDS or cfg.workers > 1 or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=round(info.duration, 1), desc=Path(path).name[:40], unit="s", leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]")


def _shot_span(times: np.ndarray, shot: _Shot, info: MediaInfo) -> tuple[float, float]:
    """Start/end seconds of frames [start, stop): the next frame's time, or one frame past the last."""
    start = float(times[shot.start])
    if shot.stop < len(times):
        return start, float(times[shot.stop])
    step = float(np.median(np.diff(times[-5:]))) if len(times) > 1 else 1.0 / (info.fps or 25.0)
    return start, float(times[-1]) + step


def _take_audio(state: MovieState, a: int, b: int) -> np.ndarray:
    if not state.audio or b <= a:
        return np.zeros(0, np.float32)
    buf = np.concatenate(state.audio) if len(state.audio) > 1 else state.audio[0]
    state.audio = [buf]
    lo, hi = max(a - state.audio_offset, 0), max(b - state.audio_offset, 0)
    return buf[lo:hi].copy()


def _drop_audio(state: MovieState, before: int) -> None:
    if not state.audio:
        return
    buf = np.concatenate(state.audio) if len(state.audio) > 1 else state.audio[0]
    cut = min(max(before - state.audio_offset, 0), len(buf))
    state.audio = [buf[cut:]]
    state.audio_offset += cut


@dataclass
class MovieResult:
    """One line of the run report."""

    path: str
    id: str
    status: str = "ok"
    """'ok', 'skipped' or 'error'."""
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    shots: int = 0
    duration: float = 0.0
    wall_seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["stage_seconds"] = {k: round(v, 4) for k, v in self.stage_seconds.items()}
        d["wall_seconds"] = round(self.wall_seconds, 4)
        d["duration"] = round(self.duration, 3)
        d["speed_x_realtime"] = round(self.duration / self.wall_seconds, 2) if self.wall_seconds > 0 else None
        return d


def subtitle_file(cfg: IngestConfig, path: Path) -> Path | None:
    """The subtitle file a movie's dialogue is read from: --subtitles itself, or found next to the movie or
    in the --subtitles folder (None: none, or no dialogue from subtitles)."""
    if "text" not in cfg.modalities or cfg.text_source not in ("subtitles", "auto"):
        return None
    sub = cfg.subtitles
    if sub is None or sub.is_dir():
        return find_subtitles(path, sub)
    return sub


def subtitle_sha256(sub: Path | None) -> str | None:
    """The content hash of a movie's subtitle file, kept in its store record: a re-run re-ingests a movie
    whose subtitles were added, changed or removed since (None: no file)."""
    from lmp.store.writer import sha256_file

    return sha256_file(sub) if sub is not None and sub.is_file() else None


def _dialogue(cfg: IngestConfig, sub: Path | None, state: MovieState, rate: int, result: MovieResult,
              asr: Any, fps: float | None = None, video_start: float = 0.0) -> tuple[list[Cue], str]:
    """Cues for the movie and where they came from ('' when none), in the store's time (seconds from the
    first video frame). sub: its subtitle file (subtitle_file). fps: the video's frame rate, for
    frame-numbered subtitles (MicroDVD) that do not declare one. video_start: where the first video frame
    is on the subtitles' clock, the container's (MediaInfo.video_start); ASR cues are on the store's."""
    cues: list[Cue] = []
    source = ""
    if cfg.text_source in ("subtitles", "auto"):
        if sub is not None:
            try:
                cues, problems = read_subtitles(sub, cfg.subtitle_encoding, fps=fps)
                if video_start:
                    cues = [Cue(c.start - video_start, c.end - video_start, c.text) for c in cues]
                source = str(sub)
                result.warnings += problems[:20]
                if len(problems) > 20:
                    result.warnings.append(f"{sub}: {len(problems) - 20} more malformed cues")
            except SubtitleError as e:
                result.warnings.append(f"{e}; the movie gets no dialogue")
    if not cues and cfg.text_source in ("asr", "auto") and state.full_audio:
        segments = asr.transcribe(np.concatenate(state.full_audio), rate)
        cues = [Cue(float(a), float(b), str(t).strip()) for a, b, t in segments if str(t).strip() and b > a]
        source = f"asr:{cfg.asr_model}"
    return cues, source


def _no_dialogue_warning(path: Path, cfg: IngestConfig, has_audio: bool) -> str:
    """Why a movie got no dialogue source at all (neither a subtitle file nor ASR), and what to do."""
    if cfg.text_source == "subtitles":
        why = "no usable subtitle file, and text_source is subtitles (give --subtitles, or --text_source auto)"
    elif cfg.text_source == "asr":
        why = "text_source is asr and " + ("there is no audio stream" if not has_audio else "no audio was decoded")
    elif not has_audio:
        why = "no usable subtitle file, and no audio stream for ASR"
    else:
        why = "no usable subtitle file, and no audio was decoded for ASR"
    return f"{path}: no dialogue source: {why}; its text mask is all False"


def _write_previews(stage: Path, state: MovieState, times: np.ndarray, dialogue: list[str], cues: list[Cue],
                    info: MediaInfo, source: str) -> None:
    stage.mkdir(parents=True)
    if state.thumbs:
        thumbs = [state.thumbs[i] for i in sorted(state.thumbs)]
        h = min(t.shape[0] for t in thumbs)
        w = min(t.shape[1] for t in thumbs)
        np.save(stage / "thumbs.npy", np.stack([t[:h, :w] for t in thumbs]))  # uint8 [S, h, w, 3]
    np.save(stage / "energy.npy", np.asarray(state.energy, np.float32))  # [T / hop] RMS
    doc = {
        "times": times.round(4).tolist(),
        "cuts": state.cuts,
        "dialogue": dialogue,
        "cues": [[round(c.start, 3), round(c.end, 3), c.text] for c in cues],
        "dialogue_source": source,
        "energy_hop": ENERGY_HOP,
        "has_audio": info.has_audio,
        "fps": info.fps,
        "display_size": list(info.display_size),
    }
    (stage / "preview.json").write_text(json.dumps(doc, indent=1))


def ingest_movie(
    path: Path,
    movie_id: str,
    cfg: IngestConfig,
    pipeline: MoviePipeline,
    detector: ShotDetector,
    writer,
    content_sha256: str,
) -> MovieResult:
    """Decode, detect, embed and write one movie. Raises LMPError subclasses on bad input;
    nothing is left in the store unless the whole movie was written."""
    from lmp.store import MovieFeatures

    result = MovieResult(path=str(path), id=movie_id)
    start = time.perf_counter()
    info = probe(path)
    detector.reset(info.fps)
    want_asr = cfg.text_source in ("asr", "auto") and "text" in cfg.modalities
    state = pipeline.run(path, info, detector, want_full_audio=want_asr and info.has_audio)
    result.warnings += state.warnings
    if state.partial:
        result.warnings.append(f"{path}: corrupt data after {state.num_frames} frames; kept the decodable part")
    times_all = _frame_times(state)
    decoded = float(times_all[-1]) if len(times_all) else 0.0
    if info.duration > 2.0 and decoded < 0.9 * info.duration - 1.0:
        msg = f"{path}: truncated: decoded {decoded:.2f} s of the {info.duration:.2f} s the container declares"
        if not cfg.allow_partial:
            raise DecodeError(msg + " (pass --allow_partial to keep the decodable part)")
        result.warnings.append(msg)
    shots = cuts_to_shots(state.cuts, state.num_frames)
    num_shots = len(shots)
    times = np.array([_shot_span(times_all, _Shot(i, a, b), info) for i, (a, b) in enumerate(shots)])  # [S, 2]
    duration = float(times[-1, 1])

    t0 = time.perf_counter()
    sub = subtitle_file(cfg, path)
    cues, source = _dialogue(cfg, sub, state, pipeline.audio_rate, result, pipeline.asr, fps=info.fps,
                             video_start=info.video_start)
    late = sum(c.start >= duration for c in cues)
    if late:
        result.warnings.append(f"{source}: {late} of {len(cues)} cues start after the video ends ({duration:.2f} s) "
                               "and were dropped; wrong subtitle file?")
    if "text" in cfg.modalities and not source:
        result.warnings.append(_no_dialogue_warning(path, cfg, info.has_audio))
    dialogue = assign_dialogue(cues, times, cfg.min_dialogue_overlap) if cues else [""] * num_shots
    if "text" in pipeline.encoders:
        spoken = [i for i, d in enumerate(dialogue) if d]
        if spoken:
            feats = pipeline.encoders["text"].encode([dialogue[i] for i in spoken])
            state.features["text"] = dict(zip(spoken, feats))
    state.tick("text", t0)

    features, masks = {}, {}
    for m, enc in pipeline.encoders.items():
        rows = state.features.get(m, {})
        x = np.zeros((num_shots, enc.dim), np.float32)  # [S, D_m]
        mask = np.zeros(num_shots, bool)  # [S] True = present
        for i, f in rows.items():
            x[i], mask[i] = f, True
        features[m], masks[m] = x, mask
    intervals = np.diff(times_all) if len(times_all) > 1 else np.zeros(0)
    meta = {
        "source_path": str(Path(path).resolve()),
        "content_sha256": content_sha256,
        "ingest_hash": cfg.feature_hash(),
        "encoders": {m: getattr(e, "name", cfg.encoder_names()[m]) for m, e in pipeline.encoders.items()},
        "encoder_packages": {m: e.package_versions() for m, e in pipeline.encoders.items()},
        "encoder_weights": {m: {"path": str(w.resolve()), "sha256": weights_digest(w)}
                            for m, w in cfg.encoder_weights().items()},
        "detector": cfg.resolved_detector(),
        **info.to_json(),
        "decoded_frames": state.num_frames,
        "vfr": bool(len(intervals) > 2 and intervals.std() > 0.1 * intervals.mean()),
        "dialogue_source": source,
        "subtitles_sha256": subtitle_sha256(sub),
        "dialogue_shots": int(sum(bool(d) for d in dialogue)),
    }
    if "audio" in masks and not info.has_audio:
        result.warnings.append(f"{path}: no audio stream; audio mask is all False")
    previews = Path(cfg.store) / PREVIEWS_DIR / movie_id
    stage = stage_path(previews) if cfg.previews else None
    with writer.staging():  # the previews stage lives outside writer.write: keep other writers off it
        if stage is not None:
            _write_previews(stage, state, times, dialogue, cues, info, source)
        try:
            t0 = time.perf_counter()
            writer.write(MovieFeatures(id=movie_id, times=times, features=features, masks=masks, duration=duration,
                                       meta=meta))
            state.tick("write", t0)
            if stage is not None:
                replace_dir(stage, previews)
        finally:
            if stage is not None and stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
    result.shots = num_shots
    result.duration = duration
    result.wall_seconds = time.perf_counter() - start
    result.stage_seconds = dict(state.seconds)
    return result

