"""Subtitles: read .srt / .vtt / .ass / .ssa / MicroDVD .sub files robustly and assign dialogue to shots.

    cues, problems = read_subtitles("movie.srt")        # [Cue(start, end, text)], ["movie.srt: line 12: ..."]
    cues, problems = read_subtitles("movie.sub", fps=23.976)   # MicroDVD counts frames: the video's fps
    per_shot = assign_dialogue(cues, shot_times)         # one string per shot ("" = no dialogue)

Parsing is pysubs2's (extra `ingest`): timestamps, cue text, ASS/SSA sections and fields, MicroDVD frames
and style codes. lmp keeps a thin layer around it for what pysubs2 does not do:
* encodings: pysubs2 decodes with the one codec it is given. A BOM decides (UTF-8/16/32); else UTF-16
  without BOM is recognised by its NUL bytes; else UTF-8; else Windows-1252 (a superset of Latin-1 that
  never fails). `encoding=` forces one.
* structure checks with line numbers: pysubs2 reports no malformed cue and no line number. Its SRT/WebVTT
  reader takes everything between two timing lines as the first one's text, so a cue with a broken timing
  line, a WebVTT NOTE block or a cue identifier would be glued onto the cue before it, and a caption line
  with two inline timestamps would be read as a timing line. A pass over the lines finds timing lines,
  blanks everything that is not cue text, and remembers each cue's line; ASS Dialogue lines with a bad
  timestamp (on which pysubs2 fails the whole file) and stray lines of MicroDVD files are handled alike.
* markup: what pysubs2 leaves (HTML entities, WebVTT inline timestamps, ASS override blocks and \\N in
  SRT text) is removed by `clean_text`; whitespace is collapsed.
* malformed cues (bad timestamps, end before start, missing text, stray text) are skipped and listed in
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
from typing import Any

import numpy as np

from lmp.errors import LMPError

SUBTITLE_EXTS = (".srt", ".vtt", ".ass", ".ssa", ".sub")
"""Extensions `find_subtitles` looks for, in this order of preference."""
FORMATS = ("srt", "vtt", "ass", "ssa", "microdvd")
"""pysubs2 format names lmp reads."""
_EXT_FORMAT = {".srt": "srt", ".vtt": "vtt", ".ass": "ass", ".ssa": "ssa", ".sub": "microdvd"}
_VOBSUB_MAGIC = b"\x00\x00\x01\xba"  # MPEG program stream pack header: a VobSub .sub holds pictures, not text


class SubtitleError(LMPError):
    """A subtitle file cannot be read at all (missing, unreadable, no cue); names the file."""


@dataclass(frozen=True)
class Cue:
    start: float
    """Seconds."""
    end: float
    text: str


_TAG_RE = re.compile(r"<[^>]*>")
_NEGATIVE_TIME_RE = re.compile(r"(^|[\s>])-\s*\d")
"""A minus sign before a timing line's timestamp (never meant as a dash there)."""
_ASS_RE = re.compile(r"\{\\[^}]*\}")
_SPACE_RE = re.compile(r"\s+")
_INLINE_TIME_RE = re.compile(r"<\d[\d:.]*>")  # WebVTT karaoke timestamps inside cue text


def _pysubs2() -> Any:
    try:
        import pysubs2
    except ImportError:
        # Not a SubtitleError: the pipeline turns those into a per-movie warning, and a missing package would
        # then silently strip the dialogue from every movie.
        raise LMPError("reading subtitles needs pysubs2: pip install 'lmp[ingest]' (or pip install pysubs2)") from None
    return pysubs2


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


def detect_format(text: str, suffix: str = "") -> str:
    """The pysubs2 format of subtitle text: from its content (a mislabelled extension is common), else from
    `suffix` (e.g. '.srt'), else 'srt'. pysubs2 reads SRT and WebVTT with the same code and different timestamp
    patterns, so of the two the one whose pattern matches more timing lines wins (.srt files holding WebVTT cues
    exist). Ties go to SRT: its pattern also takes '.', and it scales short fractions ('1.5' = 1,500 ms) where
    pysubs2's WebVTT one reads '01.50' as 1,050 ms."""
    formats = _pysubs2().formats
    by_ext = _EXT_FORMAT.get(suffix.lower())
    try:
        fmt = formats.autodetect_format(text[:10000])
    except formats.FormatAutodetectionError as e:
        found = [f for f in e.formats if f in FORMATS]
        if not found and "[Events]" in text:
            found = ["ass"]  # pysubs2 looks for the styles section, which an ASS file may lack
        fmt = by_ext if by_ext in found or not found else found[0]
    fmt = fmt if fmt in FORMATS else by_ext or "srt"
    if fmt in ("srt", "vtt"):
        timing = [line for line in text.splitlines() if "-->" in line]
        hits = {f: sum(len(formats.get_format_class(f).TIMESTAMP.findall(t)) == 2 for t in timing)
                for f in ("srt", "vtt")}
        fmt = "srt" if hits["srt"] >= hits["vtt"] else "vtt"
    return fmt


def _srt_structure(lines: list[str], timestamp: re.Pattern[str]) -> tuple[list[str], list[int], list[str]]:
    """SRT/WebVTT lines -> (lines for pysubs2: cue timing and text only, others blanked so that line numbers
    stay; the line number of each cue; problems). `timestamp` is the pysubs2 pattern of the format."""
    out = [""] * len(lines)
    cue_lines: list[int] = []
    problems: list[str] = []
    state = "between"  # "cue": after a timing line in its block; "skip": rest of a block that is dropped
    pending: list[tuple[int, str]] = []  # text outside cues: a cue identifier if a timing line follows

    def stray() -> None:
        problems.extend(f"line {n}: text outside any cue {t[:60]!r}" for n, t in pending)
        pending.clear()

    for i, raw in enumerate(lines):
        n, line = i + 1, raw.strip().lstrip("\ufeff")
        if not line:
            stray()
            state = "between"
            continue
        if "-->" in line:
            pending.clear()
            if _NEGATIVE_TIME_RE.search(line):  # pysubs2 drops the sign: -00:00:01,000 would read as 1 s
                problems.append(f"line {n}: negative timestamp {line[:60]!r}")
                state = "skip"
            elif len(timestamp.findall(line)) == 2:
                out[i], state = line, "cue"
                cue_lines.append(n)
            else:
                problems.append(f"line {n}: malformed timing {line[:60]!r}")
                state = "skip"
        elif state == "cue":
            # pysubs2 takes any line with two timestamps for a timing line: karaoke text must lose its own.
            out[i] = _INLINE_TIME_RE.sub("", line)
        elif state == "between":
            if not pending and line.startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
                state = "skip"
            elif not line.isdigit():
                pending.append((n, line))
    stray()
    return out, cue_lines, problems


def _ass_structure(lines: list[str]) -> tuple[list[str], list[int], list[str]]:
    """ASS/SSA lines -> (lines for pysubs2, the line number of each Dialogue/Comment event, problems). pysubs2
    fails the whole file on one bad timestamp or Style field, so bad Dialogue lines are dropped here and
    Style lines always (they only style the text, which lmp does not render)."""
    ts = _pysubs2().time
    out = list(lines)
    event_lines: list[int] = []
    problems: list[str] = []
    for i, raw in enumerate(lines):
        line = raw.strip()
        if line.startswith("Style:"):
            out[i] = ""
        elif line.startswith(("Dialogue:", "Comment:")):
            fields = line.split(":", 1)[1].split(",", 9)
            stamps = [f.strip().lstrip("-") for f in fields[1:3]]
            if len(stamps) == 2 and all(ts.TIMESTAMP.match(s) or ts.TIMESTAMP_SHORT.match(s) for s in stamps):
                event_lines.append(i + 1)
            else:
                out[i] = ""
                problems.append(f"line {i + 1}: malformed event {line[:60]!r}")
    return out, event_lines, problems


def _microdvd_structure(
    lines: list[str], fps: float | None
) -> tuple[list[str], list[int], list[str], float | None, float | None]:
    """MicroDVD lines -> (lines for pysubs2, the line number of each cue, problems, fps to give pysubs2, fps
    the file declares). A first cue `{1}{1}25.000` declares the frame rate (VLC's convention); it wins over
    the video's, as the frame numbers were counted at it; pysubs2 reads it itself when given no fps."""
    pattern = _pysubs2().formats.microdvd.MICRODVD_LINE
    out = [""] * len(lines)
    cue_lines: list[int] = []
    problems: list[str] = []
    declared, declared_at = None, 0
    for i, raw in enumerate(lines):
        line = raw.strip().lstrip("\ufeff")
        m = pattern.match(line)
        if m is None:
            if line:
                problems.append(f"line {i + 1}: not a MicroDVD cue {line[:60]!r}")
            continue
        out[i] = line
        if not cue_lines and declared is None and (m.group(1), m.group(2)) == ("1", "1"):
            try:
                declared, declared_at = float(m.group(3)), i + 1
                continue
            except ValueError:
                pass
        cue_lines.append(i + 1)
    if declared is not None and fps and abs(declared - fps) > 0.01 * fps:
        problems.append(f"line {declared_at}: declares {declared:g} fps but the video has {fps:g} fps; "
                        f"frame numbers are read at {declared:g} fps")
    return out, cue_lines, problems, (None if declared is not None else fps), declared


def parse_subtitles(
    text: str, where: str = "subtitles", *, fmt: str | None = None, fps: float | None = None
) -> tuple[list[Cue], list[str]]:
    """Parse subtitle text -> (cues sorted by start, problems "WHERE: line N: ..."). `fmt`: one of FORMATS
    (default: `detect_format`). `fps`: the video's frame rate, needed by MicroDVD files that do not declare
    theirs. Tolerant of missing blank lines, missing indices, '.' vs ',' and cue settings after the timing."""
    pysubs2 = _pysubs2()
    fmt = fmt or detect_format(text, Path(where).suffix)
    if fmt not in FORMATS:
        raise SubtitleError(f"{where}: unknown subtitle format {fmt!r}; lmp reads {', '.join(FORMATS)}")
    lines = text.splitlines()
    if fmt in ("srt", "vtt"):
        timestamp = pysubs2.formats.get_format_class(fmt).TIMESTAMP
        kept, cue_lines, problems = _srt_structure(lines, timestamp)
    elif fmt in ("ass", "ssa"):
        kept, cue_lines, problems = _ass_structure(lines)
    else:
        kept, cue_lines, problems, fps, declared = _microdvd_structure(lines, fps)
        if declared is None and not fps and cue_lines:
            raise SubtitleError(
                f"{where}: MicroDVD subtitles count video frames, and neither the file ({{1}}{{1}}FPS as its "
                "first cue) nor the video gives the frame rate; pass the video's fps"
            )
    try:
        subs = pysubs2.SSAFile.from_string("\n".join(kept) + "\n", format_=fmt, fps=fps)
    except (pysubs2.Pysubs2Error, ValueError) as e:
        raise SubtitleError(f"{where}: cannot parse {fmt} subtitles ({e})") from None
    events = list(subs.events)
    # The structure pass saw the same lines pysubs2 read, so the k-th event is the k-th cue line; a count
    # that differs would be a pysubs2 change, and then problems name cues by number instead.
    labels = [f"line {n}" for n in cue_lines] if len(cue_lines) == len(events) else [
        f"cue {k}" for k in range(1, len(events) + 1)
    ]
    cues: list[Cue] = []
    for ev, label in zip(events, labels):
        if ev.is_comment or ev.is_drawing:
            continue
        # SRT/WebVTT text keeps {...} (literal braces); in ASS and MicroDVD every {...} is a code or comment.
        body = clean_text(ev.text if fmt in ("srt", "vtt") else ev.plaintext)
        start, end = ev.start / 1000, ev.end / 1000
        if not body:
            problems.append(f"{label}: cue has no text")
        elif end <= start:
            problems.append(f"{label}: cue ends ({end:.3f} s) before it starts ({start:.3f} s)")
        else:
            cues.append(Cue(start, end, body))
    cues.sort(key=lambda c: (c.start, c.end))
    problems.sort(key=_line_of)
    return cues, [f"{where}: {p}" for p in problems]


def _line_of(problem: str) -> int:
    m = re.match(r"(?:line|cue) (\d+)", problem)
    return int(m.group(1)) if m else 0


def read_subtitles(
    path: str | os.PathLike, encoding: str | None = None, *, fps: float | None = None
) -> tuple[list[Cue], list[str]]:
    """Read a subtitle file -> (cues, problems). `fps`: the video's frame rate (MicroDVD files count frames).
    Raises SubtitleError if nothing usable is in it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SubtitleError(f"{path}: cannot read subtitles ({e})") from None
    if data.startswith(_VOBSUB_MAGIC):
        raise SubtitleError(f"{path}: VobSub subtitles are pictures, not text; lmp reads text subtitles only")
    text, _ = decode_bytes(data, encoding)
    cues, problems = parse_subtitles(text, where=str(path), fps=fps)
    if not cues:
        detail = f" ({problems[0]})" if problems else ""
        raise SubtitleError(f"{path}: no valid subtitle cue found{detail}")
    return cues, problems


def _is_text_subtitle(path: Path) -> bool:
    """A .sub is MicroDVD text or VobSub pictures (with an .idx beside it); only the first is dialogue."""
    if path.suffix.lower() != ".sub":
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) != _VOBSUB_MAGIC
    except OSError:
        return False


def find_subtitles(video: str | os.PathLike, search_dir: str | os.PathLike | None = None) -> Path | None:
    """The subtitle file for a video: `<stem><ext>`, else `<stem>.<lang><ext>` (English first, then
    alphabetical), next to the video or in `search_dir`; ext in SUBTITLE_EXTS order (.srt first)."""
    video = Path(video)
    folder = Path(search_dir) if search_dir is not None else video.parent
    for ext in SUBTITLE_EXTS:
        path = folder / f"{video.stem}{ext}"
        if path.is_file() and _is_text_subtitle(path):
            return path
    tagged = sorted(
        p for p in folder.glob(f"{glob_escape(video.stem)}.*")
        if p.suffix.lower() in SUBTITLE_EXTS and _is_text_subtitle(p)
    )
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
