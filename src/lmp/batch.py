"""Building the model batch of docs/design.md: the one place where windows of shots become tensors.

The trainer's collate (lmp.train.data) and transfer (lmp.tasks.features) both build batches here, so a
window looks the same to the model in pretraining and in transfer. The keys, masks and their polarity
are the contract of lmp.modality; how presence is read back from a batch is `lmp.modality.present`.

Dimension legend:
    b  windows in the batch
    s  shots per window after padding (`length`, or the longest window)
    n  real shots of one window (n <= s)
    D_m  feature width of modality m

A *window* is a dict with the arrays `FeatureStore.read` returns for shots [start, start + n) of a movie,
plus two integers:

    times      float [n, 2]   shot start/end in seconds (absolute: the batch makes them relative)
    <m>        float [n, D_m] frozen features
    <m>_mask   bool  [n]      True = the shot has modality m
    start      int            index of the window's first shot in its movie
    movie      int            what batch["movie"] carries: windows with equal values come from one movie
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from lmp.modality import mask_key
from lmp.store.format import TIMES_FIELD

if TYPE_CHECKING:
    from lmp.store.reader import FeatureStore


def collate(
    windows: Sequence[dict], modalities: Sequence[str], *, length: int | None = None, dtype=np.float32
) -> dict[str, torch.Tensor]:
    """Windows -> the batch (CPU tensors), each padded to `length` shots (None: the longest window).

    dtype: the features' dtype. The trainer keeps the store's float16 (half the bytes to copy to the
    GPU, cast on the device); transfer asks for float32. Times are made relative to each window's first
    shot in the dtype they come in, then stored as float32.
    """
    b = len(windows)
    s = max(w[TIMES_FIELD].shape[0] for w in windows) if length is None else length
    shot_mask = np.zeros((b, s), dtype=bool)
    times = np.zeros((b, s, 2), dtype=np.float32)
    positions = np.zeros((b, s), dtype=np.int64)
    feats = {m: np.zeros((b, s, windows[0][m].shape[1]), dtype=dtype) for m in modalities}
    masks = {m: np.zeros((b, s), dtype=bool) for m in modalities}
    for i, w in enumerate(windows):
        n = w[TIMES_FIELD].shape[0]
        shot_mask[i, :n] = True
        # Relative to the window start, so a window looks the same wherever it sits in the movie.
        times[i, :n] = w[TIMES_FIELD] - w[TIMES_FIELD][0, 0]
        positions[i, :n] = np.arange(w["start"], w["start"] + n)
        for m in modalities:
            feats[m][i, :n] = w[m]
            # Padding stays False, so every <m>_mask is already ANDed with shot_mask.
            masks[m][i, :n] = w[mask_key(m)]
    batch = {
        "shot_mask": torch.from_numpy(shot_mask),
        "times": torch.from_numpy(times),
        "positions": torch.from_numpy(positions),
        "movie": torch.tensor([w["movie"] for w in windows], dtype=torch.long),
    }
    for m in modalities:
        batch[m] = torch.from_numpy(feats[m])
        batch[mask_key(m)] = torch.from_numpy(masks[m])
    return batch


def read_batch(
    store: FeatureStore,
    windows: Sequence[tuple[str, int, int]],
    modalities: Sequence[str],
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor]:
    """Windows (video_id, start, stop) of a store -> a float32 batch on `device`, padded to the longest.

    Each window is its own `movie` (0 .. b-1): transfer has no positives to mark.
    """
    reads = []
    for i, (video_id, start, stop) in enumerate(windows):
        r = store.read(video_id, start, stop, tuple(modalities))
        # Transfer has always rounded times to float32 before making them relative (the trainer's collate
        # subtracts in the store's float64); kept so transfer representations stay bit for bit the same.
        reads.append({**r, TIMES_FIELD: r[TIMES_FIELD].astype(np.float32), "start": start, "movie": i})
    batch = collate(reads, modalities, dtype=np.float32)
    return {k: v.to(device) for k, v in batch.items()}
