"""Model selection on val, shared by the probes (lmp.tasks.probe) and fine-tuning (lmp.tasks.finetune).

The protocol every trained head follows: train for a number of rounds (optimiser steps or epochs),
score val after every `every`-th round and after the last, keep a snapshot of the state with the best
val metric, and score test once, with that state (optionally stopping once val has not improved for a
number of scorings). `train_and_select` is the loop, `BestOnVal` the bookkeeping, `best_index` the choice
among finished runs (e.g. one per weight decay).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lmp.labels import is_better


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
    patience: int = 0,
    progress: Callable[[Iterable[int]], Iterable[int]] | None = None,
) -> int:
    """Run `train(r)` for r = 1 .. rounds and `validate(r)` after every `every`-th round and the last;
    return the last round run.

    validate offers its val scores to the caller's BestOnVal tracker(s) and returns whether any of them
    improved. patience > 0 stops early, after that many validations in a row without an improvement (0:
    never). progress may wrap the rounds (e.g. in a tqdm bar; closed when the loop ends).
    """
    if patience < 0:
        raise ValueError(f"patience: must be >= 0, got {patience}")
    steps: Iterable[int] = range(1, rounds + 1)
    wrapped = progress(steps) if progress is not None else steps
    last, stale = 0, 0
    try:
        for r in wrapped:
            train(r)
            last = r
            if r % every == 0 or r == rounds:
                stale = 0 if validate(r) else stale + 1
                if patience and stale >= patience:
                    break
    finally:
        close = getattr(wrapped, "close", None)
        if close is not None:
            close()
    return last


def best_index(metric: str, vals: Sequence[dict[str, float]]) -> int:
    """Index of the first best val scores among finished runs (0 when every one is NaN)."""
    if not vals:
        raise ValueError("model selection: no runs to choose from")
    best = 0
    for i in range(1, len(vals)):
        if is_better(metric, vals[i][metric], vals[best][metric]):
            best = i
    return best
