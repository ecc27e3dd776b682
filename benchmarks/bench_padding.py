"""Padding: the trainer's step on windows shorter than `data.window`, padded to the window or cut.

A collection of episodes or short films trained with long windows has most windows shorter than the
window: each is a whole movie, padded. `data.pad_multiple` (lmp.train.data.padded_length) pads a batch
only to its longest window, rounded up to a multiple. This times the real trainer step (all default
objectives, AdamW, clipping; benchmarks/throughput.py) on one in-memory batch whose windows have the
given real lengths, first padded to the window (pad_multiple 0, the default), then cut
(pad_multiple k), interleaved round by round so both see the same machine.

    python benchmarks/bench_padding.py                                   # base, N=512, 4 windows of 150-350 shots
    python benchmarks/bench_padding.py --window 2048 --lengths 900,1400,600,1100 --pad-multiple 128
    python benchmarks/bench_padding.py --device cuda --window 2048 --lengths 900,1400,600,1100,... (bf16)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lmp.model import ModelConfig
from lmp.train.data import WindowSampler, WindowSpec, padded_length
from throughput import build_step, parse_dims


def epoch_padding(
    num_shots: list[int], window: int, views: int, groups: int, pad_multiple: int, bucket: int
) -> tuple[int, int]:
    """(shots computed, real shots) in one epoch of the real sampler, batches of `groups` groups."""
    spec = WindowSpec(window, views, min_gap=0, bucket=bucket, batch_groups=groups)
    items = WindowSampler(num_shots, spec, seed=0).rank_items(0)
    computed = real = 0
    for k in range(0, len(items) - groups + 1, groups):
        lengths = [min(window, num_shots[it[0]] - start) for it in items[k : k + groups] for start in it[1:]]
        computed += len(lengths) * padded_length(lengths, window, pad_multiple)
        real += sum(lengths)
    return computed, real


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="base")
    p.add_argument("--dims", default="1280,512,384", help="input widths of visual, audio, text")
    p.add_argument("--window", type=int, default=512)
    p.add_argument("--lengths", default="", help="real shots per window, comma-separated; empty = 4 draws in 150-350")
    p.add_argument("--pad-multiple", type=int, default=64)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", type=int, default=3, help="timed steps per setting per round")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--device", default="cpu", help="cpu (fp32) or cuda (bf16 autocast)")
    p.add_argument("--collection", default="", help="MIN,MAX,MOVIES: print one epoch's padding for movies of MIN-MAX "
                   "shots (uniform) and exit; with --window, --pad-multiple, --batch-groups, --views, --bucket")
    p.add_argument("--batch-groups", type=int, default=8)
    p.add_argument("--views", type=int, default=1)
    p.add_argument("--bucket", type=int, default=16)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.collection:
        lo, hi, movies = (int(x) for x in args.collection.split(","))
        shots = np.random.default_rng(0).integers(lo, hi + 1, size=movies).tolist()
        print(f"{movies} movies of {lo}-{hi} shots, window {args.window}, {args.batch_groups} groups x {args.views} "
              f"views per batch: shots computed in one epoch, padding included")  # fmt: skip
        print("| setting | shots computed | / real shots |")
        print("|---|---|---|")
        k, b = args.pad_multiple, args.bucket
        for name, pad, buckets in (("pad to the window (default)", 0, 0), (f"pad_multiple {k}", k, 0),
                                   (f"pad_multiple {k} + bucket {b}", k, b)):  # fmt: skip
            computed, real = epoch_padding(shots, args.window, args.views, args.batch_groups, pad, buckets)
            print(f"| {name} | {computed:,} | {computed / real:.2f} |")
        return
    lengths = [int(x) for x in args.lengths.split(",")] if args.lengths else [
        int(x) for x in np.random.default_rng(0).integers(150, 351, size=4)
    ]
    cfg = ModelConfig.from_name(args.model, input_dims=parse_dims(args.dims))
    device = torch.device(args.device)
    precision = "bf16" if device.type == "cuda" else "fp32"
    steps = {}
    for k in (0, args.pad_multiple):
        torch.manual_seed(0)
        trainer, next_batch, optim = build_step(
            cfg, window=args.window, batch=len(lengths), device=device, precision=precision, compiled=False,
            steps=10_000, lengths=lengths, pad_multiple=k,
        )  # fmt: skip
        trainer.step(next_batch, optim.lr)  # warmup
        steps[k] = (trainer, next_batch, optim, next_batch()["shot_mask"].shape[1])
    times: dict[int, list[float]] = {k: [] for k in steps}
    for _ in range(args.rounds):
        for k, (trainer, next_batch, optim, _) in steps.items():
            sync(device)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                trainer.step(next_batch, optim.lr)
            sync(device)
            times[k].append((time.perf_counter() - t0) / args.steps)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"{args.model}, window {args.window}, real lengths {lengths} ({sum(lengths)} shots), {precision}, "
          f"{where}, {args.rounds} rounds x {args.steps} steps")  # fmt: skip
    print("| pad_multiple | padded to | step s (median) | windows/s | real shots/s | vs padding to the window |")
    print("|---|---|---|---|---|---|")
    base = float(np.median(times[0]))
    for k, (_, _, _, s) in steps.items():
        t = float(np.median(times[k]))
        print(f"| {k} | {s} | {t:.3f} | {len(lengths) / t:.2f} | {sum(lengths) / t:.0f} | {base / t:.2f}x |")


if __name__ == "__main__":
    main()
