"""The frozen-encoder interface and the registry that builds encoders by name.

Every frozen encoder turns a list of items of one modality into one float32 row per item:

    enc = get_encoder("efficientnet-lite0", device="cpu")
    enc.name, enc.modality, enc.dim
    enc.encode(items) -> np.ndarray float32 [len(items), enc.dim]

    visual: items are uint8 arrays [F, H, W, 3] (RGB frames sampled from ONE shot); the shot embedding
            is the mean of its frame embeddings. `enc.input_size = (H, W)` is the frame size the model
            wants; other sizes are resized (bilinear), so decoding straight to input_size saves time.
    audio:  items are float32 mono waveforms (1-D arrays) at `enc.sample_rate` Hz; a waveform shorter
            than the encoder's window is zero-padded, an empty one is embedded as silence.
    text:   items are strings; an empty / whitespace-only string gives an all-zero row (the ingest
            pipeline marks such shots text-absent, so the row is never read as a real feature).

Encoders are frozen (eval mode, no gradients, `torch.inference_mode`), deterministic, batched internally
(`batch_size`), and run in fp16 on CUDA by default (`precision="auto"`); the output is always float32
numpy on the CPU.

The registry maps a name to an `EncoderEntry` (modality, dim, where the class lives, which packages it
needs). Targets are "module:attr" strings so `import lmp.encoders` stays cheap: a backend's heavy package
(torch models, sentence-transformers, ...) is imported only when that encoder is built.

An entry with an `arg` is named with a value, `NAME:VALUE`: `clip:ViT-B-16` is the `clip` entry with
`arch="ViT-B-16"`. That full string is the encoder's name everywhere (store manifest, ingest config), so
two architectures never share a name. Local weights go in the entry's `weights_arg` keyword.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from lmp.errors import LMPError
from lmp.modality import MODALITIES

PRECISIONS = ("auto", "fp32", "fp16")


class EncoderError(LMPError):
    """An encoder cannot be built or run: unknown name, missing package or weights, bad input item."""


@dataclass(frozen=True)
class EncoderEntry:
    """What the registry knows about an encoder without building it."""

    name: str
    """Registry name, e.g. 'efficientnet-lite0'; recorded in the store manifest."""
    modality: str
    """One of lmp.modality.MODALITIES."""
    dim: int | None
    """Output width D, or None when it depends on build arguments (e.g. a CLIP architecture)."""
    target: str | Callable[..., FrozenEncoder]
    """The encoder class/factory, or a lazy 'module:attr' string naming it."""
    packages: tuple[str, ...] = ()
    """pip distributions the encoder needs (named in the error when one is missing)."""
    modules: tuple[str, ...] = ()
    """Importable module names that must be present (checked by `is_available`)."""
    description: str = ""
    """One line: what the features capture."""
    defaults: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments passed to the target before the caller's own."""
    arg: str = ""
    """Keyword that the `NAME:VALUE` form sets (e.g. 'arch' for 'clip:ViT-B-16'); '' = the name takes no VALUE."""
    arg_dims: dict[str, int] = field(default_factory=dict)
    """Accepted VALUEs of `arg` -> output width (known without building); empty = any VALUE, width unknown."""
    weights_arg: str = ""
    """Keyword that takes a local weights file or folder (e.g. 'weights_path'); '' = no weights option."""
    weights_required: bool = False
    """True when no weights ship with the encoder's packages, so `weights_arg` must be given (CLIP, CLAP)."""

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"encoder {self.name!r}: modality {self.modality!r} not in {list(MODALITIES)}")
        if self.dim is not None and self.dim <= 0:
            raise ValueError(f"encoder {self.name!r}: dim must be positive, got {self.dim}")
        if self.weights_required and not self.weights_arg:
            raise ValueError(f"encoder {self.name!r}: weights_required needs weights_arg")

    @property
    def usage(self) -> str:
        """How to name it: 'efficientnet-lite0', or 'clip:ARCH' for an entry that takes a VALUE."""
        return f"{self.name}:{self.arg.upper()}" if self.arg else self.name

    def missing_modules(self) -> list[str]:
        return [m for m in self.modules if importlib.util.find_spec(m) is None]

    def resolve(self) -> Callable[..., FrozenEncoder]:
        if not isinstance(self.target, str):
            return self.target
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


_REGISTRY: dict[str, EncoderEntry] = {}


def register(
    name: str,
    modality: str,
    dim: int | None,
    target: str | Callable[..., FrozenEncoder] | None = None,
    *,
    packages: Sequence[str] = (),
    modules: Sequence[str] = (),
    description: str = "",
    overwrite: bool = False,
    arg: str = "",
    arg_dims: dict[str, int] | None = None,
    weights_arg: str = "",
    weights_required: bool = False,
    **defaults: Any,
):
    """Register an encoder. With `target` it registers directly; without, it is a class decorator:

    @register("my-audio", modality="audio", dim=64)
    class MyAudio(FrozenEncoder): ...

    `arg`, `arg_dims`, `weights_arg` and `weights_required` are the EncoderEntry fields of the same names;
    other keyword arguments are defaults for the target.
    """

    def add(tgt: str | Callable[..., FrozenEncoder]):
        if ":" in name or "+" in name:
            raise ValueError(f"encoder name {name!r}: ':' and '+' are reserved for NAME:VALUE and A+B")
        if name in _REGISTRY and not overwrite:
            raise ValueError(f"encoder {name!r} is already registered (pass overwrite=True to replace it)")
        _REGISTRY[name] = EncoderEntry(
            name=name,
            modality=modality,
            dim=dim,
            target=tgt,
            packages=tuple(packages),
            modules=tuple(modules),
            description=description,
            defaults=dict(defaults),
            arg=arg,
            arg_dims=dict(arg_dims or {}),
            weights_arg=weights_arg,
            weights_required=weights_required,
        )
        return tgt

    return add(target) if target is not None else add


def encoder_entry(name: str) -> EncoderEntry:
    """The registry entry for `name` (modality, dim, packages) without building the encoder.

    For `NAME:VALUE` (e.g. 'clip:ViT-B-16') it is NAME's entry completed with VALUE: named after the whole
    string, its `arg` set in `defaults` and its `dim` from `arg_dims`. Raises EncoderError listing the
    choices for an unknown name or VALUE.

    `A+B` (e.g. 'aisfx+voice') is the composite of registered encoders of one modality: its rows are A's
    row then B's, its dim the sum, its packages the union (lmp.encoders.composite). It takes no weights.
    """
    if "+" in name:
        return _composite_entry(name)
    base, sep, value = name.partition(":")
    entry = _REGISTRY.get(base)
    if entry is None:
        known = ", ".join(sorted(e.usage for e in _REGISTRY.values()))
        raise EncoderError(f"unknown encoder {base!r}; registered encoders: {known}")
    if not entry.arg:
        if sep:
            raise EncoderError(f"encoder {base!r} takes no ':VALUE', got {name!r}")
        return entry
    choices = f"; {entry.arg} is one of: {', '.join(entry.arg_dims)}" if entry.arg_dims else ""
    if not value:
        raise EncoderError(f"encoder {base!r} needs its {entry.arg}: write {entry.usage}{choices}")
    if entry.arg_dims and value not in entry.arg_dims:
        raise EncoderError(f"encoder {name!r}: unknown {entry.arg} {value!r}{choices}")
    return replace(entry, name=name, dim=entry.arg_dims.get(value, entry.dim),
                   defaults={**entry.defaults, entry.arg: value}, arg="", arg_dims={})


def _composite_entry(name: str) -> EncoderEntry:
    """The entry of 'A+B[+...]': each part must be a registered encoder name of the same modality."""
    names = name.split("+")
    if "" in names or len(set(names)) != len(names):
        raise EncoderError(f"composite encoder {name!r}: write distinct names joined by '+', e.g. 'aisfx+voice'")
    parts = [encoder_entry(n) for n in names]
    if len({p.modality for p in parts}) > 1:
        kinds = ", ".join(f"{p.name} ({p.modality})" for p in parts)
        raise EncoderError(f"composite encoder {name!r}: parts must share one modality, got {kinds}")
    needs = [p.name for p in parts if p.weights_required]
    if needs:
        # A composite takes no weights option, so a part without shipped weights could never be built.
        raise EncoderError(f"composite encoder {name!r}: {needs} need local weights; composites take none")
    dims = [p.dim for p in parts]
    return EncoderEntry(
        name=name,
        modality=parts[0].modality,
        dim=None if None in dims else sum(d for d in dims if d is not None),
        target="lmp.encoders.composite:CompositeEncoder",
        packages=tuple(dict.fromkeys(pkg for p in parts for pkg in p.packages)),
        modules=tuple(dict.fromkeys(m for p in parts for m in p.modules)),
        description=" + ".join(p.description or p.name for p in parts),
        defaults={"parts": tuple(names)},
    )


def list_encoders(modality: str | None = None, available_only: bool = False) -> dict[str, list[str]]:
    """Registered encoder names grouped by modality ({modality: [names]}, every modality present); an entry
    that takes a VALUE is listed as it is written, e.g. 'clip:ARCH'.

    `available_only` keeps those whose Python modules are importable (weights are not checked).
    """
    if modality is not None and modality not in MODALITIES:
        raise EncoderError(f"unknown modality {modality!r}; choose from {list(MODALITIES)}")
    out: dict[str, list[str]] = {m: [] for m in MODALITIES if modality in (None, m)}
    for entry in _REGISTRY.values():
        if entry.modality in out and not (available_only and entry.missing_modules()):
            out[entry.modality].append(entry.usage)
    return {m: sorted(names) for m, names in out.items()}


def is_available(name: str) -> bool:
    """True when the encoder's Python modules are importable (its weights may still be missing)."""
    return not encoder_entry(name).missing_modules()


def get_encoder(name: str, device: str = "cpu", **kwargs: Any) -> FrozenEncoder:
    """Build a frozen encoder by registry name ('efficientnet-lite0', 'clip:ViT-B-16') on `device`
    ('cpu', 'cuda', 'cuda:1', 'auto').

    Extra keyword arguments go to the encoder (e.g. `batch_size`, `precision`, `weights_path`).
    Raises EncoderError naming the pip package to install or the weights file that is missing.
    """
    entry = encoder_entry(name)
    missing = entry.missing_modules()
    if missing:
        pkgs = " ".join(entry.packages) or " ".join(missing)
        raise EncoderError(
            f"encoder {name!r} needs Python module(s) {missing} which are not installed; "
            f"install with: pip install {pkgs}"
        )
    enc = entry.resolve()(device=device, **{**entry.defaults, **kwargs})
    enc.name = name
    if enc.modality != entry.modality:
        raise EncoderError(
            f"encoder {name!r} built a {enc.modality!r} encoder, registry says {entry.modality!r}"
        )
    if entry.dim is not None and enc.dim != entry.dim:
        raise EncoderError(f"encoder {name!r} has dim {enc.dim}, registry says {entry.dim}")
    return enc


def package_version(dist: str) -> str | None:
    """Installed version of a pip distribution, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def resolve_device(device: Any) -> Any:
    """lmp.device.resolve_device ('auto' -> cuda when available else cpu; checked), failing as an
    EncoderError so that callers of the encoders catch one exception type."""
    from lmp.device import DeviceError
    from lmp.device import resolve_device as _resolve

    try:
        return _resolve(device)
    except DeviceError as e:
        raise EncoderError(str(e)) from None


def resolve_dtype(precision: str, device: Any) -> Any:
    """'auto' = fp16 on CUDA, fp32 elsewhere (fp16 CPU kernels are slow and some are missing)."""
    import torch

    if precision not in PRECISIONS:
        raise EncoderError(f"precision {precision!r} not in {list(PRECISIONS)}")
    if precision == "fp16" or (precision == "auto" and torch.device(device).type == "cuda"):
        return torch.float16
    return torch.float32


def freeze(module: Any) -> Any:
    """eval() + requires_grad False: the encoder is a fixed feature extractor."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


class FrozenEncoder(ABC):
    """Base class: subclasses set `modality`, `dim` (and `input_size` / `sample_rate`) and implement
    `_encode_batch`; `encode` validates items, batches them and returns float32 [N, dim]."""

    name: str = ""
    """Registry name (set by get_encoder)."""
    modality: str = ""
    """'visual', 'audio' or 'text'."""
    dim: int = 0
    """Output feature width."""
    packages: tuple[str, ...] = ()
    """pip distributions whose versions `info()` records (weights + code)."""

    def __init__(self, device: Any = "cpu", batch_size: int = 32, precision: str = "auto"):
        if batch_size <= 0:
            raise EncoderError(f"batch_size must be positive, got {batch_size}")
        self.name = self.name or type(self).__name__  # get_encoder sets the registry name
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(precision, self.device)
        self.batch_size = batch_size

    @abstractmethod
    def _encode_batch(self, items: list[Any]) -> np.ndarray:
        """Embed at most `batch_size` already-validated items -> float array [len(items), dim]."""

    def _check_item(self, i: int, item: Any) -> Any:
        """Validate / normalise one input item; raise EncoderError naming index `i`."""
        return item

    def encode(self, items: Sequence[Any]) -> np.ndarray:
        """Embed items -> np.ndarray float32 [len(items), dim] (see the module docstring for item types)."""
        import torch

        if isinstance(items, (str, np.ndarray)):
            raise EncoderError(
                f"{self.name}: encode() takes a list of items, got a single {type(items).__name__}"
            )
        checked = [self._check_item(i, it) for i, it in enumerate(items)]
        out = np.zeros((len(checked), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(checked), self.batch_size):
                chunk = checked[start : start + self.batch_size]
                emb = np.asarray(self._encode_batch(chunk), dtype=np.float32)
                if emb.shape != (len(chunk), self.dim):
                    raise EncoderError(
                        f"{self.name}: backend returned {emb.shape}, expected ({len(chunk)}, {self.dim})"
                    )
                out[start : start + len(chunk)] = emb
        if not np.isfinite(out).all():
            raise EncoderError(
                f"{self.name}: non-finite features (precision {self.dtype}); try precision='fp32'"
            )
        return out

    def info(self) -> dict[str, Any]:
        """What to record in a store manifest: name, modality, dim and the versions of its packages."""
        d: dict[str, Any] = {"name": self.name, "modality": self.modality, "dim": int(self.dim)}
        if getattr(self, "input_size", None) is not None:
            d["input_size"] = list(self.input_size)
        if getattr(self, "sample_rate", None) is not None:
            d["sample_rate"] = int(self.sample_rate)
        d["packages"] = self.package_versions()
        return d

    def package_versions(self) -> dict[str, str | None]:
        """{pip distribution: installed version} of the packages whose code and shipped weights make the
        features; recorded with each ingested movie, so that a store never mixes two versions' features."""
        return {p: package_version(p) for p in self.packages}

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, modality={self.modality!r}, dim={self.dim}, "
            f"device={self.device})"
        )
