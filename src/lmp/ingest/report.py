"""The run report: one JSON file per `lmp ingest` run (per rank) listing every movie's outcome.

    {"started": ..., "finished": ..., "rank": 0, "world_size": 1, "config": {...},
     "summary": {"ok": 3, "skipped": 1, "error": 1, "movie_seconds": ..., "wall_seconds": ...,
                 "speed_x_realtime": movie seconds / seconds spent on the ok movies (no model loading)},
     "movies": [{"path", "id", "status": "ok"|"skipped"|"error", "error", "warnings", "shots",
                 "duration", "wall_seconds", "stage_seconds": {"decode", "shots", "visual", ...}}]}
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from lmp.config import atomic_write_text, save_config, to_dict
from lmp.ingest.config import IngestConfig
from lmp.ingest.pipeline import MovieResult

REPORTS_DIR = "reports"


def default_report_path(store: Path, rank: int, world_size: int) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    suffix = f"-rank{rank}" if world_size > 1 else ""
    return Path(store) / REPORTS_DIR / f"ingest-{stamp}{suffix}.json"


def summarize(results: list[MovieResult], wall_seconds: float) -> dict[str, Any]:
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "skipped", "error")}
    movie_s = sum(r.duration for r in results if r.status == "ok")
    busy_s = sum(r.wall_seconds for r in results if r.status == "ok")
    return {
        **counts,
        "movie_seconds": round(movie_s, 3),
        "wall_seconds": round(wall_seconds, 3),
        # Per-movie processing speed, without the one-off model loading that wall_seconds includes.
        "speed_x_realtime": round(movie_s / busy_s, 2) if busy_s > 0 and movie_s else None,
    }


def write_report(
    path: Path, cfg: IngestConfig, results: list[MovieResult], started: float, rank: int, world_size: int
) -> dict[str, Any]:
    """Write the report atomically (and the resolved config next to it as YAML); returns it."""
    finished = time.time()
    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished)),
        "rank": rank,
        "world_size": world_size,
        "config": to_dict(cfg),
        "summary": summarize(results, finished - started),
        "movies": [r.to_json() for r in results],
    }
    atomic_write_text(path, json.dumps(report, indent=2))
    save_config(cfg, path.with_suffix(".config.yaml"))
    return report
