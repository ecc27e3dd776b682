"""Model selection on val, shared by the probes (lmp.tasks.probe) and fine-tuning (lmp.tasks.finetune).

The protocol every trained head follows: train for a number of rounds (optimiser steps or epochs),
score val after every `every`-th round and after the last, keep a snapshot of the state with the best
val metric, and score test once, with that state. `train_and_select` is the loop, `BestOnVal` the
bookkeeping, `best_index` the choice among finished runs (e.g. one per weight decay).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lmp.tasks.heads import is_better


class BestOnVal:
    """The best val scores so far, the round they came at (`at`), and a snapshot of the state that made them.

    `state` starts as the given initial snapshot (None: the caller decides what an unset state means),
    and stays so when val never produces a number (NaN never wins).
    """

    def __init__(self, metric: str, state: Any = None):
        self.metric = metric
        self.val: dict[str, float] = {metric: float("nan")}
        self.at = 0
        self.state = state

    def offer(self, val: dict[str, float], at: int, snapshot: Callable[[], Any]) -> bool:
        """Keep `val` and take `snapshot()` when val beats the best so far (ties keep the earlier)."""
        if not is_better(self.metric, val[self.metric], self.val[self.metric]):
            return False
        self.val, self.at, self.state = val, at, snapshot()
        return True


def train_and_select(
    rounds: int,
    train: Callable[[int], None],
    validate: Callable[[int], object],
    *,
    every: int = 1,
    progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
) -> None:
    """Run `train(r)` for r = 1 .. rounds and `validate(r)` after every `every`-th round and the last.

    validate offers its val scores to the caller's BestOnVal tracker(s); progress may wrap the rounds
    (e.g. in a tqdm bar).
    """
    steps: Iterable[int] = range(1, rounds + 1)
    for r in progress(steps) if progress is not None else steps:
        train(r)
        if r % every == 0 or r == rounds:
            validate(r)


def best_index(metric: str, vals: Sequence[dict[str, float]]) -> int:
    """Index of the first best val scores among finished runs (0 when every one is NaN)."""
    if not vals:
        raise ValueError("model selection: no runs to choose from")
    best = 0
    for i in range(1, len(vals)):
        if is_better(metric, vals[i][metric], vals[best][metric]):
            best = i
    return best
