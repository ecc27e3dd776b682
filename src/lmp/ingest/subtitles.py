"""Subtitles: read .srt / .vtt files robustly and assign dialogue to shots.

    cues, problems = read_subtitles("movie.srt")        # [Cue(start, end, text)], ["line 12: ..."]
    per_shot = assign_dialogue(cues, shot_times)         # one string per shot ("" = no dialogue)

Robustness (what real subtitle files do):
* encodings: a BOM decides (UTF-8/16/32); else UTF-16 without BOM is recognised by its NUL bytes;
  else UTF-8; else Windows-1252 (a superset of Latin-1 that never fails). `encoding=` forces one.
* markup: HTML tags (<i>, <font ...>), WebVTT tags (<v Speaker>, <c.x>, inline timestamps), ASS/SSA
  override blocks ({\\an8}, {\\i1}) and \\N line breaks are removed; HTML entities are unescaped.
* malformed cues (bad timestamps, end before start, missing text) are skipped and listed in
  `problems`, which the run report records; they never fail the movie.
* overlapping cues are kept; a shot's dialogue is the text of its cues in start order, with a line
  repeated by consecutive cues (roll-up captions) kept once.
"""

from __future__ import annotations

import codecs
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmp.errors import LMPError

SUBTITLE_EXTS = (".srt", ".vtt")


class SubtitleError(LMPError):
    """A subtitle file cannot be read at all (missing, unreadable, no cue); names the file."""


@dataclass(frozen=True)
class Cue:
    start: float
    """Seconds."""
    end: float
    text: str


_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_TIMING_RE = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAG_RE = re.compile(r"<[^>]*>")
_ASS_RE = re.compile(r"\{\\[^}]*\}")
_SPACE_RE = re.compile(r"\s+")


def decode_bytes(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Subtitle bytes -> (text, encoding used). See the module docstring for the order tried."""
    if encoding:
        return data.decode(encoding, errors="replace"), encoding
    for bom, enc in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(enc, errors="replace"), enc
    head = data[:200]
    if len(head) >= 4 and head.count(0) >= len(head) // 4:
        # ASCII-range text in UTF-16 has a NUL in every other byte; which half tells the byte order.
        enc = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        return data.decode(enc, errors="replace"), enc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


def clean_text(text: str) -> str:
    """Strip HTML/WebVTT/ASS markup and collapse whitespace into single spaces."""
    text = text.replace("\\N", " ").replace("\\n", " ").replace("\\h", " ")
    text = _ASS_RE.sub("", text)
    text = _TAG_RE.sub("", text)
    text = html.unescape(text).replace("\u00a0", " ")
    return _SPACE_RE.sub(" ", text).strip()


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def parse_subtitles(text: str, where: str = "subtitles") -> tuple[list[Cue], list[str]]:
    """Parse SRT or WebVTT text -> (cues sorted by start, problems). Tolerant of missing blank lines,
    missing indices, '.' vs ',' and extra cue settings after the timing."""
    cues: list[Cue] = []
    problems: list[str] = []
    current: tuple[float, float, int] | None = None
    lines: list[str] = []
    skipping_block = False
    orphans: list[tuple[int, str]] = []  # text outside cues: a cue identifier if a timing line follows

    def close() -> None:
        nonlocal current, lines
        if current is not None:
            start, end, lineno = current
            body = clean_text(" ".join(lines))
            if not body:
                problems.append(f"{where}: line {lineno}: cue has no text")
            elif end <= start:
                problems.append(f"{where}: line {lineno}: cue ends ({end:.3f} s) before it starts ({start:.3f} s)")
            else:
                cues.append(Cue(start, end, body))
        current, lines = None, []

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            close()
            problems.extend(f"{where}: line {n}: text outside any cue {t[:60]!r}" for n, t in orphans)
            orphans.clear()
            skipping_block = False
            continue
        if skipping_block:
            continue
        m = _TIMING_RE.match(line)
        if m:
            # An index line right before the timing line was taken as text of the previous cue.
            if lines and lines[-1].strip().isdigit():
                lines.pop()
            close()
            orphans.clear()
            g = m.groups()
            current = (_seconds(*g[:4]), _seconds(*g[4:]), lineno)
            continue
        if "-->" in line:
            close()
            problems.append(f"{where}: line {lineno}: malformed timing {line[:60]!r}")
            skipping_block = True
            continue
        if current is not None:
            lines.append(line)
        elif line.startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
            skipping_block = not line.startswith("WEBVTT")
        elif not line.isdigit():
            orphans.append((lineno, line))
    close()
    problems.extend(f"{where}: line {n}: text outside any cue {t[:60]!r}" for n, t in orphans)
    cues.sort(key=lambda c: (c.start, c.end))
    return cues, problems


def read_subtitles(path: str | os.PathLike, encoding: str | None = None) -> tuple[list[Cue], list[str]]:
    """Read an .srt/.vtt file -> (cues, problems). Raises SubtitleError if nothing usable is in it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SubtitleError(f"{path}: cannot read subtitles ({e})") from None
    text, _ = decode_bytes(data, encoding)
    cues, problems = parse_subtitles(text, where=str(path))
    if not cues:
        detail = f" ({problems[0]})" if problems else ""
        raise SubtitleError(f"{path}: no valid subtitle cue found{detail}")
    return cues, problems


def find_subtitles(video: str | os.PathLike, search_dir: str | os.PathLike | None = None) -> Path | None:
    """The subtitle file for a video: `<stem>.srt|.vtt`, else `<stem>.<lang>.srt|.vtt` (English
    first, then alphabetical), next to the video or in `search_dir`."""
    video = Path(video)
    folder = Path(search_dir) if search_dir is not None else video.parent
    for ext in SUBTITLE_EXTS:
        if (folder / f"{video.stem}{ext}").is_file():
            return folder / f"{video.stem}{ext}"
    tagged = sorted(p for p in folder.glob(f"{glob_escape(video.stem)}.*") if p.suffix.lower() in SUBTITLE_EXTS)
    tagged.sort(key=lambda p: (not p.stem.lower().endswith((".en", ".eng")), p.name))
    return tagged[0] if tagged else None


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def assign_dialogue(cues: list[Cue], shot_times: np.ndarray, min_overlap: float = 0.25) -> list[str]:
    """Dialogue per shot. shot_times: float [S, 2] (start, end) in seconds.

    A cue goes to every shot it overlaps by at least `min_overlap` seconds, and always to the shot it
    overlaps most (so a short cue is never lost, and a line spoken across a cut belongs to both shots).
    """
    per_shot: list[list[str]] = [[] for _ in range(len(shot_times))]
    starts = shot_times[:, 0]
    ends = shot_times[:, 1]
    for cue in cues:
        overlap = np.minimum(ends, cue.end) - np.maximum(starts, cue.start)  # [S]
        if len(overlap) == 0 or overlap.max() <= 0:
            continue
        hit = set(np.flatnonzero(overlap >= min_overlap).tolist()) | {int(overlap.argmax())}
        for s in sorted(hit):
            if not per_shot[s] or per_shot[s][-1] != cue.text:
                per_shot[s].append(cue.text)
    return [" ".join(t) for t in per_shot]
