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


def test_dim_scale_gives_each_dimension_its_own_units_and_changes_nothing_else(tmp_path):
    plain = generate(from_dict(SynthConfig, {"preset": "tiny", "out": str(tmp_path / "a")}))
    scaled = generate(from_dict(SynthConfig, {"preset": "tiny", "out": str(tmp_path / "b"), "dim_scale": 1.0}))
    for path in sorted((plain / "labels").rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (scaled / "labels" / path.relative_to(plain / "labels")).read_bytes()
    a, b = FeatureStore(plain / "store"), FeatureStore(scaled / "store")
    for m in ("visual", "audio", "text"):
        x = np.concatenate([a.read(i)[m][a.read(i)[f"{m}_mask"]] for i in a.ids]).astype(np.float64)
        y = np.concatenate([b.read(i)[m][b.read(i)[f"{m}_mask"]] for i in b.ids]).astype(np.float64)
        assert not np.concatenate([b.read(i)[m][~b.read(i)[f"{m}_mask"]] for i in b.ids]).any()  # absent: zeros
        # Per dimension an affine map y = scale * x + shift with positive scale: correlation 1, and the
        # scales spread (log-normal with sigma 1: far from all equal).
        for j in range(x.shape[1]):
            assert np.corrcoef(x[:, j], y[:, j])[0, 1] > 0.999, (m, j)
        ratio = y.std(0) / x.std(0)
        assert ratio.max() / ratio.min() > 3.0, m
