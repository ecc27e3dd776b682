"""The `lmp` command line: one entry point, typed subcommands built from config dataclasses.

Every subcommand is a function ``fn(cfg: SomeConfig) -> int | None`` in its own module, listed in
COMMANDS and imported only when called (so `lmp --help` stays fast). Its config dataclass is the
whole interface:

    lmp pretrain --config my.yaml --model.preset=base --optim.lr=1e-3 --out runs/x
    lmp store info runs/demo/store --json

* ``--config FILE`` (repeatable) applies a YAML file over the defaults; ``--a.b=c`` or ``--a.b c``
  overrides one field; a bare ``--flag`` sets a boolean field to true.
* Fields listed in the config class's ``positional`` tuple may be given without a flag.
* ``--help`` lists every field with its type (a Literal's choices), default and one-line doc.
* ``--print_config`` prints the resolved config as the YAML the run saves (``config.yaml``) and exits 0
  without running; the file can be passed back with ``--config``.
* Unknown options, YAML keys, presets and subcommands are one-line errors that suggest the closest name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import os
import signal
import sys
import typing
import warnings
from typing import Any

from lmp.config import BOOL_WORDS, ConfigError, config_yaml, did_you_mean, field_docs, resolve

# "sub command" -> "module:function". The function's single parameter is annotated with its config class.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("lmp.demo:demo", "Synthesise a small MovieWorld, pretrain on it, probe pretrained vs random."),
    "synth": ("lmp.synth.cli:synth", "Generate a MovieWorld synthetic corpus (store + labels)."),
    "synth measure": ("lmp.synth.cli:measure", "Probe a MovieWorld corpus's tasks on pooled frozen features."),
    "pretrain": ("lmp.train.cli:pretrain", "Pretrain the long-range multimodal model on a feature store."),
    "store info": ("lmp.store.cli:info", "Summarise a store: movies, shots, encoders, modality presence."),
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
        with warnings.catch_warnings():
            # Defaults for the help text only: a config warning (e.g. 'auto' falling back) is for runs.
            warnings.simplefilter("ignore")
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


PRINT_CONFIG = "--print_config"


def format_help(command: str, cls: type, summary: str) -> str:
    lines = [f"usage: lmp {command} [--config FILE.yaml ...] [--key=value ...] [{PRINT_CONFIG}]", "", summary, ""]
    pos = getattr(cls, "positional", ())
    if pos:
        lines.append(f"positional: {' '.join(p.upper() for p in pos)}")
        lines.append("")
    lines.append("options:")
    lines.append("  --config FILE.yaml  YAML applied over the defaults (repeatable, in order); --key=value on top.")
    lines.append(f"  {PRINT_CONFIG}  Print the resolved config (the config.yaml a run saves) and exit without running.")
    for name, tp, default, doc in _leaf_fields(cls):
        if dataclasses.is_dataclass(tp):
            lines.append(f"  --{name}.*  {doc}")
            continue
        lines.append(f"  --{name} ({_type_name(tp)}, default: {default!r})  {doc}")
    return "\n".join(lines)


def _unknown_option(key: str, known: typing.Iterable[str]) -> str:
    """`unknown option --optim.lr_warmup; did you mean --optim.warmup?` (or `; see --help`)."""
    best = did_you_mean(key, known)
    return f"unknown option --{key}; " + (f"did you mean --{best}?" if best else "see --help")


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
                    raise ConfigError(_unknown_option(key, hints))
                tp = typing.get_args(hints[key])[0] if typing.get_origin(hints[key]) else hints[key]
                nxt = argv[i + 1] if i + 1 < len(argv) else None
                # A bool flag takes the next word as its value only if it spells one (`--overwrite no` is
                # False: the word used to be left as a positional argument and the flag read as true).
                if hints[key] is bool and (nxt is None or nxt.lower() not in BOOL_WORDS):
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
        raise ConfigError(_unknown_option(unknown[0], hints))
    return resolve(cls, files=files, overrides=overrides, values=values)


def _usage(group: str = "") -> str:
    """The command list; with `group` (e.g. "study"), only that group's subcommands."""
    chosen = {n: v for n, v in COMMANDS.items() if not group or n.split(" ", 1)[0] == group}
    width = max(len(c) for c in chosen)
    rows = [f"  {name.ljust(width)}  {summary}" for name, (_, summary) in chosen.items()]
    head = f"usage: lmp {group or 'COMMAND'} {'SUBCOMMAND ' if group else ''}[options]"
    return f"{head}   (lmp COMMAND --help for its options)\n\ncommands:\n" + "\n".join(rows)


def _unknown_command(*typed: str) -> str:
    """`unknown command 'pretrian'; did you mean 'pretrain'?`: each of `typed` (the first word, the first
    two) is matched against the commands and the command groups; the closest match wins."""
    names = set(COMMANDS) | {name.split(" ", 1)[0] for name in COMMANDS}
    matches = [(difflib.SequenceMatcher(None, t, b).ratio(), b) for t in typed if (b := did_you_mean(t, names))]
    hint = f"; did you mean {max(matches)[1]!r}?" if matches else ""
    return f"unknown command {typed[0]!r}{hint}"


def _mistyped_subcommand(command: str, rest: list[str]) -> str | None:
    """The error for `lmp synth mesure`, where `synth` is a command and a group: a first argument close to a
    subcommand, without `/` and not an existing path, is taken as a typo rather than a positional value."""
    subs = [name.split(" ", 1)[1] for name in COMMANDS if name.startswith(command + " ")]
    word = rest[0] if rest else ""
    if not subs or not word or word.startswith("-") or "/" in word or os.path.exists(word):
        return None
    best = did_you_mean(word, subs)
    if best is None:
        return None
    return f"unknown command '{command} {word}'; did you mean '{command} {best}'? (for a path, write ./{word})"


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
        if typo := _mistyped_subcommand(argv[0], rest):  # `lmp synth mesure` would write a corpus to ./mesure
            print(f"lmp: {typo}", file=sys.stderr)
            return 2
    elif any(name.startswith(argv[0] + " ") for name in COMMANDS):  # a group: `lmp study`, `lmp store --help`
        asked = len(argv) > 1 and argv[1] in ("-h", "--help")
        if len(argv) > 1 and not asked and not argv[1].startswith("-"):  # `lmp study spna`
            print(f"lmp: {_unknown_command(two)}\n\n{_usage(argv[0])}", file=sys.stderr)
            return 2
        print(_usage(argv[0]), file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    else:
        print(f"lmp: {_unknown_command(argv[0], two)}\n\n{_usage()}", file=sys.stderr)
        return 2
    target, summary = COMMANDS[command]
    fn = _load(target)
    cls = config_class(fn)
    if "-h" in rest or "--help" in rest:
        print(format_help(command, cls, summary))
        return 0
    print_config = PRINT_CONFIG in rest
    try:
        cfg = parse_args(cls, [tok for tok in rest if tok != PRINT_CONFIG])
    except ConfigError as e:
        print(f"lmp {command}: {e}", file=sys.stderr)
        return 2
    if print_config:  # the config.yaml this run would save; nothing runs
        print(config_yaml(cfg), end="")
        return 0
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
