"""The studies' linear baselines (PCA, CCA), the claim verdict and the pooling of runs, on planted cases."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from lmp.studies.report import FAILS, HOLDS, INCONCLUSIVE, not_below, verdict
from lmp.studies.runner import pool_runs
from lmp.tasks.linear_baselines import fit_cca, fit_pca


def test_cca_finds_the_shared_latent_and_pca_the_largest_direction():
    rng = np.random.default_rng(0)
    z = rng.standard_normal(2000)  # the latent both modalities carry
    visual = np.stack([z + 0.1 * rng.standard_normal(2000), 5 * rng.standard_normal(2000)], axis=1)
    audio = np.stack([rng.standard_normal(2000), -z + 0.1 * rng.standard_normal(2000), rng.standard_normal(2000)], 1)
    mean, proj = fit_cca({"visual": visual, "audio": audio}, k=1)
    assert proj.shape == (5, 2)  # one direction per side of the single pair, in the concatenated space
    full = np.concatenate([visual, audio], axis=1) - mean
    v, a = full @ proj[:, 0], full @ proj[:, 1]
    assert abs(np.corrcoef(v, z)[0, 1]) > 0.99 and abs(np.corrcoef(a, z)[0, 1]) > 0.99
    assert np.allclose(proj[2:, 0], 0) and np.allclose(proj[:2, 1], 0)  # each side reads its own modality
    _, pca = fit_pca({"visual": visual, "audio": audio}, k=1)
    assert abs(pca[1, 0]) > 0.99  # visual dimension 1 has by far the largest variance (25)


def test_verdict_needs_two_pooled_std_and_two_seeds():
    ours = {"mean": 0.60, "std": 0.01}
    assert verdict([(ours, {"mean": 0.55, "std": 0.01})], seeds=3) == HOLDS  # +0.05 > 2 * 0.01
    assert verdict([(ours, {"mean": 0.59, "std": 0.01})], seeds=3) == INCONCLUSIVE
    assert verdict([(ours, {"mean": 0.65, "std": 0.01})], seeds=3) == FAILS
    # Every comparison must hold; one clear loss is enough to fail.
    assert verdict([(ours, {"mean": 0.5, "std": 0.0}), (ours, {"mean": 0.7, "std": 0.0})], seeds=3) == FAILS
    assert verdict([(ours, {"mean": 0.1, "std": 0.0})], seeds=1) == INCONCLUSIVE  # no spread to judge by
    with pytest.raises(KeyError):
        verdict([(ours, {"mean": 0.5})], seeds=3)


def test_not_below_accepts_a_tie_and_fails_only_beyond_two_pooled_std():
    ours = {"mean": 0.50, "std": 0.01}
    assert not_below([(ours, {"mean": 0.50, "std": 0.01})], seeds=3) == HOLDS  # level is enough
    assert not_below([(ours, {"mean": 0.45, "std": 0.01})], seeds=3) == HOLDS
    assert not_below([(ours, {"mean": 0.51, "std": 0.01})], seeds=3) == INCONCLUSIVE  # behind by < 2 * 0.01
    assert not_below([(ours, {"mean": 0.53, "std": 0.01})], seeds=3) == FAILS
    # One cell clearly behind fails the claim however far ahead the others are.
    assert not_below([(ours, {"mean": 0.1, "std": 0.0}), (ours, {"mean": 0.6, "std": 0.0})], seeds=3) == FAILS
    assert not_below([(ours, {"mean": 0.1, "std": 0.0})], seeds=1) == INCONCLUSIVE


def test_pooled_runs_keep_every_value_and_their_spread():
    # Two pretraining runs, each probed with two seeds: 0.1, 0.3 and 0.5, 0.7 -> mean 0.4, std sqrt(0.05).
    runs = [{"genre": {0.1: {"values": [0.1, 0.3]}}}, {"genre": {0.1: {"values": [0.5, 0.7]}}}]
    pooled = pool_runs(runs)["genre"][0.1]
    assert pooled["values"] == [0.1, 0.3, 0.5, 0.7]
    assert pooled["mean"] == pytest.approx(0.4) and pooled["std"] == pytest.approx(0.05**0.5)


def test_a_given_corpus_without_corpus_json_is_one_error(tmp_path):
    """--corpus names an existing corpus: a directory that is none is refused (it used to be synthesised into)."""
    from lmp.config import from_dict
    from lmp.errors import LMPError
    from lmp.studies.config import StudyConfig
    from lmp.studies.runner import load_corpus

    (tmp_path / "mine" / "store").mkdir(parents=True)
    cfg = from_dict(StudyConfig, {"out": str(tmp_path / "out"), "corpus": str(tmp_path / "mine")})
    with pytest.raises(LMPError, match="not a MovieWorld corpus \\(no corpus.json\\)"):
        load_corpus(cfg)
    assert not (tmp_path / "mine" / "labels").exists()


def test_task_average_spread_is_that_of_the_task_mean_over_seeds():
    """Two tasks whose seeds move in opposite directions: the task mean does not move at all (std 0), where
    the mean of the tasks' own stds (the former spread) said 0.082."""
    from lmp.studies.runner import task_average

    res = {"a": {"mean": 0.5, "std": 0.0816, "values": [0.4, 0.5, 0.6]},
           "b": {"mean": 0.5, "std": 0.0816, "values": [0.6, 0.5, 0.4]}}
    out = task_average(res, ["a", "b"])
    assert out["mean"] == pytest.approx(0.5) and out["std"] == pytest.approx(0.0, abs=1e-12)
    res = {"a": {"mean": 0.3, "std": 0.1, "values": [0.2, 0.4]}, "b": {"mean": 0.6, "std": 0.2, "values": [0.4, 0.8]}}
    out = task_average(res, ["a", "b"])
    assert out["values"] == pytest.approx([0.3, 0.6]) and out["std"] == pytest.approx(0.15)
    with pytest.raises(ValueError, match="different numbers of seed values"):
        task_average({"a": res["a"], "c": {"mean": 0.1, "std": 0.0, "values": [0.1]}}, ["a", "c"])


def test_label_fraction_subsets_need_class_ids():
    """A multi-hot or regression target used to be 'stratified' by its distinct values: garbage indices."""
    import torch

    from lmp.studies.runner import stratified_subset

    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    idx = stratified_subset(y, 0.1, 0)
    assert torch.bincount(y[idx]).tolist() == [5, 3, 2] and len(set(idx.tolist())) == 10
    for bad in (torch.zeros(10, 3), torch.linspace(-1, 1, 100)):
        with pytest.raises(ValueError, match="needs class ids"):
            stratified_subset(bad, 0.1, 0)


def test_study_tasks_must_be_classification_tasks(tmp_path):
    """Label fractions are stratified by class and verdicts take higher as better: a regression task (MSE) in
    --tasks is refused by name instead of giving silently wrong curves and verdicts."""
    from lmp.config import from_dict
    from lmp.errors import LMPError
    from lmp.studies.config import StudyConfig
    from lmp.studies.runner import load_corpus
    from lmp.synth import SynthConfig, generate

    generate(from_dict(SynthConfig, {"preset": "tiny", "out": str(tmp_path / "mw"), "num_movies": 4,
                                     "progress": False}))  # fmt: skip
    cfg = from_dict(StudyConfig, {"out": str(tmp_path / "out"), "corpus": str(tmp_path / "mw"),
                                  "tasks": ["genre", "like_ratio"]})  # fmt: skip
    with pytest.raises(LMPError, match=r"must be classification tasks; \{'like_ratio': 'regression, mse'\}"):
        load_corpus(cfg)


def test_the_study_probe_fits_once_per_distinct_label_subset_with_the_values_of_a_fit_per_seed(monkeypatch):
    import torch

    import lmp.tasks.probe as probe_module
    from lmp.studies.config import StudyConfig
    from lmp.studies.runner import probe, stratified_subset

    gen = torch.Generator().manual_seed(0)
    y = torch.arange(90) % 3
    x = torch.randn(90, 6, generator=gen) + 0.5 * torch.nn.functional.one_hot(y, 6).float()
    reps = {"train": (x[:60], y[:60]), "val": (x[60:75], y[60:75]), "test": (x[75:], y[75:])}
    task = SimpleNamespace(spec=SimpleNamespace(type="classification", metric="accuracy", num_classes=3))
    cfg = StudyConfig(seeds=(0, 1, 2))
    real, calls = probe_module.linear_probe, []

    def counted(*args, **kwargs):
        calls.append(kwargs["seed"])
        return real(*args, **kwargs)

    def per_seed(fraction):  # one fit per seed, as the studies did before
        values = []
        for seed in cfg.seeds:
            idx = stratified_subset(y[:60], fraction, seed)
            r = real(x[:60][idx], y[:60][idx], *reps["val"], *reps["test"], "classification", num_classes=3, seed=seed)
            values.append(float(r["test"]["accuracy"]))
        return values

    monkeypatch.setattr(probe_module, "linear_probe", counted)
    full = probe(reps, task, cfg, 1.0)
    assert calls == [0]  # every seed draws all labels: one fit
    calls.clear()
    fifth = probe(reps, task, cfg, 0.2)
    assert calls == [0, 1, 2]  # three different fifths: three fits
    assert full["values"] == per_seed(1.0) and fifth["values"] == per_seed(0.2)
    assert len(set(fifth["values"])) > 1  # the subsets differ, so the values can
