"""Loader throughput: windows/s of the trainer's DataLoader over a memory-mapped store of >= 2 GB.

    .venv/bin/python benchmarks/bench_loader.py                      # builds the store once, then measures
    .venv/bin/python benchmarks/bench_loader.py --cold --batches 20  # evict the store from the page cache first

The store (random float16 features at realistic widths: visual 1280, audio 512, text 384) is built once
with StoreWriter in --store (default: $LMP_BENCH_DIR or ~/.cache/lmp/bench-store) and reused. What is
measured is exactly the training path: WindowSampler (2 far-apart views per movie) -> WindowDataset
(memory-mapped reads) -> collate (padding, masks) -> batches of CPU tensors; nothing is moved to a GPU.
`--cold` calls posix_fadvise(DONTNEED) on every store file before each setting, so reads hit the disk
(as for a store much larger than RAM) instead of the page cache. Prints figures; not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from lmp.store import EncoderSpec, FeatureStore, MovieFeatures, StoreWriter
from lmp.train.data import WindowSampler, WindowSpec, make_loader

DIMS = {"visual": 1280, "audio": 512, "text": 384}
SHOTS_PER_MOVIE = 2000  # about a feature film


def build_store(root: Path, gigabytes: float) -> FeatureStore:
    """A store of at least `gigabytes` on disk; reused when it already holds enough movies."""
    bytes_per_shot = 2 * sum(DIMS.values()) + len(DIMS) + 16  # float16 features, bool masks, float64 times
    movies = int(np.ceil(gigabytes * 1e9 / (bytes_per_shot * SHOTS_PER_MOVIE)))
    encoders = {m: EncoderSpec(f"bench-{m}", d) for m, d in DIMS.items()}
    writer = StoreWriter(root, encoders)
    have = len(FeatureStore(root))
    if have < movies:
        from tqdm import tqdm

        rng = np.random.default_rng(0)
        for i in tqdm(range(have, movies), desc=f"building {gigabytes} GB store", unit="movie"):
            starts = np.cumsum(rng.uniform(0.5, 8.0, SHOTS_PER_MOVIE))
            times = np.stack([starts, starts + 0.4], axis=1)
            feats = {m: rng.standard_normal((SHOTS_PER_MOVIE, d), dtype=np.float32) for m, d in DIMS.items()}
            masks = {"text": rng.random(SHOTS_PER_MOVIE) < 0.4}  # dialogue in 40% of shots
            writer.write(MovieFeatures(f"movie-{i:05d}", times, feats, masks))
    return FeatureStore(root)


def evict(root: Path) -> None:
    """Drop the store's files from the page cache (no root needed: the pages are clean)."""
    for path in root.rglob("*.npy"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def measure(store: FeatureStore, window: int, batch: int, workers: int, batches: int, cold: bool) -> dict:
    ids = store.ids
    sampler = WindowSampler([store.num_shots(i) for i in ids], WindowSpec(window, views=2, min_gap=window // 4), seed=0)
    if cold:
        evict(store.root)
    loader = make_loader(store.root, ids, sampler, store.modalities, batch // 2, workers)
    it = iter(loader)
    next(it)  # worker start-up and first reads are not throughput
    t0 = time.perf_counter()
    for _ in range(batches):
        b = next(it)
    elapsed = time.perf_counter() - t0
    del it, loader
    bytes_per_window = window * (2 * sum(DIMS.values()))
    wps = batches * batch / elapsed
    assert b["visual"].shape == (batch, window, DIMS["visual"])
    return {
        "window": window,
        "batch": batch,
        "workers": workers,
        "cold": cold,
        "windows_per_s": round(wps, 1),
        "feature_MB_per_s": round(wps * bytes_per_window / 1e6, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dir = Path(os.environ.get("LMP_BENCH_DIR", Path.home() / ".cache" / "lmp")) / "bench-store"
    p.add_argument("--store", type=Path, default=default_dir, help="store directory (built once, then reused)")
    p.add_argument("--gb", type=float, default=2.0, help="store size on disk to build, in GB")
    p.add_argument("--windows", default="128,1024", help="window lengths N to measure")
    p.add_argument("--workers", default="0,2", help="DataLoader worker counts to measure (0 = in-process)")
    p.add_argument("--batches", type=int, default=30, help="timed batches per setting")
    p.add_argument("--cold", action="store_true", help="evict the store from the page cache before each setting")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)

    store = build_store(args.store, args.gb)
    size = sum(f.stat().st_size for f in args.store.rglob("*.npy")) / 1e9
    print(f"store {args.store}: {len(store)} movies, {store.summary()['shots']} shots, {size:.2f} GB on disk; "
          f"{os.cpu_count()} CPUs; {'cold' if args.cold else 'warm'} page cache")
    rows = []
    for window in (int(w) for w in args.windows.split(",")):
        batch = max(2, 8192 // window)  # ~ 8k shots per batch: 64 windows of 128, 8 of 1,024
        for workers in (int(w) for w in args.workers.split(",")):
            row = measure(store, window, batch, workers, args.batches, args.cold)
            rows.append(row)
            print(f"  N={window:>5} batch={batch:>3} workers={workers}: {row['windows_per_s']:>8.1f} windows/s "
                  f"({row['feature_MB_per_s']:.0f} MB/s of features)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
