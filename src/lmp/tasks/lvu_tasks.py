"""LVU 1.0's nine tasks: names in the literature's order, groups, types and official class counts.

The one definition of them; `lmp.tasks.lvu` reads the official files with it and MovieWorld
(`lmp.synth.labels`) builds its LVU-shaped tasks (names, order, types) from it. It imports no torch, so
that `lmp synth` stays quick to start. The regression targets' offsets are in `lmp.tasks.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LVUTask:
    name: str
    group: str
    """'content', 'metadata' or 'engagement' (LVU's three groups)."""
    type: str
    num_classes: int | None = None
    """Classes of the official head (LVU run.sh); ids in the files are below it."""


# The order of LVU tables in the literature.
LVU_TASKS: dict[str, LVUTask] = {
    t.name: t
    for t in (
        LVUTask("relationship", "content", "classification", 4),
        LVUTask("way_speaking", "content", "classification", 5),
        LVUTask("scene", "content", "classification", 6),
        LVUTask("director", "metadata", "classification", 10),
        LVUTask("genre", "metadata", "classification", 4),
        LVUTask("writer", "metadata", "classification", 10),
        LVUTask("year", "metadata", "classification", 9),
        LVUTask("like_ratio", "engagement", "regression"),
        LVUTask("view_count", "engagement", "regression"),
    )
}
