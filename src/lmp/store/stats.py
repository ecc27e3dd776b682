"""Per-dimension statistics of a store's features: what the model standardises its inputs with.

    stats = feature_stats(store)              # {modality: (mean [D_m], std [D_m])}, float32
    model.set_input_stats(stats)

Only shots that have the modality count (an absent shot's row is zeros by the store contract). Movies
are read in a permutation drawn from `seed` until `max_shots` shots have been read, so a large store
costs a bounded read and every process that asks gets the same numbers.

Our choice, as scikit-learn's StandardScaler does: a dimension that does not vary in the sample keeps
scale 1 (dividing by a zero or rounding-level std would turn the next store's smallest difference into
a huge input). "Does not vary" is a std at most 1e-6 of the modality's largest one.
"""

from __future__ import annotations

import numpy as np

from lmp.errors import StoreError
from lmp.modality import mask_key
from lmp.store.reader import FeatureStore

Stats = dict[str, tuple[np.ndarray, np.ndarray]]


def feature_stats(
    store: FeatureStore, modalities: tuple[str, ...] | None = None, max_shots: int = 100_000, seed: int = 0
) -> Stats:
    """{modality: (mean, std)} of the present shots' features, each float32 [D_m] (population std)."""
    modalities = tuple(modalities or store.modalities)
    if max_shots < 1:
        raise ValueError(f"max_shots: must be >= 1, got {max_shots}")
    ids = store.ids
    if not ids:
        raise StoreError(f"store {store.root}: has no movies to compute feature statistics from")
    sums = {m: np.zeros(store.dims[m]) for m in modalities}
    squares = {m: np.zeros(store.dims[m]) for m in modalities}
    counts = dict.fromkeys(modalities, 0)
    read = 0
    for i in np.random.default_rng(seed).permutation(len(ids)):
        shots = store.read(ids[i], modalities=modalities)
        for m in modalities:
            x = shots[m][shots[mask_key(m)]].astype(np.float64)  # [n_present, D_m]
            sums[m] += x.sum(0)
            squares[m] += np.square(x).sum(0)
            counts[m] += len(x)
        read += len(shots[mask_key(modalities[0])])
        if read >= max_shots:
            break
    out = {}
    for m in modalities:
        n = max(counts[m], 1)
        mean = sums[m] / n
        std = np.sqrt(np.maximum(squares[m] / n - np.square(mean), 0.0))
        flat = std <= 1e-6 * std.max(initial=0.0)
        out[m] = (mean.astype(np.float32), np.where(flat, 1.0, std).astype(np.float32))
    return out
