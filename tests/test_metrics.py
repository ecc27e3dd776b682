"""Metrics against hand-computed cases (LVU targets, AP, mAP, scene-segmentation mIoU/F1)."""

import math

import numpy as np
import pytest
import torch

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
