"""The studies' linear no-pretraining baselines, fit on the unlabeled train-split movies.

`PCA` (`pca_components` directions) and `CCA` (`cca_components` per side of every modality pair) are the
label-free linear maps of lmp.tasks.linear_baselines (what they compute and why), fit on windows of
`eval_window` shots tiling every train-split movie and applied to the `raw features` arm's clip vectors.
"""

from __future__ import annotations

import torch

from lmp.studies.config import StudyConfig
from lmp.tasks.linear_baselines import LinearMap, fit_cca, fit_pca, window_means

PCA = "PCA"
CCA = "CCA"
Reps = dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]]


def project(raw: Reps, linear_map: LinearMap) -> Reps:
    """Apply a fitted linear map to every split of every task's raw representations."""
    return {t: {s: (linear_map(x), y) for s, (x, y) in splits.items()} for t, splits in raw.items()}


def baseline_representations(raw: Reps, store, movies: list[str], cfg: StudyConfig) -> dict[str, Reps]:
    """{PCA: reps, CCA: reps} from the raw features' reps, each map fit on the unlabeled `movies`."""
    x = window_means(store, movies, cfg.eval_window)
    return {
        PCA: project(raw, LinearMap.of(fit_pca(x, cfg.pca_components))),
        CCA: project(raw, LinearMap.of(fit_cca(x, cfg.cca_components))),
    }
