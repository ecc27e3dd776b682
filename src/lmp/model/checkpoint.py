"""Checkpoint directories: `model.safetensors` (weights) + `config.json` (the ModelConfig as plain JSON).

Nothing is pickled: weights go through safetensors and the config through JSON, and loading rebuilds
the config with the same strict validation as a YAML config (unknown keys are errors).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from lmp.config import ConfigError, atomic_write_text, from_dict, to_dict
from lmp.errors import LMPError
from lmp.model.config import ModelConfig

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


class CheckpointError(LMPError):
    """A checkpoint directory is missing, incomplete, or does not match its config."""


def save_checkpoint(state: dict[str, torch.Tensor], cfg: ModelConfig, directory: str | os.PathLike) -> Path:
    """Write weights then config, each atomically; a directory with config.json is complete."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # safetensors refuses views into shared storage; contiguous clones are plain tensors.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{WEIGHTS_FILE}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"format": "pt", "lmp": "LMPModel"})
        os.replace(tmp, directory / WEIGHTS_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    atomic_write_text(directory / CONFIG_FILE, json.dumps(to_dict(cfg), indent=2) + "\n")
    return directory


def load_config(directory: str | os.PathLike) -> ModelConfig:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {directory}: no {CONFIG_FILE} (is this an LMP checkpoint directory?)"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"checkpoint {path}: invalid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path}: the top level must be an object")
    try:
        return from_dict(ModelConfig, data, "model")
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from None


def load_weights(directory: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint {directory}: no {WEIGHTS_FILE}")
    try:
        return load_file(path, device=str(device))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"checkpoint {path}: unreadable weights ({e})") from None
