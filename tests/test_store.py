"""Feature store: round trip, windows, concurrent growth, and clear errors on damage."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys

import numpy as np
import pytest

from lmp.errors import LMPWarning, StoreError
from lmp.store import EncoderSpec, FeatureStore, MovieFeatures, StoreWriter

ENCODERS = {
    "visual": EncoderSpec("vis-test", 8), "audio": EncoderSpec("aud-test", 4), "text": EncoderSpec("txt-test", 6)
}


def make_movie(movie_id: str, num_shots: int, seed: int = 0) -> MovieFeatures:
    rng = np.random.default_rng(seed)
    starts = np.cumsum(rng.uniform(0.5, 4.0, num_shots))
    times = np.stack([starts, starts + rng.uniform(0.4, 0.5, num_shots)], axis=1)
    feats = {m: rng.standard_normal((num_shots, e.dim)).astype(np.float32) for m, e in ENCODERS.items()}
    masks = {"text": rng.random(num_shots) < 0.5}
    return MovieFeatures(movie_id, times, feats, masks, meta={"source": f"{movie_id}.mp4"})


@pytest.fixture
def store_dir(tmp_path):
    writer = StoreWriter(tmp_path / "store", ENCODERS)
    for i, n in enumerate([5, 12, 1]):
        writer.write(make_movie(f"movie-{i}", n, seed=i))
    return tmp_path / "store"


def test_round_trip_and_windows(store_dir):
    store = FeatureStore(store_dir)
    assert store.ids == ["movie-0", "movie-1", "movie-2"]
    assert store.dims == {"visual": 8, "audio": 4, "text": 6}
    src = make_movie("movie-1", 12, seed=1)
    window = store.read("movie-1", 3, 9)
    assert window["visual"].dtype == np.float16 and window["visual"].shape == (6, 8)
    np.testing.assert_array_equal(window["visual"], src.features["visual"][3:9].astype(np.float16))
    np.testing.assert_array_equal(window["text_mask"], src.masks["text"][3:9])
    assert window["audio_mask"].all()  # no mask given = present in every shot
    np.testing.assert_allclose(window["times"], src.times[3:9])
    assert store.record("movie-1").meta == {"source": "movie-1.mp4"}
    assert store.verify() == {}


def test_rewrite_replaces_movie(store_dir):
    writer = StoreWriter(store_dir, ENCODERS)
    writer.write(make_movie("movie-0", 7, seed=99))
    store = FeatureStore(store_dir)
    assert len(store) == 3 and store.num_shots("movie-0") == 7
    assert not [p for p in (store_dir / "movies").iterdir() if p.name.startswith(".")]


def test_store_grows_while_reading(store_dir):
    store = FeatureStore(store_dir)
    StoreWriter(store_dir, ENCODERS).write(make_movie("late", 4))
    assert "late" not in store
    assert store.refresh() == 1 and "late" in store
    # A half-appended manifest line (writer mid-append) is not read until complete.
    with open(store_dir / "manifest.jsonl", "a") as f:
        f.write('{"id": "partial"')
    assert store.refresh() == 0 and "partial" not in store


def _write_many(args):
    root, start = args
    writer = StoreWriter(root, ENCODERS)
    for i in range(start, start + 5):
        writer.write(make_movie(f"p{i}", 3, seed=i))


def test_concurrent_writers(tmp_path):
    root = tmp_path / "store"
    with mp.get_context("fork").Pool(2) as pool:
        pool.map(_write_many, [(root, 0), (root, 5)])
    store = FeatureStore(root)
    assert sorted(store.ids) == sorted(f"p{i}" for i in range(10))
    assert store.verify() == {}


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-10]), "movie-1: field 'visual'"),
        (lambda p: p.unlink(), "movie-1: field 'visual' is missing"),
        (lambda p: p.write_bytes(b"garbage"), "movie-1: field 'visual'"),
    ],
    ids=["truncated", "missing", "garbage"],
)
def test_damaged_field_is_named(store_dir, damage, expected):
    damage(store_dir / "movies" / "movie-1" / "visual.npy")
    store = FeatureStore(store_dir)
    problems = store.verify()
    assert list(problems) == ["movie-1"] and expected in problems["movie-1"][0]
    with pytest.raises(StoreError, match=expected.split(":")[0]):
        store.read("movie-1", 0, 2)
    store.read("movie-0", 0, 2)  # the other movies still read


def test_flipped_bytes_fail_checksum(store_dir):
    path = store_dir / "movies" / "movie-0" / "audio.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert FeatureStore(store_dir).verify() == {"movie-0": ["movie movie-0: field 'audio' checksum mismatch"]}


def test_shape_mismatch_named(store_dir):
    path = store_dir / "movies" / "movie-0" / "visual.npy"
    np.save(path, np.zeros((5, 3), np.float16))
    with pytest.raises(StoreError, match=r"movie-0: field 'visual' has float16\[5, 3\]"):
        FeatureStore(store_dir).read("movie-0")


def test_corrupt_manifest_line_is_skipped_and_missing_store(store_dir, tmp_path):
    with pytest.raises(StoreError, match="not a feature store"):
        FeatureStore(tmp_path / "nowhere")
    size = (store_dir / "manifest.jsonl").stat().st_size
    with open(store_dir / "manifest.jsonl", "a") as f:
        f.write("{not json}\n")
    with pytest.warns(LMPWarning, match=f"corrupt record at byte {size}: .*skipped"):
        store = FeatureStore(store_dir)
    assert store.ids == ["movie-0", "movie-1", "movie-2"] and len(store.manifest_problems()) == 1


def manifest_lines(root) -> list[bytes]:
    return (root / "manifest.jsonl").read_bytes().splitlines(keepends=True)


def test_torn_last_record_is_dropped_by_the_next_write(store_dir):
    """Issue 8.2: a crash mid-append, then the next ingest: the store stays readable, nothing new is lost."""
    lines = manifest_lines(store_dir)
    torn_at = sum(map(len, lines[:2]))
    (store_dir / "manifest.jsonl").write_bytes(b"".join(lines[:2]) + lines[2][:40])
    assert FeatureStore(store_dir).ids == ["movie-0", "movie-1"]  # the tail may be a writer mid-append
    with pytest.warns(LMPWarning, match=f"dropped a torn record at byte {torn_at} \\(movie 'movie-2'\\)"):
        StoreWriter(store_dir, ENCODERS).write(make_movie("new", 3))
    store = FeatureStore(store_dir)
    assert store.ids == ["movie-0", "movie-1", "new"] and store.manifest_problems() == []
    assert all(line.endswith(b"\n") for line in manifest_lines(store_dir))


def test_damaged_record_is_skipped_with_its_offset(store_dir, capsys):
    """Issue 8.2: a store damaged by an older writer (a record glued onto a torn one) still opens."""
    from lmp.cli import main

    lines = manifest_lines(store_dir)
    glued = lines[1][:30] + lines[2]
    (store_dir / "manifest.jsonl").write_bytes(lines[0] + glued)
    with pytest.warns(LMPWarning, match=f"corrupt record at byte {len(lines[0])} \\(movie 'movie-1'\\)"):
        store = FeatureStore(store_dir)
    assert store.ids == ["movie-0"]
    store.read("movie-0")
    assert main(["store", "verify", str(store_dir)]) == 1
    out = capsys.readouterr().out
    assert f"corrupt record at byte {len(lines[0])} (movie 'movie-1')" in out and "1 damaged manifest record" in out


def test_manifest_truncated_at_every_offset_of_its_last_record(tmp_path, monkeypatch):
    """Issue 8 acceptance: a crash at any byte of an append leaves a store that opens, that verify
    flags, and whose next write keeps every committed movie."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # durability is not what this test measures
    encoders = {"visual": EncoderSpec("vis-test", 2)}
    root = tmp_path / "s"
    writer = StoreWriter(root, encoders)
    for mid in ("a", "b", "c"):
        writer.write(MovieFeatures(mid, np.array([[0.0, 1.0]]), {"visual": np.zeros((1, 2))}))
    lines = manifest_lines(root)
    start, full = sum(map(len, lines[:2])), b"".join(lines)
    for cut in range(start + 1, len(full)):
        (root / "manifest.jsonl").write_bytes(full[:cut])
        store = FeatureStore(root)
        assert store.ids == ["a", "b"], cut
        [problem] = store.manifest_problems()
        assert f"torn record at byte {start}" in problem, cut
        with pytest.warns(LMPWarning, match=f"dropped a torn record at byte {start}"):
            writer.write(MovieFeatures("d", np.array([[0.0, 1.0]]), {"visual": np.ones((1, 2))}))
        store = FeatureStore(root)
        assert store.ids == ["a", "b", "d"] and store.manifest_problems() == [], cut
    assert store.verify() == {}


def test_manifest_ids_are_validated_on_read(store_dir, tmp_path, capsys):
    """Issue 8.5: a record whose id points outside the store is refused like the writer refuses it."""
    from lmp.cli import main

    outside = tmp_path / "elsewhere" / "x"
    outside.mkdir(parents=True)
    for name in ("times", "visual", "visual_mask", "audio", "audio_mask", "text", "text_mask"):
        (outside / f"{name}.npy").write_bytes((store_dir / "movies" / "movie-0" / f"{name}.npy").read_bytes())
    record = json.loads(manifest_lines(store_dir)[0])
    record["id"] = "../../elsewhere/x"
    with open(store_dir / "manifest.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    with pytest.warns(LMPWarning, match="invalid movie id '../../elsewhere/x'"):
        store = FeatureStore(store_dir)
    assert "../../elsewhere/x" not in store and len(store) == 3
    assert main(["store", "verify", str(store_dir)]) == 1
    assert "invalid movie id" in capsys.readouterr().out


def test_non_finite_values_are_named_where_windows_are_read(store_dir):
    """Issue 8.6: flipped bytes that decode to NaN are caught per window, naming movie and field."""
    arr = np.load(store_dir / "movies" / "movie-1" / "audio.npy", mmap_mode="r+")
    arr[4, 1] = np.nan
    arr.flush()
    del arr
    store = FeatureStore(store_dir)
    store.read("movie-1", 0, 4)  # windows without the damaged shot still read
    message = r"movie movie-1: field 'audio' has NaN/inf values in shots \[2, 6\).*lmp store verify"
    with pytest.raises(StoreError, match=message):
        store.read("movie-1", 2, 6)


def test_store_info_into_a_closed_pipe_is_quiet(store_dir):
    """Issue 8.10: `lmp store info S | head` must not print a BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "lmp.cli", "store", "info", str(store_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before lmp writes anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""


def test_stale_staging_directories_are_removed_by_the_next_writer(store_dir, capsys):
    """Issue 8.13: stages left by crashes are reported by verify and removed, but never a busy writer's."""
    import fcntl

    from lmp.cli import main

    stale = [store_dir / "movies" / ".tmp-movie-9-dead", store_dir / "previews" / ".tmp-movie-9-beef"]
    for p in stale:
        p.mkdir(parents=True)
    assert main(["store", "verify", str(store_dir)]) == 0
    assert str(stale[0]) in capsys.readouterr().out
    with open(store_dir / ".staging.lock", "ab") as busy:  # another writer is staging right now
        fcntl.flock(busy, fcntl.LOCK_SH)
        StoreWriter(store_dir, ENCODERS)
        assert all(p.exists() for p in stale)
    with pytest.warns(LMPWarning, match="removed 2 staging directories"):
        StoreWriter(store_dir, ENCODERS)
    assert not any(p.exists() for p in stale)


def _visual(store_dir, movie_id):
    return FeatureStore(store_dir).read(movie_id)["visual"]


def test_a_rewrite_whose_record_cannot_be_appended_keeps_the_committed_movie(store_dir, monkeypatch):
    """A rewrite that fails after its swap (disk full while appending the record) must put the old
    files back: the manifest's record and the files on disk change together or not at all."""
    before = _visual(store_dir, "movie-0").copy()

    def disk_full(self, f, path, record):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(StoreWriter, "_append_locked", disk_full)
    with pytest.raises(OSError, match="No space"):
        StoreWriter(store_dir, ENCODERS).write(make_movie("movie-0", 5, seed=99))
    store = FeatureStore(store_dir)
    assert store.verify() == {}
    np.testing.assert_array_equal(store.read("movie-0")["visual"], before)
    assert not [p.name for p in (store_dir / "movies").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("where", ["after the swap", "between the swap's renames"])
def test_the_next_writer_restores_a_movie_whose_rewrite_was_killed(store_dir, where):
    """A kill between the swap and the record leaves the committed files in movies/.old-<id>-*; the next
    writer puts them back (before, it deleted them as a leftover and the record named lost files)."""
    before = _visual(store_dir, "movie-1").copy()
    movies = store_dir / "movies"
    old = movies / ".old-movie-1-0badf00d"
    os.rename(movies / "movie-1", old)
    if where == "after the swap":  # uncommitted new files of the same shape sit at movies/movie-1
        other = StoreWriter(store_dir.parent / "other", ENCODERS)
        other.write(make_movie("movie-1", 12, seed=42))
        os.rename(store_dir.parent / "other" / "movies" / "movie-1", movies / "movie-1")
    with pytest.warns(LMPWarning, match="movie 'movie-1': restored its committed files"):
        StoreWriter(store_dir, ENCODERS)
    store = FeatureStore(store_dir)
    assert store.verify() == {}
    np.testing.assert_array_equal(store.read("movie-1")["visual"], before)
    assert not [p.name for p in movies.iterdir() if p.name.startswith(".")]


def test_a_committed_rewrite_leaves_its_old_files_to_the_cleanup(store_dir):
    """A kill after the record was appended: the new files are committed, the old ones are garbage."""
    movies = store_dir / "movies"
    keep = movies / ".old-movie-0-0badf00d"
    os.rename(movies / "movie-0", keep)
    StoreWriter(store_dir.parent / "other", ENCODERS).write(make_movie("movie-0", 5, seed=0))
    os.rename(store_dir.parent / "other" / "movies" / "movie-0", movies / "movie-0")  # same content: committed
    with pytest.warns(LMPWarning, match="removed 1 staging"):
        StoreWriter(store_dir, ENCODERS)
    assert FeatureStore(store_dir).verify() == {} and not keep.exists()


def test_two_writers_of_one_movie_cannot_interleave_swap_and_record(store_dir, monkeypatch):
    """Writer A swaps its files in and is slow to append its record while writer B rewrites the same movie:
    B must wait for A's commit, so the last record names the files on disk."""
    import threading
    import time

    slow_started = threading.Event()
    real = StoreWriter._append_locked

    def slow_append(self, f, path, record):
        if record.meta.get("source") == "slow":
            slow_started.set()
            time.sleep(0.3)
        return real(self, f, path, record)

    monkeypatch.setattr(StoreWriter, "_append_locked", slow_append)
    slow, fast = make_movie("movie-1", 12, seed=7), make_movie("movie-1", 12, seed=8)
    slow.meta, fast.meta = {"source": "slow"}, {"source": "fast"}
    a = threading.Thread(target=StoreWriter(store_dir, ENCODERS).write, args=(slow,))
    a.start()
    assert slow_started.wait(10)
    StoreWriter(store_dir, ENCODERS).write(fast)
    a.join()
    store = FeatureStore(store_dir)
    assert store.verify() == {}
    assert store.record("movie-1").meta == {"source": "fast"}
    np.testing.assert_array_equal(store.read("movie-1")["visual"], fast.features["visual"].astype(np.float16))



@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda m: m.features.__setitem__("visual", np.zeros((3, 8))), r"'visual' has shape \[3, 8\]"),
        (lambda m: m.features.pop("audio"), "missing 'audio' features"),
        (lambda m: m.features["visual"].__setitem__((0, 0), np.nan), "NaN/inf"),
        (lambda m: m.features["visual"].__setitem__((0, 0), 1e6), "float16 range"),
        (lambda m: m.times.__setitem__((0, 1), -1.0), "times"),
        (lambda m: m.masks.__setitem__("text", np.ones(5)), "must be bool"),
        (lambda m: setattr(m, "id", "../evil"), "invalid movie id"),
        (lambda m: setattr(m, "id", "abc\n"), "invalid movie id"),  # `$` alone would match before a newline
    ],
)
def test_writer_rejects_bad_movies(tmp_path, mutate, message):
    writer = StoreWriter(tmp_path / "s", ENCODERS)
    movie = make_movie("ok", 5)
    mutate(movie)
    with pytest.raises(StoreError, match=message):
        writer.write(movie)
    assert not (tmp_path / "s" / "manifest.jsonl").exists()
    assert not list((tmp_path / "s" / "movies").iterdir())  # nothing half-written


def test_encoder_mismatch_refused(store_dir):
    with pytest.raises(StoreError, match="store was built with"):
        StoreWriter(store_dir, {**ENCODERS, "visual": EncoderSpec("clip", 512)})


def test_store_cli(store_dir, capsys):
    from lmp.cli import main

    assert main(["store", "info", str(store_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["movies"] == 3 and info["shots"] == 18 and info["encoders"]["text"] == {"name": "txt-test", "dim": 6}
    assert main(["store", "info", str(store_dir), "--movies"]) == 0
    assert "movie-1" in capsys.readouterr().out
    assert main(["store", "verify", str(store_dir)]) == 0
    (store_dir / "movies" / "movie-2" / "times.npy").write_bytes(b"x")
    assert main(["store", "verify", str(store_dir)]) == 1
    assert "movie-2" in capsys.readouterr().out
    assert main(["store", "info", str(store_dir / "nope")]) == 1
    assert "not a feature store" in capsys.readouterr().err


def test_store_info_summarises_and_lists_movies_on_request(store_dir, capsys):
    """`lmp store info` prints a summary (not one line per movie); --movies adds the list; --json has both."""
    from lmp.cli import main

    silent = make_movie("movie-3", 4, seed=3)
    silent.masks["text"] = np.zeros(4, dtype=bool)  # a movie without dialogue
    StoreWriter(store_dir, ENCODERS).write(silent)
    assert main(["store", "info", str(store_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"store {store_dir}: 4 movies, 22 shots, 0.013 h"
    assert lines[1:] == [
        "shots per movie: min 1, median 4.5, max 12",
        "  modality  encoder                        dim  shots with it  movies with it",
        "  visual    vis-test                         8         100.0%          100.0%",
        "  audio     aud-test                         4         100.0%          100.0%",
        "  text      txt-test                         6          50.0%           75.0%",  # 11 of 22 shots, 3 of 4
        "(--movies lists the 4 movies)",
    ]
    assert main(["store", "info", str(store_dir), "--movies"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-5:] == [
        "  movie                      shots  duration_s",
        "  movie-0                        5        9.21",
        "  movie-1                       12       28.88",
        "  movie-2                        1        1.85",
        "  movie-3                        4        8.39",
    ]
    assert main(["store", "info", str(store_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shots_per_movie"] == {"min": 1, "median": 4.5, "max": 12} and info["unreadable"] == []
    assert info["presence"]["text"] == {"shots": 0.5, "movies": 0.75} and info["presence"]["visual"]["shots"] == 1.0
    assert [m["id"] for m in info["movie_list"]] == ["movie-0", "movie-1", "movie-2", "movie-3"]
    # A damaged mask leaves that movie out of the rates, with a note, instead of failing the summary.
    (store_dir / "movies" / "movie-3" / "text_mask.npy").write_bytes(b"")
    assert main(["store", "info", str(store_dir)]) == 0
    out = capsys.readouterr().out
    assert "  text      txt-test                         6          61.1%          100.0%" in out
    assert f"note: 1 movie(s) have unreadable masks and are left out of the rates (lmp store verify {store_dir}" in out


def test_subset_view(store_dir, tmp_path):
    from lmp.store.subset import subset_store

    view = subset_store(store_dir, ["movie-1", "movie-2"], tmp_path / "view")
    assert view.ids == ["movie-1", "movie-2"] and view.verify() == {}
    np.testing.assert_array_equal(view.read("movie-1")["visual"], FeatureStore(store_dir).read("movie-1")["visual"])
    with pytest.raises(StoreError, match="not in the store"):
        subset_store(store_dir, ["nope"], tmp_path / "view2")


def test_a_view_whose_source_store_moved_says_so(store_dir, tmp_path):
    from lmp.store.subset import subset_store

    subset_store(store_dir, ["movie-1"], tmp_path / "view")
    store_dir.rename(tmp_path / "moved")
    view = FeatureStore(tmp_path / "view")
    gone = r"movie-1: its directory .* links to .*store/movies/movie-1, which does not exist"
    with pytest.raises(StoreError, match=gone):
        view.read("movie-1")
    assert "source store was moved" in view.verify_movie("movie-1")[0]


def test_a_subset_view_that_already_holds_the_movies_is_kept_in_place(store_dir, tmp_path, monkeypatch):
    """CI stop 24: two pretraining seeds of one study arm ran side by side on one view, and the second
    rebuilt it while the first was reading: between the swap's two renames the path was gone ("field
    'audio' is missing"). Asking again for the view that is there must not move it."""
    from lmp.store.subset import subset_store

    view = tmp_path / "view"
    subset_store(store_dir, ["movie-0", "movie-1"], view)
    inode, renames = view.stat().st_ino, []
    real_rename = os.rename
    monkeypatch.setattr(os, "rename", lambda src, dst: (renames.append(dst), real_rename(src, dst)))
    assert subset_store(store_dir, ["movie-0", "movie-1"], view).ids == ["movie-0", "movie-1"]
    assert renames == [] and view.stat().st_ino == inode
    # Another order, another set, or a link that points elsewhere is another view: it is swapped in.
    assert subset_store(store_dir, ["movie-1", "movie-0"], view).ids == ["movie-1", "movie-0"]
    assert len(renames) == 2 and view.stat().st_ino != inode
    (view / "movies" / "movie-0").unlink()
    os.symlink(os.path.realpath(os.path.join(store_dir, "movies", "movie-2")), view / "movies" / "movie-0")
    subset_store(store_dir, ["movie-1", "movie-0"], view)
    assert len(renames) == 4
    np.testing.assert_array_equal(
        FeatureStore(view).read("movie-0")["visual"], FeatureStore(store_dir).read("movie-0")["visual"]
    )


def test_replacing_a_subset_view_swaps_in_a_complete_one(store_dir, tmp_path, monkeypatch):
    """Issue 9.4: the view used to be deleted first and the new one renamed in after, so for a while
    there was none. Now the new view is complete before the old one is moved aside."""
    from lmp.store.subset import subset_store

    views = tmp_path / "views"
    subset_store(store_dir, ["movie-0", "movie-1"], views / "view")
    real_rename, seen = os.rename, []

    def watching_rename(src, dst):
        if not seen:  # the first rename of the swap: the old view must still be whole, the new one staged
            staged = [p for p in views.iterdir() if p.name.startswith(".tmp-")]
            seen.append((FeatureStore(views / "view").ids, [FeatureStore(p).ids for p in staged]))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", watching_rename)
    view = subset_store(store_dir, ["movie-2", "movie-1"], views / "view")
    monkeypatch.undo()
    assert seen == [(["movie-0", "movie-1"], [["movie-2", "movie-1"]])]
    assert view.ids == ["movie-2", "movie-1"] and view.verify() == {}
    assert FeatureStore(views / "view").ids == ["movie-2", "movie-1"]
    assert sorted(p.name for p in views.iterdir()) == ["view"]  # no stage and no old view left

    # A build that fails half-way leaves the current view as it was, and no stage.
    real_symlink, calls = os.symlink, []

    def failing_symlink(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_symlink(src, dst)

    monkeypatch.setattr(os, "symlink", failing_symlink)
    with pytest.raises(OSError, match="disk full"):
        subset_store(store_dir, ["movie-0", "movie-2"], views / "view")
    monkeypatch.undo()
    assert FeatureStore(views / "view").ids == ["movie-2", "movie-1"]
    assert sorted(p.name for p in views.iterdir()) == ["view"]
