"""`manifest.jsonl`: one JSON record per line, appended under an exclusive `flock`.

Commit rule: a record counts once its whole line, newline included, is in the file. Writers append
whole lines under the lock, so bytes after the last newline are either a writer mid-append (seen
without the lock) or a torn record left by a crash (seen under the lock). The next writer drops a
torn tail before appending, so every record starts on a fresh line; readers skip a damaged line
(with a warning naming its byte offset) instead of failing the whole store.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lmp.errors import StoreError
from lmp.store.format import MovieRecord

_ID_RE = re.compile(rb'^\s*\{\s*"id"\s*:\s*"([^"\\]{1,200})"')
_TAIL_BLOCK = 1 << 16


def movie_hint(line: bytes) -> str:
    """' (movie ID)' when the start of a (possibly torn) record still names its movie, else ''."""
    m = _ID_RE.match(line)
    return f" (movie {m.group(1).decode(errors='replace')!r})" if m else ""


def parse_record(line: bytes, where: str) -> MovieRecord:
    """One manifest line -> MovieRecord, validated as the writer validates it (ids included).
    Raises StoreError naming `where` and, when it can be read, the movie id."""
    try:
        return MovieRecord.from_json(json.loads(line))
    except (ValueError, KeyError, TypeError, AttributeError, StoreError) as e:
        raise StoreError(f"{where}{movie_hint(line)}: {e}") from None


def complete_lines(data: bytes, start: int) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line) for every newline-terminated line of `data`, which begins at offset `start`."""
    pos = 0
    while (end := data.find(b"\n", pos)) >= 0:
        yield start + pos, data[pos:end]
        pos = end + 1


def read_tail(f: BinaryIO) -> tuple[int, bytes]:
    """(offset, bytes) after the last newline of an open manifest: b"" when it ends cleanly."""
    pos = f.seek(0, os.SEEK_END)
    tail = b""
    while pos > 0:
        step = min(pos, _TAIL_BLOCK)
        pos -= step
        f.seek(pos)
        tail = f.read(step) + tail
        if (cut := tail.rfind(b"\n")) >= 0:
            return pos + cut + 1, tail[cut + 1 :]
    return 0, tail


@contextlib.contextmanager
def locked(path: Path, mode: str, how: int) -> Iterator[BinaryIO]:
    """`open(path, mode)` holding `flock(how)` (fcntl.LOCK_EX to append, LOCK_SH to read the tail)."""
    with open(path, mode) as f:
        fcntl.flock(f, how)
        try:
            yield f
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def torn_tail(path: Path) -> str | None:
    """Why the manifest's last bytes are a torn record, or None when it ends cleanly. Read under a
    shared lock, so a writer mid-append is waited for rather than reported."""
    if not path.exists():
        return None
    with locked(path, "rb", fcntl.LOCK_SH) as f:
        offset, tail = read_tail(f)
    if not tail:
        return None
    return (
        f"{path}: torn record at byte {offset}{movie_hint(tail)}: {len(tail)} bytes without a newline, "
        "left by an interrupted write (the next write drops it; re-ingest that movie)"
    )
