"""How fast is `lmp synth`? Generates a MovieWorld corpus (default: the `default` preset, 1,000 movies x ~300
shots) into a temporary directory and reports wall-clock and CPU time.

    .venv/bin/python benchmarks/bench_synth.py [--preset default] [--num_movies N] [--keep DIR]

CPU time is reported next to wall time because the machine may be shared: wall time then includes
waiting for a core, CPU time does not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from lmp.config import from_dict
from lmp.synth import SynthConfig, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--num_movies", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="write here and keep the corpus")
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="bench_synth_")) / "mw"
    values = {"preset": args.preset, "out": str(out), "overwrite": True, "progress": False}
    if args.num_movies:
        values["num_movies"] = args.num_movies
    cfg = from_dict(SynthConfig, values)
    wall, cpu = time.perf_counter(), time.process_time()
    generate(cfg)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = json.loads((out / "corpus.json").read_text())["stats"]
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    print(
        f"preset={args.preset}: {stats['movies']} movies, {stats['shots']} shots, {stats['clips']} clips, "
        f"{size:.0f} MiB on disk; wall {wall:.1f} s, CPU {cpu:.1f} s "
        f"({stats['shots'] / wall:,.0f} shots/s wall), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    if args.keep is None:
        shutil.rmtree(out.parent)


if __name__ == "__main__":
    main()
