"""lmp's label format reader: task.json, the three levels, label parsing and clear errors."""

import json

import pytest

from lmp.tasks.labels import LabelError, find_tasks, read_task


def write_task(root, name, spec, rows, header):
    d = root / name
    d.mkdir(parents=True)
    (d / "task.json").write_text(json.dumps({"name": name, **spec}))
    for split in ("train", "val", "test"):
        (d / f"{split}.csv").write_text(header + "\n" + "\n".join(rows.get(split, rows.get("*", []))) + "\n")
    return d


def test_clip_task_with_ranges_and_whole_entries(tmp_path):
    d = write_task(
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
    ml = write_task(
        tmp_path, "tags", {"level": "clip", "type": "multilabel", "classes": ["x", "y", "z"], "metric": "mAP"},
        {"*": ["m1,,,x|z", "m2,,,"]}, "video_id,start_shot,end_shot,label",
    )  # fmt: skip
    t = read_task(ml)
    assert t.targets("train").tolist() == [[1, 0, 1], [0, 0, 0]]
    reg = write_task(
        tmp_path, "likes", {"level": "shot", "type": "regression"}, {"*": ["m1,3,0.25"]}, "video_id,shot,label"
    )
    t = read_task(reg)
    assert t.spec.metric == "mse" and t.targets("test").tolist() == [0.25]
    b = write_task(
        tmp_path, "scenes", {"level": "boundary", "type": "classification", "classes": ["same", "new"], "metric": "AP"},
        {"*": ["m1,0,same", "m1,1,new"]}, "video_id,shot,label",
    )  # fmt: skip
    t = read_task(b)
    assert [e.start for e in t.splits["train"]] == [0, 1] and t.targets("train").tolist() == [0, 1]
    assert [p.name for p in find_tasks(tmp_path)] == ["likes", "scenes", "tags"]
    assert find_tasks(b) == [b]


def test_errors_name_file_line_and_problem(tmp_path):
    d = write_task(
        tmp_path, "g", {"level": "clip", "type": "classification", "classes": ["a"]},
        {"*": ["m1,,,a", "m2,,,zzz"]}, "video_id,start_shot,end_shot,label",
    )  # fmt: skip
    with pytest.raises(LabelError, match=r"g/train\.csv:3: unknown class 'zzz'"):
        read_task(d)
    d = write_task(tmp_path, "s", {"level": "shot", "type": "regression"}, {"*": ["m1,x,1"]}, "video_id,shot,label")
    with pytest.raises(LabelError, match=r"s/train\.csv:2: column 'shot' must be an integer"):
        read_task(d)
    d = write_task(tmp_path, "h", {"level": "shot", "type": "regression"}, {"*": ["m1,1"]}, "video_id,label")
    with pytest.raises(LabelError, match="lacks column"):
        read_task(d)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "task.json").write_text(json.dumps({"level": "frame", "type": "regression"}))
    with pytest.raises(LabelError, match="level 'frame'"):
        read_task(bad)
    with pytest.raises(LabelError, match="no task directory"):
        find_tasks(tmp_path / "nothing")


def test_restrict_rejects_shots_outside_the_movie(tmp_path):
    d = write_task(
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
