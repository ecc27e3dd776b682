"""Trainer data path: window sampler (lengths, gaps, sharding, determinism, resume), collate, schedule."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lmp.store import EncoderSpec, MovieFeatures, StoreWriter
from lmp.train.data import (
    WindowDataset,
    WindowSampler,
    WindowSpec,
    collate_windows,
    item_length,
    make_loader,
    random_group,
    strided_groups,
)
from lmp.train.schedules import lr_at

ENCODERS = {
    "visual": EncoderSpec("vis-test", 6), "audio": EncoderSpec("aud-test", 4), "text": EncoderSpec("txt-test", 5)
}


def write_store(root: Path, shots: list[int], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    writer = StoreWriter(root, ENCODERS)
    for i, n in enumerate(shots):
        starts = np.cumsum(rng.uniform(1.0, 3.0, n))
        times = np.stack([starts, starts + 0.5], axis=1)
        feats = {m: rng.standard_normal((n, e.dim)).astype(np.float32) for m, e in ENCODERS.items()}
        writer.write(MovieFeatures(f"m{i}", times, feats, {"text": rng.random(n) < 0.5}))
    return root


def test_random_group_respects_gap_and_bounds():
    rng = np.random.default_rng(0)
    spec = WindowSpec(window=16, views=3, min_gap=20)
    for _ in range(200):
        starts = random_group(rng, 200, spec)
        assert len(starts) == 3 and starts[0] >= 0 and starts[-1] + 16 <= 200
        assert all(b - a >= 16 + 20 for a, b in zip(starts, starts[1:]))


def test_random_group_spreads_views_of_short_movie():
    spec = WindowSpec(window=16, views=2, min_gap=50)
    assert random_group(np.random.default_rng(0), 40, spec) == [0, 24]  # first and last possible window
    assert random_group(np.random.default_rng(0), 10, spec) == [0, 0]  # shorter than a window: both padded


def test_strided_groups_tile_the_movie():
    spec = WindowSpec(window=10, views=2, strided=True)
    groups = strided_groups(45, spec)  # tiles 0,10,20,30,40 -> m = 3 groups
    assert groups == [[0, 30], [10, 40], [20, 40]]
    starts = {s for g in groups for s in g}
    covered = set().union(*(range(s, min(s + 10, 45)) for s in starts))
    assert covered == set(range(45))


def test_sampler_shards_disjoint_and_deterministic():
    shots = [300, 50, 1000, 7, 640]
    spec = WindowSpec(window=32, views=2, min_gap=8)
    per_rank = [WindowSampler(shots, spec, seed=3, rank=r, world_size=3) for r in range(3)]
    items = [s.rank_items(0) for s in per_rank]
    assert len({len(i) for i in items}) == 1  # equal counts keep DDP ranks in step
    flat = [it for rank in items for it in rank]
    all_items = WindowSampler(shots, spec, seed=3).epoch_items(0)
    # Disjoint: the ranks together hold distinct positions of the shared epoch order.
    assert sorted(flat) == sorted(all_items[: len(flat)])
    assert per_rank[1].rank_items(0) == WindowSampler(shots, spec, seed=3, rank=1, world_size=3).rank_items(0)
    assert per_rank[0].epoch_items(1) != per_rank[0].epoch_items(0)  # a new epoch reshuffles and redraws
    assert WindowSampler(shots, spec, seed=4).epoch_items(0) != all_items
    # Every movie is drawn, long movies more often (about one group per N·views shots).
    counts = np.bincount([it[0] for it in all_items], minlength=len(shots))
    assert counts.tolist() == [max(1, s // 64) for s in shots]


def test_sampler_resume_continues_the_stream():
    shots = [100, 200, 300]
    spec = WindowSpec(window=16, views=2, min_gap=4)
    stream = iter(WindowSampler(shots, spec, seed=1, world_size=2, rank=1))
    straight = [next(stream) for _ in range(40)]  # crosses several epochs
    resumed = iter(WindowSampler(shots, spec, seed=1, world_size=2, rank=1, consumed=23))
    assert [next(resumed) for _ in range(17)] == straight[23:]


def test_a_resume_with_another_number_of_ranks_neither_skips_nor_repeats_the_epoch():
    shots = [100, 200, 300, 150, 90, 400]
    spec = WindowSpec(window=16, views=2, min_gap=4)
    epoch = WindowSampler(shots, spec, seed=2).epoch_items(0)
    assert len(epoch) == 36  # sum of max(1, s // 32): 3 + 6 + 9 + 4 + 2 + 12
    # Two ranks took 7 items each (steps of 7 groups): together the epoch's first 14 items.
    two = [WindowSampler(shots, spec, seed=2, world_size=2, rank=r) for r in (0, 1)]
    seen = [it for sampler in two for it in sampler.rank_items(0)[:7]]
    assert sorted(seen) == sorted(epoch[:14])
    # One rank goes on from item 14 of the same epoch: before the fix it went on from item 7 (7 items again).
    one = WindowSampler(shots, spec, seed=2, world_size=1)
    assert one.relayout(7, world_size=2) == 14
    one.consumed = 14
    assert next(iter(one)) == epoch[14]
    # Back to two ranks after 9 items of one: round down to whole rounds of two, so item 8 is seen again.
    assert two[0].relayout(9, world_size=1) == 4
    # In epoch 2 the same share of the epoch: 2 full epochs of 18 items per rank, then 3 of each rank's.
    assert one.relayout(2 * 18 + 3, world_size=2) == 2 * 36 + 6
    assert two[1].relayout(2 * 36 + 6, world_size=1) == 2 * 18 + 3


def test_dataset_and_collate_pad_and_mark_movies(tmp_path):
    root = write_store(tmp_path / "store", [40, 9])
    ds = WindowDataset(root, ["m0", "m1"], window=16, modalities=("visual", "text"))
    groups = [ds[(0, 2, 24)], ds[(1, 0, 0)], ds[(0, 0, 20)]]
    batch = collate_windows(groups, 16, ("visual", "text"))
    assert batch["visual"].shape == (6, 16, 6) and batch["visual"].dtype == torch.float16
    assert "audio" not in batch
    assert batch["movie"].tolist() == [0, 0, 1, 1, 0, 0]  # two groups of movie 0 share its id
    assert batch["shot_mask"].sum(1).tolist() == [16, 16, 9, 9, 16, 16]
    assert not batch["visual_mask"][2:4, 9:].any() and not batch["text_mask"][2:4, 9:].any()
    assert (batch["text_mask"] <= batch["shot_mask"]).all()  # modality masks are ANDed with shot_mask
    assert batch["positions"][0].tolist() == list(range(2, 18))
    assert batch["positions"][1, 0] == 24
    assert batch["times"][0, 0, 0] == 0 and (batch["times"][:, :, 1] >= batch["times"][:, :, 0]).all()
    assert (batch["visual"][2:4, 9:] == 0).all()
    np.testing.assert_array_equal(batch["visual"][0].numpy(), ds.store.read("m0", 2, 18)["visual"])


def test_length_buckets_give_each_rank_batches_of_similar_windows_and_resume_exactly():
    shots = list(range(20, 260, 3))  # 80 movies of 20-257 shots, most shorter than the window
    plain = WindowSampler(shots, WindowSpec(window=128), seed=5, world_size=2)
    spec = WindowSpec(window=128, bucket=5, batch_groups=4)
    samplers = [WindowSampler(shots, spec, seed=5, world_size=2, rank=r) for r in (0, 1)]
    epoch = samplers[0].epoch_items(0)
    assert sorted(epoch) == sorted(plain.epoch_items(0))  # the same windows, in another order
    length = lambda it: item_length(it, shots[it[0]], 128)  # noqa: E731
    assert length((3, 0)) == 29 and length((40, 50)) == 90 and length((79, 0)) == 128  # 257 shots, capped
    # Each run of 5 batches x 8 items (4 per rank, 2 ranks) holds the lengths of its slice of the shuffle,
    # and each 8-item batch is a consecutive stretch of that run's sorted lengths.
    shuffled = plain.epoch_items(0)
    for run in range(0, 80, 40):
        got, before = epoch[run : run + 40], shuffled[run : run + 40]
        assert sorted(map(length, got)) == sorted(map(length, before))
        ranks = sorted(sorted(map(length, got))[k : k + 8] for k in range(0, 40, 8))
        assert sorted(sorted(map(length, got[k : k + 8])) for k in range(0, 40, 8)) == ranks
    # Rank r's batch j is items [4j, 4j + 4) of its stream: its windows differ in length far less than at random.
    spread = lambda items: np.mean([np.ptp([length(i) for i in items[k : k + 4]]) for k in range(0, 40, 4)])  # noqa: E731
    assert spread(samplers[1].rank_items(0)) < 0.3 * spread(plain.rank_items(0))
    assert not set(samplers[0].rank_items(0)) & set(samplers[1].rank_items(0))
    stream = iter(samplers[1])
    straight = [next(stream) for _ in range(90)]  # crosses two epochs
    resumed = iter(WindowSampler(shots, spec, seed=5, world_size=2, rank=1, consumed=37))
    assert [next(resumed) for _ in range(53)] == straight[37:]


def test_pad_multiple_pads_to_the_longest_window_rounded_up(tmp_path):
    from lmp.model import LMPModel, ModelConfig

    root = write_store(tmp_path / "store", [40, 9, 11])
    ds = WindowDataset(root, ["m0", "m1", "m2"], window=16, modalities=("visual", "audio", "text"))
    short = [ds[(1, 0, 0)], ds[(2, 0, 0)]]  # views of 9 and 11 shots
    fixed = collate_windows(short, 16, ("visual", "audio", "text"))
    trimmed = collate_windows(short, 16, ("visual", "audio", "text"), pad_multiple=4)
    assert fixed["visual"].shape[1] == 16 and trimmed["visual"].shape[1] == 12  # 11 rounded up to 4 x 3
    for k in fixed:
        assert torch.equal(trimmed[k], fixed[k][:, :12] if fixed[k].dim() > 1 else fixed[k]), k
    assert not fixed["shot_mask"][:, 12:].any()  # only padding was cut
    # Never beyond the window, and a batch with a full window keeps it.
    assert collate_windows(short, 16, ("visual",), pad_multiple=32)["visual"].shape[1] == 16
    assert collate_windows([*short, ds[(0, 0, 20)]], 16, ("visual",), pad_multiple=4)["visual"].shape[1] == 16
    # The model's outputs at real shots do not depend on how much padding follows them.
    torch.manual_seed(0)
    model = LMPModel(ModelConfig.from_name("tiny", input_dims={m: e.dim for m, e in ENCODERS.items()})).eval()
    with torch.no_grad():
        a, b = (model.forward_features({k: v.float() if v.is_floating_point() else v for k, v in x.items()})
                for x in (fixed, trimmed))  # fmt: skip
    real = trimmed["shot_mask"]
    for m in ENCODERS:
        torch.testing.assert_close(a["unimodal"][m][:, :12][real], b["unimodal"][m][real])
    torch.testing.assert_close(a["fused_shot"][:, :12][real], b["fused_shot"][real])
    torch.testing.assert_close(a["cls"], b["cls"])


def test_loader_with_workers_matches_in_process(tmp_path):
    root = write_store(tmp_path / "store", [64, 80, 33])
    spec = WindowSpec(window=8, views=2, min_gap=2)
    loaders = [
        make_loader(root, ["m0", "m1", "m2"], WindowSampler([64, 80, 33], spec, seed=0), ("visual",), 2, workers)
        for workers in (0, 1)
    ]
    batches = [[b for _, b in zip(range(3), lo)] for lo in loaders]
    assert len(batches[0]) == len(batches[1]) == 3
    for a, b in zip(*batches):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "step, expected",
    [(0, 0.1), (9, 1.0), (10, 1.0), (55, 0.1 + 0.9 * 0.5), (100, 0.1), (1000, 0.1)],
)
def test_warmup_cosine_values(step, expected):
    assert math.isclose(lr_at(step, peak=1.0, warmup=10, total=100, final_ratio=0.1), expected, rel_tol=1e-9)


def test_schedule_is_monotone_after_warmup():
    lrs = [lr_at(s, peak=3e-4, warmup=5, total=50) for s in range(60)]
    assert lrs[:5] == sorted(lrs[:5]) and lrs[4:] == sorted(lrs[4:], reverse=True) and lrs[-1] == 0.0


class _FakeModel:
    """Stands in for LMPModel: save_pretrained writes the two files a checkpoint needs."""

    def save_pretrained(self, directory):
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / "model.safetensors").write_bytes(b"w")
        (Path(directory) / "config.json").write_text("{}")


def test_checkpoints_prune_point_last_and_resolve(tmp_path):
    from lmp.train import checkpoint as ckpt

    for step in (10, 20, 30):
        ckpt.save_checkpoint(tmp_path, step, _FakeModel(), {"step": step, "t": torch.ones(2)}, keep=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [20, 30]
    assert (tmp_path / "checkpoints" / "last").resolve().name == "step-000030"
    (tmp_path / "checkpoints" / ".tmp-step-000040-abcd").mkdir()  # a crash mid-write leaves only a hidden stage
    (tmp_path / "checkpoints" / "step-000050").mkdir()  # or an incomplete directory: both are ignored
    assert ckpt.resolve_resume("auto", tmp_path).name == "step-000030"
    assert ckpt.resolve_resume("none", tmp_path) is None
    assert ckpt.resolve_resume("auto", tmp_path / "fresh") is None
    assert ckpt.resolve_resume(str(tmp_path / "checkpoints" / "last"), tmp_path).name == "step-000030"
    with pytest.raises(ckpt.CheckpointError, match="step-000050"):
        ckpt.resolve_resume(str(tmp_path / "checkpoints" / "step-000050"), tmp_path)
    state = ckpt.load_train_state(tmp_path / "checkpoints" / "step-000030")
    assert state["step"] == 30 and torch.equal(state["t"], torch.ones(2))
    ckpt.save_checkpoint(tmp_path, 30, _FakeModel(), {"step": 31}, keep=0)  # re-saving a step replaces it
    assert ckpt.load_train_state(tmp_path / "checkpoints" / "step-000030")["step"] == 31
