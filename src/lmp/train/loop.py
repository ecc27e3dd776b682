"""`lmp.train.pretrain(cfg) -> Path`: the pretraining loop, for one process or many (torchrun).

Order of a run: join the process group, open the store, fill the model's input widths from it, seed,
build model + objectives + AdamW, load the checkpoint (resume), write config.yaml and run.json, then
loop: fetch batches, TrainStep, schedule, log every `log_every` steps (the only host syncs),
checkpoint every `ckpt_every` steps. Rank 0 alone writes files; every rank computes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

import lmp
from lmp.config import ConfigError, atomic_write_text, save_config
from lmp.errors import LMPError
from lmp.model import ModelConfig
from lmp.model.card import write_pretrain_card
from lmp.provenance import git_sha
from lmp.store.reader import FeatureStore
from lmp.store.stats import feature_stats
from lmp.train import checkpoint as ckpt
from lmp.train.config import PretrainConfig
from lmp.train.data import WindowSampler, WindowSpec, make_loader, to_device
from lmp.train.distributed import (
    DistInfo,
    all_gather_tensor,
    all_reduce_mean,
    barrier,
    init_distributed,
    shutdown,
)
from lmp.train.logger import RunLogger
from lmp.train.reuse import config_changes, describe_changes
from lmp.train.schedules import lr_at
from lmp.train.step import build_trainer

RUN_INFO = "run.json"


def resolve_model_config(cfg: PretrainConfig, store: FeatureStore) -> ModelConfig:
    """The model config with input_dims from the store's encoders and modalities = what data loads."""
    modalities = cfg.data.modalities or store.modalities
    missing = [m for m in modalities if m not in store.encoders]
    if missing:
        raise LMPError(
            f"data.modalities: store {store.root} has no {missing} features (it has {list(store.modalities)})"
        )
    dims = {m: store.dims[m] for m in modalities}
    clash = {m: (d, dims[m]) for m, d in cfg.model.input_dims.items() if m in dims and d != dims[m]}
    if clash:
        raise LMPError(f"model.input_dims: {clash} (config, store {store.root}) disagree; leave model.input_dims empty")
    return dataclasses.replace(cfg.model, input_dims=dims, modalities=tuple(modalities))


def _rng_state(info: DistInfo) -> dict[str, torch.Tensor]:
    """Every rank's RNG state, stacked [world, ...] (a collective: all ranks call it)."""
    state = {"cpu": all_gather_tensor(torch.get_rng_state(), info)}
    if info.device.type == "cuda":
        state["cuda"] = all_gather_tensor(torch.cuda.get_rng_state(info.device), info)
    return state


def _set_rng_state(state: dict[str, torch.Tensor], info: DistInfo, seed: int, step: int) -> None:
    if state["cpu"].shape[0] == info.world_size:
        # A row of the stacked tensor is a view at an offset into its storage, which set_rng_state rejects
        # (or reads out of bounds): each rank restores a copy of its own row.
        torch.set_rng_state(state["cpu"][info.rank].clone())
        if info.device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"][info.rank].clone(), info.device)
        return
    # A different number of processes: the exact streams cannot continue, so derive fresh ones.
    torch.manual_seed(seed + info.rank + 1_000_003 * step)


def _objective_state(pre: torch.nn.Module, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Pretrainer weights that are not the backbone's (heads, temperatures): saved in train_state.pt."""
    model_keys = {id(t) for t in model.state_dict(keep_vars=True).values()}
    return {k: v.detach().cpu() for k, v in pre.state_dict(keep_vars=True).items() if id(v) not in model_keys}


def _load_objective_state(
    pre: torch.nn.Module, model: torch.nn.Module, state: dict[str, torch.Tensor], where: Path
) -> None:
    expected = set(_objective_state(pre, model))
    if set(state) != expected:
        raise ckpt.CheckpointError(
            f"{where / ckpt.TRAIN_STATE}: objective weights {sorted(set(state) ^ expected)[:5]} do not match "
            "the configured objectives; resume with the same objectives config"
        )
    pre.load_state_dict(state, strict=False)


def pretrain(cfg: PretrainConfig) -> Path:
    """Pretrain on `cfg.store`; returns the directory of the final model (RUN/model)."""
    info = init_distributed(cfg.run.device)
    try:
        return _pretrain(cfg, info)
    finally:
        shutdown(info)


def build_loader(
    cfg: PretrainConfig, store: FeatureStore, info: DistInfo, consumed: int = 0, saved_world: int | None = None
) -> tuple[torch.utils.data.DataLoader, dict[str, torch.Tensor]]:
    """The training stream of this rank (from `consumed` groups on) and a real batch of its shape, read
    outside the stream (build_trainer uses it to find unused parameters). cfg.model must be resolved.
    `saved_world`: the number of processes that consumed `consumed` groups each, when it was not this
    run's (a resume with another number of processes)."""
    groups_per_batch = cfg.data.batch_size // cfg.data.views
    ids = store.ids
    sampler = WindowSampler(
        [store.num_shots(i) for i in ids],
        WindowSpec(
            cfg.data.window, cfg.data.views, cfg.data.min_gap, cfg.data.strided, cfg.data.stride, cfg.data.bucket,
            groups_per_batch,
        ),
        seed=cfg.run.seed,
        rank=info.rank,
        world_size=info.world_size,
        consumed=consumed,
    )
    if saved_world is not None and saved_world != info.world_size:
        sampler.consumed = sampler.relayout(consumed, saved_world)
    loader = make_loader(
        cfg.store,
        ids,
        sampler,
        cfg.model.modalities,
        groups_per_batch,
        cfg.data.workers,
        pin_memory=info.device.type == "cuda",
        pad_multiple=cfg.data.pad_multiple,
    )
    probe = loader.collate_fn([loader.dataset[item] for item in sampler.rank_items(0)[:groups_per_batch]])
    return loader, probe


def _pretrain(cfg: PretrainConfig, info: DistInfo) -> Path:
    run_dir, device = Path(cfg.out), info.device
    store = FeatureStore(cfg.store)
    if len(store) == 0:
        raise LMPError(f"store {cfg.store}: has no movies to pretrain on")
    cfg = dataclasses.replace(cfg, model=resolve_model_config(cfg, store))
    resume_from = ckpt.resolve_resume(cfg.run.resume, run_dir)
    if resume_from is None and cfg.run.resume == "none" and ckpt.list_checkpoints(run_dir):
        raise LMPError(
            f"out={run_dir}: already has checkpoints; pass --run.resume=auto to continue it, or choose a new --out"
        )
    if info.is_main:
        ckpt.remove_leftovers(run_dir)
        # run.resume differs by nature (a run starts with "none" and is continued with "auto"), and out
        # when the run directory was moved.
        resumed = resume_from is not None
        changes = config_changes(run_dir / "config.yaml", cfg, ignore=("run.resume", "out")) if resumed else []
        if changes:  # allowed (e.g. more steps), but the run is then not the one it started as
            message = f"resuming {run_dir} with settings changed since it started: {describe_changes(changes)}"
            warnings.warn(message, stacklevel=2)

    groups_per_batch = cfg.data.batch_size // cfg.data.views
    state = ckpt.load_train_state(resume_from) if resume_from is not None else None
    step, consumed, saved_world = 0, 0, None
    if state is not None:
        step = int(state["step"])
        if info.is_main:
            ckpt.set_aside_newer(run_dir, step)
            if step < cfg.optim.steps:
                ckpt.set_aside_final_model(run_dir)
        # Groups consumed by each rank: a position in the stream whatever the batch size or accumulation;
        # with another number of processes the sampler moves it to theirs (WindowSampler.relayout).
        consumed, saved_world = int(state["sampler"]["consumed"]), int(state["sampler"]["world_size"])

    loader, probe = build_loader(cfg, store, info, consumed, saved_world)
    consumed = loader.sampler.consumed
    # Every rank computes the same statistics (a seeded sample of the store); a resumed run loads its own.
    stats = None
    if cfg.model.standardize_inputs and state is None:
        stats = feature_stats(store, cfg.model.modalities, seed=cfg.run.seed)
    trainer = build_trainer(cfg.model, cfg.objectives, cfg.optim, cfg.run, info, to_device(probe, device), stats)
    model, pre, optimizer = trainer.model, trainer.pretrainer, trainer.optimizer
    if info.world_size > 1 and cfg.data.pad_multiple > 0 and pre.shot_gatherers:
        raise ConfigError(
            f"data.pad_multiple={cfg.data.pad_multiple}: each process pads its batches to its own length, but "
            f"objectives {list(pre.shot_gatherers)} gather every shot's key across the {info.world_size} "
            "processes, which needs one length on all of them; set data.pad_multiple=0, or window negatives"
        )
    if state is not None:
        ckpt.load_model_weights(model, resume_from)
        _load_objective_state(pre, model, state["objectives"], resume_from)
        optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"], info, cfg.run.seed, step)

    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        atomic_write_text(
            run_dir / RUN_INFO,
            json.dumps(
                {
                    "git_sha": git_sha(),
                    "lmp": lmp.__version__,
                    "torch": torch.__version__,
                    "python": platform.python_version(),
                    "world_size": info.world_size,
                    "device": str(device),
                    "resumed_from": str(resume_from) if resume_from else None,
                    # What it trains on, by content: a cached run is reused only for the same movies (reuse.py).
                    "store_fingerprint": store.fingerprint(),
                    "frozen_parameters": trainer.frozen,
                },
                indent=2,
            )
            + "\n",
        )

    wandb = {"project": cfg.run.wandb_project, "mode": cfg.run.wandb_mode, "config": cfg} if cfg.run.wandb else None
    logger = RunLogger(
        run_dir,
        enabled=info.is_main,
        tensorboard=cfg.run.tensorboard,
        resume_step=step if resume_from else None,
        wandb=wandb,
    )
    batches = iter(loader)

    def next_batch() -> dict[str, torch.Tensor]:
        return to_device(next(batches), device)

    windows_per_step = cfg.data.batch_size * cfg.optim.accumulation * info.world_size
    o = cfg.optim
    bar = tqdm(
        total=o.steps, initial=step, desc="pretrain", unit="step", disable=not (info.is_main and cfg.run.progress)
    )
    # The steps since the last log line, summed per term: a checkpoint between two log lines keeps them, so
    # the first line after a resume averages the same steps as the uninterrupted run's.
    sums: dict[str, torch.Tensor] = {}
    steps_in_interval = 0
    if state is not None and state.get("log_interval", {}).get("steps", 0) > 0:
        kept = state["log_interval"]
        sums = {k: v.to(device) for k, v in zip(kept["names"], kept["sums"].unbind(0))}
        steps_in_interval = int(kept["steps"])
    last: dict[str, Any] | None = None  # the last log line, for the model card
    steps_timed, t_last, t_start = 0, time.perf_counter(), time.perf_counter()
    try:
        while step < o.steps:
            lr = lr_at(step, peak=o.lr, warmup=o.warmup, total=o.steps, final_ratio=o.final_lr_ratio)
            terms, grad_norm = trainer.step(next_batch, lr)
            step += 1
            consumed += o.accumulation * groups_per_batch
            steps_in_interval += 1
            steps_timed += 1
            # Running sums stay on the device: no host sync until the log interval.
            for k, v in {**terms, "grad_norm": grad_norm}.items():
                sums[k] = sums[k] + v if k in sums else v
            bar.update(1)
            if step % cfg.run.log_every == 0 or step == o.steps:
                names = sorted(sums)
                means = all_reduce_mean(torch.stack([sums[k] for k in names]) / steps_in_interval, info).tolist()
                now = time.perf_counter()
                record: dict[str, Any] = {"step": step, "lr": lr, **dict(zip(names, means))}
                record["windows_per_s"] = windows_per_step * steps_timed / (now - t_last)
                record["elapsed_s"] = now - t_start
                if not all(map(math.isfinite, means)):
                    raise LMPError(
                        f"pretrain: non-finite loss at step {step} ({record}); lower optim.lr or check the store"
                    )
                logger.log(record)
                last = record
                bar.set_postfix(loss=f"{record['loss']:.4f}", wps=f"{record['windows_per_s']:.1f}")
                sums, steps_in_interval, steps_timed, t_last = {}, 0, 0, time.perf_counter()
            if step % cfg.run.ckpt_every == 0 or step == o.steps:
                _check_finite(step, sums, pre, info)
                interval = _interval_state(sums, steps_in_interval, info)
                _save(run_dir, step, consumed, groups_per_batch, model, pre, optimizer, info, cfg, interval)
    finally:
        bar.close()
        logger.close()

    final = run_dir / ckpt.FINAL_MODEL
    if info.is_main:
        ckpt.save_final_model(run_dir, model)
        # After the weights and outside checksums.json: the card documents them, and users edit it.
        write_pretrain_card(final, model, store, cfg, world_size=info.world_size, last=last)
    barrier(info)
    return final


def _check_finite(step: int, sums: dict[str, torch.Tensor], pre: torch.nn.Module, info: DistInfo) -> None:
    """Refuse to checkpoint a diverged run: a NaN/inf loss term since the last log line (those before it
    were checked there) or weight. Checkpoints rotate, so a bad one would push out the last good one.
    A collective: every rank must take the same decision."""
    flags = [torch.isfinite(v).all() for v in sums.values()] + [torch.isfinite(p).all() for p in pre.parameters()]
    if all_reduce_mean(torch.stack(flags).all().float(), info).item() < 1:
        raise LMPError(
            f"pretrain: non-finite loss or weights at step {step}; no checkpoint written, the earlier ones are "
            "kept; lower optim.lr or check the store"
        )


def _interval_state(sums: dict[str, torch.Tensor], steps: int, info: DistInfo) -> dict[str, Any]:
    """The unlogged steps' sums, averaged over ranks (a collective): what the next log line would average
    them into, since the mean over ranks of (kept + new) is kept + the mean of the new."""
    names = sorted(sums)
    kept = all_reduce_mean(torch.stack([sums[k] for k in names]), info).cpu() if names else torch.zeros(0)
    return {"names": names, "sums": kept, "steps": steps}


def _save(
    run_dir: Path,
    step: int,
    consumed: int,
    groups_per_batch: int,
    model: torch.nn.Module,
    pre: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    info: DistInfo,
    cfg: PretrainConfig,
    log_interval: dict[str, Any],
) -> None:
    rng = _rng_state(info)  # collective: before the rank-0-only part
    if info.is_main:
        state = {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "objectives": _objective_state(pre, model),
            "scheduler": {"name": "warmup_cosine", "step": step},
            "sampler": {
                "consumed": consumed,
                "world_size": info.world_size,
                "groups_per_batch": groups_per_batch,
                "seed": cfg.run.seed,
            },
            "rng": rng,
            "log_interval": log_interval,
            "world_size": info.world_size,
        }
        ckpt.save_checkpoint(run_dir, step, model, state, keep=cfg.run.keep_checkpoints)
    barrier(info)
