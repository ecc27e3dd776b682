"""Metrics against hand-computed cases (LVU targets, AP, mAP, scene-segmentation mIoU/F1) and against
scikit-learn on random and on tied inputs (the expectations never come from lmp's own code)."""

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from lmp.labels import is_better
from lmp.tasks import metrics as M
from lmp.tasks.heads import score


def test_lvu_regression_targets_are_the_official_ones():
    # 10 * 3 / (3 + 1) - 9.138220535629456
    assert M.lvu_like_ratio_target(3, 1) == pytest.approx(7.5 - 9.138220535629456, abs=1e-12)
    assert M.lvu_view_count_target(math.e**12) == pytest.approx(12 - 11.76425435683139, abs=1e-9)
    with pytest.raises(ValueError, match="views"):
        M.lvu_view_count_target(0)


def test_mse_on_official_targets():
    target = np.array([M.lvu_view_count_target(1e5), M.lvu_view_count_target(1e6)])
    pred = target + np.array([1.0, -3.0])
    assert M.mse(pred, target) == pytest.approx((1 + 9) / 2)
    assert M.mse(torch.tensor([[1.0], [2.0]]), torch.tensor([1.0, 4.0])) == pytest.approx(2.0)


def test_accuracy_from_logits_and_ids():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 0.0]])
    assert M.accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    assert M.accuracy(np.array([1, 1]), np.array([1, 0])) == 0.5


def test_average_precision_hand_computed():
    # Ranks: + - + -  -> precision 1 at recall .5, 2/3 at recall 1.
    assert M.average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # Tied scores form one threshold: (P=.5, R=.5), then (P=2/3, R=1).
    assert M.average_precision([0.5, 0.5, 0.2], [1, 0, 1]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert M.average_precision([0.1, 0.9], [1, 1]) == pytest.approx(1.0)
    assert math.isnan(M.average_precision([0.1, 0.2], [0, 0]))


def test_scores_that_are_not_finite_grade_nan_so_they_never_win_on_val():
    """A diverged head's NaN outputs: argmax called them class 0, and sorting put NaN below every score."""
    nan = float("nan")
    assert math.isnan(M.accuracy(torch.tensor([[nan, nan], [nan, nan]]), torch.tensor([0, 0])))
    assert math.isnan(M.average_precision([nan, 0.9, 0.1], [0, 1, 0]))  # was 1.0
    assert math.isnan(M.mean_average_precision(np.array([[nan, 0.2], [0.3, 0.4]]), np.array([[1, 0], [0, 1]]))[0])
    assert not is_better("accuracy", M.accuracy(torch.tensor([[nan, 1.0]]), torch.tensor([0])), 0.1)


def test_mean_average_precision_skips_classes_without_positives():
    scores = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.4], [0.7, 0.6, 0.5]])
    targets = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0]])
    value, counted = M.mean_average_precision(scores, targets)
    # class 0: AP 1; class 1: ranks (0.8 +, 0.6 +, 0.1 -) -> 1; class 2 has no positive.
    assert counted == 2 and value == pytest.approx(1.0)
    targets[2] = [1, 0, 0]
    value, _ = M.mean_average_precision(scores, targets)
    # class 0: ranks 0.9 +, 0.7 +, 0.2 - -> 1; class 1: ranks 0.8 +, 0.6 -, 0.1 - -> 1
    assert value == pytest.approx(1.0)
    targets[:, 0] = [0, 0, 1]
    # class 0 ranks 0.9 -, 0.7 +, -> AP 0.5; class 1 (rows 1 positive) -> 1
    assert M.mean_average_precision(scores, targets)[0] == pytest.approx(0.75)


def test_scene_miou_hand_computed():
    # 6 shots; GT scenes [0-2] [3-5]; predicted [0-1] [2-5].
    gt = [0, 0, 1, 0, 0]
    pred = [0, 1, 0, 0, 0]
    # IoU(gt0, p0) = 2/3, IoU(gt1, p1) = 3/4; both directions average 17/24.
    assert M.scene_miou(gt, pred) == pytest.approx(17 / 24)
    assert M.scene_miou(gt, gt) == pytest.approx(1.0)
    # Weighted by duration: shot 2 lasts 4 s, others 1 s. gt0 = {0,1,2} (6 s), gt1 = {3,4,5} (3 s),
    # p0 = {0,1} (2 s), p1 = {2..5} (7 s). IoU(gt0,p0) = 2/6, IoU(gt0,p1) = 4/9 (union is all 9 s),
    # IoU(gt1,p1) = 3/7. Best per GT scene: 4/9, 3/7; best per predicted scene: 1/3, 4/9.
    w = [1, 1, 4, 1, 1, 1]
    expected = ((4 / 9 + 3 / 7) / 2 + (1 / 3 + 4 / 9) / 2) / 2
    assert M.scene_miou(gt, pred, w) == pytest.approx(expected)


def test_scene_segmentation_metrics_f1_and_ap():
    gt = {"a": [0, 0, 1, 0, 0], "b": [1, 0, 0]}
    scores = {"a": [0.1, 0.6, 0.9, 0.2, 0.0], "b": [0.4, 0.3, 0.8]}
    out = M.scene_segmentation_metrics(gt, scores, threshold=0.5)
    # a: predicted {1, 2}, GT {2}: P = 1/2, R = 1, F1 = 2/3. b: predicted {2}, GT {0}: F1 = 0.
    assert out["F1"] == pytest.approx((2 / 3 + 0) / 2)
    assert out["Precision"] == pytest.approx(0.25) and out["Recall"] == pytest.approx(0.5)
    # a's AP = 1 (0.9 is the top score); b's AP: ranks 0.8 -, 0.4 + -> 1/2.
    assert out["mAP"] == pytest.approx(0.75)
    # Pooled: 0.9 +, 0.8 -, 0.6 -, 0.4 +, ... -> (1 + 2/4) / 2.
    assert out["AP"] == pytest.approx(0.75)
    assert 0 < out["mIoU"] < 1


def test_score_boundary_task_adds_scene_metrics():
    y = torch.tensor([0, 1, 0, 1])
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    out = score("classification", "AP", probs, y, groups=["m", "m", "m", "n"], shots=[2, 1, 0, 0])
    assert out["AP"] == pytest.approx(1.0)
    assert out["mIoU"] == pytest.approx(1.0) and out["F1"] == pytest.approx(1.0)


# -- the same numbers as scikit-learn ---------------------------------------------------------------
SEEDS = range(8)


def _scores(rng: np.random.Generator, shape, tied: bool) -> np.ndarray:
    """Continuous scores, or scores on a coarse grid of 4 values (so most of them are tied)."""
    return rng.integers(0, 4, size=shape) / 4 if tied else rng.random(shape)


def _sk(fn, *args, **kwargs):
    """A scikit-learn metric with its warnings (no positive class, ...) silenced: the value is what counts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.mark.parametrize("tied", [False, True], ids=["random", "tied"])
@pytest.mark.parametrize("seed", SEEDS)
def test_average_precision_matches_sklearn(seed, tied):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    labels = rng.random(n) < rng.uniform(0.05, 0.7)
    labels[rng.integers(n)] = True  # AP needs a positive
    scores = _scores(rng, n, tied)
    expected = skm.average_precision_score(labels, scores)
    assert M.average_precision(scores, labels) == pytest.approx(expected, abs=1e-12)
    assert M.average_precision(torch.from_numpy(scores).float(), torch.from_numpy(labels)) == pytest.approx(
        expected, abs=1e-6
    )
    # Ties are one threshold: the order of tied rows cannot change AP.
    order = rng.permutation(n)
    assert M.average_precision(scores[order], labels[order]) == pytest.approx(expected, abs=1e-12)


def test_average_precision_on_ties_is_sklearns():
    # The case: mean precision at each positive's rank would give 0.833 here.
    scores, labels = [0.5, 0.5, 0.2], [1, 0, 1]
    assert skm.average_precision_score(labels, scores) == pytest.approx(7 / 12)
    assert M.average_precision(scores, labels) == pytest.approx(7 / 12)
    # All scores tied: one threshold, AP = the positive rate.
    assert M.average_precision([0.3] * 5, [1, 0, 0, 1, 0]) == pytest.approx(
        skm.average_precision_score([1, 0, 0, 1, 0], [0.3] * 5)
    )


@pytest.mark.parametrize("tied", [False, True], ids=["random", "tied"])
@pytest.mark.parametrize("seed", SEEDS)
def test_mean_average_precision_matches_sklearn_macro_over_classes_with_a_positive(seed, tied):
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(3, 200)), int(rng.integers(2, 8))
    targets = rng.random((n, c)) < rng.uniform(0.05, 0.6, size=c)
    empty = int(rng.integers(c))
    targets[:, empty] = False  # a class without positives does not count
    targets[rng.integers(n), (empty + 1) % c] = True  # and at least one class does
    scores = _scores(rng, (n, c), tied)
    counted = targets.any(0)
    value, k = M.mean_average_precision(scores, targets)
    assert k == counted.sum() >= 1
    expected = skm.average_precision_score(targets[:, counted], scores[:, counted], average="macro")
    assert value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("tied", [False, True], ids=["random", "tied"])
@pytest.mark.parametrize("seed", SEEDS)
def test_accuracy_and_mse_match_sklearn(seed, tied):
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 200)), int(rng.integers(2, 7))
    logits = _scores(rng, (n, c), tied)  # tied: argmax takes the first of the tied top classes
    y = rng.integers(0, c, size=n)
    expected = skm.accuracy_score(y, np.argmax(logits, axis=1))
    assert M.accuracy(logits, y) == pytest.approx(expected, abs=1e-12)
    assert M.accuracy(torch.from_numpy(logits), torch.from_numpy(y)) == pytest.approx(expected, abs=1e-12)
    pred, target = rng.normal(size=n), rng.normal(size=n)
    if tied:
        pred = np.round(pred)
    assert M.mse(pred, target) == pytest.approx(skm.mean_squared_error(target, pred), rel=1e-12)
    assert M.mse(pred[:, None], target) == pytest.approx(skm.mean_squared_error(target, pred), rel=1e-12)


def _miou_sklearn(gt: np.ndarray, pred: np.ndarray, weights: np.ndarray) -> float:
    """Scene mIoU from boundary flags, each scene a set of shots, IoU = scikit-learn's weighted Jaccard."""
    gt_scene, pred_scene = np.r_[0, np.cumsum(gt)], np.r_[0, np.cumsum(pred)]  # scene id of every shot
    table = np.array(
        [
            [skm.jaccard_score(gt_scene == i, pred_scene == j, sample_weight=weights) for j in np.unique(pred_scene)]
            for i in np.unique(gt_scene)
        ]
    )
    return (table.max(axis=1).mean() + table.max(axis=0).mean()) / 2


@pytest.mark.parametrize("tied", [False, True], ids=["random", "tied"])
@pytest.mark.parametrize("seed", SEEDS)
def test_scene_segmentation_metrics_match_sklearn(seed, tied):
    rng = np.random.default_rng(seed)
    gt, scores, weights = {}, {}, {}
    for m in range(int(rng.integers(1, 6))):
        b = int(rng.integers(1, 40))  # boundaries, i.e. b + 1 shots
        gt[f"m{m}"] = rng.random(b) < rng.uniform(0.0, 0.5)  # some movies have no boundary at all
        scores[f"m{m}"] = _scores(rng, b, tied)
        weights[f"m{m}"] = rng.uniform(0.5, 8.0, size=b + 1)  # shot durations
    gt["m0"][0] = True  # the pooled AP needs a positive
    out = M.scene_segmentation_metrics(gt, scores, threshold=0.5, weights=weights)
    pooled = np.concatenate(list(gt.values())), np.concatenate(list(scores.values()))
    assert out["AP"] == pytest.approx(skm.average_precision_score(*pooled), abs=1e-12)
    # Per movie, averaged over movies; a movie without a boundary scores 0 AP, as scikit-learn gives it.
    per_movie = {
        "mAP": [_sk(skm.average_precision_score, gt[m], scores[m]) for m in gt],
        "Precision": [skm.precision_score(gt[m], scores[m] >= 0.5, zero_division=0) for m in gt],
        "Recall": [skm.recall_score(gt[m], scores[m] >= 0.5, zero_division=0) for m in gt],
        "F1": [skm.f1_score(gt[m], scores[m] >= 0.5, zero_division=0) for m in gt],
        "mIoU": [_miou_sklearn(gt[m], scores[m] >= 0.5, weights[m]) for m in gt],
    }
    for name, values in per_movie.items():
        assert out[name] == pytest.approx(np.mean(values), abs=1e-12), name
    for m in gt:  # unit weights: IoU counts shots
        expected = _miou_sklearn(gt[m], scores[m] >= 0.5, np.ones(gt[m].size + 1))
        assert M.scene_miou(gt[m], scores[m] >= 0.5) == pytest.approx(expected, abs=1e-12)
