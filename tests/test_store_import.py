"""`lmp store import`: every source format, shot lists, joins, resume, and bad input named by file and key.

Fixtures are generated in tmp_path with small integer-valued rows, so that every shot's mean is known by
hand (and exact in float16)."""

from __future__ import annotations

import fractions
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from lmp.cli import main
from lmp.store import FeatureStore
from lmp.store.importer import StoreImportConfig, import_features
from lmp.tasks.lvu import FIXTURE_DIR

h5py = pytest.importorskip("h5py")


def ramp(rows: int, dim: int = 2, scale: float = 1.0) -> np.ndarray:
    """float32 [rows, dim]: row i = scale * [i, -i, 2i, ...] (so the mean of rows a..b is easy by hand)."""
    signs = np.array([1, -1, 2, -2][:dim], dtype=np.float32)
    return scale * np.arange(rows, dtype=np.float32)[:, None] * signs


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["store", "import", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def verify(capsys, store) -> None:
    assert main(["store", "verify", str(store)]) == 0
    assert "OK" in capsys.readouterr().out


def test_npy_folder_with_pseudo_shots(tmp_path, capsys):
    feats = tmp_path / "feats"
    feats.mkdir()
    np.save(feats / "a.npy", ramp(5))  # rows at 0..4 s
    np.save(feats / "b.npy", ramp(3, scale=10))
    (feats / "README.txt").write_text("not a feature file: ignored")
    code, out, _ = run(capsys, feats, "--store", tmp_path / "S", "--visual.rate", 1, "--shot_seconds", 2,
                       "--visual.encoder", "my-vit")
    assert code == 0 and "2 written, 0 skipped" in out
    store = FeatureStore(tmp_path / "S")
    assert store.ids == ["a", "b"] and store.encoders["visual"].name == "my-vit" and store.dims == {"visual": 2}
    a = store.read("a")
    # [0,2) -> rows 0,1; [2,4) -> rows 2,3; [4,5) -> row 4 (the last shot ends with the rows)
    np.testing.assert_array_equal(a["times"], [[0, 2], [2, 4], [4, 5]])
    np.testing.assert_array_equal(a["visual"], [[0.5, -0.5], [2.5, -2.5], [4, -4]])
    assert a["visual_mask"].all()
    np.testing.assert_array_equal(store.read("b")["visual"], [[5, -5], [20, -20]])
    assert store.record("b").meta == {
        "imported_from": {"visual": str(feats / "b.npy")}, "shots": "pseudo-shots of 2 s",
        "import_options": {"visual": {"rate": 1.0, "timestamps": "timestamps", "key": "features", "tokens": "none"},
                           "shots": None, "shot_seconds": 2.0},
    }
    verify(capsys, tmp_path / "S")


# rows 0,1 and rows 2,3 of cls = ramp: [0.5, -0.5], [2.5, -2.5]; of mean = ramp + 2: [2.5, 1.5], [4.5, -0.5]
@pytest.mark.parametrize("tokens, expected", [("cls", [[0.5, -0.5], [2.5, -2.5]]), ("mean", [[2.5, 1.5], [4.5, -0.5]])])
def test_token_axis_is_pooled(tmp_path, capsys, tokens, expected):
    # [rows=4, tokens=3, dim=2]: token k of row i = ramp(i) + 2k, so cls = ramp(i), mean over k = ramp(i) + 2
    x = ramp(4)[:, None, :] + 2 * np.arange(3, dtype=np.float32)[None, :, None]
    np.save(tmp_path / "v1.npy", x)
    code, _, _ = run(capsys, tmp_path / "v1.npy", "--store", tmp_path / "S", "--visual.rate", 1,
                     "--visual.tokens", tokens, "--shot_seconds", 2)
    assert code == 0
    np.testing.assert_array_equal(FeatureStore(tmp_path / "S").read("v1")["visual"], expected)


def test_keyed_npz_with_timestamps_and_shot_csv(tmp_path, capsys):
    np.savez(
        tmp_path / "all.npz",
        **{"a/features": ramp(4), "a/timestamps": np.array([0.0, 0.5, 1.2, 3.0]),
           "b/features": ramp(2, scale=4), "b/timestamps": np.array([0.25, 0.75])},
    )
    (tmp_path / "shots.csv").write_text(
        "video_id,start,end\n"
        "a,1.1,4\n"  # rows at 1.2 and 3.0 (rows of a video may come in any order)
        "a,0,1\n"    # rows at 0 and 0.5
        "a,1,1.1\n"  # no row inside: the row nearest its centre 1.05 is the one at 1.2
        "b,0,2\n"
    )
    code, out, _ = run(capsys, "visual=" + str(tmp_path / "all.npz"), "--store", tmp_path / "S",
                       "--shots", tmp_path / "shots.csv")
    assert code == 0, out
    store = FeatureStore(tmp_path / "S")
    a = store.read("a")
    np.testing.assert_array_equal(a["times"], [[0, 1], [1, 1.1], [1.1, 4]])
    np.testing.assert_array_equal(a["visual"], [[0.5, -0.5], [2, -2], [2.5, -2.5]])
    np.testing.assert_array_equal(store.read("b")["visual"], [[2, -2]])
    assert store.record("a").meta["shots"] == str(tmp_path / "shots.csv")
    verify(capsys, tmp_path / "S")


def test_keyed_pt_with_cut_list_json(tmp_path, capsys):
    torch.save({"a": torch.from_numpy(ramp(6)), "b": torch.from_numpy(ramp(3)).to(torch.bfloat16)},
               tmp_path / "all.pt")
    # a: cuts at 2 and 5 s -> [0,2) [2,5) [5,6); b: no cut (0 s is the start anyway) -> one shot [0,3)
    (tmp_path / "cuts.json").write_text(json.dumps({"a": [5, 2], "b": [0]}))
    code, _, _ = run(capsys, tmp_path / "all.pt", "--store", tmp_path / "S", "--visual.rate", 1,
                     "--shots", tmp_path / "cuts.json")
    assert code == 0
    store = FeatureStore(tmp_path / "S")
    a = store.read("a")
    np.testing.assert_array_equal(a["times"], [[0, 2], [2, 5], [5, 6]])
    np.testing.assert_array_equal(a["visual"], [[0.5, -0.5], [3, -3], [5, -5]])
    np.testing.assert_array_equal(store.read("b")["visual"], [[1, -1]])


def test_pt_folder_and_shot_json_with_explicit_shots(tmp_path, capsys):
    feats = tmp_path / "feats"
    feats.mkdir()
    torch.save({"features": torch.from_numpy(ramp(4)), "timestamps": torch.tensor([0.0, 1.0, 2.0, 3.0])},
               feats / "a.pt")
    (tmp_path / "shots.json").write_text(json.dumps({"a": [[0, 1.5], [1.5, 4]]}))
    code, _, _ = run(capsys, feats, "--store", tmp_path / "S", "--shots", tmp_path / "shots.json")
    assert code == 0
    np.testing.assert_array_equal(FeatureStore(tmp_path / "S").read("a")["visual"], [[0.5, -0.5], [2.5, -2.5]])


def test_npz_folder_with_a_yaml_config(tmp_path, capsys):
    feats = tmp_path / "feats"
    feats.mkdir()
    np.savez(feats / "a.npz", features=ramp(3), timestamps=np.array([0.0, 0.4, 2.0]))
    (tmp_path / "import.yaml").write_text(
        f"sources: [audio={feats}]\nstore: {tmp_path / 'S'}\naudio: {{encoder: my-audio}}\nshot_seconds: 1\n"
    )
    code, _, _ = run(capsys, "--config", tmp_path / "import.yaml")
    assert code == 0
    store = FeatureStore(tmp_path / "S")
    assert store.encoders["audio"].name == "my-audio"
    a = store.read("a")
    # rows end at 2.0 + median spacing 1.0 = 3 s: [0,1) rows 0,1; [1,2) no row, nearest to 1.5 is 2.0; [2,3) row 2
    np.testing.assert_array_equal(a["times"], [[0, 1], [1, 2], [2, 3]])
    np.testing.assert_array_equal(a["audio"], [[0.5, -0.5], [2, -2], [2, -2]])


SCENES_CSV = """Timecode List:,00:00:02.000
Scene Number,Start Frame,Start Timecode,Start Time (seconds),End Frame,End Timecode,End Time (seconds),\
Length (frames),Length (timecode),Length (seconds)
1,1,00:00:00.000,0.000,50,00:00:02.000,2.000,50,00:00:02.000,2.000
2,51,00:00:02.000,2.000,100,00:00:04.000,4.000,50,00:00:02.000,2.000
"""


def test_keyed_h5_groups_with_pyscenedetect_scene_lists(tmp_path, capsys):
    with h5py.File(tmp_path / "all.h5", "w") as f:
        f["a/feats"] = ramp(8)  # one array besides the timestamps: used whatever its name
        f["a/timestamps"] = np.arange(8) * 0.5  # 2 rows per second
        f["b/feats"] = ramp(2)
        f["b/timestamps"] = np.array([0.0, 2.5])
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    (scenes / "a-Scenes.csv").write_text(SCENES_CSV)  # PySceneDetect's default name: <video>-Scenes.csv
    (scenes / "b.csv").write_text(SCENES_CSV.split("\n", 1)[1])  # written with list-scenes --skip-cuts
    code, out, _ = run(capsys, tmp_path / "all.h5", "--store", tmp_path / "S", "--shots", scenes)
    assert code == 0, out
    store = FeatureStore(tmp_path / "S")
    a = store.read("a")
    np.testing.assert_array_equal(a["times"], [[0, 2], [2, 4]])
    np.testing.assert_array_equal(a["visual"], [[1.5, -1.5], [5.5, -5.5]])  # rows 0-3, rows 4-7
    np.testing.assert_array_equal(store.read("b")["visual"], [[0, 0], [1, -1]])


def test_modalities_join_by_id_and_a_missing_one_is_masked(tmp_path, capsys):
    vis = tmp_path / "vis"
    vis.mkdir()
    np.save(vis / "a.npy", ramp(4))
    np.save(vis / "b.npy", ramp(2))
    aud = tmp_path / "aud"
    aud.mkdir()
    with h5py.File(aud / "a.h5", "w") as f:  # only video a has audio; 2 rows per second, 3 tokens
        f["features"] = np.repeat(ramp(8, dim=3)[:, None, :], 3, axis=1)
    ids = tmp_path / "ids.txt"
    ids.write_text("# the videos to import\na\nb\nc\n")
    code, out, _ = run(capsys, f"visual={vis}", f"audio={aud}", "--store", tmp_path / "S", "--visual.rate", 1,
                       "--audio.rate", 2, "--audio.tokens", "mean", "--shot_seconds", 2, "--ids", ids)
    assert code == 0
    assert "2 written" in out and "1 ids from --ids have features in no source: c" in out
    store = FeatureStore(tmp_path / "S")
    assert store.dims == {"visual": 2, "audio": 3}
    a, b = store.read("a"), store.read("b")
    np.testing.assert_array_equal(a["audio"], [[1.5, -1.5, 3], [5.5, -5.5, 11]])  # rows 0-3 and 4-7
    assert a["audio_mask"].all() and a["visual_mask"].all()
    assert not b["audio_mask"].any() and (b["audio"] == 0).all() and b["visual_mask"].all()
    assert store.record("b").meta["imported_from"] == {"visual": str(vis / "b.npy")}
    verify(capsys, tmp_path / "S")


def test_resume_skips_stored_videos_and_overwrite_rewrites_them(tmp_path, capsys):
    feats = tmp_path / "feats"
    feats.mkdir()
    np.save(feats / "a.npy", ramp(2))
    args = [feats, "--store", tmp_path / "S", "--visual.rate", 1, "--shot_seconds", 2]
    assert run(capsys, *args)[0] == 0
    np.save(feats / "a.npy", ramp(2, scale=2))
    np.save(feats / "b.npy", ramp(2))
    code, out, _ = run(capsys, *args)
    assert code == 0 and "1 written, 1 skipped" in out
    assert FeatureStore(tmp_path / "S").read("a")["visual"].tolist() == [[0.5, -0.5]]  # untouched
    code, out, _ = run(capsys, *args, "--overwrite")
    assert code == 0 and "2 written, 0 skipped" in out
    assert FeatureStore(tmp_path / "S").read("a")["visual"].tolist() == [[1, -1]]
    verify(capsys, tmp_path / "S")


def test_a_resumed_import_with_other_settings_is_refused(tmp_path, capsys):
    """Skipping the stored videos under new settings would leave one store pooled two ways."""
    feats = tmp_path / "feats"
    feats.mkdir()
    np.save(feats / "a.npy", ramp(4))
    base = [feats, "--store", tmp_path / "S", "--visual.rate", 1]
    assert run(capsys, *base, "--shot_seconds", 2)[0] == 0
    np.save(feats / "b.npy", ramp(4))
    code, _, err = run(capsys, *base, "--shot_seconds", 1)
    assert code == 1 and "video 'a' was imported with other settings (shot_seconds: [2.0] then, [1.0] now)" in err
    assert FeatureStore(tmp_path / "S").ids == ["a"]
    code, out, _ = run(capsys, *base, "--shot_seconds", 1, "--overwrite")
    assert code == 0 and "2 written" in out


@pytest.mark.parametrize(
    "shots, message",
    [
        ({"a": [[0, 2], [2, 4], [100, 120]]}, "1 of 3 shots lie outside its features' time span (-1 s to 4 s"),
        ({"a": [[1000, 1002], [1002, 1004]]}, "2 of 2 shots lie outside"),  # another clock
    ],
)
def test_shots_and_rows_on_different_time_axes_are_refused(tmp_path, capsys, shots, message):
    """A shot with no row inside used to take its nearest row whatever the distance: shot times in frames or
    from another clock imported as copies of the first or last row, with no error."""
    feats = tmp_path / "feats"
    feats.mkdir()
    np.save(feats / "a.npy", ramp(4))  # rows at 0, 1, 2, 3 s
    (tmp_path / "shots.json").write_text(json.dumps(shots))
    code, _, err = run(capsys, feats, "--store", tmp_path / "S", "--visual.rate", 1, "--shots", tmp_path / "shots.json")
    assert code == 1 and message in err and err.count("\n") == 1


def test_most_shots_without_a_row_are_warned_about(tmp_path, capsys):
    """Rows every 10 s and shots of 2 s: legitimate for coarse features, and a sign of a unit mix-up otherwise."""
    feats = tmp_path / "feats"
    feats.mkdir()
    np.save(feats / "a.npy", ramp(3))
    code, _, err = run(capsys, feats, "--store", tmp_path / "S", "--visual.rate", 0.1, "--shot_seconds", 2)
    assert code == 0 and "12 of 15 shots of video 'a' contain no visual feature row (rows every 10 s)" in err


def test_lvu_ids_restrict_the_import(tmp_path, capsys):
    feats = tmp_path / "feats"
    feats.mkdir()
    for vid in ("09-K2ec8lyc", "1XqI8Lyp21A", "not-in-lvu"):  # the first two are in lvu_mini's scene/train.csv
        np.save(feats / f"{vid}.npy", ramp(3))
    base = [feats, "--visual.rate", 1, "--shot_seconds", 1]
    code, out, _ = run(capsys, *base, "--store", tmp_path / "S1", "--ids", FIXTURE_DIR)
    assert code == 0 and "2 written" in out and "1 videos in the sources are not in --ids" in out
    assert FeatureStore(tmp_path / "S1").ids == ["09-K2ec8lyc", "1XqI8Lyp21A"]
    code, out, _ = run(capsys, *base, "--store", tmp_path / "S2", "--ids", FIXTURE_DIR / "scene" / "train.csv")
    assert code == 0 and FeatureStore(tmp_path / "S2").ids == ["09-K2ec8lyc", "1XqI8Lyp21A"]


def _write_npy(tmp_path, **arrays) -> str:
    feats = tmp_path / "feats"
    feats.mkdir(exist_ok=True)
    for name, x in arrays.items():
        np.save(feats / f"{name}.npy", x)
    return str(feats)


def _nan_at_row_2():
    x = ramp(4)
    x[2, 1] = np.nan
    return x


# Each case: (make the source and extra args, the message expected on stderr). All fail before any write.
ERRORS = {
    "wrong ndim": (lambda p: [_write_npy(p, a=np.zeros(5, np.float32))], "a.npy: expected [rows, dim], got shape [5]"),
    "token axis without --tokens": (lambda p: [_write_npy(p, a=np.zeros((3, 4, 2)))],
                                    "a.npy: has a token axis (shape [3, 4, 2]"),
    "NaN": (lambda p: [_write_npy(p, a=_nan_at_row_2())], "a.npy: NaN/inf in row 2"),
    "beyond float16": (lambda p: [_write_npy(p, a=np.full((2, 2), 1e6))], "exceed float16's range"),
    "strings": (lambda p: [_write_npy(p, a=np.array([["x", "y"]]))], "a.npy: dtype <U1 is not a real number type"),
    "unknown extension": (lambda p: [str(_touch(p / "feats.mat"))], "feats.mat: unknown extension '.mat'"),
    "empty folder": (lambda p: [str(_mkdir(p / "empty"))], "empty: no feature files"),
    "no such path": (lambda p: [f"audio={p / 'nope'}"], "nope: no such file or folder"),
    "pt with non-tensors": (lambda p: [_save_pt(p / "x.pt", {"a": [1, 2, 3]})],
                            "x.pt[a]: holds a list, not a tensor"),
    "pt group with non-tensors": (lambda p: [_save_pt(p / "x.pt", {"a": {"features": "text"}})],
                                  "x.pt[a/features]: holds a str, not a tensor"),
    "pt with an object": (lambda p: [_save_pt(p / "x.pt", {"a": fractions.Fraction(1, 3)})],
                          "x.pt: not loadable with torch.load(weights_only=True), which allows only tensors and "
                          "dicts/lists of them (Unsupported global: GLOBAL fractions.Fraction was not an allowed"),
    "pt ids that collide as text": (lambda p: [_save_pt(p / "x.pt", {1: torch.ones(2, 2), "1": torch.zeros(2, 2)})],
                                    "x.pt: keys 1 and '1' both name '1'"),
    "pt group names that collide as text": (
        lambda p: [_save_pt(p / "x.pt", {"a": {0: torch.ones(2, 2), "0": torch.zeros(2, 2)}})],
        "x.pt[a]: keys 0 and '0' both name '0'"),
    "pt not a dict": (lambda p: [_save_pt(p / "x.pt", torch.zeros(2, 2))], "x.pt: expected a dict video id"),
    "timestamps not increasing": (
        lambda p: [_save_npz(p / "x.npz", **{"a/features": ramp(3), "a/timestamps": np.array([0.0, 1.0, 1.0])})],
        "x.npz[a/timestamps]: timestamps are not increasing at row 2 (1 s after 1 s)"),
    "timestamps of the wrong length": (
        lambda p: [_save_npz(p / "x.npz", **{"a/features": ramp(3), "a/timestamps": np.array([0.0, 1.0])})],
        "x.npz[a/timestamps]: shape [2], expected [3]"),
    "no row times": (lambda p: [_save_npz(p / "x.npz", a=ramp(3))], "x.npz[a]: no row times: pass --visual.rate"),
    "ambiguous group": (lambda p: [_save_npz(p / "x.npz", **{"a/u": ramp(2), "a/v": ramp(2)})],
                        "x.npz[a]: no 'features' array among ['u', 'v']"),
}


def _touch(path):
    path.write_bytes(b"")
    return path


def _mkdir(path):
    path.mkdir()
    return path


def _save_pt(path, obj) -> str:
    torch.save(obj, path)
    return str(path)


def _save_npz(path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_input_is_one_line_naming_the_file(tmp_path, capsys, case):
    make, message = ERRORS[case]
    args = make(tmp_path)
    rate = [] if "timestamps" in case or "row times" in case else ["--visual.rate", "1"]
    code, _, err = run(capsys, *args, "--store", tmp_path / "S", "--shot_seconds", 2, *rate)
    assert code == 1, err
    assert err.startswith("lmp store import: error: ") and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "S").exists()  # found before a store was created


SHOT_LIST_ERRORS = {
    "id missing from the shot list": ("video_id,start,end\nb,0,1\n",
                                      "shots.csv: no shots for 1 video(s) to import: 'a'"),
    "bad header": ("id,from,to\na,0,1\n", "shots.csv: header ['id', 'from', 'to'] is not a shot list's"),
    "overlapping shots": ("video_id,start,end\na,0,2\na,1,3\n", "video 'a': shots 0-2 s and 1-3 s overlap"),
    "empty shot": ("video_id,start,end\na,1,1\n", "shot 1-1 s does not end after it starts"),
    "not a number": ("video_id,start,end\na,0,x\n", "shots.csv:2: 'x' is not a number of seconds"),
    "cut after the end": ("video_id,cut\na,1\na,9\n", "video 'a': cut at 9 s is at or after the end of its features"),
}


@pytest.mark.parametrize("case", list(SHOT_LIST_ERRORS))
def test_bad_shot_lists_are_named(tmp_path, capsys, case):
    text, message = SHOT_LIST_ERRORS[case]
    (tmp_path / "shots.csv").write_text(text)
    feats = _write_npy(tmp_path, a=ramp(4))
    code, _, err = run(capsys, feats, "--store", tmp_path / "S", "--visual.rate", 1, "--shots", tmp_path / "shots.csv")
    assert code == 1 and message in err, err
    assert not (tmp_path / "S").exists() or not FeatureStore(tmp_path / "S").ids


def test_a_bad_later_video_stops_the_import_and_leaves_only_whole_videos(tmp_path, capsys):
    feats = _write_npy(tmp_path, a=ramp(4), b=ramp(4, dim=3), c=ramp(4))
    args = [feats, "--store", tmp_path / "S", "--visual.rate", 1, "--shot_seconds", 2]
    code, _, err = run(capsys, *args)
    assert code == 1 and "b.npy: 3 features per row, but the store's visual features have 2" in err
    assert FeatureStore(tmp_path / "S").ids == ["a"]  # a is complete; b and c were never started
    assert not [p for p in (tmp_path / "S" / "movies").iterdir() if p.name.startswith(".")]
    verify(capsys, tmp_path / "S")
    code, out, _ = run(capsys, *args, "--keep_going")  # resumes after a, reports b, imports c
    assert code == 1 and "1 written, 1 skipped (already in" in out and "1 failed" in out
    assert "FAILED b: " in out and "b.npy: 3 features per row" in out
    assert FeatureStore(tmp_path / "S").ids == ["a", "c"]


def test_config_errors(tmp_path, capsys):
    feats = _write_npy(tmp_path, a=ramp(2))
    code, _, err = run(capsys, feats, "--store", tmp_path / "S", "--visual.rate", 1)
    assert code == 1 and "give --shots FILE (a shot list) or --shot_seconds N" in err
    code, _, err = run(capsys, feats, "--store", tmp_path / "S", "--visual.rate", 0, "--shot_seconds", 1)
    assert code == 2 and "rate must be positive" in err
    code, _, err = run(capsys, f"visual={feats}", f"visual={feats}", "--store", tmp_path / "S", "--shot_seconds", 1)
    assert code == 1 and "two sources for visual" in err
    (tmp_path / "ids.txt").write_text("a b\n")
    code, _, err = run(capsys, feats, "--store", tmp_path / "S", "--visual.rate", 1, "--shot_seconds", 1,
                       "--ids", tmp_path / "ids.txt")
    assert code == 1 and "ids.txt:1: expected one video id per line, got 'a b'" in err
    # a second import with another modality cannot change the store's encoders (it writes all at once)
    assert run(capsys, feats, "--store", tmp_path / "S", "--visual.rate", 1, "--shot_seconds", 1)[0] == 0
    np.save(tmp_path / "b.npy", ramp(2))
    code, _, err = run(capsys, f"audio={tmp_path / 'b.npy'}", "--store", tmp_path / "S", "--audio.rate", 1,
                       "--shot_seconds", 1)
    assert code == 1 and "store was built with [visual=imported(2)]" in err


def test_missing_h5py_names_the_extra(tmp_path, monkeypatch):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["a"] = ramp(2)
    monkeypatch.setitem(sys.modules, "h5py", None)  # `import h5py` now raises ImportError
    cfg = StoreImportConfig(sources=[str(tmp_path / "x.h5")], store=tmp_path / "S", shot_seconds=1)
    with pytest.raises(Exception, match=r"x\.h5: reading HDF5 needs h5py: pip install 'lmp\[import\]'"):
        import_features(cfg, progress=False)


def test_importer_is_light():
    code = "import sys, lmp.store.cli; print(sorted({'h5py', 'torch', 'tqdm'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
