"""Subtitle reading (encodings, markup, malformed cues) and dialogue-to-shot assignment."""

from __future__ import annotations

import codecs

import numpy as np
import pytest

from lmp.ingest.subtitles import (
    Cue,
    SubtitleError,
    assign_dialogue,
    clean_text,
    decode_bytes,
    find_subtitles,
    parse_subtitles,
    read_subtitles,
)

SRT = """1
00:00:01,000 --> 00:00:02,500
Élodie: <i>Où est le café ?</i>

2
00:00:03,000 --> 00:00:04,000
{\\an8}Second line\\Nsplit &amp; joined
"""


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
