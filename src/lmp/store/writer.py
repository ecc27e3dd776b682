"""Writing movies into a store: validated, atomic per movie, safe with concurrent writers and readers."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmp.atomic import OLD_PREFIX, atomic_write_bytes, leftovers, remove, stage_path, swap_dir, unswap_dir
from lmp.errors import LMPWarning, StoreError
from lmp.modality import MODALITIES, mask_key
from lmp.store.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST_FILE,
    MOVIES_DIR,
    PREVIEWS_DIR,
    STAGING_LOCK,
    STORE_FILE,
    TIMES_FIELD,
    EncoderSpec,
    FileInfo,
    MovieRecord,
    check_movie_id,
)
from lmp.store.manifest import locked, movie_hint, read_tail


@dataclass
class MovieFeatures:
    """A movie's shot-level features, ready to write. Arrays are converted to the store dtypes."""

    id: str
    times: np.ndarray
    """float [S, 2]: shot start/end in seconds."""
    features: dict[str, np.ndarray]
    """modality -> float [S, D]."""
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    """modality -> bool [S], True = present. A modality without a mask is present in every shot."""
    duration: float | None = None
    """Movie length in seconds; defaults to the end of the last shot."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Free-form JSON-able metadata (source path, content hash, ingest config hash, ...)."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_store_json(root: Path) -> dict[str, Any]:
    path = root / STORE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise StoreError(f"{root}: not a feature store (no {STORE_FILE})") from None
    except (OSError, json.JSONDecodeError) as e:
        raise StoreError(f"{path}: unreadable ({e})") from None
    if data.get("format") != FORMAT_NAME:
        raise StoreError(f"{path}: not an lmp store (format={data.get('format')!r})")
    if int(data.get("version", -1)) > FORMAT_VERSION:
        raise StoreError(f"{path}: store version {data['version']} is newer than this lmp supports ({FORMAT_VERSION})")
    return data


def _describe(encoders: Mapping[str, EncoderSpec]) -> str:
    return ", ".join(f"{m}={e.name}({e.dim})" for m, e in encoders.items())


class StoreWriter:
    """Creates a store on first use and appends movies to it.

    Several writers (processes or machines sharing a filesystem) may write the same store at once:
    each movie is staged in a private directory, renamed into place, and only then announced by one
    manifest line appended under an exclusive file lock. A new writer first deletes the staging
    directories that crashed writers left behind.
    """

    def __init__(self, root: str | os.PathLike, encoders: Mapping[str, EncoderSpec]):
        self.root = Path(root)
        unknown = [m for m in encoders if m not in MODALITIES]
        if unknown:
            raise StoreError(f"{self.root}: unknown modality {unknown}; choose from {list(MODALITIES)}")
        self.encoders = {m: encoders[m] for m in MODALITIES if m in encoders}
        if not self.encoders:
            raise StoreError(f"{self.root}: a store needs at least one modality")
        (self.root / MOVIES_DIR).mkdir(parents=True, exist_ok=True)
        self._init_store_json()
        self._remove_stale_stages()

    def _init_store_json(self) -> None:
        path = self.root / STORE_FILE
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "encoders": {m: e.to_json() for m, e in self.encoders.items()},
        }
        if not path.exists():
            # O_EXCL-like: write to a temp file, then link it; the first writer wins, others compare.
            tmp = self.root / f".store.{uuid.uuid4().hex[:8]}.tmp"
            atomic_write_bytes(tmp, json.dumps(header, indent=2).encode())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        existing = read_store_json(self.root)
        have = {m: EncoderSpec.from_json(e) for m, e in existing["encoders"].items()}
        if have != self.encoders:
            raise StoreError(
                f"{self.root}: store was built with [{_describe(have)}] but this writer has "
                f"[{_describe(self.encoders)}]; use a new store directory for different encoders"
            )

    @contextlib.contextmanager
    def staging(self) -> Iterator[None]:
        """Hold the store's staging lock (shared) while something is built under a `.tmp-` name, so
        that no other writer takes it for a crash's leftover and deletes it."""
        with locked(self.root / STAGING_LOCK, "ab", fcntl.LOCK_SH):
            yield

    def _remove_stale_stages(self) -> None:
        """Delete the staging directories crashed writers left in movies/ and previews/. Only when no
        writer is staging (the lock is free): then every stage is stale. Otherwise a later writer will."""
        try:
            with locked(self.root / STAGING_LOCK, "ab", fcntl.LOCK_EX | fcntl.LOCK_NB):
                self._repair_interrupted_rewrites()
                stale = stages(self.root)
                for path in stale:
                    remove(path)
        except BlockingIOError:
            return
        if stale:
            names = ", ".join(str(p.relative_to(self.root)) for p in stale)
            warnings.warn(f"{self.root}: removed {len(stale)} staging directories left by interrupted writes ({names})",
                          LMPWarning, stacklevel=3)

    def _validate(self, movie: MovieFeatures) -> tuple[dict[str, np.ndarray], float]:
        mid = check_movie_id(movie.id)
        times = np.asarray(movie.times, dtype=np.float64)
        if times.ndim != 2 or times.shape[1] != 2 or times.shape[0] == 0:
            raise StoreError(f"movie {mid}: times must have shape [S>0, 2], got {list(times.shape)}")
        if not np.isfinite(times).all() or (times < 0).any():
            raise StoreError(f"movie {mid}: times must be finite and non-negative")
        if (times[:, 1] < times[:, 0]).any():
            raise StoreError(f"movie {mid}: a shot ends before it starts (times[:,1] < times[:,0])")
        if (np.diff(times[:, 0]) < 0).any():
            raise StoreError(f"movie {mid}: shots must be sorted by start time")
        num_shots = times.shape[0]
        arrays: dict[str, np.ndarray] = {TIMES_FIELD: times}
        extra = sorted(set(movie.features) - set(self.encoders))
        if extra:
            raise StoreError(f"movie {mid}: modality {extra} is not in this store ({_describe(self.encoders)})")
        for m, spec in self.encoders.items():
            if m not in movie.features:
                raise StoreError(
                    f"movie {mid}: missing '{m}' features; pass zeros with an all-False mask for an absent modality"
                )
            x = np.asarray(movie.features[m])
            if x.shape != (num_shots, spec.dim):
                raise StoreError(f"movie {mid}: '{m}' has shape {list(x.shape)}, expected [{num_shots}, {spec.dim}]")
            with np.errstate(over="ignore"):  # overflow is reported below as an error naming the field
                x16 = x.astype(np.float16)
            if not np.isfinite(x16).all():
                raise StoreError(f"movie {mid}: '{m}' has NaN/inf values (or values beyond float16 range)")
            mask = movie.masks.get(m)
            mask = np.ones(num_shots, dtype=bool) if mask is None else np.asarray(mask)
            if mask.shape != (num_shots,) or mask.dtype != np.bool_:
                raise StoreError(
                    f"movie {mid}: '{mask_key(m)}' must be bool [{num_shots}], got {mask.dtype} {list(mask.shape)}"
                )
            arrays[m] = x16
            arrays[mask_key(m)] = mask
        extra_masks = sorted(set(movie.masks) - set(self.encoders))
        if extra_masks:
            raise StoreError(f"movie {mid}: mask for unknown modality {extra_masks}")
        duration = float(movie.duration) if movie.duration is not None else float(times[-1, 1])
        if not np.isfinite(duration) or duration < 0:
            raise StoreError(f"movie {mid}: invalid duration {movie.duration!r}")
        return arrays, duration

    def write(self, movie: MovieFeatures) -> MovieRecord:
        """Validate and write one movie atomically; returns its manifest record."""
        arrays, duration = self._validate(movie)
        try:
            json.dumps(movie.meta)
        except TypeError as e:
            raise StoreError(f"movie {movie.id}: meta is not JSON-serialisable ({e})") from None
        with self.staging():
            final = self.root / MOVIES_DIR / movie.id
            stage = stage_path(final)
            stage.mkdir()
            try:
                files = {}
                for name, arr in arrays.items():
                    path = stage / f"{name}.npy"
                    with open(path, "wb") as f:
                        np.save(f, np.ascontiguousarray(arr))
                        f.flush()
                        os.fsync(f.fileno())
                    files[name] = FileInfo(sha256_file(path), path.stat().st_size, tuple(arr.shape), str(arr.dtype))
            except BaseException:
                shutil.rmtree(stage, ignore_errors=True)
                raise
            record = MovieRecord(
                id=movie.id,
                duration=duration,
                num_shots=int(arrays[TIMES_FIELD].shape[0]),
                encoders=dict(self.encoders),
                files=files,
                meta=dict(movie.meta),
            )
            trash = self._commit(stage, final, record)
            if trash is not None:
                # Readers that already mapped the old files keep them alive until they close them.
                shutil.rmtree(trash, ignore_errors=True)
        return record

    def _commit(self, stage: Path, final: Path, record: MovieRecord) -> Path | None:
        """Swap the staged movie into place and append its record as one step; returns the moved-aside old
        directory (None for a new movie). Both happen under the manifest's exclusive lock, so two writers of
        one id cannot interleave (the last record always names the files on disk), and a failed append puts
        the old files back: a record and its files change together or not at all. A crash between the two
        leaves a `.old-` directory that the next writer restores (`_repair_interrupted_rewrites`)."""
        path = self.root / MANIFEST_FILE
        with locked(path, "a+b", fcntl.LOCK_EX) as f:
            try:
                trash = swap_dir(stage, final)
            except BaseException:
                shutil.rmtree(stage, ignore_errors=True)
                raise
            try:
                self._append_locked(f, path, record)
            except BaseException:
                unswap_dir(final, trash)
                raise
        return trash

    def _append_locked(self, f, path: Path, record: MovieRecord) -> None:
        """Append one record to the manifest `f` (open at `path`, held under an exclusive lock)."""
        line = json.dumps(record.to_json(), separators=(",", ":")) + "\n"
        offset, tail = read_tail(f)
        if tail:
            # Under the lock, bytes after the last newline can only be a record torn by a crash:
            # never committed, and appending onto it would glue the new record to it.
            warnings.warn(f"{path}: dropped a torn record at byte {offset}{movie_hint(tail)} left by an "
                          "interrupted write; re-ingest that movie", LMPWarning, stacklevel=4)
            f.truncate(offset)
        f.write(line.encode())
        f.flush()
        os.fsync(f.fileno())

    def _repair_interrupted_rewrites(self) -> None:
        """Put a movie's committed files back where a rewrite crashed between its swap and its record.

        Called with no writer staging (the staging lock held exclusively): a `.old-<id>-*` directory in
        movies/ is then the previous files of a rewrite that was interrupted. If the files now at
        movies/<id> are not the ones the manifest's last record of <id> names (the new record was never
        appended) and the old directory's are, the old directory goes back into place."""
        movies = self.root / MOVIES_DIR
        olds = [p for p in leftovers(movies) if p.name.startswith(OLD_PREFIX)]
        if not olds:
            return
        from lmp.store.reader import FeatureStore  # the reader imports this module

        committed = FeatureStore(self.root)  # the manifest's last record of each id, as readers see it
        for old in olds:
            movie_id = old.name[len(OLD_PREFIX) :].rsplit("-", 1)[0]
            record = committed.record(movie_id) if movie_id in committed else None
            final = movies / movie_id
            if record is None or _holds(final, record) or not _holds(old, record):
                continue  # nothing committed to restore: the cleanup that follows deletes it
            if final.exists():
                unswap_dir(final, old)
            else:  # the crash came between swap_dir's two renames
                os.rename(old, final)
            warnings.warn(f"{self.root}: movie {movie_id!r}: restored its committed files, which an interrupted "
                          "rewrite had moved aside", LMPWarning, stacklevel=4)


def _holds(directory: Path, record: MovieRecord) -> bool:
    """Whether `directory` holds exactly the files `record` names (sizes, then checksums)."""
    paths = {name: directory / f"{name}.npy" for name in record.files}
    if not all(p.is_file() and p.stat().st_size == record.files[n].bytes for n, p in paths.items()):
        return False
    return all(sha256_file(p) == record.files[n].sha256 for n, p in paths.items())


def stages(root: Path) -> list[Path]:
    """Staging and moved-aside directories in movies/ and previews/: a crash's leftovers, unless a
    writer holding the staging lock is using them right now."""
    return leftovers(root / MOVIES_DIR) + leftovers(root / PREVIEWS_DIR)

