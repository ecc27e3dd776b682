"""Label-free linear maps of the frozen features: the `pca` and `cca` representations of `lmp probe` and the
studies' PCA and CCA baselines.

Dimension legend: n windows or clips, D_m frozen width of modality m, D = sum of D_m, k components.

Both start from the inputs of the `raw` representation (per modality, the mean of a clip's frozen features
over the shots that have it, modalities concatenated) and are fit without labels on the means of windows
tiling some movies:

* PCA: the top k principal directions of the concatenated window means.
* CCA: for every pair of modalities, the top k canonical directions of each side (a ridge of 1e-3 on the
  within-modality covariances), all projections concatenated. CCA keeps what two modalities share and
  drops what only one of them carries: the classical linear cross-modal baseline.

Our choices: components are fit on window means (not single shots), like the clips they are applied to,
and a window mean is taken over the shots that have the modality (a window without it falls back to all
shots, whose stored features are zeros).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lmp.labels import Example
from lmp.tasks.representation_names import LINEAR_MAPS, RepresentationError


@dataclass(frozen=True)
class LinearMap:
    """x [..., D] -> (x - mean) @ proj [..., k]: a fitted label-free map of the concatenated frozen features."""

    mean: torch.Tensor
    """[D]"""
    proj: torch.Tensor
    """[D, k]"""

    @classmethod
    def of(cls, fitted: tuple[np.ndarray, np.ndarray]) -> LinearMap:
        mean, proj = fitted
        return cls(torch.from_numpy(mean).float(), torch.from_numpy(proj).float())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) @ self.proj


def fit_linear_baseline(name: str, store, movies: list[str], window: int, components: int) -> LinearMap:
    """The `pca` or `cca` map fit on windows of `window` shots tiling `movies` (k = `components`; CCA: per
    side of every modality pair)."""
    if name not in LINEAR_MAPS:
        raise ValueError(f"linear baseline {name!r} is not one of {list(LINEAR_MAPS)}")
    if name == "cca" and len(store.modalities) < 2:
        raise RepresentationError(
            f"representation 'cca' relates two modalities; store {store.root} has only {list(store.modalities)}"
        )
    x = window_means(store, movies, window)
    return LinearMap.of(fit_pca(x, components) if name == "pca" else fit_cca(x, components))


def window_means(store, movies: list[str], window: int) -> dict[str, np.ndarray]:
    """{m: [n, D_m]}: per-modality means of windows of `window` shots tiling each movie, pooled exactly
    as the `raw features` arm pools a clip (lmp.tasks.features.Representer, representation `raw`)."""
    from lmp.tasks.features import Representer

    windows = [
        Example(v, start, min(store.num_shots(v), start + window), None)
        for v in movies
        for start in range(0, store.num_shots(v), window)
    ]
    x = Representer(store, None, "raw", progress=False).clips(windows).double().numpy()  # [n, sum D_m]
    bounds = np.cumsum([0, *(store.dims[m] for m in store.modalities)])
    return {m: x[:, a:b] for m, a, b in zip(store.modalities, bounds[:-1], bounds[1:])}


def fit_pca(x: dict[str, np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean [D], projection [D, k]) of the concatenated modalities."""
    full = np.concatenate(list(x.values()), axis=1)
    mean = full.mean(0)
    _, _, vt = np.linalg.svd(full - mean, full_matrices=False)
    return mean, vt[:k].T


def _inverse_sqrt(cov: np.ndarray, ridge: float) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov + ridge * np.eye(cov.shape[0]))
    return vecs @ np.diag(vals.clip(min=1e-12) ** -0.5) @ vecs.T


def fit_cca(x: dict[str, np.ndarray], k: int, ridge: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """(mean [D], projection [D, P * 2k]) with one block of k canonical directions per side of each pair."""
    mods = list(x)
    dims = {m: x[m].shape[1] for m in mods}
    offsets = dict(zip(mods, np.cumsum([0, *dims.values()])))
    mean = np.concatenate([x[m].mean(0) for m in mods])
    centred = {m: x[m] - x[m].mean(0) for m in mods}
    white = {m: _inverse_sqrt(np.cov(centred[m], rowvar=False), ridge) for m in mods}
    blocks = []
    for i, a in enumerate(mods):
        for b in mods[i + 1 :]:
            cross = (centred[a] @ white[a]).T @ (centred[b] @ white[b]) / len(centred[a])  # [D_a, D_b]
            u, _, vt = np.linalg.svd(cross)
            for m, dirs in ((a, white[a] @ u[:, :k]), (b, white[b] @ vt[:k].T)):
                block = np.zeros((sum(dims.values()), dirs.shape[1]))
                block[offsets[m] : offsets[m] + dims[m]] = dirs
                blocks.append(block)
    return mean, np.concatenate(blocks, axis=1)
