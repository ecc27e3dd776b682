"""generate(cfg): write a MovieWorld corpus (store + labels + corpus.json) to cfg.out.

OUT/store/                  an lmp feature store (encoders movieworld-visual/-audio/-text)
OUT/labels/<task>/          task.json + train/val/test.csv for every task in labels.TASKS
OUT/latents.jsonl           the latent story of each movie (for analysis; models never see it)
OUT/corpus.json             generator, seed, resolved config, splits, row counts, corpus statistics
OUT/config.yaml             the resolved SynthConfig
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lmp.config import atomic_write_text, save_config, to_dict
from lmp.errors import LMPError
from lmp.labels import SPLITS
from lmp.store import EncoderSpec, MovieFeatures, StoreWriter
from lmp.synth.config import SynthConfig
from lmp.synth.labels import TASKS, balance_by_position, movie_rows, write_tasks
from lmp.synth.render import render
from lmp.synth.story import Movie, make_movie, movie_id
from lmp.synth.world import (
    DECADES,
    DIRECTORS,
    GENRES,
    PLACES,
    RELATIONSHIPS,
    SPEAKING_STYLES,
    WRITERS,
    make_world,
)

GENERATOR = "movieworld"
GENERATOR_VERSION = 2
"""1: until 2 Dec 2026. 2: place_return rows balanced by their place in the movie."""
GENERATOR_CHANGES = "place_return rows balanced by their place in the movie; the store is unchanged"
"""What the current version changed, said when an older corpus is made again."""
WRITE_AHEAD = 8  # movies generated but not yet written, at most


NOT_SAVED = ("out", "progress", "overwrite")
"""SynthConfig fields that do not shape the corpus, left out of corpus.json's config."""


class SynthError(LMPError):
    """MovieWorld cannot write its corpus (e.g. the output directory already holds one)."""


def existing_corpus(cfg: SynthConfig) -> Path | None:
    """cfg.out when it already holds a complete corpus made with `cfg`'s settings (to reuse it; one an older
    generator made with them is made again first), None when
    it holds none (to generate it); SynthError naming the differences when it holds one made otherwise,
    e.g. another preset or seed: reusing it would report results under settings they were not made with."""
    path = cfg.out / "corpus.json"
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
        settings = saved["config"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SynthError(f"{path}: unreadable ({e}); remove {cfg.out} to make the corpus again") from None
    asked = {k: v for k, v in to_dict(cfg).items() if k not in NOT_SAVED}
    diffs = [f"{k}: {settings.get(k, '<absent>')!r} -> {v!r}" for k, v in asked.items() if settings.get(k) != v]
    older = saved.get("generator_version", 1)
    if not diffs and isinstance(older, int) and older < GENERATOR_VERSION:
        # The same settings, an older generator: lmp's own corpus, made again with this one (version 2 changed
        # labels only, so the store comes out the same bytes and runs trained on it stay valid).
        print(f"{cfg.out}: made by MovieWorld generator version {older}; making it again with version "
              f"{GENERATOR_VERSION} ({GENERATOR_CHANGES})")
        generate(dataclasses.replace(cfg, overwrite=True, progress=False))
        return cfg.out
    if saved.get("generator_version") != GENERATOR_VERSION:
        diffs.insert(0, f"generator_version: {saved.get('generator_version')!r} -> {GENERATOR_VERSION!r}")
    if diffs:
        more = f"; and {len(diffs) - 5} more" if len(diffs) > 5 else ""
        raise SynthError(f"{cfg.out}: holds a MovieWorld corpus made with other settings "
                         f"({'; '.join(diffs[:5])}{more}); remove it to make the corpus again, or choose another "
                         "output directory")
    return cfg.out


def split_movies(cfg: SynthConfig) -> list[str]:
    """Split name of every movie index: a seeded permutation cut at the configured fractions."""
    n = cfg.num_movies
    n_train = max(1, round(cfg.train_fraction * n))
    n_val = round(cfg.val_fraction * n)
    if cfg.val_fraction > 0 and n >= 3:
        n_val = max(1, n_val)
    n_train = min(n_train, max(1, n - n_val - 1))  # keep at least one test movie
    n_val = min(n_val, n - n_train - 1) if n > 1 else 0
    order = np.random.default_rng(np.random.SeedSequence([cfg.seed, 3])).permutation(n)
    splits = ["test"] * n
    for rank, i in enumerate(order):
        splits[i] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    return splits


def _latents(movie: Movie, split: str) -> dict:
    clips = []
    for n in range(len(movie.seg_is_clip)):
        a, b = int(movie.seg_bounds[n]), int(movie.seg_bounds[n + 1])
        clips.append(
            {
                "start_shot": a,
                "end_shot": b,
                "labelled": bool(movie.seg_is_clip[n]),
                "place": PLACES[movie.seg_place[n]],
                "speaking_style": SPEAKING_STYLES[movie.seg_style[n]],
                "focus_pair": [int(c) for c in movie.seg_pair[n]],
                "relationship": RELATIONSHIPS[movie.relationship[n]],
            }
        )
    return {
        "id": movie.id,
        "split": split,
        "genre": GENRES[movie.genre],
        "genres": [g for g, on in zip(GENRES, movie.genres) if on],
        "director": DIRECTORS[movie.director],
        "writer": WRITERS[movie.writer],
        "decade": DECADES[movie.decade],
        "cast_actors": [int(a) for a in movie.cast],
        "average_shot_length_s": round(float(np.exp(movie.log_asl)), 3),
        "num_shots": movie.num_shots,
        "num_scenes": int(movie.scene.max()) + 1,
        "clips": clips,
    }


def _count(totals: dict[str, float], movie: Movie, masks: dict[str, np.ndarray]) -> None:
    """Add one movie to the corpus statistics written to corpus.json."""
    clips = np.flatnonzero(movie.seg_is_clip)
    starts, ends = movie.seg_bounds[clips], movie.seg_bounds[clips + 1] - 1
    totals["shots"] += movie.num_shots
    totals["seconds"] += float(movie.times[-1, 1])
    totals["text"] += int(masks["text"].sum())
    totals["audio"] += int(masks["audio"].sum())
    totals["clips"] += len(clips)
    totals["clip_seconds"] += float((movie.times[ends, 1] - movie.times[starts, 0]).sum())
    totals["scenes"] += int(movie.scene.max()) + 1


IN_PROGRESS = ".synth-in-progress"
"""Written into OUT before anything else and removed after corpus.json: what an interrupted run left."""


def _prepare_out(cfg: SynthConfig) -> None:
    """corpus.json is written last, so it marks a complete corpus: never replace one unless asked.
    Leftovers of an interrupted run (its IN_PROGRESS marker, no corpus.json) are replaced without asking;
    a store or labels that no synth run is known to have written (e.g. a real ingested store at OUT/store)
    only with --overwrite."""
    ours = (cfg.out / "store", cfg.out / "labels", cfg.out / "corpus.json", cfg.out / "latents.jsonl")
    if not cfg.overwrite:
        if (cfg.out / "corpus.json").exists():
            raise SynthError(f"{cfg.out}: already holds a corpus (corpus.json); pass --overwrite to replace it "
                             "or choose another --out")
        foreign = [p.name for p in ours[:2] if p.exists()]
        if foreign and not (cfg.out / IN_PROGRESS).exists():
            raise SynthError(
                f"{cfg.out}: already has {' and '.join(foreign)}/ that no lmp synth run left unfinished; "
                "choose another --out, or pass --overwrite to delete them"
            )
    cfg.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cfg.out / IN_PROGRESS, "lmp synth is writing this corpus; corpus.json marks it complete\n")
    for p in ours:
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def generate(cfg: SynthConfig) -> Path:
    """Generate the corpus described by `cfg` into cfg.out; returns cfg.out."""
    t0 = time.perf_counter()
    _prepare_out(cfg)
    world = make_world(cfg.seed, cfg.dims, cfg.num_actors)
    splits = split_movies(cfg)
    writer = StoreWriter(
        cfg.out / "store", {m: EncoderSpec(f"{GENERATOR}-{m}", d) for m, d in cfg.written.items()}
    )
    rows: dict[str, dict[str, list[tuple]]] = {t: {s: [] for s in SPLITS} for t in TASKS}
    latents: list[str] = []
    lengths: dict[str, int] = {}  # shots per movie id
    totals = {"shots": 0, "seconds": 0.0, "text": 0, "audio": 0, "clips": 0, "clip_seconds": 0.0, "scenes": 0}
    # The store fsyncs every file it writes, which mostly waits on the disk: one writer thread (so the
    # manifest keeps movie order) writes movie i while this thread generates the next few.
    pending: deque[Future] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="movieworld-write") as pool:
        for i in tqdm(range(cfg.num_movies), desc="movieworld", unit="movie", disable=not cfg.progress):
            rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 1, i]))
            movie = make_movie(world, cfg, i, rng)
            feats, masks = render(world, movie, cfg, rng)
            split = splits[i]
            meta = {"generator": GENERATOR, "seed": cfg.seed, "index": i, "split": split}
            pending.append(
                pool.submit(writer.write, MovieFeatures(
                    movie.id, movie.times, {m: feats[m] for m in cfg.modalities}, {m: masks[m] for m in cfg.modalities},
                    meta=meta,
                ))  # fmt: skip
            )
            if len(pending) > WRITE_AHEAD:
                pending.popleft().result()  # re-raises a write error here, and bounds memory
            lengths[movie.id] = movie.num_shots
            label_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 2, i]))
            for task, lines in movie_rows(movie, cfg.label_noise, label_rng).items():
                rows[task][split].extend(lines)
            latents.append(json.dumps(_latents(movie, split), separators=(",", ":")))
            _count(totals, movie, masks)
        for future in pending:
            future.result()
    # place_return: as many returns as new places in each stretch of the movies (labels.balance_by_position).
    balance_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 3]))
    for split, split_rows in rows["place_return"].items():
        where = [shot / lengths[movie] for movie, shot, _ in split_rows]
        positive = [label == TASKS["place_return"].classes[1] for _, _, label in split_rows]
        rows["place_return"][split] = [split_rows[k] for k in balance_by_position(positive, where, balance_rng)]
    counts = write_tasks(cfg.out / "labels", rows)
    atomic_write_text(cfg.out / "latents.jsonl", "\n".join(latents) + "\n")
    shots = max(totals["shots"], 1)
    corpus = {
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "seed": cfg.seed,
        "config": {k: v for k, v in to_dict(cfg).items() if k not in NOT_SAVED},
        "store": "store",
        "labels": "labels",
        "encoders": {m: {"name": f"{GENERATOR}-{m}", "dim": d} for m, d in cfg.written.items()},
        "splits": {s: [movie_id(i) for i in range(cfg.num_movies) if splits[i] == s] for s in SPLITS},
        "tasks": {name: {**TASKS[name].to_json(), "rows": counts[name]} for name in TASKS},
        "stats": {
            "movies": cfg.num_movies,
            "shots": totals["shots"],
            "hours": round(totals["seconds"] / 3600, 3),
            "mean_shot_seconds": round(totals["seconds"] / shots, 3),
            "clips": totals["clips"],
            "mean_clip_seconds": round(totals["clip_seconds"] / max(totals["clips"], 1), 2),
            "scenes": totals["scenes"],
            "text_present_fraction": round(totals["text"] / shots, 4),
            "audio_present_fraction": round(totals["audio"] / shots, 4),
        },
    }
    save_config(cfg, cfg.out / "config.yaml")
    atomic_write_text(cfg.out / "corpus.json", json.dumps(corpus, indent=2) + "\n")  # last: marks completion
    (cfg.out / IN_PROGRESS).unlink()
    if cfg.progress:
        s = corpus["stats"]
        print(
            f"movieworld: {s['movies']} movies, {s['shots']} shots ({s['hours']} h), {s['clips']} clips "
            f"in {time.perf_counter() - t0:.1f} s -> {cfg.out}"
        )
    return cfg.out
