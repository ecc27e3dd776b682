"""Evaluation metrics for clip, shot and boundary tasks (numpy only, no scikit-learn).

Definitions follow the references a reader would compare against:

* ``accuracy``: top-1 accuracy (LVU's 7 classification tasks, shot classification).
* ``mse``: mean squared error (LVU's like_ratio and view_count, on the official centred targets, see
  ``lvu_like_ratio_target`` / ``lvu_view_count_target``).
* ``average_precision``: area under the precision-recall step curve,
  ``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds (identical to scikit-learn's
  ``average_precision_score``, ties included).
* ``mean_average_precision``: multi-label mAP, the mean of the per-class APs over the classes that have at
  least one positive (a class with no positive has no defined AP; scikit-learn warns and scores it 0, we
  leave it out and report how many classes counted).
* Scene segmentation (``scene_segmentation_metrics``), as in the MovieScenes/MovieNet evaluation script
  used by LGSS, ShotCoL and BaSSL: ``AP`` over the boundary scores of all movies pooled, ``mAP`` the mean
  of the per-movie APs, ``mIoU`` per movie the mean of (for each GT scene the max IoU with a predicted
  scene) and (for each predicted scene the max IoU with a GT scene), then averaged over movies, and
  Precision/Recall/``F1`` at a threshold, computed per movie and averaged over movies. The reference
  measures IoU in frames; we measure it in shots, or in seconds when shot durations are given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# Official LVU constants (chaoyuaw/lvu loader), kept verbatim so numbers compare with published ones.
LIKE_RATIO_OFFSET = 9.138220535629456
VIEW_COUNT_OFFSET = 11.76425435683139


def lvu_like_ratio_target(likes: float, dislikes: float) -> float:
    """LVU like_ratio regression target: 10 * like / (like + dislike) - 9.138220535629456."""
    total = float(likes) + float(dislikes)
    if total <= 0:
        raise ValueError(f"like_ratio: likes + dislikes must be positive, got {likes} + {dislikes}")
    return 10.0 * float(likes) / total - LIKE_RATIO_OFFSET


def lvu_view_count_target(views: float) -> float:
    """LVU view_count regression target: ln(views) - 11.76425435683139."""
    if float(views) <= 0:
        raise ValueError(f"view_count: views must be positive, got {views}")
    return float(np.log(float(views))) - VIEW_COUNT_OFFSET


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def accuracy(logits_or_pred, target) -> float:
    """Top-1 accuracy. Accepts logits/scores [n, C] (argmax is taken) or predicted class ids [n]. NaN when a
    score is not finite (argmax would call a NaN row class 0, and a diverged model could win on val)."""
    pred, target = _np(logits_or_pred), _np(target).astype(np.int64)
    if pred.ndim == 2:
        if not np.isfinite(pred).all():
            return float("nan")
        pred = pred.argmax(axis=1)
    if pred.shape != target.shape:
        raise ValueError(f"accuracy: prediction shape {pred.shape} does not match target shape {target.shape}")
    if target.size == 0:
        raise ValueError("accuracy: no examples")
    return float((pred.astype(np.int64) == target).mean())


def mse(pred, target) -> float:
    """Mean squared error; predictions [n] or [n, 1]."""
    pred, target = _np(pred).astype(np.float64).reshape(-1), _np(target).astype(np.float64).reshape(-1)
    if pred.shape != target.shape:
        raise ValueError(f"mse: prediction shape {pred.shape} does not match target shape {target.shape}")
    if target.size == 0:
        raise ValueError("mse: no examples")
    return float(((pred - target) ** 2).mean())


def average_precision(scores, labels) -> float:
    """Binary AP: ``sum_n (R_n - R_{n-1}) P_n``, the area under the step precision-recall curve without
    interpolation, with one (P_n, R_n) point per distinct score taken as the threshold ``score >= t``.

    Tied scores are one threshold, so all of them count at once and their order does not matter: scores
    [.5, .5, .2] with labels [1, 0, 1] give (P, R) = (1/2, 1/2), (2/3, 1), AP = 7/12. This is the
    definition of scikit-learn's ``average_precision_score`` (tests/test_metrics.py checks the two agree);
    it differs from "mean precision at each positive's rank", which depends on how ties are ordered.
    NaN when there is no positive (scikit-learn warns and returns 0), and when a score is not finite
    (sorting would put a NaN last, as if it were the lowest score; scikit-learn raises).
    """
    scores, labels = _np(scores).astype(np.float64).reshape(-1), _np(labels).reshape(-1).astype(bool)
    if scores.shape != labels.shape:
        raise ValueError(f"average_precision: {scores.shape[0]} scores but {labels.shape[0]} labels")
    if not np.isfinite(scores).all():
        return float("nan")
    positives = labels.sum()
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    # One precision/recall point per distinct threshold: the last index of each run of equal scores.
    last = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    tp = np.cumsum(labels)[last]
    precision = tp / (last + 1)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(scores, targets) -> tuple[float, int]:
    """Multi-label mAP over classes with at least one positive; returns (mAP, number of classes counted)."""
    scores, targets = _np(scores), _np(targets).astype(bool)
    if scores.shape != targets.shape or scores.ndim != 2:
        raise ValueError(
            f"mean_average_precision: scores {scores.shape} and targets {targets.shape} must both be [n, C]"
        )
    aps = [average_precision(scores[:, c], targets[:, c]) for c in range(targets.shape[1]) if targets[:, c].any()]
    if not aps:
        return float("nan"), 0
    return float(np.mean(aps)), len(aps)


def _scenes(boundaries: np.ndarray) -> list[tuple[int, int]]:
    """Boundary flags between consecutive shots [S-1] -> scenes as inclusive shot ranges."""
    ends = np.flatnonzero(boundaries).tolist() + [boundaries.size]  # a scene ends at shot i if boundary i is set
    starts = [0] + [e + 1 for e in ends[:-1]]
    return list(zip(starts, ends))


def scene_miou(gt, pred, weights=None) -> float:
    """MovieScenes Miou for one movie: boundary flags [S-1] for GT and prediction; weights [S] per shot.

    IoU between two scenes (inclusive shot ranges) is the weight of their intersection over the weight of
    their union; unit weights count shots, durations count seconds.
    """
    gt, pred = _np(gt).astype(bool).reshape(-1), _np(pred).astype(bool).reshape(-1)
    if gt.shape != pred.shape:
        raise ValueError(f"scene_miou: {gt.size} GT boundaries but {pred.size} predicted")
    w = np.ones(gt.size + 1) if weights is None else _np(weights).astype(np.float64).reshape(-1)
    if w.size != gt.size + 1:
        raise ValueError(f"scene_miou: weights must have one value per shot ({gt.size + 1}), got {w.size}")
    cum = np.r_[0.0, np.cumsum(w)]

    def iou_table(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> np.ndarray:
        sa, ea = np.array(a).T
        sb, eb = np.array(b).T
        inter = cum[np.minimum(ea[:, None], eb[None]) + 1] - cum[np.maximum(sa[:, None], sb[None])]
        union = cum[np.maximum(ea[:, None], eb[None]) + 1] - cum[np.minimum(sa[:, None], sb[None])]
        return np.clip(inter, 0, None) / np.maximum(union, 1e-12)

    table = iou_table(_scenes(gt), _scenes(pred))  # [gt scenes, predicted scenes]
    return float((table.max(axis=1).mean() + table.max(axis=0).mean()) / 2)


def _precision_recall_f1(gt: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    tp = float((gt & pred).sum())
    precision = tp / pred.sum() if pred.sum() else 0.0
    recall = tp / gt.sum() if gt.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def scene_segmentation_metrics(
    gt: Mapping[str, Sequence],
    scores: Mapping[str, Sequence],
    threshold: float = 0.5,
    weights: Mapping[str, Sequence] | None = None,
) -> dict[str, float]:
    """AP, mAP, mIoU, Precision, Recall, F1 for scene boundaries; dicts movie -> array [S-1].

    `scores` are boundary probabilities; a boundary is predicted where score >= threshold (as in the
    reference script). Movies with no GT boundary count 0 AP in ``mAP`` (the reference would get NaN).
    """
    if set(gt) != set(scores):
        raise ValueError(f"scene metrics: movies differ between GT and scores: {sorted(set(gt) ^ set(scores))[:5]}")
    if not gt:
        raise ValueError("scene metrics: no movies")
    per_ap, per_miou, per_p, per_r, per_f = [], [], [], [], []
    for mid in gt:
        g, s = _np(gt[mid]).astype(bool).reshape(-1), _np(scores[mid]).astype(np.float64).reshape(-1)
        if g.shape != s.shape:
            raise ValueError(f"scene metrics: movie {mid} has {g.size} GT boundaries but {s.size} scores")
        ap = average_precision(s, g)
        per_ap.append(0.0 if np.isnan(ap) else ap)
        per_miou.append(scene_miou(g, s >= threshold, None if weights is None else weights[mid]))
        p, r, f = _precision_recall_f1(g, s >= threshold)
        per_p.append(p), per_r.append(r), per_f.append(f)
    all_gt = np.concatenate([_np(gt[m]).reshape(-1) for m in gt]).astype(bool)
    all_scores = np.concatenate([_np(scores[m]).reshape(-1) for m in gt])
    return {
        "AP": average_precision(all_scores, all_gt),
        "mAP": float(np.mean(per_ap)),
        "mIoU": float(np.mean(per_miou)),
        "Precision": float(np.mean(per_p)),
        "Recall": float(np.mean(per_r)),
        "F1": float(np.mean(per_f)),
    }
