"""`lmp ingest PATH... --store DIR`: movie files (+ subtitles) -> feature store + previews + run report.

Scale: `--workers K` runs K processes here; under torchrun (RANK/WORLD_SIZE) or SLURM
(SLURM_PROCID/SLURM_NTASKS) each rank takes every WORLD_SIZE-th movie of the sorted list, so the
same command on N machines splits the work. Movies already in the store with the same content hash
and feature config are skipped, so re-running an interrupted command resumes it; a stored movie of
the same id but other content is refused unless --overwrite (or --id_scheme parent_stem) is given.
"""

from __future__ import annotations

import os
import re
import time
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

from lmp.errors import LMPError, LMPWarning
from lmp.ingest.config import VIDEO_EXTS, IngestConfig
from lmp.ingest.pipeline import MoviePipeline, MovieResult
from lmp.ingest.shots import ShotDetector
from lmp.store.format import PREVIEWS_DIR

__all__ = ["IngestConfig", "discover", "ingest", "movie_id_for", "shard"]


def _videos_under(folder: Path) -> Iterator[Path]:
    return (f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_EXTS)


def discover(paths: list[Path]) -> list[Path]:
    """Movie files under the given files/folders, sorted and de-duplicated. A file given explicitly is
    kept even with an unusual extension."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found += _videos_under(p)
        else:
            found.append(p)
    seen: set[Path] = set()
    out = []
    for f in sorted(found, key=lambda f: str(f)):
        key = f.resolve() if f.exists() else f
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def movie_id_for(path: Path, scheme: str = "stem") -> str:
    """Store id from the file name ('stem') or from its folder and file name ('parent_stem'):
    characters outside [A-Za-z0-9_.-] become '_'."""
    name = f"{path.absolute().parent.name}_{path.stem}" if scheme == "parent_stem" else path.stem
    mid = re.sub(r"[^A-Za-z0-9_.\-]", "_", name).lstrip(".") or "movie"
    return mid[:200]


def default_threads(workers: int) -> int:
    """Torch threads per worker: its share of the cores minus one, left to the decode thread.

    OpenMP threads spin at barriers; when they share cores with the decoder (or other jobs), every op
    waits for a descheduled thread. Measured on 2 loaded cores: EfficientNet-Lite0 took 200 ms/frame
    with 2 torch threads, 34 ms/frame with 1.
    """
    return max(1, (os.cpu_count() or 1) // workers - 1)


def shard() -> tuple[int, int]:
    """(rank, world_size) from torchrun's RANK/WORLD_SIZE or SLURM's SLURM_PROCID/SLURM_NTASKS."""
    for r, w in (("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS")):
        if r in os.environ and w in os.environ:
            rank, world = int(os.environ[r]), int(os.environ[w])
            if not 0 <= rank < world:
                raise LMPError(f"{r}={rank} is outside [0, {w}={world})")
            return rank, world
    return 0, 1


class Worker:
    """Detector, encoders and store writer of one process; ingests movies one after another.

    The encoders (and the detector and ASR model) are loaded when the first movie that is not skipped
    needs them: loading takes seconds, more than ingesting a short movie, and a re-run over an ingested
    collection skips every movie, so then nothing is loaded at all.
    """

    def __init__(self, cfg: IngestConfig, threads: int):
        import torch

        from lmp.store import EncoderSpec, StoreWriter

        torch.set_num_threads(max(1, threads))
        self.cfg = cfg
        self._pipeline: MoviePipeline | None = None
        self._detector: ShotDetector | None = None
        self._load_error: str | None = None
        self._packages_checked = False
        dims = cfg.encoder_dims()
        if any(d is None for d in dims.values()):  # an encoder whose width is known only once it is built
            dims = {m: int(e.dim) for m, e in self.pipeline.encoders.items()}
        # The store is checked against the encoders' names and widths now, before any movie is read.
        self.writer = StoreWriter(cfg.store, {m: EncoderSpec(name, dims[m]) for m, name in cfg.encoder_names().items()})
        self.reader = None

    @property
    def pipeline(self) -> MoviePipeline:
        """The encoders (and the ASR model) for one movie at a time; loaded on first use."""
        if self._pipeline is None:
            from lmp.ingest.pipeline import build_encoders

            self._pipeline = MoviePipeline(self.cfg, build_encoders(self.cfg), device=self.cfg.resolved_device())
        return self._pipeline

    @property
    def detector(self) -> ShotDetector:
        """The streaming shot detector; loaded on first use (TransNetV2 loads weights)."""
        if self._detector is None:
            from lmp.ingest.shots import get_detector

            cfg = self.cfg
            self._detector = get_detector(cfg.resolved_detector(), fps=25.0, threshold=cfg.detector_threshold,
                                          device=cfg.resolved_device(), min_shot_seconds=cfg.min_shot_seconds,
                                          gradual=cfg.gradual_transitions)
        return self._detector

    def _loaded(self) -> tuple[MoviePipeline, ShotDetector]:
        """(pipeline, detector), loading them if needed. A failed load is remembered: the movies after it
        fail at once with the same error instead of each loading again."""
        if self._load_error is None:
            try:
                pipeline, detector = self.pipeline, self.detector
            except Exception as e:  # noqa: BLE001 - reported per movie like any other failure
                self._load_error = f"loading the encoders failed: {e if isinstance(e, LMPError) else repr(e)}"
            else:
                try:
                    self._check_encoder_packages(pipeline)
                    return pipeline, detector
                except LMPError as e:
                    self._load_error = str(e)
        raise LMPError(self._load_error)

    def _check_encoder_packages(self, pipeline: MoviePipeline) -> None:
        """Refuse to add features made by other versions of the encoders' packages (their code or their
        shipped weights) than the store's movies were made with: the store would silently mix two feature
        spaces under one encoder name. --overwrite is the user's explicit choice to re-ingest."""
        from lmp.store import FeatureStore

        if self.cfg.overwrite or self._packages_checked:
            return
        now = {m: e.package_versions() for m, e in pipeline.encoders.items()}
        store = FeatureStore(self.cfg.store)
        for movie_id in store.ids:
            then = store.record(movie_id).meta.get("encoder_packages", {})
            for m, versions in then.items():
                if m not in now or versions == now[m]:
                    continue
                changed = ", ".join(f"{p} {versions.get(p)} then, {now[m].get(p)} now"
                                    for p in sorted(set(versions) | set(now[m])) if versions.get(p) != now[m].get(p))
                raise LMPError(
                    f"{self.cfg.store}: movie {movie_id!r} was ingested with other versions of the {m} encoder's "
                    f"packages ({changed}); one store must not mix their features: install the versions it was "
                    "made with, ingest into a new store, or pass --overwrite to re-ingest"
                )
        self._packages_checked = True

    def _already_done(self, path: Path, movie_id: str, sha: str) -> bool:
        """True when the store holds this movie from the same content and feature config. Raises when
        it holds the id from other content: two files of the same name (Show1/S01E01.mkv,
        Show2/S01E01.mkv) must not silently replace each other across runs."""
        from lmp.store import FeatureStore

        if self.reader is None:
            self.reader = FeatureStore(self.cfg.store)
        self.reader.refresh()
        if movie_id not in self.reader:
            return False
        meta = self.reader.record(movie_id).meta
        if meta.get("content_sha256") != sha:
            raise LMPError(
                f"{path}: movie id {movie_id!r} is already in the store with other content, from "
                f"{meta.get('source_path', 'an unknown file')}; pass --overwrite to replace it, or "
                "--id_scheme parent_stem to include the folder in ids"
            )
        if meta.get("ingest_hash") != self.cfg.feature_hash():
            return False
        if self._subtitles_changed(path, meta):
            return False
        # Previews are swapped in after the record is committed: a run killed in between left the movie
        # without them, and `lmp inspect` needs them.
        return not self.cfg.previews or (Path(self.cfg.store) / PREVIEWS_DIR / movie_id).is_dir()

    def _subtitles_changed(self, path: Path, meta: dict) -> bool:
        """Whether the movie's subtitle file was added, edited or removed since it was ingested. Records
        from before lmp kept the file's hash only say whether a subtitle file was read."""
        from lmp.ingest.pipeline import subtitle_file, subtitle_sha256

        sub = subtitle_file(self.cfg, path)
        if "subtitles_sha256" in meta:
            return meta["subtitles_sha256"] != subtitle_sha256(sub)
        source = str(meta.get("dialogue_source", ""))
        return (sub is not None and sub.is_file()) != (source != "" and not source.startswith("asr:"))

    def process(self, path: Path, movie_id: str) -> MovieResult:
        from lmp.ingest.pipeline import ingest_movie
        from lmp.store.writer import sha256_file

        start = time.perf_counter()
        try:
            if not path.is_file():
                raise LMPError(f"{path}: no such file")
            sha = sha256_file(path)
            if not self.cfg.overwrite and self._already_done(path, movie_id, sha):
                return MovieResult(path=str(path), id=movie_id, status="skipped")
            pipeline, detector = self._loaded()
            return ingest_movie(path, movie_id, self.cfg, pipeline, detector, self.writer, sha)
        except LMPError as e:
            return MovieResult(path=str(path), id=movie_id, status="error", error=str(e),
                               wall_seconds=time.perf_counter() - start)
        except Exception as e:  # noqa: BLE001 - one bad movie must not stop the batch
            where = traceback.extract_tb(e.__traceback__)[-1]
            return MovieResult(
                path=str(path), id=movie_id, status="error",
                error=f"{path}: unexpected {type(e).__name__}: {e} (at {Path(where.filename).name}:{where.lineno})",
                wall_seconds=time.perf_counter() - start,
            )


_WORKER: Worker | str | None = None  # per pool process: the Worker, or why building it failed


def _init_worker(cfg_dict: dict, threads: int) -> None:
    global _WORKER
    from lmp.config import from_dict

    try:
        _WORKER = Worker(from_dict(IngestConfig, cfg_dict), threads)
    except Exception as e:  # noqa: BLE001 - an initializer that raises makes Pool respawn it forever
        _WORKER = f"{type(e).__name__}: {e}" if not isinstance(e, LMPError) else str(e)


def _work(job: tuple[str, str]) -> MovieResult:
    if not isinstance(_WORKER, Worker):
        return MovieResult(path=job[0], id=job[1], status="error", error=f"worker setup failed: {_WORKER}")
    return _WORKER.process(Path(job[0]), job[1])


def run_jobs(cfg: IngestConfig, jobs: list[tuple[Path, str]]) -> list[MovieResult]:
    """Ingest (path, id) jobs with cfg.workers processes; results in job order."""
    from tqdm import tqdm

    if not jobs:
        return []
    workers = min(cfg.workers, len(jobs))
    threads = cfg.threads or default_threads(workers)
    bar = tqdm(total=len(jobs), desc="ingest", unit="movie", disable=len(jobs) < 2)
    results: dict[str, MovieResult] = {}
    if workers == 1:
        worker = Worker(cfg, threads)
        for path, mid in jobs:
            results[mid] = worker.process(path, mid)
            bar.update()
    else:
        import multiprocessing as mp

        from lmp.config import to_dict

        # spawn, not fork: torch and the decoder threads are not fork-safe.
        with mp.get_context("spawn").Pool(workers, _init_worker, (to_dict(cfg), threads)) as pool:
            for res in pool.imap_unordered(_work, [(str(p), m) for p, m in jobs]):
                results[res.id] = res
                bar.update()
    bar.close()
    return [results[m] for _, m in jobs]


def ingest(cfg: IngestConfig) -> int:
    """Ingest movies into cfg.store; returns 1 if any movie failed (after trying all of them)."""
    from lmp.ingest.report import default_report_path, write_report

    started = time.time()
    if not cfg.paths:
        raise LMPError("lmp ingest: give at least one movie file or folder (lmp ingest PATH... --store DIR)")
    cfg.check_runnable()  # missing packages or weights: one line now, not an error per movie later
    missing = [str(p) for p in cfg.paths if not p.exists()]
    if missing:
        # Refused before anything is created: a mistyped path must not leave a new, empty store behind.
        raise LMPError(f"no such file or folder: {', '.join(missing)}")
    movies = discover(cfg.paths)
    if not movies:
        raise LMPError(f"no movie files ({', '.join(VIDEO_EXTS)}) under {', '.join(map(str, cfg.paths))}")
    for folder in cfg.paths:
        if folder.is_dir() and next(_videos_under(folder), None) is None:
            warnings.warn(f"no movie files ({', '.join(VIDEO_EXTS)}) under {folder}", LMPWarning, stacklevel=2)
    if cfg.subtitles is not None and cfg.subtitles.is_file() and len(movies) > 1:
        raise LMPError(f"--subtitles {cfg.subtitles} is one file but {len(movies)} movies were given; pass a folder")
    rank, world = shard()
    owner: dict[str, Path] = {}
    jobs: list[tuple[Path, str]] = []
    duplicates: list[MovieResult] = []
    for path in movies:
        mid = movie_id_for(path, cfg.id_scheme)
        if mid in owner:
            error = f"{path}: movie id {mid!r} is already used by {owner[mid]}; rename one"
            duplicates.append(MovieResult(path=str(path), id=mid, status="error", error=error))
            continue
        owner[mid] = path
        jobs.append((path, mid))
    mine = jobs[rank::world]
    results = run_jobs(cfg, mine) + [d for i, d in enumerate(duplicates) if i % world == rank]
    report_path = cfg.report or default_report_path(cfg.store, rank, world)
    if world > 1 and cfg.report is not None:
        report_path = report_path.with_name(f"{report_path.stem}-rank{rank}{report_path.suffix}")
    report = write_report(report_path, cfg, results, started, rank, world)
    s = report["summary"]
    speed = f", {s['speed_x_realtime']}x real time" if s["speed_x_realtime"] else ""
    print(f"ingest: {s['ok']} ok, {s['skipped']} skipped, {s['error']} failed{speed}; report {report_path}")
    for r in results:
        if r.status == "error":
            print(f"  FAILED {r.error}")
    return 1 if s["error"] else 0
