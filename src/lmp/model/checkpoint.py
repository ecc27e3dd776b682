"""Checkpoint directories: `model.safetensors` (weights) + `config.json` (the ModelConfig as plain JSON),
and `checksums.json` (sha256 per file) in the directories the trainer writes.

Nothing is pickled: weights go through safetensors and the config through JSON, and loading rebuilds
the config with the same strict validation as a YAML config (unknown keys are errors). Saving the same
weights twice gives the same bytes; loading checks them against checksums.json when there is one.

The same two files, under the same names, make a Hugging Face Hub model repository (the layout of
huggingface_hub's PyTorchModelHubMixin): `resolve_checkpoint` turns a Hub id into a local directory
(the Hub cache) and `push_checkpoint` uploads one. huggingface_hub is the optional extra `hub`, imported
only for those two, so local directories load with the core dependencies alone and never touch the network.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from lmp.atomic import atomic_write_bytes
from lmp.config import ConfigError, atomic_write_text, from_dict, to_dict
from lmp.errors import LMPError
from lmp.model.card import CARD_FILE
from lmp.model.config import ModelConfig
from lmp.store.writer import sha256_file

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CHECKSUMS_FILE = "checksums.json"
HUB_EXTRA = "pip install 'lmp[hub]'"
# A Hub model id is "name" or "owner/name"; anything else (absolute, ./x, a/b/c, ~/x) can only be a path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


class CheckpointError(LMPError):
    """A checkpoint directory is missing, incomplete, or does not match its config."""


def save_checkpoint(state: dict[str, torch.Tensor], cfg: ModelConfig, directory: str | os.PathLike) -> Path:
    """Write weights then config, each atomically; a directory with config.json is complete.

    Into a directory that already holds a checkpoint, the old config.json and checksums.json go first: a
    save cut short then leaves an incomplete directory (no config.json), never new weights beside the old
    config, and no checksums that describe the old files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in (CONFIG_FILE, CHECKSUMS_FILE):
        (directory / stale).unlink(missing_ok=True)
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
        if name not in sums and name != WEIGHTS_FILE:
            continue  # not recorded (e.g. config.json by an older lmp): nothing to compare with
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
    # An edited config loads silently into the same weights and changes what they compute (context, heads,
    # position): it is held to the checksum saved with them, as the weights are.
    try:
        verify_checksums(directory, [CONFIG_FILE])
    except CheckpointError as e:
        if "damaged" not in str(e):
            raise
        raise CheckpointError(
            f"checkpoint {path}: differs from the config saved with these weights ({CHECKSUMS_FILE}); "
            f"restore it, or delete {CHECKSUMS_FILE} to load the edited config unchecked"
        ) from None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"checkpoint {path}: invalid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path}: the top level must be an object")
    # Checkpoints written before model.position existed added sinusoids to the tokens.
    data.setdefault("position", "sinusoidal")
    # ... and those written before model.standardize_inputs had no feature statistics.
    data.setdefault("standardize_inputs", False)
    # ... and those written before model.recall had none.
    data.setdefault("recall", 0)
    # ... and those written before model.summary_tokens had one [CLS].
    data.setdefault("summary_tokens", "one")
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


# -- the Hugging Face Hub (optional extra `hub`) ---------------------------------------------------------


def looks_like_hub_id(name: str | os.PathLike) -> bool:
    """Whether `name` has the shape of a Hub model id ("name" or "owner/name"), so that a missing local
    path of another shape keeps its plain "no config.json" error instead of a Hub lookup."""
    return bool(_HUB_ID.match(str(name))) and not str(name).endswith((".", "-"))


def _hub(purpose: str) -> Any:
    try:
        import huggingface_hub
    except ImportError:
        raise CheckpointError(f"{purpose} needs huggingface_hub, which is not installed ({HUB_EXTRA})") from None
    return huggingface_hub


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}{'...' if len(text) > 200 else ''}"


def resolve_checkpoint(
    name_or_dir: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
    token: str | bool | None = None,
    local_files_only: bool = False,
) -> Path:
    """The local checkpoint directory for `name_or_dir`: the path itself when it exists or cannot be a Hub
    id (no network, no huggingface_hub), else a Hub model id whose config.json and model.safetensors are
    fetched into the Hub cache (`hf_hub_download`: HF_HUB_OFFLINE, HF_HOME and tokens work as anywhere)."""
    path = Path(name_or_dir)
    if path.exists() or not looks_like_hub_id(name_or_dir):
        return path  # loading names what is missing in it (a path that is not a Hub id cannot be one)
    name = str(name_or_dir)
    hub = _hub(f"checkpoint {name}: not a local directory; loading it as a Hugging Face Hub id")
    from lmp import __version__

    options = {
        "revision": revision, "cache_dir": cache_dir, "force_download": force_download, "token": token,
        "local_files_only": local_files_only, "library_name": "lmp", "library_version": __version__,
    }  # fmt: skip
    try:
        files = [hub.hf_hub_download(repo_id=name, filename=f, **options) for f in (CONFIG_FILE, WEIGHTS_FILE)]
    # huggingface_hub reports offline mode, a missing repo or file and connection failures as OSError
    # subclasses (LocalEntryNotFoundError, HfHubHTTPError, ...) and a malformed id as a ValueError.
    except (OSError, ValueError) as e:
        raise CheckpointError(
            f"checkpoint {name}: neither a local directory nor reachable on the Hugging Face Hub ({_one_line(e)})"
        ) from None
    # Both files of one revision land in the same snapshot directory of the cache.
    return Path(files[0]).parent


def push_checkpoint(
    save: Any,
    repo_id: str,
    *,
    card: str | None,
    commit_message: str,
    private: bool | None,
    token: str | None,
    branch: str | None,
    create_pr: bool | None,
) -> str:
    """Create `repo_id` if needed and upload, in one commit, the directory that `save(dir)` writes plus
    README.md = `card`; returns the commit URL. As PyTorchModelHubMixin.push_to_hub does, through a
    temporary directory, so nothing is left behind locally."""
    hub = _hub(f"push_to_hub({repo_id!r})")
    api = hub.HfApi(token=token)
    repo_id = api.create_repo(repo_id=repo_id, private=private, exist_ok=True).repo_id
    with tempfile.TemporaryDirectory(prefix="lmp-push-") as tmp:
        save(Path(tmp))
        if card is not None:
            atomic_write_text(Path(tmp) / CARD_FILE, card)
        return api.upload_folder(
            repo_id=repo_id, repo_type="model", folder_path=tmp, commit_message=commit_message,
            revision=branch, create_pr=create_pr,
        )  # fmt: skip
