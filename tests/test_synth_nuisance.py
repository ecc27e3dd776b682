"""MovieWorld's nuisance option: label-free, modality-specific variation in a low-rank subspace."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmp.config import from_dict
from lmp.store import FeatureStore
from lmp.synth import SynthConfig, generate
from lmp.synth.render import NUISANCE_RANK


def make(out: Path, nuisance: float) -> Path:
    return generate(from_dict(SynthConfig, {"preset": "tiny", "out": str(out), "nuisance": nuisance}))


def test_nuisance_adds_a_low_rank_term_and_changes_nothing_else(tmp_path):
    clean, noisy = make(tmp_path / "clean", 0.0), make(tmp_path / "noisy", 1.0)
    # Labels, splits and shot lists come from the story alone: byte-identical.
    for path in sorted((clean / "labels").rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (noisy / "labels" / path.relative_to(clean / "labels")).read_bytes()
    a, b = FeatureStore(clean / "store"), FeatureStore(noisy / "store")
    assert a.ids == b.ids
    diffs = {m: [] for m in ("visual", "audio", "text")}
    for movie in a.ids:
        x, y = a.read(movie, 0, a.num_shots(movie)), b.read(movie, 0, b.num_shots(movie))
        for m, d in diffs.items():
            assert np.array_equal(x[f"{m}_mask"], y[f"{m}_mask"])
            # Absent modalities stay exactly zero.
            assert not y[m][~y[f"{m}_mask"]].any()
            d.append((y[m] - x[m])[y[f"{m}_mask"]].astype(np.float64))
    for m, d in diffs.items():
        delta = np.concatenate(d)  # [shots of all movies, D_m]
        sv = np.linalg.svd(delta, compute_uv=False)
        rank = min(NUISANCE_RANK, delta.shape[1])
        assert sv[rank - 1] > 1.0, m  # a real term, of full rank within its subspace
        if rank < delta.shape[1]:
            # ... and nothing outside that subspace (float32 storage rounding only).
            assert sv[rank] < 1e-3 * sv[0], (m, sv[rank], sv[0])
