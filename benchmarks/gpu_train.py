"""GPU training throughput of the real trainer step: windows/s, TFLOP/s and peak memory, eager vs compiled.

    python benchmarks/gpu_train.py results/gpu_train.json           # base, bf16: N=128/b256, 512/64, 2048/16
    python benchmarks/gpu_train.py /tmp/smoke.json --smoke          # tiny sizes on CPU: checks the script runs
    python benchmarks/gpu_train.py results/gpu_longest.json --longest   # batch 1, N=2,048 doubling until OOM

`--longest` looks for the longest window that trains at batch 1 (eager, `--run.activation_checkpointing`
on: each block recomputed in the backward), doubling N from 2,048 up to 32,768 and stopping at the first
failure; with checkpointing the TFLOP/s count the recomputed forward too.

Each setting builds the model, objectives (all four) and AdamW with `lmp.train.step.build_trainer`,
exactly as `lmp pretrain` does, and times `TrainStep` (forward + backward + clip + AdamW) on one
synthetic in-memory batch (made by the real collate), so the loader is not measured. FLOPs follow the
formula in benchmarks/throughput.py: 6 × (params of each matmul) × (tokens through it) + 12·b·n²·d per
attention layer. Input widths are realistic: visual 1280, audio 512, text 384. Compiled settings are
timed after their warmup steps, so compile time is excluded (it is printed separately).
Designed to finish in ~6 minutes on one H200.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from lmp.model import ModelConfig
from throughput import measure_step  # benchmarks/throughput.py: this script's folder is on sys.path

DIMS = {"visual": 1280, "audio": 512, "text": 384}
SETTINGS = [(128, 256), (512, 64), (2048, 16)]
SMOKE_SETTINGS = [(16, 8), (64, 4)]
LONGEST_SETTINGS = [(2048, 1), (4096, 1), (8192, 1), (16384, 1), (32768, 1)]
SMOKE_LONGEST_SETTINGS = [(64, 1), (128, 1)]
# H200, a minimal implementation (d=512, 16 blocks), bf16, SDPA: windows/s.
REFERENCE = {(128, 256, False): 2164.0, (128, 256, True): 3561.0, (2048, 16, False): 96.5}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json", type=Path, help="where to write the results (JSON)")
    p.add_argument("--smoke", action="store_true", help="tiny model and sizes on CPU (fp32): does the script work?")
    p.add_argument("--modes", default="eager,compiled", help="eager, compiled or both")
    p.add_argument("--steps", type=int, default=20, help="timed steps per setting")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before timing (compiled: +compile)")
    p.add_argument("--preset", default="base", help="model preset")
    p.add_argument("--longest", action="store_true",
                   help="batch 1, activation checkpointing, N doubling from 2,048 until the first failure")
    p.add_argument("--budget-s", type=float, default=330.0,
                   help="skip the settings left once this much time has passed")
    args = p.parse_args(argv)
    start = time.perf_counter()

    if args.smoke:
        device, precision, settings, preset = torch.device("cpu"), "fp32", SMOKE_SETTINGS, "tiny"
        args.steps, args.warmup = min(args.steps, 2), min(args.warmup, 1)
    else:
        if not torch.cuda.is_available():
            print("gpu_train.py: no CUDA device (use --smoke to check the script on CPU)", file=sys.stderr)
            return 2
        device, precision, settings, preset = torch.device("cuda"), "bf16", SETTINGS, args.preset
    if args.longest:
        settings = SMOKE_LONGEST_SETTINGS if args.smoke else LONGEST_SETTINGS
    model = ModelConfig.from_name(preset, input_dims=DIMS)
    modes = [False] if args.longest else [m.strip() == "compiled" for m in args.modes.split(",")]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device: {name}; torch {torch.__version__}; model {preset} (d={model.width}, "
          f"{model.layers}x{len(model.modalities)}+{model.cross_layers} blocks); {precision}")

    rows: list[dict] = []
    flops: dict[tuple[int, int], float] = {}
    header = {"device": name, "torch": torch.__version__, "preset": preset, "precision": precision,
              "smoke": args.smoke, "steps": args.steps, "warmup": args.warmup,
              "activation_checkpointing": args.longest}
    for window, batch in settings:
        if args.longest and rows and "error" in rows[-1]:
            break  # a longer window will not fit either
        for compiled in modes:
            mode = "compiled" if compiled else "eager"
            if time.perf_counter() - start > args.budget_s:
                print(f"  N={window} b={batch} {mode}: skipped (--budget-s {args.budget_s:g} spent)", flush=True)
                rows.append({"window": window, "batch": batch, "compiled": compiled, "error": "skipped (time budget)"})
                continue
            t0 = time.perf_counter()
            try:
                fig = measure_step(model, window=window, batch=batch, device=device, precision=precision,
                                   compiled=compiled, steps=args.steps, warmup=args.warmup,
                                   flops=flops.get((window, batch)), checkpointing=args.longest)
            except Exception as e:  # OOM or a compile failure: record it and go on with the other settings
                first_line = str(e).splitlines()[0][:200] if str(e) else ""
                error = "OOM" if isinstance(e, torch.OutOfMemoryError) else f"{type(e).__name__}: {first_line}"
                print(f"  N={window} b={batch} {mode}: {error}", flush=True)
                rows.append({"window": window, "batch": batch, "compiled": compiled, "error": error})
                continue
            finally:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                torch._dynamo.reset()  # each setting compiles afresh; no cache-size limits carried over
            flops[(window, batch)] = fig.tflop_per_step * 1e12
            row = {**asdict(fig), "setting_s": round(time.perf_counter() - t0, 1)}
            ref = REFERENCE.get((window, batch, compiled))
            row["reference_windows_per_s"] = ref
            row["ratio_to_reference"] = round(fig.windows_per_s / ref, 3) if ref and not args.smoke else None
            rows.append(row)
            print(f"  N={window:>5} b={batch:>4} {mode:<8}: "
                  f"{fig.windows_per_s:>9.1f} windows/s  {fig.tflops:>7.1f} TFLOP/s  "
                  f"peak {fig.peak_mem_gb:>6.2f} GB  ({row['setting_s']:.0f} s incl. build/compile)", flush=True)
            # Written after every setting, so a run cut short still leaves its figures.
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({**header, "rows": rows}, indent=2) + "\n")

    print()
    print("| N | batch | mode | windows/s | TFLOP/s | peak GB | step ms | reference | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mode = "compiled" if r["compiled"] else "eager"
        if "error" in r:
            print(f"| {r['window']} | {r['batch']} | {mode} | {r['error']} | | | | | |")
            continue
        ref = f"{r['reference_windows_per_s']:g}" if r["reference_windows_per_s"] else "-"
        ratio = f"{r['ratio_to_reference']:.2f}" if r["ratio_to_reference"] else "-"
        print(f"| {r['window']} | {r['batch']} | {mode} | {r['windows_per_s']:.1f} | "
              f"{r['tflops']:.1f} | {r['peak_mem_gb']:.2f} | {r['step_ms']:.1f} | {ref} | {ratio} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({**header, "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
