"""Is the loader ever the bottleneck? `lmp pretrain`'s own loop on a real store against the same trainer
step repeated on one batch held in memory.

    .venv/bin/python benchmarks/bench_store_vs_memory.py                       # demo MovieWorld, preset small
    .venv/bin/python benchmarks/bench_store_vs_memory.py --store runs/mw/store --set data.workers=2
    .venv/bin/python benchmarks/bench_store_vs_memory.py --preset base --set data.batch_size=4 \\
        --steps 16 --log_every 4 --rounds 2                                 # the base model, N=128, on CPU

"store" runs `lmp.train.pretrain` (sampler, memory-mapped reads, collate, the step, logging and a final
checkpoint) and reads windows/s from its log; "memory" builds the same config's loader and trainer
(`lmp.train.loop.build_loader`, `build_trainer`), reads one batch and times `steps` trainer steps on it, in
intervals of `log_every` steps as the loop logs them. The first interval (warm-up) is dropped from both;
each figure is the median of the rest. The runs alternate `--rounds` times, so that a drift of the shared
machine hits both. Prints figures and the ratio store / memory (the issue's target: >= 0.9).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from lmp.config import resolve
from lmp.store import FeatureStore
from lmp.train import PretrainConfig, pretrain
from lmp.train.data import to_device
from lmp.train.distributed import DistInfo
from lmp.train.loop import build_loader, resolve_model_config
from lmp.train.schedules import lr_at
from lmp.train.step import build_trainer


def store_run(cfg: PretrainConfig, out: Path) -> list[float]:
    """windows/s of each logged interval of a real `lmp pretrain` run but the first."""
    pretrain(dataclasses.replace(cfg, out=out))
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [r["windows_per_s"] for r in records if "windows_per_s" in r][1:]


def memory_run(cfg: PretrainConfig) -> list[float]:
    """windows/s of each interval of `log_every` trainer steps on one in-memory batch, but the first."""
    info = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    store = FeatureStore(cfg.store)
    cfg = dataclasses.replace(cfg, model=resolve_model_config(cfg, store))
    loader, probe = build_loader(cfg, store, info)
    trainer = build_trainer(cfg.model, cfg.objectives, cfg.optim, cfg.run, info, probe)
    batch = to_device(next(iter(loader)), info.device)
    o, every = cfg.optim, cfg.run.log_every
    rates, t_last = [], time.perf_counter()
    for step in range(o.steps):
        lr = lr_at(step, peak=o.lr, warmup=o.warmup, total=o.steps, final_ratio=o.final_lr_ratio)
        terms, _ = trainer.step(lambda: batch, lr)
        if (step + 1) % every == 0:
            terms["loss"].item()  # the loop's log syncs here too
            now = time.perf_counter()
            rates.append(cfg.data.batch_size * o.accumulation * every / (now - t_last))
            t_last = now
    return rates[1:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, default=None, help="a feature store (default: the demo MovieWorld, made once)")
    p.add_argument("--preset", default="small")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--log_every", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3, help="store and memory runs, alternated")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", default=[], help="a pretraining override KEY=VALUE (repeatable)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    store = args.store
    if store is None:
        from lmp.config import from_dict
        from lmp.synth import SynthConfig, generate

        cache = Path.home() / ".cache" / "lmp" / "bench-demo-movieworld"
        if not (cache / "corpus.json").exists():
            generate(from_dict(SynthConfig, {"preset": "demo", "out": str(cache), "overwrite": True}))
        store = cache / "store"
    overrides = [f"preset={args.preset}", f"optim.steps={args.steps}", f"run.log_every={args.log_every}",
                 f"run.ckpt_every={args.steps}", "run.progress=false", "run.device=cpu", *args.set]  # fmt: skip
    cfg = resolve(PretrainConfig, values={"store": str(store)}, overrides=overrides)
    print(f"store {store}; preset {args.preset}, window {cfg.data.window}, batch {cfg.data.batch_size}, "
          f"workers {cfg.data.workers}, {args.steps} steps, {args.threads} threads")  # fmt: skip
    from_store, in_memory = [], []
    for r in range(args.rounds):
        # The runs' checkpoints are not kept (the base model's are ~0.6 GB each).
        with tempfile.TemporaryDirectory(prefix="lmp-bench-store-") as work:
            a = statistics.median(store_run(cfg, Path(work) / "run"))
        b = statistics.median(memory_run(cfg))
        from_store.append(a)
        in_memory.append(b)
        print(f"  round {r + 1}: store {a:.1f} windows/s, memory {b:.1f}, ratio {a / b:.3f}", flush=True)
    a, b = statistics.median(from_store), statistics.median(in_memory)
    print(f"median: store {a:.1f} windows/s, memory {b:.1f}, ratio {a / b:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
