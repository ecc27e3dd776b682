"""Reading a store: the manifest is loaded once, arrays are memory-mapped lazily per movie.

Opening a store parses `manifest.jsonl` only (no array is touched), so 10,000 movies open in well
under a second. A window read slices memory maps, costing O(window) I/O, never O(movie).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from lmp.errors import LMPWarning, StoreError
from lmp.modality import mask_key
from lmp.store.format import MANIFEST_FILE, MOVIES_DIR, TIMES_FIELD, EncoderSpec, MovieRecord
from lmp.store.manifest import complete_lines, parse_record, torn_tail
from lmp.store.writer import read_store_json, sha256_file


class FeatureStore:
    """Read-only view of a feature store directory. Call `refresh()` to see movies added since opening."""

    def __init__(self, root: str | os.PathLike, *, max_open_movies: int = 512):
        self.root = Path(root)
        header = read_store_json(self.root)
        self.encoders: dict[str, EncoderSpec] = {m: EncoderSpec.from_json(e) for m, e in header["encoders"].items()}
        self._records: dict[str, MovieRecord] = {}
        self.skipped: list[str] = []
        """Damaged manifest records passed over by `refresh`, one message each."""
        self._offset = 0
        self._maps: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()
        self._max_open = max_open_movies
        self.refresh()

    # -- manifest ---------------------------------------------------------------------------------
    def refresh(self) -> int:
        """Read manifest lines appended since the last call; returns how many records were read.

        A damaged line (bad JSON, a torn record, an invalid id) is skipped with a warning naming its
        byte offset and listed in `skipped`: one bad record must not make the whole store unreadable."""
        path = self.root / MANIFEST_FILE
        if not path.exists():
            return 0
        with open(path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        # A writer may be mid-append: only complete lines count; the tail is read next time.
        count = 0
        for offset, line in complete_lines(data, self._offset):
            if not line.strip():
                continue
            try:
                record = parse_record(line, f"{path}: corrupt record at byte {offset}")
            except StoreError as e:
                self.skipped.append(str(e))
                warnings.warn(f"{e}; skipped it", LMPWarning, stacklevel=2)
                continue
            self._records[record.id] = record
            self._maps.pop(record.id, None)  # a rewritten movie must be re-mapped
            count += 1
        self._offset += data.rfind(b"\n") + 1
        return count

    @property
    def ids(self) -> list[str]:
        return list(self._records)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.encoders)

    @property
    def dims(self) -> dict[str, int]:
        return {m: e.dim for m, e in self.encoders.items()}

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, movie_id: object) -> bool:
        return movie_id in self._records

    def record(self, movie_id: str) -> MovieRecord:
        try:
            return self._records[movie_id]
        except KeyError:
            raise StoreError(f"{self.root}: no movie {movie_id!r} in the store") from None

    def num_shots(self, movie_id: str) -> int:
        return self.record(movie_id).num_shots

    def fingerprint(self, ids: list[str] | None = None) -> str:
        """sha256 over the movies `ids` (default: all) and the checksums of their files, in id order: equal
        for two stores (e.g. a subset view and its source) exactly when they hold the same data for them."""
        content = {
            i: sorted((name, f.sha256) for name, f in self.record(i).files.items())
            for i in sorted(self.ids if ids is None else ids)
        }
        return hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()

    # -- arrays -----------------------------------------------------------------------------------
    def _open(self, movie_id: str) -> dict[str, np.ndarray]:
        maps = self._maps.get(movie_id)
        if maps is not None:
            self._maps.move_to_end(movie_id)
            return maps
        record = self.record(movie_id)
        maps = {}
        for name, info in record.files.items():
            path = self.root / MOVIES_DIR / movie_id / f"{name}.npy"
            try:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            except FileNotFoundError:
                raise StoreError(self._missing(movie_id, name, path)) from None
            except (ValueError, OSError) as e:
                raise StoreError(f"movie {movie_id}: field '{name}' is corrupt or truncated ({path}: {e})") from None
            if tuple(arr.shape) != tuple(info.shape) or str(arr.dtype) != info.dtype:
                raise StoreError(
                    f"movie {movie_id}: field '{name}' has {arr.dtype}{list(arr.shape)}, "
                    f"manifest says {info.dtype}{list(info.shape)}"
                )
            maps[name] = arr
        self._maps[movie_id] = maps
        while len(self._maps) > self._max_open:
            self._maps.popitem(last=False)
        return maps

    def read(
        self, movie_id: str, start: int = 0, stop: int | None = None, modalities: tuple[str, ...] | None = None
    ) -> dict[str, np.ndarray]:
        """Shots [start, stop) of a movie as in-memory arrays: times [n,2], <m> float16 [n,D], <m>_mask bool [n]."""
        maps = self._open(movie_id)
        n = maps[TIMES_FIELD].shape[0]
        stop = n if stop is None else stop
        if not 0 <= start <= stop <= n:
            raise StoreError(f"movie {movie_id}: window [{start}, {stop}) is outside its {n} shots")
        out = {TIMES_FIELD: np.array(maps[TIMES_FIELD][start:stop])}
        for m in modalities or self.modalities:
            if m not in maps:
                raise StoreError(f"movie {movie_id}: store has no modality '{m}' (it has {list(self.modalities)})")
            out[m] = np.array(maps[m][start:stop])
            out[mask_key(m)] = np.array(maps[mask_key(m)][start:stop])
        for name, x in out.items():
            # The writer refuses NaN/inf, so any here is damage done later (flipped bytes); name it now
            # rather than let it surface far away as a non-finite training loss. Cheap: O(window).
            if x.dtype != np.bool_ and not np.isfinite(x).all():
                raise StoreError(
                    f"movie {movie_id}: field '{name}' has NaN/inf values in shots [{start}, {stop}); "
                    f"the file is damaged (run `lmp store verify {self.root}`)"
                )
        return out

    def _missing(self, movie_id: str, name: str, path: Path) -> str:
        """Why a field's file is not there: a view's movie link whose source store moved, or the file itself."""
        movie_dir = path.parent
        if movie_dir.is_symlink() and not movie_dir.exists():
            return (
                f"movie {movie_id}: its directory {movie_dir} links to {os.readlink(movie_dir)}, which does not "
                "exist (a store view whose source store was moved or removed: build the view again)"
            )
        return f"movie {movie_id}: field '{name}' is missing ({path})"

    # -- integrity --------------------------------------------------------------------------------
    def verify_movie(self, movie_id: str) -> list[str]:
        """Problems with one movie (empty list if it is intact): shapes, dtypes, checksums, values."""
        record = self.record(movie_id)
        problems = []
        for name, info in record.files.items():
            path = self.root / MOVIES_DIR / movie_id / f"{name}.npy"
            if not path.exists():
                problems.append(self._missing(movie_id, name, path))
                continue
            if path.stat().st_size != info.bytes:
                problems.append(
                    f"movie {movie_id}: field '{name}' has {path.stat().st_size} bytes, expected {info.bytes}"
                )
                continue
            if sha256_file(path) != info.sha256:
                problems.append(f"movie {movie_id}: field '{name}' checksum mismatch")
        if not problems:
            try:
                self._maps.pop(movie_id, None)
                self._open(movie_id)
            except StoreError as e:
                problems.append(str(e))
        for name, info in record.files.items():
            if name != TIMES_FIELD and not name.endswith("_mask") and info.shape[0] != record.num_shots:
                problems.append(
                    f"movie {movie_id}: field '{name}' has {info.shape[0]} rows, movie has {record.num_shots} shots"
                )
        return problems

    def manifest_problems(self) -> list[str]:
        """Damaged manifest records: the ones `refresh` skipped, and a torn last record."""
        torn = torn_tail(self.root / MANIFEST_FILE)
        return self.skipped + ([torn] if torn else [])

    def verify(self) -> dict[str, list[str]]:
        """Problems per broken movie; an empty dict means the whole store is intact."""
        return {mid: p for mid in self.ids if (p := self.verify_movie(mid))}

    def summary(self) -> dict[str, Any]:
        shots = [r.num_shots for r in self._records.values()]
        return {
            "root": str(self.root),
            "movies": len(self._records),
            "shots": int(sum(shots)),
            "hours": round(sum(r.duration for r in self._records.values()) / 3600, 3),
            "encoders": {m: e.to_json() for m, e in self.encoders.items()},
        }
