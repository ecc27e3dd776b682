"""The Python API: open a store, load a model, encode movies or clips (re-exported as `lmp.load_store`,
`lmp.encode`, `lmp.LMPModel`).

    import lmp
    store = lmp.load_store("runs/mw/store")
    model = lmp.LMPModel.from_pretrained("runs/base/model")      # a checkpoint directory or a Hub id
    shots = lmp.encode(model, store, store.ids[0])                 # [S, d]: one vector per shot
    clips = lmp.encode(model, store, [(store.ids[0], 0, 8)])       # [1, d]: one vector per clip

Everything is computed by `lmp.tasks.features.Representer`, the code the probes use, and `lmp embed`
writes exactly what `encode` returns. torch is imported on the first `encode`, not by `load_store`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from lmp.errors import LMPError
from lmp.store.reader import FeatureStore

if TYPE_CHECKING:
    import numpy as np
    import torch

    from lmp.model import LMPModel

Window = tuple[str, "int | None", "int | None"]


class EncodeError(LMPError):
    """A request `lmp.encode` cannot serve: a bad window, or a model that does not fit the store."""


def load_store(path: str | os.PathLike | FeatureStore) -> FeatureStore:
    """Open a feature store directory (read-only; only its manifest is read now)."""
    return path if isinstance(path, FeatureStore) else FeatureStore(path)


def _windows(store: FeatureStore, windows: Any) -> list[tuple[str, int, int]]:
    """(movie_id, start, stop) with start/stop None = the movie's ends, checked against the store."""
    if not isinstance(windows, Sequence) or isinstance(windows, bytes) or not windows:
        raise EncodeError(f"encode: expected a movie id or a non-empty list of (movie_id, start, stop): {windows!r}")
    out = []
    for w in windows:
        if not (isinstance(w, Sequence) and len(w) == 3 and isinstance(w[0], str)):
            raise EncodeError(f"encode: each window is (movie_id, start, stop), got {w!r}")
        vid, start, stop = w
        n = store.num_shots(vid)  # StoreError naming the store for an unknown movie
        start, stop = 0 if start is None else int(start), n if stop is None else int(stop)
        if not 0 <= start < stop <= n:
            raise EncodeError(
                f"store {store.root}: movie {vid!r} has {n} shots; window [{start}, {stop}) is empty or outside them"
            )
        out.append((vid, start, stop))
    return out


def _base_names(model: Any, representations: Sequence[str]) -> list[str]:
    """Per-shot outputs ("fused", "unimodal:<m>") that `representations` are built from."""
    names: list[str] = []
    for r in representations:
        parts = (
            ["fused", *(f"unimodal:{m}" for m in model.modalities)] if r == "all" else ["fused" if r == "cls" else r]
        )
        names += [p for p in parts if p not in names]
    return names


def _as_output(model: Any, tokens: dict[str, torch.Tensor]) -> dict:
    """Movie tokens in the shape of a forward_features output [1, S, d], so `shot_tokens` and
    `pooling_blocks` (the probes' own code) build and pool every representation from them."""
    return {
        "unimodal": {m: tokens[f"unimodal:{m}"][None] for m in model.modalities if f"unimodal:{m}" in tokens},
        "fused_shot": tokens["fused"][None] if "fused" in tokens else None,
    }


def pool_movie_shots(
    model: Any,
    tokens: dict[str, torch.Tensor],
    masks: dict[str, np.ndarray],
    spans: Sequence[tuple[int, int]],
    representations: Sequence[str],
) -> dict[str, torch.Tensor]:
    """Clip vectors from a movie's per-shot outputs (`encode(model, store, movie_id, [...])`): for each
    representation [len(spans), d'], the mean over each span's shots, with the probes' weights (a
    unimodal encoder over the shots that have its modality, all shots when none has). masks: the
    store's "<m>_mask" arrays of the movie."""
    import torch

    from lmp.modality import mask_key
    from lmp.tasks.features import pooling_blocks

    out = _as_output(model, tokens)
    num = next(iter(tokens.values())).shape[0]
    batch = {"shot_mask": torch.ones(1, num, dtype=torch.bool)}
    batch.update({mask_key(m): torch.as_tensor(masks[mask_key(m)])[None] for m in model.modalities})
    result = {}
    for r in representations:
        vectors = []
        for a, b in spans:
            part = {"unimodal": {m: t[:, a:b] for m, t in out["unimodal"].items()}}
            part["fused_shot"] = None if out["fused_shot"] is None else out["fused_shot"][:, a:b]
            blocks = pooling_blocks(part, {k: v[:, a:b] for k, v in batch.items()}, r)
            vectors.append(torch.cat([(t * w[..., None]).sum(1) / w.sum(1)[:, None] for t, w in blocks], dim=-1)[0])
        result[r] = torch.stack(vectors)
    return result


def encode(
    model: LMPModel | None,
    store: FeatureStore | str | os.PathLike,
    movie_or_windows: str | Sequence[Window],
    *,
    representation: str | Sequence[str] = "cls",
    window: int = 128,
    context: Literal["window", "movie"] = "window",
    batch_size: int = 16,
) -> torch.Tensor | dict[str, torch.Tensor]:
    """Vectors of a movie's shots or of clips, as float32 CPU tensors, under torch.no_grad.

    movie_or_windows: a movie id -> per-shot vectors [S, d'] of that movie (encoded in windows of
        `window` shots every window // 2, each shot from the window whose centre is nearest to it);
        or a list of (movie_id, start, stop) clips (shots [start, stop); None = the movie's end)
        -> per-clip vectors [n, d'].
    representation: "cls" (per clip the cross-modal [CLS] tokens side by side, model.cfg.cls_width wide; per
        shot it falls back to "fused"), "fused" (fused tokens; per clip their mean), "unimodal:<m>" (one
        modality's encoder; per clip the mean over the shots that have m), "all" (every encoder concatenated),
        "raw" (the frozen store features, no model). A list of them returns {name: tensor}, from one pass over
        each movie.
    context (clips only): "window" encodes each clip on its own (cut into near-equal chunks of at most
        `window` shots), as the clip probes do; "movie" pools the clip's per-shot vectors computed over
        the whole movie (the clip vectors of `lmp embed`; "cls" has no movie context).
    model: an LMPModel (LMPModel.from_pretrained returns it in eval mode; encode does not change its
        mode), on any device; None only for "raw".
    """
    from lmp.tasks.features import Representer, check_representation

    store = load_store(store)
    single = isinstance(representation, str)
    reps = [representation] if single else list(representation)
    if not reps:
        raise EncodeError("encode: representation is an empty list")
    for r in reps:
        check_representation(r)
    if context not in ("window", "movie"):
        raise EncodeError(f"encode: context must be 'window' or 'movie', got {context!r}")
    if model is not None:
        from lmp.tasks.loading import check_fits

        check_fits(model, store, EncodeError)

    def rep(r: str) -> Representer:
        return Representer(store, model, r, window=window, batch_size=batch_size, progress=False)

    modelled = [r for r in reps if r != "raw"]
    result: dict[str, torch.Tensor] = {}
    if isinstance(movie_or_windows, str):  # per shot
        vid = movie_or_windows
        if "raw" in reps:
            result["raw"] = rep("raw").movie_shots(vid)
        if modelled:
            from lmp.tasks.features import shot_tokens

            out = _as_output(model, rep(modelled[0]).movie_tokens(vid, _base_names(model, modelled)))
            result.update({r: shot_tokens(out, "fused" if r == "cls" else r)[0] for r in modelled})
    else:  # per clip
        from lmp.labels import Example

        windows = _windows(store, movie_or_windows)
        if context == "window" or "raw" in reps:
            examples = [Example(v, a, b, None) for v, a, b in windows]
            result.update({r: rep(r).clips(examples) for r in reps if context == "window" or r == "raw"})
        if context == "movie" and modelled:
            if "cls" in modelled:
                raise EncodeError(
                    "encode: 'cls' has no movie context (a [CLS] belongs to one encoded window); use context='window'"
                )
            result.update(_movie_context_clips(model, store, windows, modelled, rep(modelled[0])))
    return result[reps[0]] if single else {r: result[r] for r in reps}


def _movie_context_clips(model, store, windows, reps, representer) -> dict[str, torch.Tensor]:
    """Clip vectors pooled from per-shot vectors over the whole movie, each movie encoded once."""
    import torch

    from lmp.modality import mask_key

    by_movie: dict[str, list[int]] = {}
    for i, (vid, _, _) in enumerate(windows):
        by_movie.setdefault(vid, []).append(i)
    rows: dict[str, list[torch.Tensor | None]] = {r: [None] * len(windows) for r in reps}
    for vid, idx in by_movie.items():
        tokens = representer.movie_tokens(vid, _base_names(model, reps))
        arrays = store.read(vid, 0, None, tuple(model.modalities))
        masks = {mask_key(m): arrays[mask_key(m)] for m in model.modalities}
        pooled = pool_movie_shots(model, tokens, masks, [windows[i][1:] for i in idx], reps)
        for r in reps:
            for k, i in enumerate(idx):
                rows[r][i] = pooled[r][k]
    return {r: torch.stack(v) for r, v in rows.items()}
