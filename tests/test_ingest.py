"""`lmp ingest` / `lmp inspect` end to end on real footage, with tiny fake encoders (fast, in-process).

The real pretrained encoders run in tests/test_ingest_real.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from encoder_registry import registry_restored
from lmp.config import from_dict
from lmp.encoders import FrozenEncoder, register
from lmp.ingest.cli import discover, ingest, movie_id_for, shard
from lmp.ingest.config import FEATURE_FIELDS, NON_FEATURE_FIELDS, IngestConfig
from lmp.store import FeatureStore
from media import (
    CUTS_LINES,
    CUTS_RECIPE,
    Segment,
    build_audio_only,
    build_corrupt,
    build_damaged,
    build_movie,
    build_truncated,
    random_edit,
    write_srt,
)

pytest.importorskip("av")
pytest.importorskip("scenedetect")


BUILT: list[str] = []
"""Registry names of the fake encoders built so far (each appends its own when constructed)."""


class Counted(FrozenEncoder):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        BUILT.append(type(self).__name__)


class FakeVisual(Counted):
    """Mean colour of the shot's frames: cheap, and different for cartoon vs street shots."""

    modality, dim, input_size = "visual", 3, (32, 32)

    def _encode_batch(self, items):
        return np.stack([x.reshape(-1, 3).mean(0) / 255 for x in items])


class FakeWeightedVisual(FakeVisual):
    """FakeVisual times a scale read from a local "weights" file (a number as text)."""

    def __init__(self, weights_path=None, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(Path(weights_path).read_text()) if weights_path else 1.0

    def _encode_batch(self, items):
        return self.scale * super()._encode_batch(items)


class FakeAudio(Counted):
    """[seconds, RMS]: lets tests check that each shot got its own slice of the soundtrack."""

    modality, dim, sample_rate = "audio", 2, 16000

    def _encode_batch(self, items):
        return np.stack([[len(x) / self.sample_rate, float(np.sqrt((x**2).mean()))] for x in items])


class FakeText(Counted):
    modality, dim = "text", 2

    def _encode_batch(self, items):
        return np.array([[len(t), t.count(" ")] for t in items], dtype=np.float32)


@pytest.fixture(scope="module", autouse=True)
def fake_encoders():
    """Registers the fake encoders for this module's tests, then puts the registry back as it was."""
    with registry_restored():
        register("ingest-test-visual", "visual", 3, FakeVisual, overwrite=True)
        register("ingest-test-audio", "audio", 2, FakeAudio, overwrite=True)
        register("ingest-test-text", "text", 2, FakeText, overwrite=True)
        register("ingest-test-weighted", "visual", 3, FakeWeightedVisual, overwrite=True, weights_arg="weights_path")
        yield


def make_cfg(**kw) -> IngestConfig:
    base = dict(visual_encoder="ingest-test-visual", audio_encoder="ingest-test-audio", text_encoder="ingest-test-text")
    return from_dict(IngestConfig, {**base, **kw})


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("movies")
    specs = {
        "cuts": build_movie(root / "cuts.mp4", CUTS_RECIPE, CUTS_LINES),
        "one_shot": build_movie(root / "one_shot.mkv", (Segment("bbb", 0, 50),), srt_encoding=None),
        "no_audio": build_movie(root / "no_audio.mov", CUTS_RECIPE[:2], audio=False, srt_encoding=None),
        "rotated": build_movie(root / "rotated.mp4", CUTS_RECIPE[:2], rotation=90, srt_encoding=None),
        "vfr": build_movie(root / "vfr.mp4", CUTS_RECIPE[:2], vfr=True, srt_encoding=None),
    }
    full = build_movie(root / "src" / "full.mp4", CUTS_RECIPE, faststart=True, srt_encoding=None)
    build_truncated(full.path, root / "truncated.mp4", 0.5)
    build_damaged(full.path, root / "damaged.mp4")
    build_truncated(specs["cuts"].path, root / "truncated_noindex.mp4", 0.5)
    shutil.rmtree(root / "src")
    build_audio_only(root / "audio_only.mp4")
    build_corrupt(root / "corrupt.avi")
    (root / "empty.webm").write_bytes(b"")
    (root / "notes.txt").write_text("not a movie")
    return root, specs


@pytest.fixture(scope="module")
def ingested(media, tmp_path_factory):
    root, specs = media
    store = tmp_path_factory.mktemp("store") / "store"
    report = store.parent / "report.json"
    code = ingest(make_cfg(paths=[root], store=store, report=report))
    return store, json.loads(report.read_text()), code


def by_id(report):
    return {m["id"]: m for m in report["movies"]}


def root_of(report, movie_id):
    """The movie's path as the report names it."""
    return by_id(report)[movie_id]["path"]


def test_discover_and_ids(media):
    root, _ = media
    found = [p.name for p in discover([root])]
    assert "notes.txt" not in found and "cuts.srt" not in found
    assert {"cuts.mp4", "one_shot.mkv", "no_audio.mov", "corrupt.avi", "empty.webm"} <= set(found)
    assert movie_id_for(Path("a b/Le Film (1999).mp4")) == "Le_Film__1999_"


def test_batch_outcomes_and_report(ingested):
    store, report, code = ingested
    movies = by_id(report)
    assert code == 1  # some movies failed; the batch still finished
    ok = {"cuts", "one_shot", "no_audio", "rotated", "vfr"}
    assert {m for m, r in movies.items() if r["status"] == "ok"} == ok
    errors = {m: r["error"] for m, r in movies.items() if r["status"] == "error"}
    assert set(errors) == {"truncated", "truncated_noindex", "damaged", "audio_only", "corrupt", "empty"}
    assert "truncated" in errors["truncated"] and "truncated.mp4" in errors["truncated"]
    assert "packets are corrupt" in errors["damaged"] and "--allow_partial" in errors["damaged"]
    assert "no video stream" in errors["audio_only"]
    assert "empty file" in errors["empty"]
    assert "corrupt.avi" in errors["corrupt"]
    assert report["summary"]["ok"] == 5 and report["summary"]["error"] == 6
    assert set(movies["cuts"]["stage_seconds"]) >= {"decode", "shots", "visual", "audio", "text", "write"}
    # Failed movies leave nothing behind: no store entry, no staging or preview directories.
    st = FeatureStore(store)
    assert set(st.ids) == ok
    assert st.verify() == {}
    leftovers = [p.name for d in ("movies", "previews") for p in (store / d).iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert sorted(p.name for p in (store / "previews").iterdir()) == sorted(ok)
    assert (store.parent / "report.config.yaml").exists()


def test_cuts_movie_shots_audio_and_dialogue(ingested, media):
    store, _, _ = ingested
    spec = media[1]["cuts"]
    st = FeatureStore(store)
    rec, x = st.record("cuts"), st.read("cuts")
    assert rec.num_shots == 4
    np.testing.assert_allclose(x["times"][1:, 0], spec.cut_times, atol=1 / spec.fps + 1e-6)
    assert x["times"][-1, 1] == pytest.approx(spec.duration, abs=0.05)
    assert x["visual_mask"].all() and x["audio_mask"].all()
    # Each shot got its own slice of audio: [seconds, rms].
    np.testing.assert_allclose(x["audio"][:, 0], x["times"][:, 1] - x["times"][:, 0], atol=0.01)
    assert x["text_mask"].tolist() == [False, True, False, True]
    assert x["text"][1, 0] == len("The rabbit is waking up.")
    # Cartoon shots (0, 2) look alike, the street shots (1, 3) look different.
    v = x["visual"].astype(np.float32)
    assert np.linalg.norm(v[0] - v[2]) < np.linalg.norm(v[0] - v[1])
    meta = rec.meta
    assert meta["content_sha256"] and meta["ingest_hash"] and meta["source_path"].endswith("cuts.mp4")
    assert (meta["fps"], meta["width"], meta["height"], meta["rotation"]) == (25.0, 160, 90, 0)
    assert meta["dialogue_source"].endswith("cuts.srt")
    preview = json.loads((store / "previews" / "cuts" / "preview.json").read_text())
    assert preview["dialogue"][3] == "Look at all those bikes."
    assert preview["cuts"] == spec.cuts
    energy = np.load(store / "previews" / "cuts" / "energy.npy")
    assert len(energy) == pytest.approx(spec.duration / 0.1, abs=2)
    # Speech (added at 1.9 s) is louder than the silent street footage just before it.
    assert energy[20:30].mean() > 10 * energy[17:19].mean()


def test_dissolves_are_cut_at_their_centre_end_to_end(tmp_path):
    """The adaptive detector's dissolve finder inside `lmp ingest`: its cuts come later than hard ones while
    the movie streams, and every shot boundary still lands in its transition."""
    spec = random_edit(tmp_path / "movies" / "edit.mp4", 14, seed=4, dissolve_fraction=0.5, dissolve_frames=10,
                       audio=True)  # fmt: skip
    assert sum(lo < hi for lo, hi in spec.transitions) == 7
    assert ingest(make_cfg(paths=[spec.path], store=tmp_path / "store", report=tmp_path / "report.json")) == 0
    starts = np.round(FeatureStore(tmp_path / "store").read("edit")["times"][1:, 0] * spec.fps).astype(int)
    assert len(starts) == len(spec.transitions)
    assert all(lo - 2 <= s <= hi + 2 for (lo, hi), s in zip(spec.transitions, starts)), (starts, spec.transitions)


def test_edge_case_movies(ingested):
    store, report, _ = ingested
    st = FeatureStore(store)
    movies = by_id(report)
    assert st.record("one_shot").num_shots == 1
    no_audio = st.read("no_audio")
    assert not no_audio["audio_mask"].any() and no_audio["visual_mask"].all()
    assert any("no audio stream" in w for w in movies["no_audio"]["warnings"])
    # No subtitle file and text_source subtitles: one warning per movie; a movie with its .srt gets none.
    no_dialogue = [w for w in movies["one_shot"]["warnings"] if "no dialogue source" in w]
    assert no_dialogue == [f"{root_of(report, 'one_shot')}: no dialogue source: no usable subtitle file, and "
                           "text_source is subtitles (give --subtitles, or --text_source auto); "
                           "its text mask is all False"]
    assert not any("no dialogue source" in w for w in movies["cuts"]["warnings"])
    rot = st.record("rotated").meta
    assert rot["rotation"] == 90
    thumbs = np.load(store / "previews" / "rotated" / "thumbs.npy")
    assert thumbs.shape[1] > thumbs.shape[2]  # portrait, as displayed
    vfr = st.record("vfr")
    assert vfr.meta["vfr"] is True and not st.record("cuts").meta["vfr"]
    # Frame 40 of the 50 ms / 30 ms pattern plays at 20 * 80 ms = 1.6 s.
    assert st.read("vfr")["times"][1, 0] == pytest.approx(1.6, abs=1e-3)


def test_rerun_skips_then_config_change_reingests(ingested, media, tmp_path):
    store, _, _ = ingested
    root, _ = media
    report = tmp_path / "again.json"
    ingest(make_cfg(paths=[root / "cuts.mp4", root / "one_shot.mkv"], store=store, report=report))
    assert {m["status"] for m in json.loads(report.read_text())["movies"]} == {"skipped"}
    # A run killed between the record and the previews left the movie without them: it is done again.
    shutil.rmtree(store / "previews" / "cuts")
    ingest(make_cfg(paths=[root / "cuts.mp4"], store=store, report=report))
    assert [m["status"] for m in json.loads(report.read_text())["movies"]] == ["ok"]
    assert (store / "previews" / "cuts" / "thumbs.npy").is_file()
    ingest(make_cfg(paths=[root / "one_shot.mkv"], store=store, report=report, frames_per_shot=2))
    assert [m["status"] for m in json.loads(report.read_text())["movies"]] == ["ok"]
    # Issue 9.3: the subtitle encoding is a feature setting too (it was missing from the hash).
    again = dict(paths=[root / "one_shot.mkv"], store=store, report=report, frames_per_shot=2)
    ingest(make_cfg(**again, subtitle_encoding="latin-1"))
    assert [m["status"] for m in json.loads(report.read_text())["movies"]] == ["ok"]
    ingest(make_cfg(**again, subtitle_encoding="latin-1", threads=1, previews=False))  # not feature settings
    assert [m["status"] for m in json.loads(report.read_text())["movies"]] == ["skipped"]
    assert FeatureStore(store).verify() == {}


def test_the_dissolve_finder_leaves_the_hash_of_stores_it_does_not_change():
    """`gradual_transitions` came after stores existed: a store it does not change keeps its ingest_hash
    (the values are the hashes lmp computed before the option, at commit 155b299)."""
    before = {"adaptive": "4221e4e0981c3347", "transnetv2": "da97aad203527571"}
    cfg = dict(audio_encoder="logmel-stats", device="cpu")
    assert IngestConfig(detector="adaptive", gradual_transitions=False, **cfg).feature_hash() == before["adaptive"]
    for gradual in (True, False):  # TransNetV2 finds dissolves itself
        assert IngestConfig(detector="transnetv2", gradual_transitions=gradual, **cfg).feature_hash() == before[
            "transnetv2"
        ]
    # The adaptive detector with the finder (the default) gives other cuts: a new hash, so a re-ingest.
    assert IngestConfig(detector="adaptive", **cfg).feature_hash() != before["adaptive"]


def test_feature_fields_are_every_field_but_the_listed_exclusions():
    """Issue 9.3: FEATURE_FIELDS was a hand-kept list that missed decoder and subtitle_encoding."""
    assert set(FEATURE_FIELDS) == {
        "modalities", "visual_encoder", "audio_encoder", "text_encoder", "detector", "detector_threshold",
        "min_shot_seconds", "gradual_transitions", "frames_per_shot", "sample_fps", "text_source", "asr_model",
        "subtitle_encoding",
        "min_dialogue_overlap", "allow_partial", "decoder", "visual_weights", "audio_weights", "text_weights",
    }  # fmt: skip
    names = {f.name for f in fields(IngestConfig)}
    assert NON_FEATURE_FIELDS < names and set(FEATURE_FIELDS) == names - NON_FEATURE_FIELDS
    base = IngestConfig().feature_hash()
    for changed in ({"decoder": "torchcodec"}, {"subtitle_encoding": "latin-1"}, {"frames_per_shot": 3},
                    {"visual_encoder": "clip:ViT-B-16"}, {"text_encoder": "clip-text:ViT-B-16"}):
        assert IngestConfig(**changed).feature_hash() != base, changed
    for same in ({"workers": 3}, {"overwrite": True}, {"previews": False}, {"store": Path("elsewhere")},
                 {"paths": [Path("a.mp4")]}, {"batch_shots": 4}):
        assert IngestConfig(**same).feature_hash() == base, same


def test_allow_partial_keeps_the_decodable_part(media, tmp_path):
    root, specs = media
    report = tmp_path / "r.json"
    paths = [root / "truncated.mp4", root / "damaged.mp4"]
    code = ingest(make_cfg(paths=paths, store=tmp_path / "s", report=report, allow_partial=True))
    truncated, damaged = sorted(json.loads(report.read_text())["movies"], key=lambda m: m["id"], reverse=True)
    assert code == 0 and truncated["status"] == damaged["status"] == "ok"
    assert any("truncated" in w for w in truncated["warnings"])
    assert 2.0 < truncated["duration"] < 5.0
    # Corrupt packets are skipped, decoding goes on to the end.
    assert any("packets are corrupt; skipped" in w for w in damaged["warnings"])
    assert damaged["duration"] == pytest.approx(specs["cuts"].duration, abs=0.05)
    assert FeatureStore(tmp_path / "s").verify() == {}


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "utf-8-sig"])
def test_explicit_subtitles_in_other_encodings(media, tmp_path, encoding):
    root, specs = media
    srt = tmp_path / "other.srt"
    write_srt(srt, [(0.2, 1.2, "Déjà vu, señor!"), (5.0, 6.0, "<i>Adiós</i>")], encoding=encoding)
    bad = srt.read_bytes() + "\n\n7\n00:00:0x --> broken\ngarbage\n".encode(encoding.replace("-sig", ""))
    srt.write_bytes(bad)
    store = tmp_path / "s"
    ingest(make_cfg(paths=[root / "cuts.mp4"], store=store, report=tmp_path / "r.json", subtitles=srt,
                    modalities=["text"], previews=True))
    preview = json.loads((store / "previews" / "cuts" / "preview.json").read_text())
    assert preview["dialogue"] == ["Déjà vu, señor!", "", "", "Adiós"]
    movie = json.loads((tmp_path / "r.json").read_text())["movies"][0]
    assert any("malformed timing" in w for w in movie["warnings"])


def test_inspect_png_and_html(ingested, tmp_path):
    from lmp.cli import main

    store, _, _ = ingested
    png = tmp_path / "cuts.png"
    assert main(["inspect", "cuts", "--store", str(store), "--out", str(png)]) == 0
    import matplotlib.image as mpimg

    img = mpimg.imread(png)
    assert img.shape[0] > 300 and img.shape[1] > 600
    page = tmp_path / "cuts.html"
    assert main(["inspect", "cuts", "--store", str(store), "--out", str(page), "--format", "html"]) == 0
    text = page.read_text()
    assert "Look at all those bikes." in text and text.count("data:image/png;base64") == 5
    assert main(["inspect", "nope", "--store", str(store)]) == 1


def test_cli_entry_point_and_sharding(media, tmp_path, monkeypatch):
    from lmp.cli import main

    root, _ = media
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    assert shard() == (1, 2)
    files = [str(root / n) for n in ("cuts.mp4", "no_audio.mov", "one_shot.mkv", "vfr.mp4")]
    store = tmp_path / "store"
    args = ["ingest", *files, "--store", str(store), "--visual_encoder", "ingest-test-visual",
            "--audio_encoder", "ingest-test-audio", "--text_encoder", "ingest-test-text",
            "--modalities", "visual,audio"]
    assert main(args) == 0
    # Rank 1 of 2 takes every second movie of the sorted list.
    assert sorted(FeatureStore(store).ids) == ["no_audio", "vfr"]
    reports = list((store / "reports").glob("ingest-*-rank1.json"))
    assert len(reports) == 1 and reports[0].with_suffix(".config.yaml").exists()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(args) == 0
    assert sorted(FeatureStore(store).ids) == ["cuts", "no_audio", "one_shot", "vfr"]


def test_store_with_other_encoders_is_refused(ingested, media):
    from lmp.errors import StoreError

    store, _, _ = ingested
    root, _ = media
    with pytest.raises(StoreError, match="store was built with"):
        ingest(make_cfg(paths=[root / "cuts.mp4"], store=store, modalities=["visual"]))


def test_long_shot_frame_buffer_is_bounded(media, tmp_path, monkeypatch):
    import lmp.ingest.pipeline as pipeline

    seen = []
    monkeypatch.setattr(pipeline, "MAX_PENDING_FRAMES", 3)
    original = pipeline._pick_frames

    def spy(sampled, shot, k):
        seen.append(len(sampled))
        return original(sampled, shot, k)

    monkeypatch.setattr(pipeline, "_pick_frames", spy)
    root, _ = media
    store = tmp_path / "s"
    assert ingest(make_cfg(paths=[root / "one_shot.mkv"], store=store, report=tmp_path / "r.json",
                           frames_per_shot=3, sample_fps=25)) == 0
    assert seen and max(seen) <= 3  # 50 candidate frames at 25 fps, never more than the cap held
    assert FeatureStore(store).read("one_shot")["visual_mask"].all()


def _copy_as(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    return dst


def test_same_id_from_other_content_is_refused_across_runs(media, tmp_path):
    """Issue 8.1: Show1/film and Show2/film in two runs must not silently replace each other."""
    root, _ = media
    first = _copy_as(root / "one_shot.mkv", tmp_path / "s1" / "film.mkv")
    second = _copy_as(root / "no_audio.mov", tmp_path / "s2" / "film.mov")
    store, report = tmp_path / "store", tmp_path / "r.json"

    def run(*paths, **kw):
        cfg = make_cfg(paths=list(paths), store=store, report=report, modalities=["visual"], previews=False, **kw)
        code = ingest(cfg)
        return code, by_id(json.loads(report.read_text()))

    assert run(first.parent)[0] == 0
    sha = FeatureStore(store).record("film").meta["content_sha256"]
    code, movies = run(second.parent)
    assert code == 1 and movies["film"]["status"] == "error"
    error = movies["film"]["error"]
    assert str(second) in error and str(first.resolve()) in error and "--overwrite" in error and "--id_scheme" in error
    assert FeatureStore(store).record("film").meta["content_sha256"] == sha  # s1's features are kept
    assert run(first.parent)[1]["film"]["status"] == "skipped"  # same content: skipped as before
    code, movies = run(first.parent, second.parent, id_scheme="parent_stem")
    assert code == 0 and set(movies) == {"s1_film", "s2_film"}
    assert run(second, overwrite=True)[0] == 0
    assert FeatureStore(store).record("film").meta["source_path"] == str(second.resolve())


def test_unknown_subtitle_encoding_is_refused_before_decoding(media, tmp_path, capsys):
    """Issue 8.9."""
    from lmp.cli import main

    root, _ = media
    store = tmp_path / "s"
    assert main(["ingest", str(root / "cuts.mp4"), "--store", str(store), "--subtitle_encoding", "klingon"]) == 2
    err = capsys.readouterr().err
    assert "subtitle_encoding: unknown encoding 'klingon'" in err and "Traceback" not in err
    assert not store.exists()


def test_missing_path_creates_nothing_and_an_empty_folder_is_warned_about(media, tmp_path, capsys):
    """Issue 8.11."""
    from lmp.cli import main

    root, _ = media
    store = tmp_path / "s"
    assert main(["ingest", str(tmp_path / "nonexistent"), "--store", str(store)]) == 1
    assert f"no such file or folder: {tmp_path / 'nonexistent'}" in capsys.readouterr().err
    assert not store.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no movie here")
    args = ["ingest", str(root / "one_shot.mkv"), str(empty), "--store", str(store), "--modalities", "visual",
            "--visual_encoder", "ingest-test-visual", "--previews=false"]
    assert main(args) == 0
    warning = f"lmp ingest: warning: no movie files (.mp4, .mkv, .mov, .avi, .webm) under {empty}\n"
    assert warning in capsys.readouterr().err
    assert FeatureStore(store).ids == ["one_shot"]


def test_cues_after_the_end_of_the_video_are_counted(media, tmp_path):
    """Issue 8.12: cues past the end are dropped by the shot assignment; say how many."""
    root, specs = media
    srt = write_srt(tmp_path / "late.srt", [(0.2, 1.0, "Hello."), (30.0, 31.0, "Too late."), (40.0, 41.0, "Later.")])
    report = tmp_path / "r.json"
    assert ingest(make_cfg(paths=[root / "one_shot.mkv"], store=tmp_path / "s", report=report, subtitles=srt,
                           modalities=["text"], previews=False)) == 0
    [movie] = json.loads(report.read_text())["movies"]
    assert any(f"{srt}: 2 of 3 cues start after the video ends" in w for w in movie["warnings"]), movie["warnings"]


# ---- encoders: choice, weights, lazy loading ------------------------------------------------------------


def test_a_rerun_that_skips_every_movie_loads_no_encoder(media, tmp_path, monkeypatch):
    """Loading encoders takes seconds; a re-run over ingested movies must not pay it (nor the detector's)."""
    import lmp.ingest.shots as shots

    root, _ = media
    detectors = []
    real = shots.get_detector
    monkeypatch.setattr(shots, "get_detector", lambda *a, **k: detectors.append(a) or real(*a, **k))
    BUILT.clear()
    report = tmp_path / "r.json"
    cfg = make_cfg(paths=[root / "cuts.mp4", root / "one_shot.mkv"], store=tmp_path / "s", report=report)
    # Two movies to ingest: each encoder and the detector load once, at the first of them.
    assert ingest(cfg) == 0
    assert {m["status"] for m in json.loads(report.read_text())["movies"]} == {"ok"}
    assert sorted(BUILT) == ["FakeAudio", "FakeText", "FakeVisual"] and len(detectors) == 1
    BUILT.clear()
    assert ingest(cfg) == 0
    assert {m["status"] for m in json.loads(report.read_text())["movies"]} == {"skipped"}
    assert BUILT == [] and len(detectors) == 1


def test_a_failed_encoder_load_fails_each_movie_once(media, tmp_path):
    class Broken(FakeVisual):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            raise RuntimeError("checkpoint is corrupt")

    register("ingest-test-broken", "visual", 3, Broken, overwrite=True)
    root, _ = media
    BUILT.clear()
    report = tmp_path / "r.json"
    cfg = make_cfg(paths=[root / "one_shot.mkv", root / "vfr.mp4"], store=tmp_path / "s", report=report,
                   modalities=["visual"], visual_encoder="ingest-test-broken")
    assert ingest(cfg) == 1
    errors = [m["error"] for m in json.loads(report.read_text())["movies"]]
    assert errors == ["loading the encoders failed: RuntimeError('checkpoint is corrupt')"] * 2
    assert BUILT == ["Broken"]  # not loaded again for the second movie


def test_a_store_never_mixes_two_versions_of_an_encoders_packages(media, tmp_path, monkeypatch):
    """Shipped weights change with their package's version, not with the encoder's name."""
    import importlib.metadata

    class Packaged(FakeVisual):
        packages = ("pytest",)  # any installed distribution: its version is what is recorded

    register("ingest-test-packaged", "visual", 3, Packaged, overwrite=True)
    root, _ = media
    store, report = tmp_path / "s", tmp_path / "r.json"
    cfg = dict(store=store, report=report, modalities=["visual"], visual_encoder="ingest-test-packaged",
               previews=False)
    assert ingest(make_cfg(paths=[root / "one_shot.mkv"], **cfg)) == 0
    installed = importlib.metadata.version("pytest")
    assert FeatureStore(store).record("one_shot").meta["encoder_packages"] == {"visual": {"pytest": installed}}

    from lmp.encoders import base

    monkeypatch.setattr(base, "package_version", lambda dist: "0.0.dev1")
    assert ingest(make_cfg(paths=[root / "one_shot.mkv", root / "vfr.mp4"], **cfg)) == 1
    movies = by_id(json.loads(report.read_text()))
    assert movies["one_shot"]["status"] == "skipped"  # nothing new is written for it: no load, no check
    assert movies["vfr"]["error"] == (
        f"{store}: movie 'one_shot' was ingested with other versions of the visual encoder's packages "
        f"(pytest {installed} then, 0.0.dev1 now); one store must not mix their features: install the versions "
        "it was made with, ingest into a new store, or pass --overwrite to re-ingest"
    )
    assert FeatureStore(store).ids == ["one_shot"]
    # --overwrite is the explicit choice: both movies are (re-)made with the new versions.
    assert ingest(make_cfg(paths=[root / "one_shot.mkv", root / "vfr.mp4"], overwrite=True, **cfg)) == 0
    assert {FeatureStore(store).record(m).meta["encoder_packages"]["visual"]["pytest"] for m in ("one_shot", "vfr")} \
        == {"0.0.dev1"}


def test_encoder_choice_is_checked_when_the_config_is_built(media, tmp_path, capsys):
    from lmp.cli import main

    root, _ = media
    store = tmp_path / "s"
    movie = str(root / "one_shot.mkv")
    cases = [
        (["--visual_encoder", "nope"],
         "visual_encoder: unknown encoder 'nope'; choose from clip:ARCH, efficientnet-lite0"),
        (["--text_encoder", "logmel-stats"], "text_encoder: 'logmel-stats' encodes audio, not text; text encoders: "),
        (["--visual_encoder", "clip:ViT-X"],
         "visual_encoder: encoder 'clip:ViT-X': unknown arch 'ViT-X'; arch is one of: ViT-B-32, "),
        (["--visual_encoder", "clip:ViT-B-16", "--visual_weights", str(tmp_path / "no.pt")],
         f"visual_weights: {tmp_path / 'no.pt'} does not exist"),
        (["--audio_encoder", "logmel-stats", "--audio_weights", movie],
         "audio_weights: encoder 'logmel-stats' takes no weights"),
        (["--audio_encoder", "aisfx+nope"], "audio_encoder: unknown encoder 'nope'; registered encoders: "),
    ]  # fmt: skip
    for args, message in cases:
        assert main(["ingest", movie, "--store", str(store), *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    # Weights that no package ships: refused before anything is created or loaded, naming the option.
    assert main(["ingest", movie, "--store", str(store), "--visual_encoder", "clip:ViT-B-16"]) == 1
    assert "visual_encoder clip:ViT-B-16 needs --visual_weights PATH" in capsys.readouterr().err
    assert not store.exists()


def test_cli_and_yaml_select_an_encoder_with_its_weights(tmp_path):
    from lmp.cli import parse_args

    weights = tmp_path / "ViT-B-16.pt"
    weights.write_bytes(b"not read: the config only checks that it exists")
    args = ["--visual_encoder", "clip:ViT-B-16", "--visual_weights", str(weights), "--text_encoder=clip-text:ViT-B-16"]
    cfg = parse_args(IngestConfig, ["movie.mp4", *args, f"--text_weights={weights}"])
    assert (cfg.visual_encoder, cfg.visual_weights) == ("clip:ViT-B-16", weights)
    assert (cfg.text_encoder, cfg.text_weights) == ("clip-text:ViT-B-16", weights)
    assert cfg.encoder_kwargs("visual") == cfg.encoder_kwargs("text") == {"weights_path": str(weights)}
    dims = cfg.encoder_dims()  # audio: 'auto', 769 or 128 depending on the installed packages
    assert cfg.encoder_kwargs("audio") == {} and (dims["visual"], dims["text"], dims["audio"] in (128, 769)) == (
        512, 512, True)
    yml = tmp_path / "clip.yaml"
    yml.write_text(f"visual_encoder: clip:ViT-L-14-quickgelu\nvisual_weights: {weights}\n")
    cfg = parse_args(IngestConfig, ["--config", str(yml)])
    assert (cfg.visual_encoder, cfg.visual_weights) == ("clip:ViT-L-14-quickgelu", weights)
    assert cfg.encoder_dims()["visual"] == 768


def test_help_lists_every_encoder():
    from lmp.cli import format_help
    from lmp.encoders import list_encoders

    text = format_help("ingest", IngestConfig, "")
    for modality, names in list_encoders().items():
        line = next(x for x in text.splitlines() if x.strip().startswith(f"--{modality}_encoder "))
        missing = [n for n in names if not n.startswith("ingest-test") and n not in line]
        assert not missing, f"--{modality}_encoder help does not name {missing}: {line}"


def test_weights_content_is_part_of_the_ingest_hash(media, tmp_path):
    """Other weights at the same path re-ingest; the same weights at another path do not."""
    root, _ = media
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("2.0")
    b.write_text("2.0")
    store, report = tmp_path / "s", tmp_path / "r.json"

    def run(weights):
        cfg = make_cfg(paths=[root / "one_shot.mkv"], store=store, report=report, modalities=["visual"],
                       visual_encoder="ingest-test-weighted", visual_weights=weights, previews=False)
        assert ingest(cfg) == 0
        [movie] = json.loads(report.read_text())["movies"]
        return movie["status"], cfg.feature_hash()

    status, first = run(a)
    assert status == "ok"
    rec = FeatureStore(store).record("one_shot")
    assert rec.meta["encoder_weights"]["visual"]["sha256"] == hashlib.sha256(b"2.0").hexdigest()
    assert rec.meta["ingest_hash"] == first
    assert run(b) == ("skipped", first)  # same content elsewhere
    before = FeatureStore(store).read("one_shot")["visual"].astype(np.float32)
    a.write_text("3.0")
    status, second = run(a)
    assert status == "ok" and second != first
    after = FeatureStore(store).read("one_shot")["visual"].astype(np.float32)
    np.testing.assert_allclose(after, 1.5 * before, rtol=1e-3)


def test_auto_audio_encoder_is_resolved_into_the_config_and_hash(monkeypatch, tmp_path):
    """'auto' never reaches the store: the resolved name is in the config, the manifest's encoders and the
    ingest hash, so a store written with logmel-stats refuses a run that resolves to the learned pair."""
    import lmp.encoders as encoders
    from lmp.errors import LMPError, LMPWarning
    from lmp.store import EncoderSpec, StoreWriter

    base = dict(visual_encoder="ingest-test-visual", text_encoder="ingest-test-text")
    monkeypatch.setattr(encoders, "learned_audio_missing", lambda: [])
    learned = from_dict(IngestConfig, base)
    assert learned.audio_encoder == "aisfx+voice" and learned.encoder_dims()["audio"] == 769
    monkeypatch.setattr(encoders, "learned_audio_missing", lambda: ["aisfx", "resemblyzer"])
    with pytest.warns(LMPWarning, match=r"audio_encoder auto: aisfx\+voice needs Python module\(s\) "
                                        r"\['aisfx', 'resemblyzer'\], so audio is encoded with logmel-stats; "
                                        "for learned audio features install them with: pip install"):
        fallback = from_dict(IngestConfig, base)
    assert fallback.audio_encoder == "logmel-stats"
    # The fallback hashes as an explicit logmel-stats config (stores written before 'auto' stay valid) ...
    assert fallback.feature_hash() == from_dict(IngestConfig, {**base, "audio_encoder": "logmel-stats"}).feature_hash()
    assert learned.feature_hash() != fallback.feature_hash()
    # ... and a logmel store refuses the learned encoder, as for any other encoder change.
    StoreWriter(tmp_path / "s", {"audio": EncoderSpec("logmel-stats", 128)})
    with pytest.raises(LMPError, match="aisfx"):
        StoreWriter(tmp_path / "s", {"audio": EncoderSpec(learned.audio_encoder, 769)})
    # Without audio in the modalities nothing is stored: 'auto' is the same on every machine, silently.
    assert from_dict(IngestConfig, {**base, "modalities": ["visual"]}).audio_encoder == "logmel-stats"


def test_a_subtitle_file_added_or_edited_later_reingests_the_movie(media, tmp_path):
    """Subtitles are outside the feature hash (their path is a run setting), so a re-run used to skip a movie
    whose .srt had been added since, and its text stayed empty."""
    root, _ = media
    folder = tmp_path / "movies"
    folder.mkdir()
    movie = Path(shutil.copy(root / "one_shot.mkv", folder / "film.mkv"))
    store, report = tmp_path / "store", tmp_path / "r.json"

    def run() -> str:
        ingest(make_cfg(paths=[movie], store=store, report=report))
        return json.loads(report.read_text())["movies"][0]["status"]

    assert run() == "ok" and not FeatureStore(store).read("film")["text_mask"].any()
    assert run() == "skipped"
    write_srt(folder / "film.srt", [(0.2, 1.2, "Hello there.")])
    assert run() == "ok" and FeatureStore(store).read("film")["text_mask"].any()
    assert run() == "skipped"
    write_srt(folder / "film.srt", [(0.2, 1.2, "Goodbye.")])
    assert run() == "ok"
