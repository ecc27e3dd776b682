"""The batch contract: lmp.batch builds it from windows, lmp.modality.present reads presence back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmp.batch import collate, read_batch
from lmp.modality import present
from lmp.store import EncoderSpec, FeatureStore, MovieFeatures, StoreWriter


def window(times, visual, text_mask, start, movie) -> dict:
    """A window as FeatureStore.read gives it, plus where it starts and its movie id."""
    n = len(times)
    return {
        "times": np.asarray(times, dtype=np.float64),
        "visual": np.asarray(visual, dtype=np.float16),
        "visual_mask": np.ones(n, dtype=bool),
        "text": np.full((n, 1), 7.0, dtype=np.float16),
        "text_mask": np.asarray(text_mask, dtype=bool),
        "start": start,
        "movie": movie,
    }


WINDOWS = [
    window([[10.0, 11.0], [11.0, 13.5], [13.5, 14.0]], [[1, 2], [3, 4], [5, 6]], [True, False, True], 4, 2),
    window([[2.0, 2.5]], [[-1, 0.5]], [False], 0, 2),
]


def test_collate_pads_to_the_longest_and_makes_times_relative():
    batch = collate(WINDOWS, ("visual", "text"))
    assert list(batch) == ["shot_mask", "times", "positions", "movie", "visual", "visual_mask", "text", "text_mask"]
    assert batch["shot_mask"].tolist() == [[True, True, True], [True, False, False]]
    assert batch["times"].dtype == torch.float32
    assert batch["times"].tolist() == [
        [[0.0, 1.0], [1.0, 3.5], [3.5, 4.0]],
        [[0.0, 0.5], [0.0, 0.0], [0.0, 0.0]],
    ]
    assert batch["positions"].tolist() == [[4, 5, 6], [0, 0, 0]]
    assert batch["movie"].tolist() == [2, 2] and batch["movie"].dtype == torch.long
    assert batch["visual"].dtype == torch.float32
    assert batch["visual"].tolist() == [[[1, 2], [3, 4], [5, 6]], [[-1, 0.5], [0, 0], [0, 0]]]
    assert batch["text"][:, :, 0].tolist() == [[7, 7, 7], [7, 0, 0]]
    # Presence masks are False in padding, so they come already ANDed with shot_mask.
    assert batch["visual_mask"].tolist() == [[True, True, True], [True, False, False]]
    assert batch["text_mask"].tolist() == [[True, False, True], [False, False, False]]


def test_collate_fixed_length_float16_and_modality_subset():
    batch = collate(WINDOWS, ("visual",), length=4, dtype=np.float16)
    assert set(batch) == {"shot_mask", "times", "positions", "movie", "visual", "visual_mask"}
    assert batch["visual"].dtype == torch.float16 and batch["visual"].shape == (2, 4, 2)
    assert batch["shot_mask"].sum(1).tolist() == [3, 1]
    assert batch["positions"][0].tolist() == [4, 5, 6, 0]


def test_read_batch_numbers_windows_and_reads_the_store(tmp_path):
    writer = StoreWriter(tmp_path, {"visual": EncoderSpec("v", 2), "text": EncoderSpec("t", 1)})
    times = np.array([[0.0, 1.0], [1.0, 3.0], [3.0, 3.5], [3.5, 6.0]])
    visual = np.arange(8, dtype=np.float32).reshape(4, 2)
    text_mask = np.array([True, False, False, True])
    writer.write(MovieFeatures("a", times, {"visual": visual, "text": np.ones((4, 1))}, {"text": text_mask}))
    batch = read_batch(FeatureStore(tmp_path), [("a", 1, 4), ("a", 3, 4)], ("visual", "text"))
    assert batch["movie"].tolist() == [0, 1]  # transfer: every window is its own
    assert batch["positions"].tolist() == [[1, 2, 3], [3, 0, 0]]
    assert batch["times"].tolist() == [[[0.0, 2.0], [2.0, 2.5], [2.5, 5.0]], [[0.0, 2.5], [0, 0], [0, 0]]]
    assert batch["visual"].dtype == torch.float32
    assert batch["visual"][0].tolist() == [[2, 3], [4, 5], [6, 7]]
    assert batch["text_mask"].tolist() == [[False, False, True], [True, False, False]]


def test_present_ands_the_modality_mask_with_real_shots():
    batch = {
        "shot_mask": torch.tensor([[True, True, False]]),
        "text_mask": torch.tensor([[True, False, True]]),  # True in padding too: present must not trust it
        "audio_mask": torch.tensor([[1, 1, 1]], dtype=torch.uint8),
    }
    assert present(batch, "text").tolist() == [[True, False, False]]
    assert present(batch, "audio").tolist() == [[True, True, False]]
    assert present(batch, "visual").tolist() == [[True, True, False]]  # no mask: every real shot
    # The model passes its own shot mask (all True when a batch has none).
    everything = torch.ones(1, 3, dtype=torch.bool)
    assert present({"text_mask": batch["text_mask"]}, "text", everything).tolist() == [[True, False, True]]
    with pytest.raises(KeyError):
        present({"text_mask": batch["text_mask"]}, "text")
