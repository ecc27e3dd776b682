"""lmp's training step against ../shared/bench/reference_step.py, interleaved step by step in one process.

    .venv/bin/python benchmarks/bench_vs_reference.py                       # N=128, batch 4, 2 threads, 12 rounds
    .venv/bin/python benchmarks/bench_vs_reference.py --dims 1280,512,384   # lmp's real input widths
    .venv/bin/python benchmarks/bench_vs_reference.py --compiled            # both steps torch.compile'd

Each round times one optimizer step of the reference (its own Model, step and AdamW) and then one of lmp's
real trainer step (`lmp pretrain`'s build_trainer on one in-memory batch, every default objective), on the
same random features shapes. On a shared machine whose speed drifts by tens of per cent from one minute
to the next, two runs minutes apart can differ more than the two steps do; steps seconds apart see the
same machine. Prints each round's ratio and the median (ratio = lmp windows/s / reference windows/s).
The reference is not part of lmp: it is loaded from its file, and its absence is a one-line error.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch

DEFAULT_REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "reference_step.py"


def load_reference(path: Path):
    if not path.is_file():
        sys.exit(f"bench_vs_reference: reference step {path} not found (pass --reference PATH)")
    spec = importlib.util.spec_from_file_location("reference_step", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    p.add_argument("--window", type=int, default=128)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--rounds", type=int, default=12, help="timed (reference, lmp) step pairs")
    p.add_argument("--warmup", type=int, default=2, help="untimed step pairs first")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dims", default=None, help="lmp's input widths visual,audio,text (default: the reference's)")
    p.add_argument("--compiled", action="store_true", help="torch.compile both steps (lmp: --run.compile=true)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    ref = load_reference(args.reference)

    from lmp.model import ModelConfig
    from throughput import build_step, ops_per_step, parse_dims  # benchmarks/throughput.py, beside this script

    n, b = args.window, args.batch
    torch.manual_seed(0)
    ref_model = ref.Model()
    ref_opt = torch.optim.AdamW(ref_model.parameters(), lr=1e-4)  # as reference_step.run builds it on CPU
    ref_feats = {m: torch.randn(b, n, k) for m, k in ref.DIMS.items()}
    dims = ref.DIMS if args.dims is None else parse_dims(args.dims)
    trainer, next_batch, optim = build_step(
        ModelConfig.from_name("base", input_dims=dict(dims)), window=n, batch=b, device=torch.device("cpu"),
        precision="fp32", compiled=args.compiled, steps=args.rounds + args.warmup + 1,
    )

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    ref_fn = torch.compile(ref.step) if args.compiled else ref.step  # as reference_step.run compiles it

    def ref_step() -> None:
        ref_fn(ref_model, ref_opt, ref_feats, n)

    def lmp_step() -> None:
        trainer.step(next_batch, optim.lr)

    for _ in range(args.warmup):
        ref_step()
        lmp_step()
    ratios, ref_s, lmp_s = [], [], []
    print(f"N={n} batch={b} threads={args.threads} compiled={args.compiled}; "
          f"reference dims {dict(ref.DIMS)}, lmp dims {dict(dims)}")
    if not args.compiled:  # each op costs tens of microseconds on a small CPU whatever its size
        print(f"aten ops per step: reference {ops_per_step(ref_step):,}, lmp {ops_per_step(lmp_step):,}")
    for r in range(args.rounds):
        a, c = timed(ref_step), timed(lmp_step)
        ref_s.append(a)
        lmp_s.append(c)
        ratios.append(a / c)  # windows/s ratio: the same batch in both
        print(f"  round {r + 1:>2}: reference {b / a:.2f} windows/s, lmp {b / c:.2f}, ratio {a / c:.3f}", flush=True)
    print(f"median: reference {b / statistics.median(ref_s):.2f} windows/s, lmp {b / statistics.median(lmp_s):.2f}, "
          f"ratio {statistics.median(ratios):.3f} (rounds' ratios {min(ratios):.3f}-{max(ratios):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
