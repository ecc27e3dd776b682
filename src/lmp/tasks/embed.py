"""Export per-shot and per-clip embeddings in a format any tool reads without lmp (docs/transfer.md).

    OUT/shots.csv               row,movie_id,shot,start_s,end_s          (row = row of every shots_*.npy)
    OUT/shots_fused.npy         float32 [total shots, d]   per-shot mean of the fused tokens
    OUT/shots_unimodal_<m>.npy  float32 [total shots, d]   unimodal encoder m
    OUT/clips.csv               row,movie_id,clip,start_shot,end_shot,start_s,end_s
    OUT/clips_cls.npy           float32 [total clips, d]   cross-modal [CLS] of the clip
    OUT/clips_fused.npy         float32 [total clips, d]   mean of shots_fused over the clip
    OUT/clips_unimodal_<m>.npy  float32 [total clips, d]   mean of shots_unimodal_<m> over the clip's
                                                           shots that have m (all shots if none has)
    OUT/embeddings.json         names, widths, window, clip definition, checkpoint, provenance
    OUT/config.yaml             the resolved command config

A clip is a whole store entry (clip_shots = 0, right for LVU-style stores of short clips) or a run of
`clip_shots` consecutive shots. Files are staged in a hidden directory and moved into OUT at the end.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lmp.api import encode, pool_movie_shots
from lmp.errors import LMPWarning
from lmp.store.reader import FeatureStore


def clip_spans(num_shots: int, clip_shots: int) -> list[tuple[int, int]]:
    if clip_shots <= 0:
        return [(0, num_shots)]
    return [(a, min(a + clip_shots, num_shots)) for a in range(0, num_shots, clip_shots)]


def export_embeddings(
    store: FeatureStore,
    model,
    out: Path,
    *,
    window: int = 128,
    clip_shots: int = 0,
    batch_size: int = 16,
    progress: bool = True,
    info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the embedding files for every movie of `store` into `out`; returns the embeddings.json dict."""
    from numpy.lib.format import open_memmap
    from tqdm import tqdm

    ids = store.ids
    shot_names = ["fused"] + [f"unimodal:{m}" for m in model.modalities]
    total_shots = sum(store.num_shots(v) for v in ids)
    spans = {v: clip_spans(store.num_shots(v), clip_shots) for v in ids}
    total_clips = sum(len(s) for s in spans.values())
    d = model.cfg.width
    out = Path(out)
    # An export into OUT that was killed left its stage; its files are of no use (exports into one OUT at the
    # same time would mix their files anyway), and they can be gigabytes.
    stale = sorted(out.parent.glob(f".{out.name}.tmp-*")) if out.parent.is_dir() else []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    if stale:
        warnings.warn(f"{out}: removed {len(stale)} staging directories of interrupted exports "
                      f"({', '.join(p.name for p in stale)})", LMPWarning, stacklevel=2)
    stage = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    stage.mkdir(parents=True)
    try:

        def file(name: str) -> str:
            return name.replace(":", "_")

        shots = {n: open_memmap(stage / f"shots_{file(n)}.npy", "w+", np.float32, (total_shots, d)) for n in shot_names}
        clip_names = ["cls", *shot_names]
        widths = {n: model.cfg.cls_width if n == "cls" else d for n in clip_names}  # cls: [CLS] tokens side by side
        clips = {
            n: open_memmap(stage / f"clips_{file(n)}.npy", "w+", np.float32, (total_clips, widths[n]))
            for n in clip_names
        }
        shot_row = clip_row = 0
        with open(stage / "shots.csv", "w", newline="") as fs, open(stage / "clips.csv", "w", newline="") as fc:
            ws, wc = csv.writer(fs), csv.writer(fc)
            ws.writerow(["row", "movie_id", "shot", "start_s", "end_s"])
            wc.writerow(["row", "movie_id", "clip", "start_shot", "end_shot", "start_s", "end_s"])
            for vid in tqdm(ids, desc="embed", unit="movie", disable=not progress):
                num = store.num_shots(vid)
                arrays = store.read(vid, 0, num, tuple(model.modalities))
                times = arrays["times"]
                # The public API's own calls (lmp.encode), so `lmp embed` and Python users get the same
                # vectors: per-shot outputs in one pass over the movie, clip means pooled from them, and
                # each clip's [CLS] from the clip encoded on its own.
                tokens = encode(model, store, vid, representation=shot_names, window=window, batch_size=batch_size)
                for n in shot_names:
                    shots[n][shot_row : shot_row + num] = tokens[n].numpy()
                for i in range(num):
                    ws.writerow([shot_row + i, vid, i, f"{times[i, 0]:.3f}", f"{times[i, 1]:.3f}"])
                pooled = pool_movie_shots(model, tokens, arrays, spans[vid], shot_names)
                pooled["cls"] = encode(
                    model, store, [(vid, a, b) for a, b in spans[vid]], representation="cls", window=window,
                    batch_size=batch_size,
                )  # fmt: skip
                for k, (a, b) in enumerate(spans[vid]):
                    row = clip_row + k
                    for n in clip_names:
                        clips[n][row] = pooled[n][k].numpy()
                    wc.writerow([row, vid, k, a, b, f"{times[a, 0]:.3f}", f"{times[b - 1, 1]:.3f}"])
                shot_row += num
                clip_row += len(spans[vid])
        for arr in (*shots.values(), *clips.values()):
            arr.flush()
        del shots, clips
        meta = {
            "format": "lmp-embeddings",
            "version": 1,
            "width": d,
            "cls_width": model.cfg.cls_width,  # the [CLS] tokens side by side (one per modality by default)
            "shots": {
                "count": total_shots,
                "index": "shots.csv",
                "files": {n: f"shots_{file(n)}.npy" for n in shot_names},
            },
            "clips": {
                "count": total_clips,
                "index": "clips.csv",
                "files": {n: f"clips_{file(n)}.npy" for n in clip_names},
                "definition": "whole store entry" if clip_shots <= 0 else f"{clip_shots} consecutive shots",
            },
            "window": window,
            "movies": len(ids),
            **(info or {}),
        }
        (stage / "embeddings.json").write_text(json.dumps(meta, indent=2) + "\n")
        out.mkdir(parents=True, exist_ok=True)
        # embeddings.json names the files: it leaves first and arrives last, so an export cut short while
        # moving leaves OUT without it (incomplete) rather than naming a model whose files are half there.
        (out / "embeddings.json").unlink(missing_ok=True)
        # Files of an earlier export that this one does not write (a representation or modality it lacks)
        # would sit beside the new ones under the documented names, with rows that no index matches.
        written = {f.name for f in stage.iterdir()}
        for f in [*out.glob("shots_*.npy"), *out.glob("clips_*.npy")]:
            if f.name not in written:
                f.unlink()
        for f in sorted(stage.iterdir(), key=lambda f: f.name == "embeddings.json"):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return meta
