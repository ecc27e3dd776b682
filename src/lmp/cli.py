"""The `lmp` command line: one entry point, typed subcommands built from config dataclasses.

Every subcommand is a function ``fn(cfg: SomeConfig) -> int | None`` in its own module, listed in
COMMANDS and imported only when called (so `lmp --help` stays fast). Its config dataclass is the
whole interface:

    lmp pretrain --config my.yaml --model.preset=base --optim.lr=1e-3 --out runs/x
    lmp store info runs/demo/store --json

* ``--config FILE`` (repeatable) applies a YAML file over the defaults; ``--a.b=c`` or ``--a.b c``
  overrides one field; a bare ``--flag`` sets a boolean field to true.
* Fields listed in the config class's ``positional`` tuple may be given without a flag.
* ``--help`` lists every field with its type, default and one-line doc.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import signal
import sys
import typing
import warnings
from typing import Any

from lmp.config import ConfigError, field_docs, resolve

# "sub command" -> "module:function". The function's single parameter is annotated with its config class.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("lmp.demo:demo", "Synthesise a small MovieWorld, pretrain on it, probe pretrained vs random."),
    "synth": ("lmp.synth.cli:synth", "Generate a MovieWorld synthetic corpus (store + labels)."),
    "synth measure": ("lmp.synth.cli:measure", "Probe a MovieWorld corpus's tasks on pooled frozen features."),
    "pretrain": ("lmp.train.cli:pretrain", "Pretrain the long-range multimodal model on a feature store."),
    "store info": ("lmp.store.cli:info", "Print a store's movies, shot counts and encoders."),
    "store verify": ("lmp.store.cli:verify", "Check shapes and checksums of every movie in a store."),
    "store import": ("lmp.store.cli:import_cmd", "Pool features extracted elsewhere (npy/npz/pt/h5) into a store."),
    "ingest": ("lmp.ingest.cli:ingest", "Turn movie files (+ subtitles) into a feature store."),
    "inspect": ("lmp.ingest.inspect:inspect_cmd", "Render one ingested movie as a picture (PNG or HTML)."),
    "lvu": ("lmp.tasks.cli:lvu", "Run LVU's 9 tasks on a store with a checkpoint and write one table."),
    "probe": ("lmp.tasks.cli:probe", "Run one clip, shot or boundary task (probe or fine-tune)."),
    "embed": ("lmp.tasks.cli:embed", "Export per-shot and per-clip embeddings for use outside lmp."),
    "study data": ("lmp.studies.cli:data", "Data-efficiency study: label fraction and pretraining data."),
    "study span": ("lmp.studies.cli:span", "Long-range study: pretraining window length."),
    "study ablate": ("lmp.studies.cli:ablate", "Modality and objective ablations."),
    "study all": ("lmp.studies.cli:all_studies", "Run all three studies and write their tables."),
}


def _load(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def config_class(fn) -> type:
    hints = typing.get_type_hints(fn)
    params = [p for p in hints if p != "return"]
    if len(params) != 1 or not dataclasses.is_dataclass(hints[params[0]]):
        raise TypeError(f"command {fn.__name__} must take exactly one config dataclass")
    return hints[params[0]]


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Literal:
        return "one of " + ", ".join(str(c) for c in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _leaf_fields(cls: type, prefix: str = "") -> list[tuple[str, Any, Any, str]]:
    """(dotted name, type, default, doc) for every leaf field, nested dataclasses flattened."""
    out = []
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    default_obj = None
    try:
        default_obj = cls()
    except TypeError:
        pass
    if hasattr(cls, "presets"):
        # `preset` is not a field: lmp.config.from_dict applies it first, then the other keys on top.
        out.append((f"{prefix}preset", str, None, f"Named preset applied first: {', '.join(cls.presets())}."))
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        name = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out.append((name, tp, None, docs.get(f.name, "") + " (accepts .preset)" * hasattr(tp, "presets")))
            out.extend(_leaf_fields(tp, name + "."))
            continue
        default = getattr(default_obj, f.name) if default_obj is not None else "(required)"
        out.append((name, tp, default, docs.get(f.name, "")))
    return out


def format_help(command: str, cls: type, summary: str) -> str:
    lines = [f"usage: lmp {command} [--config FILE.yaml ...] [--key=value ...]", "", summary, ""]
    pos = getattr(cls, "positional", ())
    if pos:
        lines.append(f"positional: {' '.join(p.upper() for p in pos)}")
        lines.append("")
    lines.append("options:")
    for name, tp, default, doc in _leaf_fields(cls):
        if dataclasses.is_dataclass(tp):
            lines.append(f"  --{name}.*  {doc}")
            continue
        lines.append(f"  --{name} ({_type_name(tp)}, default: {default!r})  {doc}")
    return "\n".join(lines)


def parse_args(cls: type, argv: list[str]) -> Any:
    """Resolve a config instance from command-line tokens (see module docstring)."""
    files: list[str] = []
    overrides: list[str] = []
    positional: list[str] = []
    hints = {name: tp for name, tp, _, _ in _leaf_fields(cls)}
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--config":
            if i + 1 >= len(argv):
                raise ConfigError("--config needs a file")
            files.append(argv[i + 1])
            i += 2
            continue
        if tok.startswith("--config="):
            files.append(tok.split("=", 1)[1])
        elif tok.startswith("--"):
            key = tok[2:]
            if "=" in key:
                overrides.append(key)
            else:
                if key not in hints:
                    raise ConfigError(f"unknown option --{key}; see --help")
                tp = typing.get_args(hints[key])[0] if typing.get_origin(hints[key]) else hints[key]
                nxt = argv[i + 1] if i + 1 < len(argv) else None
                if hints[key] is bool and (nxt is None or nxt.startswith("--") or nxt.lower() not in ("true", "false")):
                    overrides.append(f"{key}=true")
                elif nxt is None:
                    raise ConfigError(f"--{key} needs a value ({_type_name(tp)})")
                else:
                    overrides.append(f"{key}={nxt}")
                    i += 1
        else:
            positional.append(tok)
        i += 1
    values: dict[str, Any] = {}
    names = list(getattr(cls, "positional", ()))
    for idx, tok in enumerate(positional):
        if not names:
            raise ConfigError(f"unexpected argument {tok!r}; see --help")
        name = names[min(idx, len(names) - 1)]
        tp = typing.get_type_hints(cls)[name]
        if typing.get_origin(tp) in (list, tuple):
            values.setdefault(name, []).append(tok)
        elif name in values:
            raise ConfigError(f"unexpected argument {tok!r}; see --help")
        else:
            values[name] = tok
    unknown = [o.split("=", 1)[0] for o in overrides if o.split("=", 1)[0] not in hints]
    if unknown:
        raise ConfigError(f"unknown option --{unknown[0]}; see --help")
    return resolve(cls, files=files, overrides=overrides, values=values)


def _usage(group: str = "") -> str:
    """The command list; with `group` (e.g. "study"), only that group's subcommands."""
    chosen = {n: v for n, v in COMMANDS.items() if not group or n.split(" ", 1)[0] == group}
    width = max(len(c) for c in chosen)
    rows = [f"  {name.ljust(width)}  {summary}" for name, (_, summary) in chosen.items()]
    head = f"usage: lmp {group or 'COMMAND'} {'SUBCOMMAND ' if group else ''}[options]"
    return f"{head}   (lmp COMMAND --help for its options)\n\ncommands:\n" + "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from lmp import __version__

        print(__version__)
        return 0
    two = " ".join(argv[:2])
    if two in COMMANDS:
        command, rest = two, argv[2:]
    elif argv[0] in COMMANDS:
        command, rest = argv[0], argv[1:]
    elif any(name.startswith(argv[0] + " ") for name in COMMANDS):  # a group: `lmp study`, `lmp store --help`
        asked = len(argv) > 1 and argv[1] in ("-h", "--help")
        print(_usage(argv[0]), file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    else:
        print(f"lmp: unknown command {' '.join(argv[:2])!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    target, summary = COMMANDS[command]
    fn = _load(target)
    cls = config_class(fn)
    if "-h" in rest or "--help" in rest:
        print(format_help(command, cls, summary))
        return 0
    try:
        cfg = parse_args(cls, rest)
    except ConfigError as e:
        print(f"lmp {command}: {e}", file=sys.stderr)
        return 2
    from lmp.errors import LMPError

    try:
        with _one_line_warnings(command):
            code = fn(cfg)
        sys.stdout.flush()  # here, so that a closed pipe is handled below and not at interpreter exit
    except LMPError as e:
        # Expected failures (bad input files, corrupt stores) get one clear line, not a traceback.
        print(f"lmp {command}: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`lmp store info S | head`): stop quietly, as other Unix tools do.
        # Python would flush stdout again at exit and complain, so point it at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return int(code or 0)


@contextlib.contextmanager
def _one_line_warnings(command: str):
    """Show LMPWarnings as `lmp COMMAND: warning: ...`; other warnings keep Python's format."""
    from lmp.errors import LMPWarning

    original = warnings.showwarning

    def show(message, category, *args, **kwargs):
        if issubclass(category, LMPWarning):
            print(f"lmp {command}: warning: {message}", file=sys.stderr)
        else:
            original(message, category, *args, **kwargs)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


if __name__ == "__main__":
    raise SystemExit(main())
