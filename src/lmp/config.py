"""Typed configuration: dataclasses with one-line field docs, resolved as defaults <- YAML <- overrides.

A config is a (nested) dataclass. Each field carries its documentation as an attribute docstring,
the string literal on the line below it; `field_docs` reads them for `--help`:

    @dataclass
    class OptimConfig:
        lr: float = 3e-4
        \"\"\"Peak learning rate.\"\"\"

Resolution order for a run: the dataclass defaults, then each YAML file (a partial dict, applied in
order), then `--a.b=c` overrides. A class that defines ``presets()`` (name -> dict) accepts a ``preset``
key: the preset's values are applied first and the other keys of the same dict on top of it.
Unknown keys and presets are errors that name the key, list the valid ones and suggest the closest
one (`did_you_mean`).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import inspect
import math
import os
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from lmp.atomic import atomic_write_bytes
from lmp.errors import LMPError

T = TypeVar("T")


class ConfigError(LMPError, ValueError):
    """A config value, key or file is invalid; the message names it."""


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str | None:
    """The choice closest to a mistyped `word` (difflib), or None when none is close.

    Dotted names are compared whole first (`optim.lr_warmup` -> `optim.warmup`), then by their last part,
    so a field given at the wrong depth is found too (`warmup` -> `optim.warmup`)."""
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return close[0]
    last = word.rsplit(".", 1)[-1]
    by_last = [c for c in choices if c.rsplit(".", 1)[-1] == last]
    if len(by_last) == 1:
        return by_last[0]
    return None


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a dataclass (and its bases), keyed by field name."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, nxt in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _finite(value: Any, where: str, expected: str) -> float:
    """`value` as a float; NaN and inf are refused here, since no range check downstream catches NaN."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {expected}, got {value!r}") from None
    if not math.isfinite(f):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return f


BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False, "1": True, "0": False}
"""How a bool may be spelled on the command line or in YAML (case-insensitive)."""


class CommandLineValue(str):
    """The text of a `--key=value` override, with what YAML makes of it in `parsed`. String and path
    fields take the text as written: YAML 1.1 reads 0012 as the octal number 10, 2024-06-01 as a date,
    yes as true, 1.10 as 1.1. Every other field takes the parsed value."""

    parsed: Any


def _takes_text(tp: Any) -> bool:
    args = typing.get_args(tp)
    return tp in (str, Path) or (typing.get_origin(tp) is typing.Literal and all(isinstance(a, str) for a in args))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert a YAML-parsed value to the annotated type, or raise a ConfigError naming `where`."""
    if isinstance(value, CommandLineValue):
        base, optional = _strip_optional(tp)
        if optional and (value.parsed is None or value == ""):
            value = None  # `--checkpoint=` or `--checkpoint=null`: unset
        else:
            value = str(value) if _takes_text(base) else value.parsed
    tp, optional = _strip_optional(tp)
    if value is None:
        if optional or tp is Any:
            return None
        raise ConfigError(f"{where}: null is not allowed (expected {getattr(tp, '__name__', tp)})")
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, (int, float)):
            value = [value]  # `--seeds 0` means a one-element list
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, (str, int)) and str(value).lower() in BOOL_WORDS:
            return BOOL_WORDS[str(value).lower()]
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value  # exactly: through a float, 2**53 + 1 became 2**53
        f = _finite(value, where, "an integer")
        if f != int(f):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(f)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return _finite(value, where, "a number")
    if tp is str:
        return str(value)
    if tp is Path:
        if not isinstance(value, (str, os.PathLike)) or str(value) == "":
            # Path("") is the current directory: an unset shell variable would write into it.
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(value)
    return value


def apply_preset(cls: type, data: dict[str, Any], where: str = "") -> dict[str, Any]:
    """`data` with its "preset" key replaced by that preset's values, the other keys of `data` on top.

    The one place presets are applied (`from_dict`, and `cls(preset=...)` of classes decorated with
    `preset_init`): every key given in `data` wins, also when its value equals the field's default."""
    data = dict(data)
    if "preset" not in data or not hasattr(cls, "presets"):
        return data
    name = data.pop("preset")
    presets = cls.presets()
    if name not in presets:
        best = did_you_mean(name, presets) if isinstance(name, str) else None
        hint = f"; did you mean {best!r}?" if best else ""
        raise ConfigError(
            f"{where or cls.__name__}.preset: unknown preset {name!r}; choose from {sorted(presets)}{hint}"
        )
    return _deep_merge(dict(presets[name]), data)


def preset_init(where: str) -> typing.Callable[[type[T]], type[T]]:
    """Class decorator for a config dataclass with `presets()`: `cls(preset=NAME, **values)` builds the
    preset with `values` on top, exactly as `from_dict(cls, {"preset": NAME, **values})` does but
    without converting types (`apply_preset`). `where` names the config in errors (e.g. "model")."""

    def decorate(cls: type[T]) -> type[T]:
        generated = cls.__init__
        signature = inspect.signature(generated)

        @functools.wraps(generated)
        def __init__(self, *args: Any, preset: str | None = None, **kwargs: Any) -> None:
            if preset is not None:
                given = signature.bind_partial(self, *args, **kwargs).arguments
                given.pop("self")
                kwargs = apply_preset(cls, {"preset": preset, **given}, where)
                args = ()
            generated(self, *args, **kwargs)

        params = list(signature.parameters.values())
        params.append(inspect.Parameter("preset", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="str"))
        __init__.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        cls.__init__ = __init__  # type: ignore[method-assign]
        return cls

    return decorate


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build a dataclass from a (partial) dict, strictly: unknown keys raise ConfigError."""
    merged = apply_preset(cls, data, where)
    hints = _type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(merged) - names)
    if unknown:
        valid = sorted(names | ({"preset"} if hasattr(cls, "presets") else set()))
        close = [best for k in unknown if (best := did_you_mean(str(k), valid)) is not None]
        hint = f" (did you mean {', '.join(f'{where}.{k}' if where else k for k in close)}?)" if close else ""
        raise ConfigError(f"{where or cls.__name__}: unknown key(s) {unknown}{hint}; valid keys are {valid}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in merged.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, YAML-safe dict of a config (paths become strings, tuples lists)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v) if f.init}
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(cfg)


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`update` on top of `base`, section by section. A section of `update` that names another preset than
    `base`'s replaces it whole: `--preset=small --model.preset=base` is the base model, not small's
    widths on top of it."""
    out = dict(base)
    for k, v in update.items():
        sections = isinstance(v, dict) and isinstance(out.get(k), dict)
        renamed = sections and "preset" in v and v["preset"] != out[k].get("preset")
        if sections and k != "preset" and not renamed:
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=c` -> (["a", "b"], yaml-parsed c)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. train.lr=1e-3")
    try:
        parsed = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        parsed = raw
    if isinstance(parsed, (dict, list)):
        return key.split("."), parsed
    value = CommandLineValue(raw)
    value.parsed = parsed
    return key.split("."), value


def overrides_to_dict(overrides: typing.Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for text in overrides:
        keys, value = parse_override(text)
        node = out
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {k} is set to a value and cannot have sub-keys")
        last = keys[-1]
        # `--optim.lr=1e-3 --optim={warmup: 3}`: a section given whole merges like a YAML file's (it replaced lr).
        node[last] = _deep_merge(node[last], value) if isinstance(value, dict) and isinstance(node.get(last), dict) \
            else value
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, but a key given twice in one mapping is an error: YAML's own rule, which PyYAML does
    not enforce (it keeps the last value), and a config edited by hand silently used the other one."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path}: not found")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path}: invalid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping")
    return data


def resolve(
    cls: type[T],
    files: typing.Sequence[str | os.PathLike] = (),
    overrides: typing.Iterable[str] = (),
    values: dict[str, Any] | None = None,
) -> T:
    """defaults <- each YAML file <- `values` <- `--a.b=c` overrides, validated by the dataclass."""
    data: dict[str, Any] = {}
    for f in files:
        data = _deep_merge(data, load_yaml(f))
    data = _deep_merge(data, values or {})
    data = _deep_merge(data, overrides_to_dict(overrides))
    return from_dict(cls, data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file so that readers see the old or the new content, never half of it."""
    atomic_write_bytes(path, text.encode())


def config_yaml(cfg: Any) -> str:
    """A resolved config as YAML text: what `save_config` writes and `lmp COMMAND --print_config` prints."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def save_config(cfg: Any, path: str | os.PathLike) -> Path:
    """Save a resolved config as YAML (plain data only: configs are never pickled)."""
    path = Path(path)
    atomic_write_text(path, config_yaml(cfg))
    return path
