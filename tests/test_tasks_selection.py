"""Model selection on val (lmp.tasks.selection): the schedule, NaN and ties, lower-is-better metrics."""

import math

import pytest

from lmp.tasks.selection import BestOnVal, best_index, train_and_select


def test_val_every_k_rounds_and_after_the_last():
    calls = []
    train_and_select(7, lambda r: calls.append(("train", r)), lambda r: calls.append(("val", r)), every=3)
    assert [r for kind, r in calls if kind == "val"] == [3, 6, 7]
    assert [r for kind, r in calls if kind == "train"] == list(range(1, 8))
    assert calls.index(("val", 3)) == calls.index(("train", 3)) + 1  # val scores the state after round 3


def test_best_on_val_keeps_the_first_best_and_never_a_nan():
    best = BestOnVal("accuracy", state="initial")
    assert not best.offer({"accuracy": math.nan}, 1, lambda: "nan")
    assert best.state == "initial" and best.at == 0 and math.isnan(best.val["accuracy"])
    assert best.offer({"accuracy": 0.5}, 2, lambda: "two")
    assert not best.offer({"accuracy": 0.5}, 3, lambda: "three")  # a tie keeps the earlier
    assert best.offer({"accuracy": 0.7}, 4, lambda: "four")
    assert (best.val, best.at, best.state) == ({"accuracy": 0.7}, 4, "four")
    mse = BestOnVal("mse")
    mse.offer({"mse": 2.0}, 1, lambda: 1)
    mse.offer({"mse": 1.0}, 2, lambda: 2)
    assert mse.state == 2


def test_best_index_first_best_all_nan_and_empty():
    assert best_index("accuracy", [{"accuracy": 0.2}, {"accuracy": 0.9}, {"accuracy": 0.9}]) == 1
    assert best_index("mse", [{"mse": 0.2}, {"mse": 0.1}]) == 1
    assert best_index("AP", [{"AP": math.nan}, {"AP": math.nan}]) == 0
    with pytest.raises(ValueError):
        best_index("AP", [])
