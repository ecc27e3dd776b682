"""On-disk layout of a feature store (documented for users in docs/feature-store.md).

    STORE/
      store.json            {"format": "lmp-store", "version": 1, "encoders": {modality: {name, dim}}}
      manifest.jsonl        one JSON record per movie; a later line for the same id replaces an earlier one
      movies/<id>/
        times.npy           float64 [S, 2]   shot start/end in seconds
        <modality>.npy      float16 [S, D]   frozen encoder features, one row per shot
        <modality>_mask.npy bool    [S]      True = the shot has this modality
      previews/<id>/        optional pictures for `lmp inspect` (written by `lmp ingest`, not checksummed)
      .staging.lock         writers hold it shared while they stage; cleaning up stages needs it exclusively

A movie becomes visible only when its manifest line is appended, newline included, which happens after
its directory was fully written and renamed into place; so readers never see half a movie.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from lmp.errors import StoreError

FORMAT_NAME = "lmp-store"
FORMAT_VERSION = 1
STORE_FILE = "store.json"
MANIFEST_FILE = "manifest.jsonl"
MOVIES_DIR = "movies"
PREVIEWS_DIR = "previews"
STAGING_LOCK = ".staging.lock"
TIMES_FIELD = "times"

_ID_RE = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,199}$")


def check_movie_id(movie_id: str) -> str:
    """Movie ids name directories, so they are restricted to a portable character set."""
    if not isinstance(movie_id, str) or not _ID_RE.fullmatch(movie_id) or movie_id in (".", ".."):
        raise StoreError(
            f"invalid movie id {movie_id!r}: use 1-200 characters from A-Z a-z 0-9 _ - . (not starting with '.')"
        )
    return movie_id


@dataclass(frozen=True)
class EncoderSpec:
    """Which frozen encoder produced a modality's features."""

    name: str
    """Registry name of the encoder, e.g. 'efficientnet-lite0'."""
    dim: int
    """Feature width D."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dim": int(self.dim)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> EncoderSpec:
        return cls(name=str(d["name"]), dim=int(d["dim"]))


@dataclass(frozen=True)
class FileInfo:
    sha256: str
    bytes: int
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class MovieRecord:
    """One manifest line: everything needed to open and check a movie without touching its arrays."""

    id: str
    duration: float
    num_shots: int
    encoders: dict[str, EncoderSpec]
    files: dict[str, FileInfo]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.encoders)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "duration": float(self.duration),
            "num_shots": int(self.num_shots),
            "encoders": {m: e.to_json() for m, e in self.encoders.items()},
            "files": {k: {**dataclasses.asdict(f), "shape": list(f.shape)} for k, f in self.files.items()},
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MovieRecord:
        return cls(
            id=check_movie_id(d["id"]),  # ids name directories: one like '../x' must not escape the store
            duration=float(d["duration"]),
            num_shots=int(d["num_shots"]),
            encoders={m: EncoderSpec.from_json(e) for m, e in d["encoders"].items()},
            files={
                k: FileInfo(sha256=f["sha256"], bytes=int(f["bytes"]), shape=tuple(f["shape"]), dtype=f["dtype"])
                for k, f in d["files"].items()
            },
            meta=dict(d.get("meta", {})),
        )
