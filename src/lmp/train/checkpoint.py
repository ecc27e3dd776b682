"""Checkpoint directories: written atomically, found again by `--run.resume auto`, pruned to the last K.

    RUN/checkpoints/step-000100/
        model.safetensors, config.json   LMPModel.save_pretrained (LMPModel.from_pretrained loads it)
        train_state.pt                   tensors and plain data only (torch.load(weights_only=True)):
                                         step, optimizer, objectives (Pretrainer weights outside the
                                         model: heads, temperatures), scheduler, sampler, rng
        checksums.json                   sha256 of each file above, verified before resuming
    RUN/checkpoints/last -> step-000100  relative symlink to the newest checkpoint
    RUN/model/                           the final model (save_pretrained + checksums.json), for `lmp probe`, ...

A checkpoint is staged in a hidden sibling directory and renamed into place, so a crash mid-write
leaves either the old set or the new set of checkpoints, never a half-written one (and the next run
deletes the stage).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

import torch

from lmp.atomic import leftovers, remove, replace_dir, stage_path
from lmp.errors import LMPWarning
from lmp.model.checkpoint import CheckpointError, load_state, load_weights, verify_checksums, write_checksums

CHECKPOINTS = "checkpoints"
LAST = "last"
FINAL_MODEL = "model"
TRAIN_STATE = "train_state.pt"
MODEL_WEIGHTS = "model.safetensors"
_STEP_RE = re.compile(r"^step-(\d+)$")


def step_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS / f"step-{step:06d}"


def _is_complete(path: Path) -> bool:
    return (path / TRAIN_STATE).is_file() and (path / MODEL_WEIGHTS).is_file()


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _STEP_RE.match(p.name)
        if m and p.is_dir() and _is_complete(p):
            found.append((int(m.group(1)), p))
    return sorted(found)


def _point_last(root: Path, target: Path) -> None:
    tmp = stage_path(root / LAST)
    os.symlink(target.name, tmp)
    os.replace(tmp, root / LAST)


def _save_dir(final: Path, write) -> Path:
    """Build `final` in a stage (`write(stage)`), record every file's sha256, then swap it into place."""
    stage = stage_path(final)
    try:
        write(stage)
        write_checksums(stage, [p.name for p in stage.iterdir()])
        replace_dir(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return final


def save_checkpoint(run_dir: Path, step: int, model: Any, train_state: dict[str, Any], keep: int) -> Path:
    """Write checkpoint `step`, point `last` at it and delete all but the newest `keep` checkpoints.
    The caller writes only checkpoints with finite weights, so pruning never drops the last good one."""
    final = step_dir(run_dir, step)
    final.parent.mkdir(parents=True, exist_ok=True)

    def write(stage: Path) -> None:
        model.save_pretrained(stage)
        with open(stage / TRAIN_STATE, "wb") as f:
            torch.save(train_state, f)
            f.flush()
            os.fsync(f.fileno())  # durable before the stage is renamed into place (the weights are, too)

    _save_dir(final, write)
    _point_last(final.parent, final)
    for _, old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        if old != final:  # never the one just written, whatever the steps of the others
            shutil.rmtree(old, ignore_errors=True)
    return final


def set_aside_newer(run_dir: Path, step: int) -> list[Path]:
    """Rename the checkpoints of `run_dir` after `step` out of the way (to step-NNNNNN.abandoned-XXXX) when
    a run resumes from `step`: they belong to a continuation the user went back from, so `resume auto`
    must not pick them and pruning must not weigh the new checkpoints against them. They are kept, not
    deleted; returns their new paths."""
    moved = []
    for s, path in list_checkpoints(run_dir):
        if s > step:
            target = path.with_name(f"{path.name}.abandoned-{uuid.uuid4().hex[:8]}")
            os.rename(path, target)
            moved.append(target)
    if moved:
        root = Path(run_dir) / CHECKPOINTS
        if (root / LAST).is_symlink() and not (root / LAST).exists():
            (root / LAST).unlink()
        names = ", ".join(p.name for p in moved)
        warnings.warn(f"{run_dir}: resuming from step {step}: set aside {len(moved)} later checkpoints of the "
                      f"continuation you went back from ({names}); delete them when they are not needed",
                      LMPWarning, stacklevel=2)
    return moved


def set_aside_final_model(run_dir: Path) -> Path | None:
    """Rename RUN/model to RUN/model.previous (replacing an earlier one) when a run continues to train: the
    final model is of the run as it was, and a continuation cut short must not leave it where a caller
    takes it for the continuation's (lmp.train.reuse.finished_model). Returns the new path (None: none)."""
    final = Path(run_dir) / FINAL_MODEL
    if not final.is_dir():
        return None
    previous = final.with_name(f"{FINAL_MODEL}.previous")
    replace_dir(final, previous)
    warnings.warn(f"{run_dir}: this run trains on from an earlier step, so the final model it had is now "
                  f"{previous.name}/; {FINAL_MODEL}/ is written again when the run finishes", LMPWarning, stacklevel=2)
    return previous


def save_final_model(run_dir: Path, model: Any) -> Path:
    """Save the trained model to RUN/model (atomically), where the downstream commands look for it."""
    return _save_dir(Path(run_dir) / FINAL_MODEL, model.save_pretrained)


def remove_leftovers(run_dir: Path) -> None:
    """Delete the stages and moved-aside directories that interrupted saves left in RUN/checkpoints and
    RUN. Only the trainer's main process writes a run, so at its start none of them is in use."""
    stale = leftovers(Path(run_dir) / CHECKPOINTS) + leftovers(Path(run_dir))
    for path in stale:
        remove(path)
    if stale:
        names = ", ".join(str(p.relative_to(run_dir)) for p in stale)
        warnings.warn(f"{run_dir}: removed {len(stale)} leftovers of interrupted checkpoint writes ({names})",
                      LMPWarning, stacklevel=2)


def resolve_resume(resume: str, run_dir: Path) -> Path | None:
    """'none' -> None; 'auto' -> the newest complete and intact checkpoint of `run_dir` (None if there
    is none at all); else that path, which must be complete and intact."""
    if resume == "none":
        return None
    if resume == "auto":
        return _newest_intact(run_dir)
    path = Path(resume)
    if path.name == LAST or path.is_symlink():
        path = path.resolve()
    if not _is_complete(path):
        raise CheckpointError(
            f"run.resume={resume}: {path} is not a complete checkpoint (needs {MODEL_WEIGHTS} and {TRAIN_STATE})"
        )
    verify_checksums(path)
    return path


def _newest_intact(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    damaged = []
    for _, path in reversed(found):
        try:
            verify_checksums(path)
        except CheckpointError as e:
            damaged.append(str(e))
            continue
        if damaged:
            warnings.warn(f"run.resume=auto: resuming from {path}, an older checkpoint, since newer ones are damaged: "
                          f"{'; '.join(damaged)}", LMPWarning, stacklevel=3)
        return path
    if damaged:
        raise CheckpointError(f"run.resume=auto: every checkpoint of {run_dir} is damaged ({'; '.join(damaged)})")
    return None


def load_train_state(ckpt: Path) -> dict[str, Any]:
    """train_state.pt of a checkpoint that `resolve_resume` returned (so its checksums were verified)."""
    try:
        return torch.load(ckpt / TRAIN_STATE, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, or one holding pickled objects
        raise CheckpointError(f"{ckpt / TRAIN_STATE}: cannot load ({e})") from None


def load_model_weights(model: torch.nn.Module, ckpt: Path) -> None:
    """Load a checkpoint's model.safetensors into an already-built model (strict: every key and shape must match)."""
    load_state(model, load_weights(ckpt), ckpt / MODEL_WEIGHTS)
