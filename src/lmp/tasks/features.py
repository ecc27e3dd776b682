"""Representations for transfer: run an LMP backbone over a feature store and pool what a task needs.

This module pools; the model comes from lmp.tasks.loading, its batches from lmp.batch (`read_batch`),
and the accepted names from lmp.tasks.representation_names.

Dimension legend: n examples, S shots of a movie, w window (shots per forward pass), d model width,
L tokens of a clip (attentive probe), D_m frozen feature width.

Representations (`representation=`), our choice of names:

    cls             cross-modal [CLS] (clip level); for shot/boundary tasks it falls back to `fused`
    fused           per-shot mean of the fused tokens over present modalities (out["fused_shot"]);
                    clip level: its mean over the clip's shots
    unimodal:<m>    one unimodal encoder alone (ablation); clip level: mean over shots that have m
    all             every encoder at once: per shot the unimodal outputs of each modality and the fused
                    token concatenated ([s, (M + 1) d]); clip level: each unimodal block averaged over
                    the shots that have its modality (as `raw` does; a shot without dialogue holds only
                    the [MISSING] token's context, and how many such shots a clip has is no content),
                    the fused block over every shot
    raw             no model: the frozen store features, each modality averaged over the shots that
                    have it and the modalities concatenated (a no-pretraining baseline)
    pca, cca        no model: a label-free linear map of `raw` (lmp.tasks.linear_baselines), fit on
                    window means of unlabeled movies and given as `linear_map`; shot and boundary
                    tasks read the map of each shot's frozen features

Long clips (more shots than `window`): the clip is cut into ceil(n / window) near-equal consecutive
chunks, each encoded on its own; chunk [CLS] vectors are averaged weighted by chunk length, shot tokens
are concatenated. Shot and boundary tasks: a movie is encoded with windows of `window` shots every
window // 2 shots, and each shot takes its output from the window whose centre is nearest to it, so
every shot sees context on both sides (except at the movie's ends). A boundary between shots i and
i + 1 is represented by [h_i, h_{i+1}, |h_i - h_{i+1}|].

Encoding once (`EncodingCache`): a run over several tasks of one store (`lmp probe` on a labels root,
`lmp lvu`) passes one cache to every Representer, so a clip or a movie that several tasks label is
encoded once per (model, representation, window), not once per task, protocol and split.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from lmp.batch import read_batch
from lmp.labels import Example, Task
from lmp.modality import mask_key
from lmp.store.reader import FeatureStore

# Also imported from here by their users (lmp.tasks.cli, lmp.demo, docs/transfer.md): keep these names.
from lmp.tasks.loading import load_model
from lmp.tasks.representation_names import LINEAR_MAPS, RepresentationError, check_representation, needs_model

if TYPE_CHECKING:
    from lmp.tasks.linear_baselines import LinearMap


def chunks(start: int, stop: int, window: int) -> list[tuple[int, int]]:
    """[start, stop) cut into ceil(n / window) near-equal consecutive chunks of at most `window` shots."""
    n = stop - start
    k = max(1, math.ceil(n / window))
    bounds = [start + round(i * n / k) for i in range(k + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def shot_tokens(out: dict, representation: str) -> torch.Tensor:
    """Per-shot tokens [b, s, d] of a forward_features output for a representation."""
    if representation.startswith("unimodal:"):
        m = representation.split(":", 1)[1]
        if m not in out["unimodal"]:
            raise RepresentationError(f"representation {representation}: the model has no {m} encoder")
        return out["unimodal"][m]
    if representation == "all":
        return torch.cat([*out["unimodal"].values(), out["fused_shot"]], dim=-1)  # [b, s, (M + 1) d]
    return out["fused_shot"]


def token_weights(batch: dict[str, torch.Tensor], representation: str) -> torch.Tensor:
    """Which shots count when pooling a clip, float [b, s]: shots that have the modality (unimodal),
    else every real shot; a clip without the modality at all falls back to every real shot."""
    shot_mask = batch["shot_mask"].float()
    if representation.startswith("unimodal:"):
        present = batch[mask_key(representation.split(":", 1)[1])].float() * shot_mask
        return torch.where(present.sum(1, keepdim=True) > 0, present, shot_mask)
    return shot_mask


def pooling_blocks(
    out: dict, batch: dict[str, torch.Tensor], representation: str
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """[(tokens [b, s, d_i], weights [b, s])]: the blocks of `shot_tokens` with the shots each block is
    averaged over at clip level (`all`: one block per unimodal encoder, then the fused tokens)."""
    if representation == "all":
        blocks = [(tok, token_weights(batch, f"unimodal:{m}")) for m, tok in out["unimodal"].items()]
        return [*blocks, (out["fused_shot"], token_weights(batch, "fused"))]
    return [(shot_tokens(out, representation), token_weights(batch, representation))]


def _pool_groups(seq: torch.Tensor, groups: int) -> torch.Tensor:
    """[L, d] -> [groups, d]: means of `groups` consecutive near-equal runs (L > groups, so none is empty)."""
    n = len(seq)
    return torch.stack([seq[round(i * n / groups) : round((i + 1) * n / groups)].mean(0) for i in range(groups)])


class EncodingCache:
    """Representations computed within one run, shared by the Representers of every task of that run.

    Keys are (store, model, window) — held by reference here, so their ids stay unique while the cache
    lives — then what was encoded: ("clip", representation, video, start, stop) -> clip vector [d];
    ("tokens", representation, max_tokens, video, start, stop) -> the clip's shot tokens [<= max_tokens, d]
    (the attentive probe); ("movie", name, video) -> per-shot outputs of a whole movie [S, d]. Values are
    only valid while the model's weights do not change (frozen-model probes; fine-tuning never uses it).

    Memory bound (float32, CPU): per (model, representation, window), d floats per distinct clip, plus
    max_tokens · d per clip whose tokens were asked for, plus S · d per movie of a shot or boundary task:
    at most (clips · (1 + max_tokens) + shots of the store) · d floats. That is what one task's probes hold
    anyway when the tasks label the same clips (MovieWorld's clip tasks, LVU's 9 tasks); e.g. the default
    MovieWorld (1,000 movies, ~3,800 clips, 300k shots) with `all` of the tiny model (d = 128): 0.3 GB.
    The cache is freed with the run.
    """

    def __init__(self, tokens: bool = False) -> None:
        """tokens=True: whenever a clip is encoded, keep its tokens too, so that a run with the attentive
        probe encodes each clip once for both probes (not once for vectors, once for tokens)."""
        self.tokens = tokens
        self._held: dict[int, object] = {}
        self.values: dict[tuple, torch.Tensor] = {}

    def scope(self, store, model, window: int) -> tuple[int, int, int]:
        """The key prefix of one (store, model, window); the model is a linear map for `pca`/`cca`, None for `raw`."""
        for obj in (store, model):
            self._held[id(obj)] = obj
        return id(store), id(model), window


class Representer:
    """Computes clip, shot and boundary representations of a store with one model (or none: `raw`, `pca`, `cca`)."""

    def __init__(
        self,
        store: FeatureStore,
        model=None,
        representation: str = "cls",
        *,
        window: int = 128,
        batch_size: int = 16,
        progress: bool = True,
        cache: EncodingCache | None = None,
        linear_map: LinearMap | None = None,
    ):
        """cache: share encodings with other Representers of the same run (None: this call's own only).
        linear_map: the fitted map that `pca` and `cca` apply to the frozen features."""
        self.store = store
        self.representation = check_representation(representation)
        # `raw`, `pca` and `cca` read the store only, even when a model is around (e.g. a table with cls and raw rows).
        self.model = model if needs_model(representation) else None
        if needs_model(representation) and model is None:
            raise RepresentationError(f"representation {representation!r} needs a model (raw, pca and cca do not)")
        self.linear_map = linear_map if representation in LINEAR_MAPS else None
        if representation in LINEAR_MAPS and linear_map is None:
            raise RepresentationError(
                f"representation {representation!r} needs its fitted map (lmp.tasks.linear_baselines."
                "fit_linear_baseline; `lmp probe` fits it on the store's movies outside val and test)"
            )
        if window < 1:
            raise ValueError(f"window: must be >= 1, got {window}")
        self.window = window if self.model is None else min(window, model.cfg.max_shots)
        self.batch_size = batch_size
        self.progress = progress
        self.modalities = tuple(model.modalities) if self.model is not None else store.modalities
        self.device = next(model.parameters()).device if self.model is not None else torch.device("cpu")
        self.cache = cache
        # A map is held in the scope as a model is: two maps of one name never share entries.
        owner = self.model if self.model is not None else self.linear_map
        self._scope = (cache if cache is not None else EncodingCache()).scope(store, owner, self.window)

    # -- raw features (no model) ------------------------------------------------------------------
    def _raw(self, video_id: str, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Frozen features of shots [start, stop): tokens [S, sum D_m] and the clip vector [sum D_m] (for
        `pca` and `cca`, both through the linear map: [S, k] and [k])."""
        r = self.store.read(video_id, start, stop, self.modalities)
        parts, tokens = [], []
        for m in self.modalities:
            x = torch.from_numpy(r[m].astype(np.float32))
            present = torch.from_numpy(r[mask_key(m)]).float()
            w = present if present.sum() > 0 else torch.ones_like(present)
            parts.append((x * w[:, None]).sum(0) / w.sum())
            tokens.append(x * present[:, None])
        tok, vec = torch.cat(tokens, 1), torch.cat(parts)
        return (tok, vec) if self.linear_map is None else (self.linear_map(tok), self.linear_map(vec))

    # -- clip level -------------------------------------------------------------------------------
    def span(self, e: Example) -> tuple[int, int]:
        """The clip's shots [start, stop) (a whole movie when the example has no bounds)."""
        stop = self.store.num_shots(e.video_id) if e.end is None else e.end
        return e.start or 0, stop

    def encode_clips(self, examples: Sequence[Example], tokens: bool = False):
        """Differentiable clip vectors [n, d] (one forward pass over all chunks of these clips); with
        tokens=True also a list of each clip's shot tokens [L_i, d]. Used by `clips` and fine-tuning."""
        owners, windows = [], []
        for i, e in enumerate(examples):
            for a, b in chunks(*self.span(e), self.window):
                owners.append(i)
                windows.append((e.video_id, a, b))
        batch = read_batch(self.store, windows, self.modalities, self.device)
        out = self.model.forward_features(batch)
        tok = shot_tokens(out, self.representation)  # [chunks, s, d]
        lengths = batch["shot_mask"].sum(1).float()  # [chunks]
        if self.representation == "cls":
            # Chunk [CLS] vectors weighted by chunk length.
            blocks = [(out["cls"] * lengths[:, None], lengths)]
        else:  # per block: weighted sums over each chunk's shots and the weights' sums
            blocks = [((t * w[..., None]).sum(1), w.sum(1)) for t, w in pooling_blocks(out, batch, self.representation)]
        owner = torch.tensor(owners, device=tok.device)
        vectors = []
        for parts, weights in blocks:  # [chunks, d_i], [chunks]
            sums = torch.zeros(len(examples), parts.shape[1], device=parts.device).index_add(0, owner, parts)
            counts = torch.zeros(len(examples), device=parts.device).index_add(0, owner, weights)
            vectors.append(sums / counts[:, None])
        vectors = torch.cat(vectors, dim=1)
        if not tokens:
            return vectors
        seqs: list[list[torch.Tensor]] = [[] for _ in examples]
        for k, i in enumerate(owners):
            seqs[i].append(tok[k, : int(lengths[k])])
        return vectors, [torch.cat(s) for s in seqs]

    @torch.no_grad()
    def clips(self, examples: Sequence[Example], tokens: bool = False, max_tokens: int = 64):
        """Clip vectors [n, d]; with tokens=True also (tokens [n, L, d], mask [n, L]) of each clip's shots,
        a clip longer than `max_tokens` shots averaged in consecutive near-equal groups down to L =
        max_tokens (bounds the attentive probe's memory: n · L · d floats). Each distinct clip is encoded
        once (once per run with a shared `EncodingCache`)."""
        from tqdm import tqdm

        values = self.cache.values if self.cache is not None else {}
        spans = [(e.video_id, *self.span(e)) for e in examples]
        with_tokens = tokens or (self.cache is not None and self.cache.tokens)  # what an encoding keeps

        def vec_key(span):
            return (*self._scope, "clip", self.representation, *span)

        def tok_key(span):
            return (*self._scope, "tokens", self.representation, max_tokens, *span)

        todo: dict[tuple, Example] = {}  # span -> example, distinct clips still to encode
        for e, span in zip(examples, spans):
            if vec_key(span) not in values or (tokens and tok_key(span) not in values):
                todo.setdefault(span, e)

        def keep(span, vec: torch.Tensor, seq: torch.Tensor | None) -> None:
            values[vec_key(span)] = vec
            if seq is not None:  # pooled down to max_tokens and copied out of the padded batch
                values[tok_key(span)] = seq.clone() if len(seq) <= max_tokens else _pool_groups(seq, max_tokens)

        # Shortest first: a batch is padded to its longest clip, and batching similar lengths encodes
        # MovieWorld's 40-120-shot clips in about half the time (measured). Results are keyed by span.
        pending = sorted(todo.items(), key=lambda item: item[0][2] - item[0][1])
        if self.model is None:
            for span, _ in pending:
                seq, vec = self._raw(*span)
                keep(span, vec, seq if with_tokens else None)
        else:
            steps = range(0, len(pending), self.batch_size)
            for j in tqdm(steps, desc="encode clips", unit="batch", disable=not self.progress or len(steps) < 5):
                group = pending[j : j + self.batch_size]
                encoded = self.encode_clips([e for _, e in group], tokens=with_tokens)
                vec, seq = encoded if with_tokens else (encoded, [None] * len(group))
                for (span, _), v, t in zip(group, vec.cpu(), seq):
                    keep(span, v, t.cpu() if t is not None else None)
        vectors = [values[vec_key(span)] for span in spans]
        seqs = [values[tok_key(span)] for span in spans] if tokens else []
        return self._finish(vectors, seqs, tokens, max_tokens)

    @staticmethod
    def _finish(vectors: list[torch.Tensor], seqs: list[torch.Tensor], tokens: bool, max_tokens: int):
        x = torch.stack(vectors) if vectors else torch.zeros(0, 0)
        if not tokens:
            return x
        seqs = [s if len(s) <= max_tokens else _pool_groups(s, max_tokens) for s in seqs]
        length = max((len(s) for s in seqs), default=1)
        # The tokens' width, which is not the vector's for "cls" (the [CLS] tokens side by side; tokens: fused).
        width = seqs[0].shape[1] if seqs else x.shape[1]
        padded = torch.zeros(len(seqs), length, width)
        mask = torch.zeros(len(seqs), length, dtype=torch.bool)
        for i, s in enumerate(seqs):
            padded[i, : len(s)] = s
            mask[i, : len(s)] = True
        return x, (padded, mask)

    # -- shot level -------------------------------------------------------------------------------
    @torch.no_grad()
    def movie_tokens(self, video_id: str, names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Per-shot outputs of a whole movie, name -> [S, d], for `names` among "fused" and
        "unimodal:<m>" (default: this representer's). Windows of `window` shots every window // 2;
        each shot takes its output from the window whose centre is nearest."""
        names = list(names or [self.representation])
        values = self.cache.values if self.cache is not None else {}
        cached = {name: values.get((*self._scope, "movie", name, video_id)) for name in names}
        todo = [name for name in names if cached[name] is None]
        if todo:
            for name, tok in self._movie_tokens(video_id, todo).items():
                cached[name] = values[(*self._scope, "movie", name, video_id)] = tok
        return cached

    def _movie_tokens(self, video_id: str, names: list[str]) -> dict[str, torch.Tensor]:
        num = self.store.num_shots(video_id)
        w = min(self.window, num)
        stride = max(1, w // 2)
        starts = list(range(0, num - w + 1, stride))
        if starts[-1] != num - w:
            starts.append(num - w)
        centres = torch.tensor([s + w / 2 for s in starts])
        owner = (torch.arange(num)[:, None] + 0.5 - centres[None]).abs().argmin(1)  # [S] window per shot
        result: dict[str, torch.Tensor] = {}
        for j in range(0, len(starts), self.batch_size):
            group = starts[j : j + self.batch_size]
            batch = read_batch(self.store, [(video_id, s, s + w) for s in group], self.modalities, self.device)
            out = self.model.forward_features(batch)
            for name in names:
                tok = shot_tokens(out, name).cpu()  # [b, w, d]
                dest = result.setdefault(name, torch.zeros(num, tok.shape[-1]))
                for k, s in enumerate(group):
                    mine = (owner[s : s + w] == j + k).nonzero().squeeze(1)
                    dest[s + mine] = tok[k, mine]
        return result

    def movie_shots(self, video_id: str) -> torch.Tensor:
        """Per-shot representations of a whole movie, [S, d] (frozen features [S, sum D_m] for raw, mapped for
        pca and cca)."""
        if self.model is None:
            values = self.cache.values if self.cache is not None else {}
            key = (*self._scope, "movie", self.representation, video_id)
            if key not in values:
                values[key] = self._raw(video_id, 0, self.store.num_shots(video_id))[0]
            return values[key]
        name = "fused" if self.representation == "cls" else self.representation
        return self.movie_tokens(video_id, [name])[name]

    def encode_shots(self, examples: Sequence[Example], boundary: bool = False) -> torch.Tensor:
        """Differentiable shot [n, d] or boundary [n, 3d] vectors for fine-tuning: each example gets its
        own window of up to `window` shots centred on its shot (on the boundary's two shots)."""
        windows, where = [], []
        for e in examples:
            num = self.store.num_shots(e.video_id)
            w = min(self.window, num)
            start = min(max(0, e.start + (1 if boundary else 0) - w // 2), num - w)
            windows.append((e.video_id, start, start + w))
            where.append(e.start - start)
        batch = read_batch(self.store, windows, self.modalities, self.device)
        tok = shot_tokens(self.model.forward_features(batch), self.representation)  # [n, s, d]
        idx = torch.tensor(where, device=tok.device)
        rows = torch.arange(len(examples), device=tok.device)
        a = tok[rows, idx]
        if not boundary:
            return a
        b = tok[rows, idx + 1]
        return torch.cat([a, b, (a - b).abs()], dim=1)

    def shots(self, examples: Sequence[Example], boundary: bool = False) -> torch.Tensor:
        """Shot vectors [n, d], or boundary vectors [n, 3d] = [h_i, h_{i+1}, |h_i - h_{i+1}|]."""
        from tqdm import tqdm

        cache: dict[str, torch.Tensor] = {}
        movies = sorted({e.video_id for e in examples})
        for v in tqdm(movies, desc="encode movies", unit="movie", disable=not self.progress or len(movies) < 5):
            cache[v] = self.movie_shots(v)  # from self.cache when another task encoded the movie already
        if not boundary:
            return torch.stack([cache[e.video_id][e.start] for e in examples]) if examples else torch.zeros(0, 0)
        rows = []
        for e in examples:
            a, b = cache[e.video_id][e.start], cache[e.video_id][e.start + 1]
            rows.append(torch.cat([a, b, (a - b).abs()]))
        return torch.stack(rows) if rows else torch.zeros(0, 0)

    # -- any task ---------------------------------------------------------------------------------
    def task(self, task: Task) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """split -> (x [n, d'], y) for a task already restricted to the store (`Task.restrict`)."""
        out = {}
        for split, rows in task.splits.items():
            if task.spec.level == "clip":
                x = self.clips(rows)
            else:
                x = self.shots(rows, boundary=task.spec.level == "boundary")
            out[split] = (x, task.targets(split))
        return out


def task_representations(
    task: Task | str | os.PathLike,
    store: FeatureStore | str | os.PathLike,
    checkpoint: str | os.PathLike | None = None,
    *,
    model=None,
    representation: str = "cls",
    random_init: bool = False,
    window: int = 128,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], Task]:
    """Representations of a labelled task, ready for `lmp.tasks.probe.linear_probe`.

    task: a Task or a task directory in lmp's label format (e.g. OUT/labels/genre).
    store: a FeatureStore or its directory. checkpoint: a checkpoint directory (or pass `model`);
    with neither, a randomly initialised tiny model; random_init=True uses the checkpoint's config but
    random weights (seeded). Rows whose video is not in the store are dropped and counted in
    `task.missing` of the returned (restricted) task.

    Returns ({"train": (x, y), "val": (x, y), "test": (x, y)}, restricted task).
    """
    from lmp.labels import read_task

    store = store if isinstance(store, FeatureStore) else FeatureStore(Path(store))
    task = task if isinstance(task, Task) else read_task(task)
    task = task.restrict(store)
    if model is None and needs_model(representation):
        model = load_model(checkpoint, store, random_init=random_init, seed=seed, device=device)
    rep = Representer(store, model, representation, window=window, progress=False)
    return rep.task(task), task
