"""What each pretraining objective costs a training step: the real trainer step with every default objective,
and with each one switched off, interleaved step by step in one process.

    .venv/bin/python benchmarks/bench_objectives.py                     # the studies' arm: width 64, 8 x 128 shots
    .venv/bin/python benchmarks/bench_objectives.py --preset base --width 512 --heads 8 --layers 4 \\
        --cross_layers 4 --batch 4 --dims 512,512,384 --threads 2        # bench_vs_reference.py's setting

Each variant is `lmp pretrain`'s build_trainer on the same in-memory batch (the objectives' presets `all` and
`no_<term>`); every round times one step of each variant in turn, so a drift of the machine's pace reaches them
alike. Prints each variant's aten operators per step, its median step time and the time it saves against
`all` (the cost of the term switched off). Figures, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from throughput import build_step, ops_per_step, parse_dims  # benchmarks/throughput.py, beside this script


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="tiny", help="model preset the sizes below override")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--cross_layers", type=int, default=2)
    p.add_argument("--window", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--dims", default="64,32,48", help="input widths visual,audio,text (default: MovieWorld's)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the studies run one per process)")
    p.add_argument("--rounds", type=int, default=20, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per variant first")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from lmp.config import from_dict
    from lmp.model import ModelConfig
    from lmp.objectives import ObjectivesConfig

    model = ModelConfig.from_name(
        args.preset, input_dims=parse_dims(args.dims), width=args.width, heads=args.heads, layers=args.layers,
        cross_layers=args.cross_layers,
    )  # fmt: skip
    default = ObjectivesConfig()
    presets = ObjectivesConfig.presets()
    # The default's enabled terms, each switched off in turn (a preset that switches off an objective the default
    # does not run would time the default again).
    names = ["all"] + [n for n in presets if n.startswith("no_") and getattr(default, n[3:]).weight > 0]
    steps = {}
    for name in names:
        torch.manual_seed(0)
        trainer, next_batch, optim = build_step(
            model, window=args.window, batch=args.batch, device=torch.device("cpu"), precision="fp32",
            compiled=False, steps=args.rounds + args.warmup + 2, objectives=from_dict(ObjectivesConfig, presets[name]),
        )  # fmt: skip
        steps[name] = lambda t=trainer, nb=next_batch, lr=optim.lr: t.step(nb, lr)
    ops = {}
    for name, step in steps.items():
        for _ in range(args.warmup):
            step()
        ops[name] = ops_per_step(step)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["all"])
    print(f"{args.preset} width {args.width}, {args.batch} x {args.window} shots, dims {args.dims}, "
          f"{args.threads} thread(s), median of {args.rounds} interleaved rounds")  # fmt: skip
    print(f"{'variant':<20} {'aten ops':>9} {'ms/step':>9} {'saves (ms)':>11}")
    for name in names:
        median = statistics.median(times[name])
        saves = "" if name == "all" else f"{1e3 * (base - median):11.1f}"
        print(f"{name:<20} {ops[name]:>9,} {1e3 * median:9.1f} {saves}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
