"""`lmp store info`, `lmp store verify` and `lmp store import`."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lmp.modality import mask_key
from lmp.store.format import MOVIES_DIR
from lmp.store.importer import StoreImportConfig, import_features, iter_messages
from lmp.store.reader import FeatureStore
from lmp.store.writer import stages


@dataclass
class StoreInfoConfig:
    positional = ("store",)
    store: Path = Path("runs/demo/store")
    """Store directory."""
    json: bool = False
    """Print machine-readable JSON instead of a table (it always includes the full movie list)."""
    movies: bool = False
    """Also list every movie with its shot count and duration (the default prints a summary only)."""


@dataclass
class StoreVerifyConfig:
    positional = ("store",)
    store: Path = Path("runs/demo/store")
    """Store directory."""


def _presence(store: FeatureStore) -> tuple[dict[str, dict[str, float | None]], list[str]]:
    """Per modality, the share of shots that have it and of movies with it in at least one shot, read from
    the bool masks only (memory-mapped, a few bytes per shot); plus the movies whose masks cannot be read."""
    shots = {m: 0 for m in store.modalities}
    movies = {m: 0 for m in store.modalities}
    total, readable, unreadable = 0, 0, []
    for mid in store.ids:
        folder = store.root / MOVIES_DIR / mid
        try:
            counts = {
                m: int(np.count_nonzero(np.load(folder / f"{mask_key(m)}.npy", mmap_mode="r", allow_pickle=False)))
                for m in store.modalities
            }
        except (OSError, ValueError, EOFError):  # missing or damaged: `lmp store verify` says which
            unreadable.append(mid)
            continue
        total, readable = total + store.num_shots(mid), readable + 1
        for m, n in counts.items():
            shots[m] += n
            movies[m] += n > 0
    rates = {m: {"shots": _share(shots[m], total), "movies": _share(movies[m], readable)} for m in store.modalities}
    return rates, unreadable


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


def info(cfg: StoreInfoConfig) -> int:
    """A store's summary (movies, shots, hours, shots per movie, encoders, modality presence); --movies lists
    the movies too; --json prints all of it, the movie list included."""
    store = FeatureStore(cfg.store)
    summary: dict[str, Any] = store.summary()
    counts = [store.num_shots(i) for i in store.ids]
    summary["shots_per_movie"] = (
        {"min": min(counts), "median": statistics.median(counts), "max": max(counts)} if counts else None
    )
    summary["presence"], summary["unreadable"] = _presence(store)
    movies = [
        {"id": r.id, "shots": r.num_shots, "duration_s": round(r.duration, 2)}
        for r in (store.record(i) for i in store.ids)
    ]
    if cfg.json:
        print(json.dumps({**summary, "movie_list": movies}, indent=2))
        return 0
    print(f"store {summary['root']}: {summary['movies']} movies, {summary['shots']} shots, {summary['hours']} h")
    if counts:
        per = summary["shots_per_movie"]
        print(f"shots per movie: min {per['min']}, median {per['median']}, max {per['max']}")
    print(f"  {'modality':<9} {'encoder':<28} {'dim':>5} {'shots with it':>14} {'movies with it':>15}")
    for m, e in summary["encoders"].items():
        rate = summary["presence"][m]
        print(f"  {m:<9} {e['name']:<28} {e['dim']:>5} {_percent(rate['shots']):>14} {_percent(rate['movies']):>15}")
    if summary["unreadable"]:
        print(
            f"note: {len(summary['unreadable'])} movie(s) have unreadable masks and are left out of the rates "
            f"(lmp store verify {store.root} names the damage)"
        )
    if not cfg.movies:
        if movies:
            print(f"(--movies lists the {len(movies)} movies)")
        return 0
    print(f"  {'movie':<24} {'shots':>7} {'duration_s':>11}")
    for row in movies:
        print(f"  {row['id']:<24} {row['shots']:>7} {row['duration_s']:>11}")
    return 0


def verify(cfg: StoreVerifyConfig) -> int:
    from tqdm import tqdm

    store = FeatureStore(cfg.store)
    damaged = store.manifest_problems()
    broken = {}
    for mid in tqdm(store.ids, desc="verify", unit="movie", disable=len(store) < 50):
        if problems := store.verify_movie(mid):
            broken[mid] = problems
    for path in stages(store.root):
        # Not damage: a crash's leftover (the next StoreWriter deletes it), or a writer busy right now.
        print(f"note: {path}: staging directory of an interrupted or ongoing write")
    for p in damaged + [p for problems in broken.values() for p in problems]:
        print(p)
    if not broken and not damaged:
        print(f"store {cfg.store}: {len(store)} movies OK")
        return 0
    if damaged:
        print(f"store {cfg.store}: {len(damaged)} damaged manifest record(s), skipped when reading")
    if broken:
        print(f"store {cfg.store}: {len(broken)} of {len(store)} movies broken: {', '.join(broken)}")
    return 1


def import_cmd(cfg: StoreImportConfig) -> int:
    """Import features extracted elsewhere (docs/import.md); exit 1 when a video failed (--keep_going)."""
    report = import_features(cfg)
    print(
        f"import: {len(report.written)} written, {len(report.skipped)} skipped (already in {cfg.store}), "
        f"{len(report.failed)} failed"
        + (f"; {report.not_listed} videos in the sources are not in --ids" if report.not_listed else "")
    )
    for line in iter_messages(report):
        print(line)
    return 1 if report.failed else 0
