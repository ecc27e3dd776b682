"""Learning-rate schedule: linear warmup, then cosine decay, as a pure function of the global step.

    step < warmup:           lr = peak · (step + 1) / warmup
    warmup <= step < total:  lr = final + (peak - final) · ½ (1 + cos(π · (step - warmup) / (total - warmup)))
    step >= total:           lr = final

with final = peak · final_lr_ratio. `step` counts optimizer updates (not micro-batches), from 0. Being a
pure function of the step, the schedule needs no state of its own: a resumed run recomputes it.
"""

from __future__ import annotations

import math


def lr_at(step: int, *, peak: float, warmup: int, total: int, final_ratio: float = 0.0) -> float:
    """Learning rate for optimizer update number `step` (0-based)."""
    final = peak * final_ratio
    if step < warmup:
        return peak * (step + 1) / warmup
    if step >= total or total <= warmup:
        return final
    progress = (step - warmup) / (total - warmup)
    return final + (peak - final) * 0.5 * (1.0 + math.cos(math.pi * progress))
