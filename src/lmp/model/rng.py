"""Initial weights of optional parts drawn from their own random stream.

Every module takes its initial weights from torch's global stream in the order the modules are built, so
building one more part (say, the recall read-out) changes the draws of every part built after it: two
configs that differ only in that part would also start from different weights everywhere else, and a
comparison of the two would measure the init as much as the part. Measured: on the few-label rehearsal,
random weights' genre probe moved by 0.03 at 20 labels when the recall modules were merely built
(docs/diagnosis-pretraining.md). A part built inside `own_stream` draws from a stream of its own, derived
from the seed the run set, and leaves the global stream where it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def own_stream(name: str) -> Iterator[None]:
    """Inside: torch's CPU stream seeded from the run's seed and `name`; after: the global stream as before."""
    offset = sum((i + 1) * ord(c) for i, c in enumerate(name))  # fixed across processes, unlike hash()
    with torch.random.fork_rng(devices=[]):  # modules are built on the CPU: only its stream is drawn from
        torch.default_generator.manual_seed((torch.initial_seed() + offset) % 2**63)  # not the GPUs' streams
        yield
