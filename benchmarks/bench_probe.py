"""Transfer speed: encode and fit seconds of `lmp probe`'s linear and attentive probes on a MovieWorld corpus.

    .venv/bin/python benchmarks/bench_probe.py                  # demo preset (240 movies), tiny random-init model
    .venv/bin/python benchmarks/bench_probe.py --wide --representations raw --no_boundary
                                                                # 300 movies of <= 256 shots, raw features at the
                                                                # real encoders' widths (1280 + 512 + 384 = 2,176-d)

Per representation, in one process sharing one EncodingCache as `lmp probe --protocols linear,attentive`
does: encode the clip task `genre` (train/val/test vectors; the cache keeps the attentive probe's tokens
from the same pass), its tokens, `director` (the same clips: served by the cache), the boundary task
`scene_boundary` (every movie, overlapping windows), then fit the linear probe on genre and on
scene_boundary and the attentive probe on genre with the `lmp probe` defaults (ProbeOptions), one
seed. Prints seconds per phase and the test metric (so that a faster fit is seen to give the same
numbers). The corpus is generated once into $LMP_BENCH_DIR (default ~/.cache/lmp) and reused. Runs
against older lmp too (no cache there: every task encodes again), which is how the "before" figures in
docs/benchmarks.md were taken. Prints figures; not a timed test.
"""

from __future__ import annotations

import argparse
import inspect
import os
import time
from pathlib import Path


def corpus(wide: bool) -> Path:
    """The benchmark corpus directory (generated on first use)."""
    from lmp.config import from_dict
    from lmp.synth.config import SynthConfig
    from lmp.synth.generate import generate

    root = Path(os.environ.get("LMP_BENCH_DIR", Path.home() / ".cache" / "lmp"))
    out = root / ("bench-probe-wide" if wide else "bench-probe-demo")
    if not (out / "corpus.json").is_file():
        extra = {"num_movies": 300, "min_shots": 180, "max_shots": 256, "visual_dim": 1280, "audio_dim": 512,
                 "text_dim": 384} if wide else {}  # fmt: skip
        cfg = {"preset": "demo", "out": str(out), "progress": False, "overwrite": True, **extra}
        generate(from_dict(SynthConfig, cfg))
    return out


def _accepts(fn, name: str) -> bool:
    return name in inspect.signature(fn).parameters


class Clock:
    def __init__(self) -> None:
        self.total = 0.0

    def __call__(self, what: str, fn, note=lambda result: ""):
        t = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t
        self.total += seconds
        print(f"  {what:<46} {seconds:8.2f} s  {note(result)}", flush=True)
        return result


def bench_representation(r: str, store, model, tasks: dict, shared: dict, args, clock: Clock) -> None:
    """Encode and fit the phases of one representation (see the module docstring)."""
    from lmp.tasks import features
    from lmp.tasks.evaluate import ProbeOptions, _boundary_meta, _tokens
    from lmp.tasks.probe import attentive_probe, linear_probe

    o = ProbeOptions()
    quiet = {"progress": False} if _accepts(linear_probe, "progress") else {}
    width = {"max_width": args.attentive_max_width} if _accepts(attentive_probe, "max_width") else {}
    rep = features.Representer(store, model, r, progress=False, **shared)
    genre, director, boundary = tasks["genre"], tasks["director"], tasks["scene_boundary"]
    x = clock(f"{r}: encode genre (vectors)", lambda: rep.task(genre))
    tok = clock(f"{r}: encode genre (attentive tokens)", lambda: {s: _tokens(rep, genre, s) for s in x})
    clock(f"{r}: encode director (same clips)", lambda: rep.task(director))
    xb = None if args.no_boundary else clock(f"{r}: encode scene_boundary (movies)", lambda: rep.task(boundary))

    def linear(data, task):
        return linear_probe(
            *data["train"], *data["val"], *data["test"], task.spec.type, metric=task.spec.metric,
            num_classes=task.spec.num_classes, weight_decays=o.linear_weight_decays, steps=o.linear_steps,
            seed=args.seed, meta=_boundary_meta(task), **quiet,
        )  # fmt: skip

    def attentive():
        y = {s: genre.targets(s) for s in tok}
        return attentive_probe(
            (*tok["train"], y["train"]), (*tok["val"], y["val"]), (*tok["test"], y["test"]), genre.spec.type,
            metric=genre.spec.metric, num_classes=genre.spec.num_classes, weight_decays=o.attentive_weight_decays,
            steps=args.attentive_steps, lr=o.attentive_lr, seed=args.seed, **quiet, **width,
        )  # fmt: skip

    def note(metric: str, extra: str = ""):
        def text(res) -> str:
            return f"test {metric} {res['test'][metric]:.4f} (wd {res['weight_decay']:g}, step {res['step']}){extra}"

        return text

    clock(f"{r}: fit linear genre", lambda: linear(x, genre), note("accuracy"))
    if xb is not None:
        clock(f"{r}: fit linear scene_boundary", lambda: linear(xb, boundary), note("AP"))
    clock(f"{r}: fit attentive genre ({args.attentive_steps} steps)", attentive,
          note("accuracy", f", train tokens {tuple(tok['train'][0].shape)}"))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wide", action="store_true", help="raw features at the real encoders' widths (2,176-d)")
    p.add_argument("--corpus", type=Path, help="a MovieWorld directory to use instead of the generated one")
    p.add_argument("--representations", default="cls,raw", help="comma-separated")
    p.add_argument("--threads", type=int, default=1, help="torch threads (lmp probe's default is 1)")
    p.add_argument("--attentive_steps", type=int, default=300, help="fewer to time the old attentive probe")
    p.add_argument("--attentive_max_width", type=int, default=512, help="0: no projection (the exact head at d)")
    p.add_argument("--no_boundary", action="store_true", help="skip scene_boundary (big at --wide: 3 x 2,176-d)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import torch

    from lmp.labels import read_task
    from lmp.store import FeatureStore
    from lmp.tasks import features
    from lmp.tasks.loading import load_model

    torch.set_num_threads(args.threads)
    # The first optimiser of a process imports ~3 s of torch modules: not a probe's cost, so paid here.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    root = args.corpus or corpus(args.wide)
    store = FeatureStore(root / "store")
    tasks = {n: read_task(root / "labels" / n).restrict(store) for n in ("genre", "director", "scene_boundary")}
    model = load_model(None, store, random_init=True)  # the tiny preset, as `lmp probe --random_init`
    shared = {"cache": features.EncodingCache(tokens=True)} if hasattr(features, "EncodingCache") else {}
    print(f"corpus {root}: {len(store)} movies, raw width {sum(store.dims.values())}, threads {args.threads}, "
          f"{'with' if shared else 'without'} an encoding cache")  # fmt: skip
    clock = Clock()
    for r in args.representations.split(","):
        bench_representation(r, store, model, tasks, shared, args, clock)
    print(f"total {clock.total:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
