"""Checkpoint directories: `model.safetensors` (weights) + `config.json` (the ModelConfig as plain JSON),
and `checksums.json` (sha256 per file) in the directories the trainer writes.

Nothing is pickled: weights go through safetensors and the config through JSON, and loading rebuilds
the config with the same strict validation as a YAML config (unknown keys are errors). Saving the same
weights twice gives the same bytes; loading checks them against checksums.json when there is one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from lmp.atomic import atomic_write_bytes
from lmp.config import ConfigError, atomic_write_text, from_dict, to_dict
from lmp.errors import LMPError
from lmp.model.config import ModelConfig
from lmp.store.writer import sha256_file

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CHECKSUMS_FILE = "checksums.json"


class CheckpointError(LMPError):
    """A checkpoint directory is missing, incomplete, or does not match its config."""


def save_checkpoint(state: dict[str, torch.Tensor], cfg: ModelConfig, directory: str | os.PathLike) -> Path:
    """Write weights then config, each atomically; a directory with config.json is complete."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # safetensors refuses views into shared storage; contiguous clones are plain tensors.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    atomic_write_bytes(directory / WEIGHTS_FILE, _safetensors_bytes(tensors, {"format": "pt", "lmp": "LMPModel"}))
    atomic_write_text(directory / CONFIG_FILE, json.dumps(to_dict(cfg), indent=2) + "\n")
    return directory


def _safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """The safetensors file, with its JSON header's keys sorted: the library orders metadata as a hash
    map does, so two saves of the same weights would differ in bytes (and checksums)."""
    data = save(tensors, metadata=metadata)
    size = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8 : 8 + size]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # the format pads the header so the tensor data is 8-byte aligned
    return len(header).to_bytes(8, "little") + header + data[8 + size :]


def write_checksums(directory: str | os.PathLike, names: Iterable[str]) -> None:
    """Record the sha256 of the files `names` in `directory`/checksums.json, so that loading can
    refuse a damaged file instead of silently using it."""
    directory = Path(directory)
    sums = {name: sha256_file(directory / name) for name in sorted(names)}
    atomic_write_text(directory / CHECKSUMS_FILE, json.dumps(sums, indent=2) + "\n")


def verify_checksums(directory: str | os.PathLike, names: Iterable[str] | None = None) -> None:
    """Raise CheckpointError naming the first of `names` (default: every recorded file) that is missing
    or differs from checksums.json. A directory without checksums.json (save_pretrained alone, or an
    older lmp) is not checked."""
    path = Path(directory) / CHECKSUMS_FILE
    if not path.is_file():
        return
    try:
        sums = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {path}: unreadable ({e})") from None
    for name in sums if names is None else names:
        try:
            ok = sha256_file(Path(directory) / name) == sums.get(name)
        except OSError as e:
            raise CheckpointError(f"checkpoint {Path(directory) / name}: unreadable ({e})") from None
        if not ok:
            raise CheckpointError(
                f"checkpoint {Path(directory) / name}: damaged (sha256 differs from {CHECKSUMS_FILE})"
            )


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], where: str | os.PathLike) -> None:
    """Load `state` into `model` strictly. A missing, unexpected or wrong-shaped tensor raises a
    CheckpointError naming `where` and the tensor (torch raises a long RuntimeError for a shape)."""
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {where}: weights do not match the model config "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]}); was it trained with another model config?"
        )
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"checkpoint {where}: tensor '{name}' has shape {list(tensor.shape)} but the model config "
                f"gives it {list(expected[name].shape)}; was it trained with another model config?"
            )
    model.load_state_dict(state)


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
    # Checkpoints written before model.position existed added sinusoids to the tokens.
    data.setdefault("position", "sinusoidal")
    try:
        return from_dict(ModelConfig, data, "model")
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from None


def load_weights(directory: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint {directory}: no {WEIGHTS_FILE}")
    verify_checksums(directory, [WEIGHTS_FILE])
    try:
        return load_file(path, device=str(device))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"checkpoint {path}: unreadable weights ({e})") from None
