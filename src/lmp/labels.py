"""lmp's label format (docs/labels.md): a task directory with task.json and {train,val,test}.csv.

    <task>/task.json  {"name", "level": clip|shot|boundary, "type": classification|multilabel|regression,
                       "metric": accuracy|mAP|mse|AP, "classes": [...]}
    clip:      video_id,start_shot,end_shot,label   shots [start_shot, end_shot); empty = whole entry
    shot:      video_id,shot,label
    boundary:  video_id,shot,label                  the boundary between shot and shot + 1

`read_task` turns every row into an `Example` with its numeric target, and `Task.restrict(store)` keeps
the rows whose video is in a store, reporting (never silently dropping) the missing ones; `write_task`
writes the same files, checking every row with the reader's own parser.

This module sits below `lmp.synth` (which writes MovieWorld's tasks with it) and `lmp.tasks` (heads,
losses and probes read tasks with it) and imports neither, nor torch until `Task.targets` is called.
Reading and writing live together here, rather than the reader staying in `lmp.tasks`, so that one
module owns the file names, JSON keys, CSV columns and the task-type vocabulary.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmp.atomic import atomic_write_bytes
from lmp.errors import LMPError, LMPWarning

if TYPE_CHECKING:
    import torch

SPLITS = ("train", "val", "test")
LEVELS = ("clip", "shot", "boundary")
TASK_FILE = "task.json"
COLUMNS = {
    "clip": ("video_id", "start_shot", "end_shot", "label"),
    "shot": ("video_id", "shot", "label"),
    "boundary": ("video_id", "shot", "label"),
}
"""The header of a split file, per level."""

# -- task types and metrics ----------------------------------------------------------------------------
TASK_TYPES = ("classification", "multilabel", "regression")
"""Decides the loss and the output width (lmp.tasks.heads)."""
METRICS = ("accuracy", "mse", "mAP", "AP")
LOWER_IS_BETTER = {"mse"}


def default_metric(task_type: str) -> str:
    return {"classification": "accuracy", "multilabel": "mAP", "regression": "mse"}[task_type]


def check_task_type(task_type: str, metric: str | None = None) -> str:
    """The metric to grade a task with (`metric`, or the type's default); ValueError if either is unknown."""
    if task_type not in TASK_TYPES:
        raise ValueError(f"task type {task_type!r} is not one of {list(TASK_TYPES)}")
    metric = metric or default_metric(task_type)
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not one of {list(METRICS)}")
    return metric


def is_better(metric: str, a: float, b: float) -> bool:
    """Whether score a beats score b (NaN never wins)."""
    if math.isnan(a):
        return False
    if math.isnan(b):
        return True
    return a < b if metric in LOWER_IS_BETTER else a > b


class LabelError(LMPError):
    """A label file or task directory is missing or malformed; the message names the file and line."""


# -- what a task is ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskSpec:
    """What a task is: its level, type, class names and metric (the content of task.json)."""

    name: str
    """Task name (e.g. 'genre', 'shot_size')."""
    level: str
    """'clip' (a range of shots), 'shot' (one shot) or 'boundary' (between shot i and i + 1)."""
    type: str
    """'classification', 'multilabel' or 'regression'."""
    classes: tuple[str, ...] = ()
    """Class names; a class id is its index (classification/multilabel)."""
    metric: str = ""
    """Primary metric; empty = the type's default (accuracy, mAP, mse)."""

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"task {self.name}: level {self.level!r} is not one of {list(LEVELS)}")
        if self.type not in TASK_TYPES:
            raise ValueError(f"task {self.name}: type {self.type!r} is not one of {list(TASK_TYPES)}")
        if self.type != "regression" and not self.classes:
            raise ValueError(f"task {self.name}: a {self.type} task needs a non-empty 'classes' list")
        twice = sorted({c for c in self.classes if self.classes.count(c) > 1})
        if twice:  # labels name classes: a name listed twice would make two classes that no label can tell apart
            raise ValueError(f"task {self.name}: class {twice[0]!r} is listed more than once in 'classes'")
        if not self.metric:
            object.__setattr__(self, "metric", default_metric(self.type))
        if self.metric not in METRICS:
            raise ValueError(f"task {self.name}: metric {self.metric!r} is not one of {list(METRICS)}")
        # AP grades one positive class; with more it would score one class against the rest, silently.
        binary = (self.type, len(self.classes)) in (("classification", 2), ("multilabel", 1))
        if self.metric == "AP" and not binary:
            raise ValueError(
                f"task {self.name}: metric 'AP' needs a binary task (classification with 2 classes, or "
                f"multilabel with 1), not {self.type} with {len(self.classes)} classes; use "
                f"{default_metric(self.type)!r}"
            )
        fits = {"accuracy": ("classification",), "mAP": ("multilabel",), "mse": ("regression",)}
        if self.metric in fits and self.type not in fits[self.metric]:
            raise ValueError(f"task {self.name}: metric {self.metric!r} does not grade a {self.type} task; "
                             f"use {default_metric(self.type)!r}")

    @property
    def num_classes(self) -> int | None:
        return len(self.classes) if self.type != "regression" else None

    def to_json(self) -> dict[str, Any]:
        """task.json's content: name, level, type, metric and (unless empty) classes, in that order."""
        out: dict[str, Any] = {"name": self.name, "level": self.level, "type": self.type, "metric": self.metric}
        if self.classes:
            out["classes"] = list(self.classes)
        return out


def spec_from_json(data: Mapping[str, Any], where: str, default_name: str = "") -> TaskSpec:
    """task.json's content -> TaskSpec; LabelError naming `where` and the problem."""
    if not isinstance(data, Mapping):
        raise LabelError(f"{where}: a task spec must be a JSON object, got {type(data).__name__}")
    try:
        return TaskSpec(
            name=str(data.get("name") or default_name),
            level=str(data["level"]),
            type=str(data["type"]),
            classes=tuple(str(c) for c in data.get("classes") or ()),
            metric=str(data.get("metric") or ""),
        )
    except KeyError as e:
        known = ["classes", "level", "metric", "name", "type"]
        raise LabelError(f"{where}: missing key {e.args[0]!r} (keys: {known})") from None
    except ValueError as e:
        raise LabelError(f"{where}: {e}") from None


@dataclass(frozen=True)
class Example:
    """One labelled row. For clip tasks shots [start, end) of `video_id` (None = the whole entry); for
    shot and boundary tasks `start` is the shot (boundary: between start and start + 1) and end is None."""

    video_id: str
    start: int | None
    end: int | None
    target: Any
    """Class id (int), class ids (tuple of ints, multilabel) or a float (regression)."""
    label: str = ""
    """The label as written in the file."""


@dataclass
class Task:
    """A task and its examples per split."""

    spec: TaskSpec
    splits: dict[str, list[Example]]
    source: str = ""
    """Where it was read from (for messages and reports)."""
    missing: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per split: {"total", "found", "missing", "missing_ids"}, filled by `restrict`."""

    def targets(self, split: str) -> torch.Tensor:
        """Targets of a split: long [n] | multi-hot float [n, C] | float [n]."""
        import torch  # here, so that reading and writing labels (lmp synth) never loads torch

        rows = self.splits[split]
        if self.spec.type == "classification":
            return torch.tensor([e.target for e in rows], dtype=torch.long)
        if self.spec.type == "multilabel":
            y = torch.zeros(len(rows), len(self.spec.classes))
            for i, e in enumerate(rows):
                y[i, list(e.target)] = 1.0
            return y
        return torch.tensor([e.target for e in rows], dtype=torch.float64).float()

    def restrict(self, store) -> Task:
        """Keep the examples whose video is in `store` (any object with `in` and `num_shots`); the
        counts and ids of missing videos go to `missing`. Shot indices beyond a movie are errors."""
        splits: dict[str, list[Example]] = {}
        missing: dict[str, dict[str, Any]] = {}
        for split, rows in self.splits.items():
            kept, gone = [], []
            for e in rows:
                if e.video_id not in store:
                    gone.append(e.video_id)
                    continue
                _check_range(self, e, store.num_shots(e.video_id))
                kept.append(e)
            splits[split] = kept
            missing[split] = {
                "total": len(rows),
                "found": len(kept),
                "missing": len(gone),
                "missing_ids": sorted(set(gone)),
            }
        return Task(self.spec, splits, self.source, missing)

    def missing_summary(self) -> str:
        """One line: 'genre: train 3063 (missing 12), val 597 (missing 0), ...'."""
        parts = [f"{s} {m['total']} (missing {m['missing']})" for s, m in self.missing.items()]
        return f"{self.spec.name}: " + ", ".join(parts)


def _check_range(task: Task, e: Example, num_shots: int) -> None:
    level = task.spec.level
    where = f"{task.source or task.spec.name}: video {e.video_id}"
    if level == "clip":
        start, end = e.start or 0, num_shots if e.end is None else e.end
        if not 0 <= start < end <= num_shots:
            raise LabelError(f"{where}: clip shots [{start}, {end}) are outside its {num_shots} shots")
    elif level == "shot" and not 0 <= e.start < num_shots:
        raise LabelError(f"{where}: shot {e.start} is outside its {num_shots} shots")
    elif level == "boundary" and not 0 <= e.start < num_shots - 1:
        raise LabelError(
            f"{where}: boundary after shot {e.start} needs shots {e.start} and {e.start + 1} of {num_shots}"
        )


# -- reading -------------------------------------------------------------------------------------------
def read_spec(task_dir: str | os.PathLike) -> TaskSpec:
    path = Path(task_dir) / TASK_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabelError(f"{task_dir}: not a task directory (no {TASK_FILE})") from None
    except (OSError, json.JSONDecodeError) as e:
        raise LabelError(f"{path}: unreadable ({e})") from None
    return spec_from_json(data, str(path), Path(task_dir).name)


def _int_or_none(text: str, where: str, column: str) -> int | None:
    text = text.strip()
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise LabelError(f"{where}: column '{column}' must be an integer, got {text!r}") from None


def parse_label(spec: TaskSpec, text: str, where: str, index: Mapping[str, int] | None = None) -> Any:
    """A label string -> class id, tuple of class ids, or float. `index` (class name -> id) saves
    rebuilding it for every row."""
    text = text.strip()
    if spec.type == "regression":
        try:
            value = float(text)
        except ValueError:
            raise LabelError(f"{where}: label must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise LabelError(f"{where}: label must be a finite number, got {text!r}")
        return value
    if index is None:
        index = {c: i for i, c in enumerate(spec.classes)}
    names = [t.strip() for t in text.split("|") if t.strip()] if spec.type == "multilabel" else [text]
    unknown = [n for n in names if n not in index]
    if unknown:
        raise LabelError(f"{where}: unknown class {unknown[0]!r} (task.json lists {len(spec.classes)} classes)")
    if spec.type == "classification":
        return index[names[0]]
    return tuple(sorted({index[n] for n in names}))


def _parse_row(spec: TaskSpec, row: Mapping[str, str | None], where: str, index: Mapping[str, int]) -> Example:
    if row.get(None):  # csv.DictReader puts cells beyond the header there
        raise LabelError(
            f"{where}: {len(row[None])} more cell(s) than the header's columns ({row[None]!r}); a multilabel "
            "row separates its classes with '|', and a label with a comma must be quoted"
        )
    vid = (row["video_id"] or "").strip()
    if not vid:
        raise LabelError(f"{where}: empty video_id")
    if spec.level == "clip":
        start = _int_or_none(row["start_shot"] or "", where, "start_shot")
        end = _int_or_none(row["end_shot"] or "", where, "end_shot")
    else:
        start, end = _int_or_none(row["shot"] or "", where, "shot"), None
        if start is None:
            raise LabelError(f"{where}: empty shot")
    label = row["label"] or ""
    return Example(vid, start, end, parse_label(spec, label, where, index), label)


def read_split(spec: TaskSpec, path: Path) -> list[Example]:
    columns = list(COLUMNS[spec.level])
    index = {c: i for i, c in enumerate(spec.classes)}
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            absent = [c for c in columns if c not in header]
            if absent:
                raise LabelError(
                    f"{path}: header {header} lacks column(s) {absent} (a {spec.level} task needs {columns})"
                )
            return [_parse_row(spec, row, f"{path}:{lineno}", index) for lineno, row in enumerate(reader, 2)]
    except FileNotFoundError:
        raise LabelError(f"{path}: split file not found") from None


def read_task(task_dir: str | os.PathLike) -> Task:
    """Read a task directory in lmp's label format. The val split is required (it selects the model)."""
    task_dir = Path(task_dir)
    spec = read_spec(task_dir)
    splits = {s: read_split(spec, task_dir / f"{s}.csv") for s in SPLITS}
    warn_shared_examples(task_dir, splits)
    return Task(spec, splits, str(task_dir))


def warn_shared_examples(task_dir: Path, splits: Mapping[str, list[Example]]) -> None:
    """Warn when one clip or shot is in two splits: a test example also trained on inflates every score."""
    seen: dict[tuple, str] = {}
    shared: dict[tuple[str, str], list[tuple]] = {}
    for split, examples in splits.items():
        for key in {(e.video_id, e.start, e.end) for e in examples}:
            if key in seen and seen[key] != split:
                shared.setdefault((seen[key], split), []).append(key)
            seen.setdefault(key, split)
    for (a, b), keys in shared.items():
        vid, start, end = min(keys, key=str)
        span = "the whole entry" if start is None and end is None else (
            f"shot {start}" if end is None else f"shots {start}-{end}")
        warnings.warn(f"{task_dir}: {len(keys)} example(s) are in both {a} and {b} (e.g. video {vid!r}, {span}): "
                      f"scores on {b} are not held out", LMPWarning, stacklevel=3)


def find_tasks(root: str | os.PathLike) -> list[Path]:
    """Task directories: `root` itself if it holds task.json, else its sub-directories that do."""
    root = Path(root)
    if (root / TASK_FILE).is_file():
        return [root]
    found = sorted(p.parent for p in root.glob(f"*/{TASK_FILE}"))
    if not found:
        raise LabelError(f"{root}: no task directory here ({TASK_FILE} neither in it nor in its sub-directories)")
    return found


# -- writing -------------------------------------------------------------------------------------------
def _cells(spec: TaskSpec, row: Example | Sequence[Any]) -> list[str]:
    if isinstance(row, Example):
        e = row
        row = (e.video_id, e.start, e.end, e.label) if spec.level == "clip" else (e.video_id, e.start, e.label)
    return ["" if v is None else str(v) for v in row]


def split_text(spec: TaskSpec, rows: Iterable[Example | Sequence[Any]], where: str = "") -> str:
    """One split file's text. A row is an `Example` (its `label` text is written) or the level's cells in
    `COLUMNS` order (None = empty); every row must read back, else LabelError names its would-be line."""
    columns = COLUMNS[spec.level]
    index = {c: i for i, c in enumerate(spec.classes)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for lineno, row in enumerate(rows, 2):
        cells = _cells(spec, row)
        line = f"{where}:{lineno}"
        if len(cells) != len(columns):
            raise LabelError(f"{line}: {len(cells)} values {cells} for the {len(columns)} columns {list(columns)}")
        _parse_row(spec, dict(zip(columns, cells)), line, index)
        writer.writerow(cells)
    return out.getvalue()


def write_task(
    task_dir: str | os.PathLike,
    spec: TaskSpec | Mapping[str, Any],
    splits: Mapping[str, Iterable[Example | Sequence[Any]]],
) -> dict[str, int]:
    """Write `task_dir`/{task.json, train.csv, val.csv, test.csv}, each file atomically; returns the row
    count per split. `spec` is a TaskSpec or task.json's content (checked like the reader checks it);
    `splits` maps each of SPLITS to its rows (see `split_text`). Everything is checked before anything
    is written, and task.json is written last, so `find_tasks` never sees a half-written task."""
    task_dir = Path(task_dir)
    if not isinstance(spec, TaskSpec):
        spec = spec_from_json(spec, f"{task_dir / TASK_FILE}", task_dir.name)
    if set(splits) != set(SPLITS):
        raise LabelError(f"{task_dir}: splits {sorted(splits)} are not {list(SPLITS)}")
    rows = {s: list(splits[s]) for s in SPLITS}
    texts = {s: split_text(spec, rows[s], str(task_dir / f"{s}.csv")) for s in SPLITS}
    for s in SPLITS:
        atomic_write_bytes(task_dir / f"{s}.csv", texts[s].encode())
    atomic_write_bytes(task_dir / TASK_FILE, (json.dumps(spec.to_json(), indent=2) + "\n").encode())
    return {s: len(rows[s]) for s in SPLITS}
