"""Store scale: open time and random-window latency for a store of many long movies.

Builds (once, cached) a store of --movies movies x --shots shots and reports:
* the time to open it (parse the manifest; no array is touched),
* resident memory after opening and after random window reads (memory maps, not loads),
* random window read latency for N=128.

Feature width does not change the open cost, so the default uses small widths to keep the disk
footprint modest; pass --dim 1280 for realistic widths.

    python benchmarks/bench_store_open.py --movies 10000 --shots 2000 --root /tmp/lmp-bench-open
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lmp.store import EncoderSpec, FeatureStore, MovieFeatures, StoreWriter
from lmp.store.format import MANIFEST_FILE


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(root: Path, movies: int, shots: int, dim: int) -> None:
    encoders = {m: EncoderSpec(f"bench-{m}", dim) for m in ("visual", "audio", "text")}
    writer = StoreWriter(root, encoders)
    have = FeatureStore(root).ids if (root / MANIFEST_FILE).exists() else []
    rng = np.random.default_rng(0)
    starts = np.arange(shots, dtype=np.float64) * 2.0
    times = np.stack([starts, starts + 1.9], axis=1)
    feats = {m: rng.standard_normal((shots, dim)).astype(np.float16) for m in encoders}
    for i in tqdm(range(len(have), movies), desc="build store", unit="movie"):
        writer.write(MovieFeatures(f"m{i:06d}", times, feats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--movies", type=int, default=10_000)
    ap.add_argument("--shots", type=int, default=2_000)
    ap.add_argument("--dim", type=int, default=4)
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--reads", type=int, default=2_000)
    ap.add_argument("--root", type=Path, default=Path("/tmp/lmp-bench-open"))
    args = ap.parse_args()

    build(args.root, args.movies, args.shots, args.dim)
    base = rss_mb()
    t0 = time.perf_counter()
    store = FeatureStore(args.root)
    t_open = time.perf_counter() - t0
    rss_open = rss_mb() - base

    rng = np.random.default_rng(1)
    ids = store.ids
    t0 = time.perf_counter()
    for _ in range(args.reads):
        mid = ids[rng.integers(len(ids))]
        start = int(rng.integers(0, store.num_shots(mid) - args.window + 1))
        store.read(mid, start, start + args.window)
    per_read = (time.perf_counter() - t0) / args.reads
    disk_gb = sum(p.stat().st_size for p in args.root.rglob("*.npy")) / 1e9
    print(f"store: {len(store)} movies x {args.shots} shots, dim {args.dim}/modality, {disk_gb:.2f} GB of arrays")
    print(f"open: {t_open * 1000:.0f} ms, +{rss_open:.0f} MB RSS")
    print(f"random N={args.window} window read: {per_read * 1e3:.2f} ms ({1 / per_read:.0f} windows/s, one process)")
    print(f"RSS growth after {args.reads} reads: +{rss_mb() - base:.0f} MB")


if __name__ == "__main__":
    main()
