"""CPU training-step throughput of the real trainer step: windows/s and peak memory for `base`.

    .venv/bin/python benchmarks/bench_train_step.py                        # N=128 (batch 4), N=512 (batch 2)
    .venv/bin/python benchmarks/bench_train_step.py --settings 128x8 --threads 2

Same code path as `lmp pretrain` (build_trainer + TrainStep: forward, backward, clip, AdamW) on one
synthetic in-memory batch at realistic input widths (1280/512/384: EfficientNet-Lite0, aisfx, MiniLM),
fp32; `--dims 512,512,384` gives the input widths of ../shared/bench/reference_step.py. Each setting runs in a
fresh subprocess so that its peak resident memory (ru_maxrss, model + AdamW state + activations +
the Python/torch baseline of ~0.3 GB) is its own. Prints figures; not a timed test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path


def one(window: int, batch: int, steps: int, warmup: int, preset: str, threads: int, dims: dict[str, int]) -> dict:
    import torch

    from lmp.model import ModelConfig
    from throughput import measure_step  # benchmarks/throughput.py, beside this script

    torch.set_num_threads(threads)
    fig = measure_step(ModelConfig.from_name(preset, input_dims=dims), window=window, batch=batch,
                       device=torch.device("cpu"), precision="fp32", compiled=False, steps=steps, warmup=warmup)
    return asdict(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", default="128x4,512x2", help="comma-separated WINDOWxBATCH")
    p.add_argument("--steps", type=int, default=3, help="timed steps per setting")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    p.add_argument("--preset", default="base")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--dims", default="1280,512,384", help="input widths of visual,audio,text")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one setting in this process
    args = p.parse_args(argv)
    from throughput import parse_dims  # benchmarks/throughput.py, beside this script

    dims = parse_dims(args.dims)
    if args.one:
        window, batch = (int(x) for x in args.one.split("x"))
        print(json.dumps(one(window, batch, args.steps, args.warmup, args.preset, args.threads, dims)))
        return 0
    rows = []
    for setting in args.settings.split(","):
        cmd = [sys.executable, __file__, "--one", setting, "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--preset", args.preset, "--threads", str(args.threads), "--dims", args.dims]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        print(f"  {args.preset} N={row['window']:>4} batch={row['batch']} dims {args.dims}: "
              f"{row['windows_per_s']:.2f} windows/s "
              f"({row['step_ms'] / 1e3:.1f} s/step, {row['tflops'] * 1e3:.0f} GFLOP/s), "
              f"peak RSS {row['peak_mem_gb']:.2f} GB, "
              f"{row['params_m']:.1f} M params", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
