"""`lmp study data|span|ablate|all`: each writes OUT/<study>/results.{md,csv,json} and a plot.

Several studies with `workers` > 1 (the default for `all`): every pretraining arm the studies use is
trained first, side by side, then the data study's fine-tuning runs (one job each, cached in OUT/finetune)
and the studies run side by side,
each in its own process with `threads` torch threads, their output in OUT/logs/<study>.log. The studies' small models
run fastest on one thread, so one process per core is how a 2-core machine gets both cores working;
the results are the same as one after another (every arm is seeded and cached under OUT/pretrain).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from lmp.config import atomic_write_text
from lmp.studies.config import StudyConfig


def _first_runs(cfg: StudyConfig, names: tuple[str, ...]) -> list[tuple[str, dict, int, float]]:
    """(arm, overrides, pretraining seed, movie fraction) of every pretraining run that the studies `names`
    need, each once. They are trained first, side by side, so the studies' processes then only probe and
    fine-tune: no study waits behind another's pretraining, and the pool spreads the runs evenly over the
    workers (until 2 Dec 2026 the ablation study trained its 13 runs in the process it shared with the span
    study, and that process ended last)."""
    from lmp.studies.ablation import ablation_arms
    from lmp.studies.runner import PER_SHOT, PER_SHOT_OVERRIDES, amount_arm, base_arm, pretrain_seed_list, span_arm

    seeds = pretrain_seed_list(cfg)
    runs: dict[tuple[str, int], tuple[str, dict, int, float]] = {}

    def add(arm: str, overrides: dict, arm_seeds: tuple[int, ...], fraction: float = 1.0) -> None:
        for seed in arm_seeds:
            runs.setdefault((arm, seed), (arm, overrides, seed, fraction))

    if "data" in names or "span" in names:
        add(base_arm(cfg), {}, seeds)
        add(PER_SHOT, PER_SHOT_OVERRIDES, seeds)
    if "data" in names:
        for fraction in cfg.pretrain_fractions:
            if fraction < 1.0:
                add(amount_arm(fraction), {}, (cfg.seed,), fraction)
    if "span" in names:
        for s in cfg.spans:
            add(*span_arm(cfg, s), seeds)
    if "ablate" in names:
        for a in ablation_arms(cfg):
            add(a.arm, a.overrides, a.seeds)
    # Longest windows first: the pool's last job is then a short one, and no worker waits long for it.
    return sorted(runs.values(), key=lambda run: -run[1].get("data", {}).get("window", cfg.window))


def _study(cfg: StudyConfig, name: str) -> dict:
    from lmp.studies.ablation import run_ablate
    from lmp.studies.data_efficiency import run_data
    from lmp.studies.runner import load_corpus
    from lmp.studies.span import run_span

    return {"data": run_data, "span": run_span, "ablate": run_ablate}[name](cfg, load_corpus(cfg))


def _pretrain(cfg: StudyConfig, arm: str, overrides: dict, seed: int, fraction: float) -> Path:
    from lmp.studies.runner import load_corpus, pretrain_arm

    return pretrain_arm(cfg, load_corpus(cfg), arm, overrides, movie_fraction=fraction, seed=seed)


def _finetune_runs(cfg: StudyConfig) -> list[tuple[str, int, bool]]:
    """(name, pretraining seed, random init) of every fine-tuning run the data study pools (finetune_run)."""
    from lmp.studies.runner import arm_run_name, base_arm, pretrain_seed_list

    if not cfg.finetune_fractions:
        return []
    return [
        (f"{arm_run_name(cfg, base_arm(cfg), seed)}{'-random-init' if random_init else ''}", seed, random_init)
        for seed in pretrain_seed_list(cfg) for random_init in (False, True)
    ]  # fmt: skip


def _finetune(cfg: StudyConfig, seed: int, random_init: bool) -> dict:
    from lmp.studies.runner import base_arm, finetune_run, load_corpus, pretrain_arm

    corpus = load_corpus(cfg)
    model_dir = pretrain_arm(cfg, corpus, base_arm(cfg), {}, seed=seed)  # trained in the first phase: found
    return finetune_run(corpus, cfg, model_dir, seed, tuple(sorted(cfg.finetune_fractions)), random_init)


def _in_worker(log: Path, threads: int, job, *args):
    """Run job(*args) in a worker process with `threads` torch threads, its output going to `log`."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", buffering=1) as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        return job(*args)


def _side_by_side(cfg: StudyConfig, names: tuple[str, ...]) -> dict[str, dict]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, as_completed, wait

    from tqdm import tqdm

    from lmp.studies.runner import arm_run_name, arm_view, load_corpus

    corpus = load_corpus(cfg)  # synthesises the corpus once, before any worker needs it
    logs = cfg.out / "logs"
    first = _first_runs(cfg, names)
    # An arm's seeds train side by side on one store view: it is built here, once, so that no run builds it
    # while another reads it (a view that is already right is kept as it is).
    for arm, fraction in dict.fromkeys((a, f) for a, _, _, f in first):
        arm_view(cfg, corpus, arm, fraction)
    print(f"running the {', '.join(names)} studies in {cfg.workers} worker processes "
          f"({cfg.threads or 'default'} thread(s) each); their output: {logs}/")  # fmt: skip
    start = time.monotonic()

    def done(what: str) -> None:
        tqdm.write(f"{what} ({(time.monotonic() - start) / 60:.1f} min since the start)")

    # spawn: a fresh interpreter per worker, not a fork of this one's torch thread pools.
    with ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        trained = {
            pool.submit(_in_worker, logs / f"pretrain-{run}.log", cfg.threads, _pretrain, cfg, *job): run
            for run, job in zip((arm_run_name(cfg, a, s) for a, _, s, _ in first), first)
        }  # future -> the run's name, as pretrain/ names it
        for job in tqdm(as_completed(trained), total=len(trained), desc="pretraining arms", unit="run"):
            done(f"pretrained '{trained[job]}': {job.result()}")  # a run's error stops the command here
        # The data study's fine-tuning runs go first, each its own job, and the data study waits for them:
        # fine-tuning alone is ~26 of its ~35 minutes on the defaults, and as part of it kept one worker busy
        # for 18 minutes after the other had finished (2 Dec 2026). The data study then finds them cached.
        tuning = _finetune_runs(cfg) if "data" in names else []
        jobs = {
            pool.submit(_in_worker, logs / f"finetune-{run}.log", cfg.threads, _finetune, cfg, seed, random_init):
                f"fine-tuning '{run}'"
            for run, seed, random_init in tuning
        }  # fmt: skip
        waiting = [n for n in names if n == "data" and tuning]

        def submit(n: str):
            job = pool.submit(_in_worker, logs / f"{n}.log", cfg.threads, _study, cfg, n)
            jobs[job] = n
            return job

        for n in names:
            if n not in waiting:
                submit(n)
        results, pending = {}, set(jobs)
        with tqdm(total=len(jobs) + len(waiting), desc="studies and fine-tuning runs", unit="job") as bar:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for job in finished:
                    value = job.result()  # a job's error stops the command here
                    bar.update()
                    if jobs[job] in names:
                        results[jobs[job]] = value
                        done(f"{jobs[job]} study done")
                    else:
                        done(f"{jobs[job]} done")
                if waiting and all(jobs[j] in names for j in pending):  # every fine-tuning run is done
                    pending.add(submit(waiting.pop()))
    return {n: results[n] for n in names}  # in the order asked for, whatever order they ended in


def _run(cfg: StudyConfig, names: tuple[str, ...]) -> int:
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.workers > 1 and len(names) > 1:
        summary = _side_by_side(cfg, names)
    else:
        summary = {name: _study(cfg, name) for name in names}
    claims = [c for s in summary.values() for c in s["claims"]]
    for c in claims:
        what = c.get("protocol") or c.get("comparison") or ""
        print(f"claim {c['claim']}{f' ({what})' if what else ''}: {c['verdict']}")
    for s in summary.values():
        print(f"results: {s['dir']}/results.md")
    atomic_write_text(cfg.out / f"summary-{'-'.join(names)}.json", json.dumps(summary, indent=2))
    return 0


def data(cfg: StudyConfig) -> int:
    return _run(cfg, ("data",))


def span(cfg: StudyConfig) -> int:
    return _run(cfg, ("span",))


def ablate(cfg: StudyConfig) -> int:
    return _run(cfg, ("ablate",))


def all_studies(cfg: StudyConfig) -> int:
    return _run(cfg, ("data", "span", "ablate"))
