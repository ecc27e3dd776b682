"""lmp's label format (lmp.labels): task.json, the three levels, label parsing, clear errors, and the writer."""

import json

import pytest

from lmp.labels import Example, LabelError, TaskSpec, find_tasks, read_task, write_task

# write_files with rows for "*" puts the same examples in every split, which read_task warns about.
pytestmark = pytest.mark.filterwarnings("ignore:.*example\\(s\\) are in both")


def write_files(root, name, spec, rows, header):
    d = root / name
    d.mkdir(parents=True)
    (d / "task.json").write_text(json.dumps({"name": name, **spec}))
    for split in ("train", "val", "test"):
        (d / f"{split}.csv").write_text(header + "\n" + "\n".join(rows.get(split, rows.get("*", []))) + "\n")
    return d


def test_clip_task_with_ranges_and_whole_entries(tmp_path):
    d = write_files(
        tmp_path, "genre", {"level": "clip", "type": "classification", "classes": ["a", "b"]},
        {"*": ["m1,0,4,b", "m2,,,a"]}, "video_id,start_shot,end_shot,label",
    )  # fmt: skip
    task = read_task(d)
    assert task.spec.metric == "accuracy"
    e1, e2 = task.splits["train"]
    assert (e1.video_id, e1.start, e1.end, e1.target) == ("m1", 0, 4, 1)
    assert (e2.start, e2.end, e2.target) == (None, None, 0)
    assert task.targets("val").tolist() == [1, 0]


def test_multilabel_and_regression_and_boundary(tmp_path):
    ml = write_files(
        tmp_path, "tags", {"level": "clip", "type": "multilabel", "classes": ["x", "y", "z"], "metric": "mAP"},
        {"*": ["m1,,,x|z", "m2,,,"]}, "video_id,start_shot,end_shot,label",
    )  # fmt: skip
    t = read_task(ml)
    assert t.targets("train").tolist() == [[1, 0, 1], [0, 0, 0]]
    reg = write_files(
        tmp_path, "likes", {"level": "shot", "type": "regression"}, {"*": ["m1,3,0.25"]}, "video_id,shot,label"
    )
    t = read_task(reg)
    assert t.spec.metric == "mse" and t.targets("test").tolist() == [0.25]
    b = write_files(
        tmp_path, "scenes", {"level": "boundary", "type": "classification", "classes": ["same", "new"], "metric": "AP"},
        {"*": ["m1,0,same", "m1,1,new"]}, "video_id,shot,label",
    )  # fmt: skip
    t = read_task(b)
    assert [e.start for e in t.splits["train"]] == [0, 1] and t.targets("train").tolist() == [0, 1]
    assert [p.name for p in find_tasks(tmp_path)] == ["likes", "scenes", "tags"]
    assert find_tasks(b) == [b]


def test_errors_name_file_line_and_problem(tmp_path):
    d = write_files(
        tmp_path, "g", {"level": "clip", "type": "classification", "classes": ["a"]},
        {"*": ["m1,,,a", "m2,,,zzz"]}, "video_id,start_shot,end_shot,label",
    )  # fmt: skip
    with pytest.raises(LabelError, match=r"g/train\.csv:3: unknown class 'zzz'"):
        read_task(d)
    d = write_files(tmp_path, "s", {"level": "shot", "type": "regression"}, {"*": ["m1,x,1"]}, "video_id,shot,label")
    with pytest.raises(LabelError, match=r"s/train\.csv:2: column 'shot' must be an integer"):
        read_task(d)
    d = write_files(tmp_path, "h", {"level": "shot", "type": "regression"}, {"*": ["m1,1"]}, "video_id,label")
    with pytest.raises(LabelError, match="lacks column"):
        read_task(d)
    d = write_files(tmp_path, "twice", {"level": "clip", "type": "classification", "classes": ["a", "b", "a"]},
                    {"*": ["m1,,,a"]}, "video_id,start_shot,end_shot,label")  # fmt: skip
    with pytest.raises(LabelError, match="class 'a' is listed more than once"):
        read_task(d)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "task.json").write_text(json.dumps({"level": "frame", "type": "regression"}))
    with pytest.raises(LabelError, match="level 'frame'"):
        read_task(bad)
    with pytest.raises(LabelError, match="no task directory"):
        find_tasks(tmp_path / "nothing")


def test_restrict_rejects_shots_outside_the_movie(tmp_path):
    d = write_files(
        tmp_path, "b", {"level": "boundary", "type": "classification", "classes": ["n", "y"]},
        {"*": ["m1,4,y"]}, "video_id,shot,label",
    )  # fmt: skip

    class Store:
        def __contains__(self, v):
            return True

        def num_shots(self, v):
            return 5

    with pytest.raises(LabelError, match="boundary after shot 4 needs shots 4 and 5 of 5"):
        read_task(d).restrict(Store())


def test_writer_round_trips_spec_and_examples(tmp_path):
    spec = TaskSpec("tags", "clip", "multilabel", ("x", "y", "z"), "mAP")
    rows = {
        "train": [("m1", 0, 4, "x|z"), ("m2", None, None, "")],
        "val": [Example("m3", 2, 9, (1,), "y")],
        "test": [("m4", 1, 3, "z|x")],
    }
    assert write_task(tmp_path / "tags", spec, rows) == {"train": 2, "val": 1, "test": 1}
    assert (tmp_path / "tags" / "train.csv").read_text() == "video_id,start_shot,end_shot,label\nm1,0,4,x|z\nm2,,,\n"
    assert json.loads((tmp_path / "tags" / "task.json").read_text()) == {
        "name": "tags", "level": "clip", "type": "multilabel", "metric": "mAP", "classes": ["x", "y", "z"],
    }  # fmt: skip
    task = read_task(tmp_path / "tags")
    assert task.spec == spec
    assert task.splits["train"] == [Example("m1", 0, 4, (0, 2), "x|z"), Example("m2", None, None, (), "")]
    assert task.splits["val"] == [Example("m3", 2, 9, (1,), "y")]
    assert task.splits["test"] == [Example("m4", 1, 3, (0, 2), "z|x")]
    # What was read writes back to the same files; a spec given as task.json's content works too.
    write_task(tmp_path / "again", spec.to_json() | {"name": "tags"}, task.splits)
    for name in ("task.json", "train.csv", "val.csv", "test.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "tags" / name).read_bytes()
    shots = TaskSpec("size", "shot", "regression")
    write_task(tmp_path / "size", shots, {"train": [("m1", 3, 0.25)], "val": [("m1", 4, "-1.5")], "test": []})
    back = read_task(tmp_path / "size")
    assert back.spec == shots and back.spec.metric == "mse"
    assert [(e.video_id, e.start, e.end, e.target) for e in back.splits["val"]] == [("m1", 4, None, -1.5)]
    assert back.splits["test"] == []


def test_writer_refuses_invalid_specs_and_rows_and_writes_nothing(tmp_path):
    rows = {"train": [("m1", 0, "a")], "val": [], "test": []}
    with pytest.raises(LabelError, match=r"bad/task\.json: task bad: type 'ranking' is not one of"):
        write_task(tmp_path / "bad", {"level": "shot", "type": "ranking", "classes": ["a"]}, rows)
    f1 = {"level": "shot", "type": "classification", "classes": ["a"], "metric": "f1"}
    with pytest.raises(LabelError, match=r"task bad: metric 'f1' is not one of \['accuracy', 'mse', 'mAP', 'AP'\]"):
        write_task(tmp_path / "bad", f1, rows)
    with pytest.raises(LabelError, match="missing key 'level'"):
        write_task(tmp_path / "bad", {"type": "regression"}, rows)
    with pytest.raises(ValueError, match="type 'ranking' is not one of"):
        TaskSpec("bad", "shot", "ranking")
    # AP grades one positive class: it scored the last of 3+ classes (or of several labels) alone.
    with pytest.raises(ValueError, match=r"task cuts: metric 'AP' needs a binary task .* not multilabel with 3 "
                                         r"classes; use 'mAP'"):
        TaskSpec("cuts", "boundary", "multilabel", ("a", "b", "c"), "AP")
    with pytest.raises(ValueError, match=r"not classification with 3 classes; use 'accuracy'"):
        TaskSpec("size", "shot", "classification", ("a", "b", "c"), "AP")
    with pytest.raises(ValueError, match=r"task views: metric 'accuracy' does not grade a regression task; use 'mse'"):
        TaskSpec("views", "clip", "regression", (), "accuracy")
    assert TaskSpec("cut", "boundary", "multilabel", ("hard",), "AP").metric == "AP"
    spec = TaskSpec("s", "shot", "classification", ("a", "b"))
    with pytest.raises(LabelError, match=r"bad/train\.csv:3: unknown class 'zzz'"):
        write_task(tmp_path / "bad", spec, {"train": [("m1", 0, "a"), ("m1", 1, "zzz")], "val": [], "test": []})
    with pytest.raises(LabelError, match=r"bad/val\.csv:2: 4 values .* for the 3 columns"):
        write_task(tmp_path / "bad", spec, {"train": [], "val": [("m1", 0, 1, "a")], "test": []})
    with pytest.raises(LabelError, match=r"bad/train\.csv:2: empty shot"):
        write_task(tmp_path / "bad", spec, {"train": [("m1", None, "a")], "val": [], "test": []})
    with pytest.raises(LabelError, match=r"splits \['train'\] are not \['train', 'val', 'test'\]"):
        write_task(tmp_path / "bad", spec, {"train": []})
    assert not (tmp_path / "bad").exists()


def test_extra_cells_non_finite_targets_and_examples_in_two_splits(tmp_path):
    """A multilabel row written with commas, a NaN or inf target: errors naming the line, not a silently
    truncated label or an `n/a` score. A test clip also in train: a warning, since every score is inflated."""
    from lmp.errors import LMPWarning

    d = write_files(tmp_path, "m", {"level": "clip", "type": "multilabel", "classes": ["drama", "horror"]},
                    {"*": ["m1,,,drama,horror"]}, "video_id,start_shot,end_shot,label")  # fmt: skip
    with pytest.raises(LabelError, match=r"m/train\.csv:2: 1 more cell\(s\) than the header's columns"):
        read_task(d)
    for name, value in (("nan", "nan"), ("inf", "-inf")):
        d = write_files(tmp_path, name, {"level": "clip", "type": "regression"}, {"*": [f"m1,,,{value}"]},
                        "video_id,start_shot,end_shot,label")  # fmt: skip
        with pytest.raises(LabelError, match=rf"{name}/train\.csv:2: label must be a finite number"):
            read_task(d)
    rows = {"train": ["m1,0,8,a", "m2,0,8,a"], "val": ["m3,0,8,a"], "test": ["m2,0,8,a", "m4,0,8,a"]}
    d = write_files(tmp_path, "leak", {"level": "clip", "type": "classification", "classes": ["a"]}, rows,
                    "video_id,start_shot,end_shot,label")  # fmt: skip
    with pytest.warns(LMPWarning, match=r"1 example\(s\) are in both train and test \(e.g. video 'm2', shots 0-8\)"):
        read_task(d)
