"""Checkpoint directories: written atomically, found again by `--run.resume auto`, pruned to the last K.

    RUN/checkpoints/step-000100/
        model.safetensors, config.json   LMPModel.save_pretrained (LMPModel.from_pretrained loads it)
        train_state.pt                   tensors and plain data only (torch.load(weights_only=True)):
                                         step, optimizer, objectives (Pretrainer weights outside the
                                         model: heads, temperatures), scheduler, sampler, rng
    RUN/checkpoints/last -> step-000100  relative symlink to the newest checkpoint
    RUN/model/                           the final model (save_pretrained), for `lmp probe`, `lmp lvu`, ...

A checkpoint is staged in a hidden sibling directory and renamed into place, so a crash mid-write
leaves either the old set or the new set of checkpoints, never a half-written one.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch

from lmp.atomic import replace_dir
from lmp.model.checkpoint import CheckpointError, load_weights

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
    tmp = root / f".{LAST}-{uuid.uuid4().hex[:8]}"
    os.symlink(target.name, tmp)
    os.replace(tmp, root / LAST)


def save_checkpoint(run_dir: Path, step: int, model: Any, train_state: dict[str, Any], keep: int) -> Path:
    """Write checkpoint `step`, point `last` at it and delete all but the newest `keep` checkpoints."""
    final = step_dir(run_dir, step)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = final.with_name(f".tmp-{final.name}-{uuid.uuid4().hex[:8]}")
    try:
        model.save_pretrained(stage)
        torch.save(train_state, stage / TRAIN_STATE)
        replace_dir(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _point_last(final.parent, final)
    for _, old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def save_final_model(run_dir: Path, model: Any) -> Path:
    """Save the trained model to RUN/model (atomically), where the downstream commands look for it."""
    final = Path(run_dir) / FINAL_MODEL
    stage = final.with_name(f".tmp-{FINAL_MODEL}-{uuid.uuid4().hex[:8]}")
    try:
        model.save_pretrained(stage)
        replace_dir(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return final


def resolve_resume(resume: str, run_dir: Path) -> Path | None:
    """'none' -> None; 'auto' -> the newest complete checkpoint of `run_dir` (None if there is none); else a path."""
    if resume == "none":
        return None
    if resume == "auto":
        found = list_checkpoints(run_dir)
        return found[-1][1] if found else None
    path = Path(resume)
    if path.name == LAST or path.is_symlink():
        path = path.resolve()
    if not _is_complete(path):
        raise CheckpointError(f"run.resume={resume}: {path} is not a complete checkpoint (needs {MODEL_WEIGHTS} and {TRAIN_STATE})")
    return path


def load_train_state(ckpt: Path) -> dict[str, Any]:
    try:
        return torch.load(ckpt / TRAIN_STATE, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, or one holding pickled objects
        raise CheckpointError(f"{ckpt / TRAIN_STATE}: cannot load ({e})") from None


def load_model_weights(model: torch.nn.Module, ckpt: Path) -> None:
    """Load a checkpoint's model.safetensors into an already-built model (strict: every key must match)."""
    state = load_weights(ckpt)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{ckpt / MODEL_WEIGHTS}: does not fit the configured model "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}); was it trained with another model config?"
        )
