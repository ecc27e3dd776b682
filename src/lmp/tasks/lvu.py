"""Reader for the official LVU 1.0 split files (Wu & Krähenbühl, CVPR 2021), kept in their own format.

    lvu_1.0/<task>/{train,val,test}.csv     whitespace-separated despite the name, one header line:
        classification: class_id class_name youtube_id imdb_id
        like_ratio:     like_count dislike_count youtube_id imdb_id
        view_count:     view_count youtube_id imdb_id

Each row becomes a clip-level `Example` over the whole store entry named by its YouTube id. Targets
are the official ones: class ids as written (director uses 8 of its 10 ids, writer's class 0 is named
``\\N``; both quirks are kept, the head has the official class count from LVU's run.sh), like_ratio =
10·like/(like+dislike) − 9.1382…, view_count = ln(views) − 11.7642…; regression is scored by MSE.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from lmp.errors import LMPWarning
from lmp.labels import SPLITS, Example, LabelError, Task, TaskSpec, warn_shared_examples
from lmp.tasks.lvu_tasks import LVU_TASKS  # the task table; re-exported here for readers of LVU files
from lmp.tasks.metrics import lvu_like_ratio_target, lvu_view_count_target

ENV_VAR = "LMP_LVU_DIR"
FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "lvu_mini"

HEADERS = {
    "classification": ["class_id", "class_name", "youtube_id", "imdb_id"],
    "like_ratio": ["like_count", "dislike_count", "youtube_id", "imdb_id"],
    "view_count": ["view_count", "youtube_id", "imdb_id"],
}


def default_lvu_dir() -> Path:
    """$LMP_LVU_DIR when set, else the mini fixture shipped with lmp (FIXTURE_DIR), with a warning."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    warnings.warn(
        f"no --lvu_dir and no ${ENV_VAR}: using the shipped mini LVU fixture ({FIXTURE_DIR}), "
        "not the official files",
        LMPWarning,
        stacklevel=3,
    )
    return FIXTURE_DIR


def resolve_lvu_dir(path: str | os.PathLike | None) -> Path:
    """'fixture' -> the shipped mini fixture; empty/None -> `default_lvu_dir()`; else the path itself."""
    if path is not None and str(path) == "fixture":
        return FIXTURE_DIR
    if path is None or str(path) in ("", "."):
        return default_lvu_dir()
    return Path(path)


def _kind(name: str) -> str:
    return LVU_TASKS[name].type if name not in ("like_ratio", "view_count") else name


def read_lvu_split(root: str | os.PathLike, name: str, split: str) -> list[tuple[Example, str]]:
    """Rows of one official split file as (Example, class name or '') in file order."""
    if name not in LVU_TASKS:
        raise LabelError(f"unknown LVU task {name!r}; choose from {list(LVU_TASKS)}")
    path = Path(root) / name / f"{split}.csv"
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise LabelError(f"{path}: LVU split file not found") from None
    kind = _kind(name)
    expected = HEADERS[kind]
    if not lines or lines[0].split() != expected:
        got = lines[0].split() if lines else []
        raise LabelError(f"{path}: header {got} is not LVU's {name} header {expected}")
    rows = []
    for lineno, line in enumerate(lines[1:], 2):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{lineno}"
        if len(fields) != len(expected):
            raise LabelError(f"{where}: expected {len(expected)} fields {expected}, got {len(fields)}")
        try:
            if kind == "classification":
                target, label = int(fields[0]), fields[1]
            elif kind == "like_ratio":
                target, label = lvu_like_ratio_target(float(fields[0]), float(fields[1])), ""
            else:
                target, label = lvu_view_count_target(float(fields[0])), ""
        except ValueError as e:
            raise LabelError(f"{where}: bad label fields {fields[: len(expected) - 2]}: {e}") from None
        # The YouTube id is second to last in every layout (as in the official parser).
        rows.append((Example(fields[-2], None, None, target, label or fields[0]), label))
    return rows


def read_lvu_task(root: str | os.PathLike, name: str) -> Task:
    """One LVU task, all three splits, with class names by id (ids missing from the files get a
    placeholder name '<unused:ID>' so that the head keeps the official width)."""
    info = LVU_TASKS.get(name)
    if info is None:
        raise LabelError(f"unknown LVU task {name!r}; choose from {list(LVU_TASKS)}")
    splits: dict[str, list[Example]] = {}
    names: dict[int, str] = {}
    for split in SPLITS:
        rows = read_lvu_split(root, name, split)
        for e, cname in rows:
            if info.type != "classification":
                continue
            if not 0 <= e.target < info.num_classes:
                raise LabelError(
                    f"{Path(root) / name / split}.csv: class id {e.target} outside LVU's {info.num_classes} classes"
                )
            if names.setdefault(e.target, cname) != cname:
                raise LabelError(
                    f"{Path(root) / name}: class id {e.target} is named both {names[e.target]!r} and {cname!r}"
                )
        splits[split] = [e for e, _ in rows]
    classes = tuple(names.get(i, f"<unused:{i}>") for i in range(info.num_classes or 0))
    metric = "accuracy" if info.type == "classification" else "mse"
    spec = TaskSpec(name=name, level="clip", type=info.type, classes=classes, metric=metric)
    warn_shared_examples(Path(root) / name, splits)
    return Task(spec, splits, str(Path(root) / name))


def read_lvu(root: str | os.PathLike, tasks: tuple[str, ...] | list[str] = tuple(LVU_TASKS)) -> dict[str, Task]:
    """Several LVU tasks (default all 9, in the literature's order)."""
    return {name: read_lvu_task(root, name) for name in tasks}
