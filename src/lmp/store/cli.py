"""`lmp store info`, `lmp store verify` and `lmp store import`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lmp.store.importer import StoreImportConfig, import_features, iter_messages
from lmp.store.reader import FeatureStore
from lmp.store.writer import stages


@dataclass
class StoreInfoConfig:
    positional = ("store",)
    store: Path = Path("runs/demo/store")
    """Store directory."""
    json: bool = False
    """Print machine-readable JSON instead of a table."""


@dataclass
class StoreVerifyConfig:
    positional = ("store",)
    store: Path = Path("runs/demo/store")
    """Store directory."""


def info(cfg: StoreInfoConfig) -> int:
    store = FeatureStore(cfg.store)
    summary = store.summary()
    movies = [
        {"id": r.id, "shots": r.num_shots, "duration_s": round(r.duration, 2)}
        for r in (store.record(i) for i in store.ids)
    ]
    if cfg.json:
        print(json.dumps({**summary, "movie_list": movies}, indent=2))
        return 0
    print(f"store {summary['root']}: {summary['movies']} movies, {summary['shots']} shots, {summary['hours']} h")
    for m, e in summary["encoders"].items():
        print(f"  {m:<7} {e['name']} ({e['dim']}-d)")
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
