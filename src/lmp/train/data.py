"""Long-range windows over a feature store: the sampler (which shots), the dataset (read them), collate.

Dimension legend:
    b  windows in a batch (= groups × views per movie)
    s  shots per window (N, fixed: short movies are padded so every batch has the same shape; with
       `data.pad_multiple` k, the batch's longest window rounded up to a multiple of k)
    D_m  feature width of modality m

An *item* is a group of `views` windows from one movie, described by plain integers
``(movie_index, start_0, ..., start_{views-1})``. The sampler decides every item of an epoch up front
from ``(seed, epoch)`` alone, then gives rank r the items ``r, r + world, r + 2·world, ...``. So:

* the same seed and epoch give the same items on every machine (no RNG in the workers);
* ranks see disjoint items;
* resuming is "skip the first k items", with k = items already consumed by this rank.

Random mode (default): each movie contributes ``max(1, S // (N·views))`` groups per epoch (so an epoch
covers about every shot once, long movies weigh by their length). The views of a group are placed
uniformly at random among all non-overlapping placements that keep ``min_gap`` shots between them
("stars and bars"); a movie too short for that spreads its views evenly instead.

Strided mode: each movie is tiled by windows starting at 0, stride, 2·stride, ...; with ``views > 1``
a group takes windows a ``ceil(K / views)``-th of the movie apart, so views are still far apart.

Length buckets (``bucket`` k > 0, for movies shorter than the window): after the shuffle, each run of
k batches (of every rank) is sorted by window length and cut into batches, in random order within the
run (`bucket_by_length`), so that `data.pad_multiple` has little left to pad. Still a pure function of
(seed, epoch).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lmp.batch import collate
from lmp.errors import LMPError
from lmp.store.format import TIMES_FIELD
from lmp.store.reader import FeatureStore

Item = tuple[int, ...]
"""(movie_index, start of view 0, start of view 1, ...)."""


@dataclass(frozen=True)
class WindowSpec:
    """What the sampler needs to know; a subset of DataConfig so the sampler is testable on its own."""

    window: int
    views: int = 1
    min_gap: int = 0
    strided: bool = False
    stride: int = 0
    """0 = the window length (tiles without overlap)."""
    bucket: int = 0
    """0 = batches of random items; k > 0 = length buckets of k batches (see `bucket_by_length`)."""
    batch_groups: int = 1
    """Items (groups) per batch on one rank; only bucketing needs it."""


def _spread_starts(num_shots: int, window: int, views: int) -> list[int]:
    """Starts spread evenly over a movie too short for the requested gap (may overlap)."""
    last = max(0, num_shots - window)
    if views == 1:
        return [0]
    return [round(i * last / (views - 1)) for i in range(views)]


def random_group(rng: np.random.Generator, num_shots: int, spec: WindowSpec) -> list[int]:
    """Sorted starts of `spec.views` windows in one movie, at least `min_gap` shots apart when possible."""
    n, v, gap = spec.window, spec.views, spec.min_gap
    slack = num_shots - v * n - (v - 1) * gap
    if slack < 0:
        if v == 1:
            return [0]
        return _spread_starts(num_shots, n, v)
    # Uniform over all valid placements: v sorted offsets in [0, slack], then shift view i by i·(n+gap).
    offsets = np.sort(rng.integers(0, slack + 1, size=v))
    return [int(o) + i * (n + gap) for i, o in enumerate(offsets)]


def strided_groups(num_shots: int, spec: WindowSpec) -> list[list[int]]:
    """Groups of starts tiling a movie; group j takes tiles j, j+m, j+2m, ... (m = ceil(K/views))."""
    stride = spec.stride or spec.window
    starts = list(range(0, max(1, num_shots - spec.window + stride), stride)) or [0]
    k, v = len(starts), spec.views
    m = math.ceil(k / v)
    return [[starts[min(j + i * m, k - 1)] for i in range(v)] for j in range(m)]


def item_length(item: Item, num_shots: int, window: int) -> int:
    """Real shots of an item's longest view: what its batch is padded to with data.pad_multiple."""
    return max(min(window, num_shots - start) for start in item[1:])


def bucket_by_length(items: list[Item], lengths: list[int], per_batch: int, batches: int, rng) -> list[Item]:
    """Shuffled items -> the same items in length buckets: each run of `batches` x `per_batch` items is sorted
    by length and cut into batches of `per_batch`, which keep the run's place but come in random order. So
    a batch holds windows of similar length (less padding with data.pad_multiple), and which movies meet
    in a batch is still random among those of similar length."""
    out: list[Item] = []
    run = per_batch * batches
    for start in range(0, len(items), run):
        idx = sorted(range(start, min(start + run, len(items))), key=lengths.__getitem__)  # stable: ties stay random
        cut = [idx[k : k + per_batch] for k in range(0, len(idx), per_batch)]
        for b in rng.permutation(len(cut)):
            out.extend(items[i] for i in cut[b])
    return out


class WindowSampler(torch.utils.data.Sampler):
    """Infinite, rank-sharded, resumable stream of items (see the module docstring).

    `num_shots[i]` is movie i's shot count. Iterating yields items for this rank, epoch after epoch,
    starting after `consumed` items (the resume point).
    """

    def __init__(
        self,
        num_shots: Sequence[int],
        spec: WindowSpec,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        consumed: int = 0,
    ):
        if not num_shots:
            raise LMPError("window sampler: the store has no movies")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        self.num_shots = [int(s) for s in num_shots]
        self.spec = spec
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.consumed = consumed
        self.per_rank = len(self.epoch_items(0)) // world_size
        if self.per_rank == 0:
            raise LMPError(
                f"window sampler: {len(self.epoch_items(0))} groups per epoch cannot feed {world_size} ranks; "
                "use more movies, a shorter window or fewer processes"
            )

    def epoch_items(self, epoch: int) -> list[Item]:
        """Every item of one epoch (all ranks), in the shuffled order; a pure function of (seed, epoch)."""
        rng = np.random.default_rng([self.seed, epoch])
        items: list[Item] = []
        for movie, s in enumerate(self.num_shots):
            if self.spec.strided:
                items.extend((movie, *g) for g in strided_groups(s, self.spec))
            else:
                count = max(1, s // (self.spec.window * self.spec.views))
                items.extend((movie, *random_group(rng, s, self.spec)) for _ in range(count))
        order = rng.permutation(len(items))
        items = [items[i] for i in order]
        if self.spec.bucket:
            # A batch of every rank at once (rank r takes every world_size-th item): similar lengths on each.
            lengths = [item_length(it, self.num_shots[it[0]], self.spec.window) for it in items]
            items = bucket_by_length(items, lengths, self.spec.batch_groups * self.world_size, self.spec.bucket, rng)
        return items

    def rank_items(self, epoch: int) -> list[Item]:
        """This rank's items of one epoch; the tail that does not divide evenly is dropped so ranks stay in step."""
        items = self.epoch_items(epoch)[: self.per_rank * self.world_size]
        return items[self.rank :: self.world_size]

    def relayout(self, consumed: int, world_size: int) -> int:
        """The resume point, for this sampler's ranks, of a run whose `world_size` ranks each consumed
        `consumed` items: the same epoch, and the same share of it taken by all ranks together. Nothing of
        the epoch is skipped; fewer than this sampler's world size of items may be seen twice (the share
        is rounded down to whole rounds of the new ranks). Bucketed streams order an epoch by world size,
        so for them it is the same point of the epoch, not the same items."""
        old_per_rank = len(self.epoch_items(0)) // world_size
        epoch, offset = divmod(consumed, old_per_rank)
        return epoch * self.per_rank + min(offset * world_size // self.world_size, self.per_rank)

    def __iter__(self) -> Iterator[Item]:
        # Resuming: jump to (epoch, offset) of the first item not yet consumed, then never stop.
        epoch, offset = divmod(self.consumed, self.per_rank)
        while True:
            yield from self.rank_items(epoch)[offset:]
            epoch, offset = epoch + 1, 0

    def __len__(self) -> int:
        """Items per rank per epoch (the stream itself is infinite)."""
        return self.per_rank


class WindowDataset(torch.utils.data.Dataset):
    """Reads an item's windows from the store. Opens the store lazily so each DataLoader worker maps its own files."""

    def __init__(self, store: str | Path, movie_ids: Sequence[str], window: int, modalities: Sequence[str]):
        self.root = Path(store)
        self.movie_ids = list(movie_ids)
        self.window = window
        self.modalities = tuple(modalities)
        self._store: FeatureStore | None = None

    @property
    def store(self) -> FeatureStore:
        if self._store is None:
            self._store = FeatureStore(self.root)
        return self._store

    def __len__(self) -> int:
        return len(self.movie_ids)

    def __getitem__(self, item: Item) -> list[dict[str, np.ndarray | int]]:
        movie, *starts = item
        mid = self.movie_ids[movie]
        total = self.store.num_shots(mid)
        views = []
        for start in starts:
            arrays = self.store.read(mid, start, min(start + self.window, total), self.modalities)
            views.append({**arrays, "start": int(start), "movie": int(movie)})
        return views


def padded_length(lengths: Sequence[int], window: int, pad_multiple: int = 0) -> int:
    """Shots per window of a batch: the window itself (pad_multiple 0: every batch one shape), else the
    longest window rounded up to a multiple of pad_multiple, at most the window."""
    if pad_multiple == 0:
        return window
    return min(window, -(-max(lengths) // pad_multiple) * pad_multiple)


def collate_windows(
    groups: list[list[dict]], window: int, modalities: Sequence[str], pad_multiple: int = 0
) -> dict[str, torch.Tensor]:
    """Groups of views -> the batch of docs/design.md, padded to `padded_length` shots (CPU tensors, lmp.batch).

    Features stay float16 here (half the bytes to copy to the GPU); the loop casts them on the device.
    `movie` is the store index of each window's movie: the views of a group share it, and so do two
    groups that happen to come from the same movie (they are true positives, not negatives).
    """
    views = [v for g in groups for v in g]
    length = padded_length([len(v[TIMES_FIELD]) for v in views], window, pad_multiple)
    return collate(views, modalities, length=length, dtype=np.float16)


class Collate:
    """Picklable collate function for DataLoader workers."""

    def __init__(self, window: int, modalities: Sequence[str], pad_multiple: int = 0):
        self.window = window
        self.modalities = tuple(modalities)
        self.pad_multiple = pad_multiple

    def __call__(self, groups: list[list[dict]]) -> dict[str, torch.Tensor]:
        return collate_windows(groups, self.window, self.modalities, self.pad_multiple)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Move a CPU batch to the device; float16 features become float32 there (autocast picks bf16 later)."""
    out = {}
    for k, t in batch.items():
        t = t.to(device, non_blocking=True)
        out[k] = t.float() if t.dtype == torch.float16 else t
    return out


def make_loader(
    store: str | Path,
    movie_ids: Sequence[str],
    sampler: WindowSampler,
    modalities: Sequence[str],
    groups_per_batch: int,
    workers: int,
    pin_memory: bool = False,
    pad_multiple: int = 0,
) -> torch.utils.data.DataLoader:
    """An infinite DataLoader of batches of `groups_per_batch × views` windows for this rank."""
    dataset = WindowDataset(store, movie_ids, sampler.spec.window, modalities)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=groups_per_batch,
        sampler=sampler,
        num_workers=workers,
        collate_fn=Collate(sampler.spec.window, modalities, pad_multiple),
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        drop_last=True,
        # Its own generator: iter(loader) draws a worker base seed, which must not shift the global
        # torch RNG that the objectives' masking uses (exact resume depends on it).
        generator=torch.Generator().manual_seed(sampler.seed),
    )
