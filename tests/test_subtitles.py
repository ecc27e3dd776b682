"""Subtitle reading (SRT, WebVTT, ASS/SSA, MicroDVD; encodings, markup, malformed cues) and dialogue-to-shot
assignment. The expected cues of every file are written out by hand."""

from __future__ import annotations

import codecs
import importlib.util
import sys

import numpy as np
import pytest

from lmp.errors import LMPError
from lmp.ingest.subtitles import (
    Cue,
    SubtitleError,
    assign_dialogue,
    clean_text,
    decode_bytes,
    detect_format,
    find_subtitles,
    parse_subtitles,
    read_subtitles,
)

# Parsing is pysubs2's (extra `ingest`); markup, assignment and discovery need nothing beyond the core.
needs_pysubs2 = pytest.mark.skipif(importlib.util.find_spec("pysubs2") is None, reason="pysubs2 not installed")

SRT = """1
00:00:01,000 --> 00:00:02,500
Élodie: <i>Où est le café ?</i>

2
00:00:03,000 --> 00:00:04,000
{\\an8}Second line\\Nsplit &amp; joined
"""


@needs_pysubs2
@pytest.mark.parametrize(
    "encoding,prefix",
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("latin-1", b""),
        ("cp1252", b""),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-16-le", b""),
    ],
)
def test_encodings_decode_to_the_same_cues(tmp_path, encoding, prefix):
    path = tmp_path / "movie.srt"
    path.write_bytes(prefix + SRT.encode(encoding))
    cues, problems = read_subtitles(path)
    assert problems == []
    assert [c.text for c in cues] == ["Élodie: Où est le café ?", "Second line split & joined"]
    assert (cues[0].start, cues[0].end) == (1.0, 2.5)


@needs_pysubs2
def test_bom_is_not_part_of_the_first_cue():
    text, enc = decode_bytes(codecs.BOM_UTF8 + b"1\n00:00:00,500 --> 00:00:01,000\nhi\n")
    assert enc == "utf-8-sig"
    cues, problems = parse_subtitles(text)
    assert [c.text for c in cues] == ["hi"] and problems == []


def test_markup_is_stripped():
    assert clean_text("<font color='#ff0'>Hey</font> <b>you</b>") == "Hey you"
    assert clean_text("{\\i1}slanted{\\i0}\\Nnext") == "slanted next"
    assert clean_text("<v Roger>Hi <00:00:01.500><c.loud>there</c>") == "Hi there"
    assert clean_text("Tom&nbsp;&lt;3") == "Tom <3"


@needs_pysubs2
def test_webvtt_with_header_notes_styles_and_settings():
    vtt = """WEBVTT - a title

STYLE
::cue { color: yellow }

NOTE this is a comment
with two lines

intro
00:01.000 --> 00:02.000 align:start position:10%
<v Ann>Hello there</v>

01:00:03.250 --> 01:00:04.000
Later
"""
    cues, problems = parse_subtitles(vtt)
    assert problems == []
    assert [(c.start, c.end, c.text) for c in cues] == [(1.0, 2.0, "Hello there"), (3603.25, 3604.0, "Later")]


@needs_pysubs2
def test_malformed_cues_are_skipped_and_reported():
    srt = """1
00:00:01,000 --> 00:00:02,000
good one

2
00:00:xx,000 --> 00:00:03,000
bad timestamp

3
00:00:05,000 --> 00:00:04,000
ends before it starts

4
00:00:06,000 --> 00:00:07,000

5
00:00:08,000 --> 00:00:09,000
last good
no blank line before the next
6
00:00:10,000 --> 00:00:11,000
tail
"""
    cues, problems = parse_subtitles(srt, where="x.srt")
    assert [c.text for c in cues] == ["good one", "last good no blank line before the next", "tail"]
    assert len(problems) == 3
    assert any("malformed timing" in p for p in problems)
    assert any("ends" in p for p in problems)
    assert any("no text" in p for p in problems)
    assert all(p.startswith("x.srt: line") for p in problems)


def test_a_negative_timestamp_is_a_malformed_cue_not_a_positive_one():
    """pysubs2 drops the sign: -00:00:01,000 --> 00:00:02,000 was read as 1 to 2 s."""
    srt = "1\n-00:00:01,000 --> 00:00:02,000\nbefore the start\n\n2\n00:00:03,000 --> 00:00:04,000\nok\n"
    cues, problems = parse_subtitles(srt, where="x.srt")
    assert [(c.start, c.end, c.text) for c in cues] == [(3.0, 4.0, "ok")]
    assert problems == ["x.srt: line 2: negative timestamp '-00:00:01,000 --> 00:00:02,000'"]


@needs_pysubs2
def test_file_without_any_cue_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.srt"
    path.write_bytes(b"\x00\x01 not subtitles at all")
    with pytest.raises(SubtitleError, match="junk.srt"):
        read_subtitles(path)


def test_assignment_overlaps_and_spanning_cues():
    shots = np.array([[0.0, 2.0], [2.0, 4.0], [4.0, 6.0]])
    cues = [
        Cue(0.5, 1.0, "in shot zero"),
        Cue(1.5, 3.5, "spans the cut"),  # 0.5 s in shot 0, 1.5 s in shot 1
        Cue(3.9, 5.5, "mostly shot two"),  # 0.1 s in shot 1: below min_overlap
        Cue(4.5, 5.0, "mostly shot two"),  # overlapping duplicate line (roll-up captions)
        Cue(9.0, 9.5, "after the movie"),
    ]
    per_shot = assign_dialogue(cues, shots, min_overlap=0.25)
    assert per_shot == ["in shot zero spans the cut", "spans the cut", "mostly shot two"]


def test_short_cue_goes_to_its_best_shot():
    shots = np.array([[0.0, 2.0], [2.0, 4.0]])
    assert assign_dialogue([Cue(1.95, 2.1, "Hi")], shots, min_overlap=0.25) == ["", "Hi"]


def test_find_subtitles_next_to_video(tmp_path):
    video = tmp_path / "My Movie.mp4"
    video.write_bytes(b"")
    assert find_subtitles(video) is None
    (tmp_path / "My Movie.fr.srt").write_text("x")
    (tmp_path / "My Movie.en.vtt").write_text("x")
    assert find_subtitles(video).name == "My Movie.en.vtt"
    (tmp_path / "My Movie.srt").write_text("x")
    assert find_subtitles(video).name == "My Movie.srt"


@needs_pysubs2
def test_webvtt_notes_identifiers_and_karaoke_timestamps_mid_file():
    """pysubs2 alone glues a NOTE block onto the cue before it and reads a line with two inline timestamps
    as a timing line; lmp's structure pass must keep both out of the dialogue."""
    vtt = """WEBVTT
Kind: captions
Language: en

00:00:01.000 --> 00:00:02.000
First

NOTE a comment between cues
that spans two lines

second-cue
00:00:03.000 --> 00:00:04.500 line:0
<00:00:03.000><c>karaoke</c><00:00:03.500><c> words</c>
"""
    cues, problems = parse_subtitles(vtt, where="k.vtt")
    assert problems == []
    assert [(c.start, c.end, c.text) for c in cues] == [(1.0, 2.0, "First"), (3.0, 4.5, "karaoke words")]


@needs_pysubs2
def test_webvtt_in_an_srt_file_is_read_by_its_timestamps(tmp_path):
    path = tmp_path / "film.srt"  # mislabelled: WebVTT timestamps without hours, no header
    path.write_text("1\n00:01.000 --> 00:02.000\nHi\n\n2\n01:02.500 --> 01:03.000\nBye\n")
    assert detect_format(path.read_text(), ".srt") == "vtt"
    cues, problems = read_subtitles(path)
    assert problems == [] and [(c.start, c.end, c.text) for c in cues] == [(1.0, 2.0, "Hi"), (62.5, 63.0, "Bye")]
    # With hours both patterns match; SRT's reads two fraction digits as hundredths, as the old parser did.
    cues, _ = parse_subtitles("WEBVTT\n\n00:00:01.50 --> 00:00:02.000\nShort fraction\n")
    assert cues == [Cue(1.5, 2.0, "Short fraction")]


ASS = r"""[Script Info]
; written by hand for lmp's tests
Title: test
ScriptType: v4.00+

[V4+ Styles]
STYLE_FORMAT
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1
Style: Broken,Arial,not-a-size

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.50,0:00:03.00,Default,Ann,0,0,0,,{\i1}Hello,{\i0} world\Nsecond line
Comment: 0,0:00:02.00,0:00:04.00,Default,,0,0,0,,a translator's note
Dialogue: 0,0:01:02.00,0:01:04.00,Default,,0,0,0,,Tom, Jerry, again
Dialogue: 0,0:00:05.00,0:00:06.25,Default,,0,0,0,,{\an8}Top {hidden comment}text\hhere
Dialogue: 0,0:00:xx.00,0:00:07.00,Default,,0,0,0,,bad timestamp
Dialogue: 0,0:00:08.00,0:00:07.00,Default,,0,0,0,,ends before it starts
Dialogue: 0,0:00:09.00,0:00:10.00,Default,,0,0,0,,{\p1}m 0 0 l 100 0 100 100{\p0}
""".replace(
    "STYLE_FORMAT",
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
    "Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, "
    "MarginV, Encoding",
)


@needs_pysubs2
def test_ass_events_codes_comments_drawings_and_bad_lines(tmp_path):
    path = tmp_path / "film.ass"
    path.write_text(ASS, encoding="utf-8")
    cues, problems = read_subtitles(path)
    # Override blocks, {comments}, \N and \h are gone; Comment events and the drawing are not dialogue; the
    # broken Style line costs nothing (lmp does not render styles); cues are sorted by start.
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.5, 3.0, "Hello, world second line"),
        (5.0, 6.25, "Top text here"),
        (62.0, 64.0, "Tom, Jerry, again"),
    ]
    assert problems == [
        f"{path}: line 17: malformed event 'Dialogue: 0,0:00:xx.00,0:00:07.00,Default,,0,0,0,,bad timest'",
        f"{path}: line 18: cue ends (7.000 s) before it starts (8.000 s)",
    ]


@needs_pysubs2
def test_ssa_v4_and_utf16_ass(tmp_path):
    ssa = """[Script Info]
ScriptType: v4.00

[V4 Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, TertiaryColour, BackColour, Bold, Italic, \
BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, AlphaLevel, Encoding
Style: Default,Arial,20,16777215,65535,65535,-2147483640,-1,0,1,3,0,2,30,30,30,0,0

[Events]
Format: Marked, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: Marked=0,0:00:00.40,0:00:01.90,Default,,0000,0000,0000,,Élodie : déjà vu
"""
    path = tmp_path / "old.ssa"
    path.write_bytes(codecs.BOM_UTF16_LE + ssa.encode("utf-16-le"))
    assert detect_format(ssa, ".ssa") == "ssa"
    cues, problems = read_subtitles(path)
    assert problems == [] and cues == [Cue(0.4, 1.9, "Élodie : déjà vu")]


MICRODVD = """{1}{1}25.000
{25}{75}Hello|world
{100}{150}{y:i}Slanted {c:$0000ff}blue
not a cue
{200}{180}ends before it starts
{250}{300}Last
"""


@needs_pysubs2
def test_microdvd_with_declared_frame_rate(tmp_path):
    path = tmp_path / "film.sub"
    path.write_text(MICRODVD, encoding="cp1252")
    cues, problems = read_subtitles(path)  # 25 fps from the {1}{1} line
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.0, 3.0, "Hello world"), (4.0, 6.0, "Slanted blue"), (10.0, 12.0, "Last")
    ]
    assert problems == [f"{path}: line 4: not a MicroDVD cue 'not a cue'",
                        f"{path}: line 5: cue ends (7.200 s) before it starts (8.000 s)"]
    # The file's own rate wins over the video's (its frames were counted at it), and the mismatch is reported.
    cues, problems = read_subtitles(path, fps=23.976)
    assert cues[0] == Cue(1.0, 3.0, "Hello world")
    assert problems[0] == (
        f"{path}: line 1: declares 25 fps but the video has 23.976 fps; frame numbers are read at 25 fps"
    )


@needs_pysubs2
def test_microdvd_frame_rate_from_the_video_else_a_clear_error(tmp_path):
    path = tmp_path / "film.sub"
    path.write_text("{20}{60}One\n{80}{90}Two|lines\n")
    cues, problems = read_subtitles(path, fps=20.0)
    assert problems == [] and cues == [Cue(1.0, 3.0, "One"), Cue(4.0, 4.5, "Two lines")]
    with pytest.raises(SubtitleError, match=r"film.sub: MicroDVD subtitles count video frames.*frame rate"):
        read_subtitles(path)


def test_vobsub_is_refused_and_not_discovered(tmp_path):
    video = tmp_path / "film.mkv"
    video.write_bytes(b"")
    vobsub = tmp_path / "film.sub"
    vobsub.write_bytes(b"\x00\x00\x01\xba" + bytes(60))
    (tmp_path / "film.idx").write_text("# VobSub index file, v7\n")
    with pytest.raises(SubtitleError, match="film.sub: VobSub subtitles are pictures"):
        read_subtitles(vobsub)
    assert find_subtitles(video) is None
    (tmp_path / "film.en.ass").write_text(ASS)
    assert find_subtitles(video).name == "film.en.ass"
    (tmp_path / "film.ass").write_text(ASS)
    assert find_subtitles(video).name == "film.ass"
    (tmp_path / "film.srt").write_text("x")
    assert find_subtitles(video).name == "film.srt"


def test_missing_pysubs2_fails_the_movie_clearly_instead_of_dropping_its_dialogue(monkeypatch):
    # A SubtitleError would become a per-movie warning ("no dialogue"); a missing package must be an error.
    monkeypatch.setitem(sys.modules, "pysubs2", None)
    with pytest.raises(LMPError, match=r"reading subtitles needs pysubs2: pip install 'lmp\[ingest\]'") as e:
        parse_subtitles("1\n00:00:01,000 --> 00:00:02,000\nhi\n")
    assert not isinstance(e.value, SubtitleError)
