"""lmp's label format (docs/labels.md): a task directory with task.json and {train,val,test}.csv.

    <task>/task.json  {"name", "level": clip|shot|boundary, "type": classification|multilabel|regression,
                       "classes": [...], "metric": accuracy|mAP|mse|AP}
    clip:      video_id,start_shot,end_shot,label   shots [start_shot, end_shot); empty = whole entry
    shot:      video_id,shot,label
    boundary:  video_id,shot,label                  the boundary between shot and shot + 1

Readers turn every row into an `Example` with its numeric target, and `Task.restrict(store)` keeps
the rows whose video is in a store, reporting (never silently dropping) the missing ones.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lmp.errors import LMPError
from lmp.tasks.heads import METRICS, TASK_TYPES, default_metric

SPLITS = ("train", "val", "test")
LEVELS = ("clip", "shot", "boundary")
TASK_FILE = "task.json"


class LabelError(LMPError):
    """A label file or task directory is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class TaskSpec:
    """What a task is: its level, type, class names and metric."""

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
        if not self.metric:
            object.__setattr__(self, "metric", default_metric(self.type))
        if self.metric not in METRICS:
            raise ValueError(f"task {self.name}: metric {self.metric!r} is not one of {list(METRICS)}")

    @property
    def num_classes(self) -> int | None:
        return len(self.classes) if self.type != "regression" else None


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


def read_spec(task_dir: str | os.PathLike) -> TaskSpec:
    path = Path(task_dir) / TASK_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabelError(f"{task_dir}: not a task directory (no {TASK_FILE})") from None
    except (OSError, json.JSONDecodeError) as e:
        raise LabelError(f"{path}: unreadable ({e})") from None
    known = {"name", "level", "type", "classes", "metric"}
    try:
        return TaskSpec(
            name=str(data.get("name") or Path(task_dir).name),
            level=str(data["level"]),
            type=str(data["type"]),
            classes=tuple(str(c) for c in data.get("classes") or ()),
            metric=str(data.get("metric") or ""),
        )
    except KeyError as e:
        raise LabelError(f"{path}: missing key {e.args[0]!r} (keys: {sorted(known)})") from None
    except ValueError as e:
        raise LabelError(f"{path}: {e}") from None


def _int_or_none(text: str, where: str, column: str) -> int | None:
    text = text.strip()
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise LabelError(f"{where}: column '{column}' must be an integer, got {text!r}") from None


def parse_label(spec: TaskSpec, text: str, where: str) -> Any:
    """A label string -> class id, tuple of class ids, or float."""
    text = text.strip()
    if spec.type == "regression":
        try:
            return float(text)
        except ValueError:
            raise LabelError(f"{where}: label must be a number, got {text!r}") from None
    index = {c: i for i, c in enumerate(spec.classes)}
    names = [t.strip() for t in text.split("|") if t.strip()] if spec.type == "multilabel" else [text]
    unknown = [n for n in names if n not in index]
    if unknown:
        raise LabelError(f"{where}: unknown class {unknown[0]!r} (task.json lists {len(spec.classes)} classes)")
    if spec.type == "classification":
        return index[names[0]]
    return tuple(sorted({index[n] for n in names}))


def read_split(spec: TaskSpec, path: Path) -> list[Example]:
    columns = ["video_id", "start_shot", "end_shot", "label"] if spec.level == "clip" else ["video_id", "shot", "label"]
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            absent = [c for c in columns if c not in header]
            if absent:
                raise LabelError(
                    f"{path}: header {header} lacks column(s) {absent} (a {spec.level} task needs {columns})"
                )
            rows = []
            for lineno, row in enumerate(reader, 2):
                where = f"{path}:{lineno}"
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
                rows.append(Example(vid, start, end, parse_label(spec, label, where), label))
            return rows
    except FileNotFoundError:
        raise LabelError(f"{path}: split file not found") from None


def read_task(task_dir: str | os.PathLike) -> Task:
    """Read a task directory in lmp's label format. The val split is required (it selects the model)."""
    task_dir = Path(task_dir)
    spec = read_spec(task_dir)
    splits = {s: read_split(spec, task_dir / f"{s}.csv") for s in SPLITS}
    return Task(spec, splits, str(task_dir))


def find_tasks(root: str | os.PathLike) -> list[Path]:
    """Task directories: `root` itself if it holds task.json, else its sub-directories that do."""
    root = Path(root)
    if (root / TASK_FILE).is_file():
        return [root]
    found = sorted(p.parent for p in root.glob(f"*/{TASK_FILE}"))
    if not found:
        raise LabelError(f"{root}: no task directory here ({TASK_FILE} neither in it nor in its sub-directories)")
    return found
