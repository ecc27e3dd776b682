"""The official LVU 1.0 reader: the shipped fixture, the real files when present, the missing-video report."""

import math
import os
from pathlib import Path

import pytest

from lmp.errors import LMPWarning
from lmp.labels import LabelError
from lmp.tasks.lvu import FIXTURE_DIR, LVU_TASKS, read_lvu, read_lvu_task, resolve_lvu_dir
from lmp.tasks.metrics import LIKE_RATIO_OFFSET, VIEW_COUNT_OFFSET

# Where this checkout's environment keeps the official files; lmp itself never looks there.
SHARED_LVU = Path(__file__).resolve().parents[2] / "shared" / "data" / "lvu" / "lvu_1.0"


@pytest.fixture
def real_lvu_dir(monkeypatch) -> Path:
    """The official files, found the way `lmp lvu` finds them: through $LMP_LVU_DIR (kept when the caller
    set it, else pointed at ../shared/data/lvu/lvu_1.0). Skips when there are none."""
    env = os.environ.get("LMP_LVU_DIR")
    if not (env and Path(env).is_dir()):
        if not SHARED_LVU.is_dir():
            pytest.skip(f"real LVU 1.0 files not found ($LMP_LVU_DIR or {SHARED_LVU})")
        monkeypatch.setenv("LMP_LVU_DIR", str(SHARED_LVU))
    return resolve_lvu_dir(None)

# Rows per split of LVU 1.0 (header excluded).
REAL_COUNTS = {
    "relationship": (149, 53, 42),
    "way_speaking": (939, 205, 201),
    "scene": (557, 120, 86),
    "director": (680, 163, 107),
    "genre": (3063, 597, 647),
    "writer": (769, 174, 168),
    "year": (770, 165, 143),
    "like_ratio": (658, 142, 140),
    "view_count": (577, 124, 126),
}


class FakeStore:
    """Just what Task.restrict needs: membership and shot counts."""

    def __init__(self, ids):
        self.ids = set(ids)

    def __contains__(self, vid):
        return vid in self.ids

    def num_shots(self, vid):
        return 5


def test_fixture_has_all_nine_tasks_with_quirks():
    tasks = read_lvu(FIXTURE_DIR)
    assert list(tasks) == list(LVU_TASKS)
    for name, t in tasks.items():
        assert all(t.splits[s] for s in ("train", "val", "test")), name
        assert t.spec.level == "clip" and all(e.start is None and e.end is None for e in t.splits["train"])
    director = tasks["director"]
    assert director.spec.num_classes == 10
    assert director.spec.classes[2] == "<unused:2>" and director.spec.classes[3] == "<unused:3>"
    used = {e.target for rows in director.splits.values() for e in rows}
    assert used == {0, 1, 4, 5, 6, 7, 8, 9}
    assert tasks["writer"].spec.classes[0] == "\\N"
    assert tasks["genre"].spec.classes == ("Comedy", "Action-Crime-Adventure", "Romance", "Thriller-Horror")


def test_fixture_regression_targets_match_the_official_transform():
    like = read_lvu_task(FIXTURE_DIR, "like_ratio")
    first = (FIXTURE_DIR / "like_ratio" / "train.csv").read_text().splitlines()[1].split()
    likes, dislikes, vid = float(first[0]), float(first[1]), first[2]
    e = like.splits["train"][0]
    assert e.video_id == vid
    assert e.target == pytest.approx(10 * likes / (likes + dislikes) - LIKE_RATIO_OFFSET)
    views = read_lvu_task(FIXTURE_DIR, "view_count")
    first = (FIXTURE_DIR / "view_count" / "train.csv").read_text().splitlines()[1].split()
    assert views.splits["train"][0].target == pytest.approx(math.log(float(first[0])) - VIEW_COUNT_OFFSET)
    assert views.targets("train").dtype.is_floating_point


def test_missing_video_report_counts_per_split():
    task = read_lvu_task(FIXTURE_DIR, "genre")
    train_ids = [e.video_id for e in task.splits["train"]]
    present = set(train_ids[:5]) | {e.video_id for e in task.splits["val"]}
    restricted = task.restrict(FakeStore(present))
    m = restricted.missing
    assert m["train"]["total"] == len(train_ids) and m["train"]["found"] == 5
    assert m["train"]["missing"] == len(train_ids) - 5
    assert sorted(m["train"]["missing_ids"]) == sorted(set(train_ids[5:]))
    assert m["val"]["missing"] == 0
    assert m["test"]["found"] == 0 and m["test"]["missing"] == len(task.splits["test"])
    assert len(restricted.splits["train"]) == 5
    assert "genre: train 8 (missing 3)" in restricted.missing_summary()


def test_bad_header_names_the_file(tmp_path):
    (tmp_path / "genre").mkdir()
    for split in ("train", "val", "test"):
        (tmp_path / "genre" / f"{split}.csv").write_text("label youtube_id\n0 abc\n")
    with pytest.raises(LabelError, match=r"genre/train\.csv: header"):
        read_lvu_task(tmp_path, "genre")


def test_inconsistent_class_names_are_an_error(tmp_path):
    (tmp_path / "scene").mkdir()
    head = "class_id class_name youtube_id imdb_id\n"
    (tmp_path / "scene" / "train.csv").write_text(head + "0 office a tt1\n")
    (tmp_path / "scene" / "val.csv").write_text(head + "0 airport b tt2\n")
    (tmp_path / "scene" / "test.csv").write_text(head + "1 airport c tt3\n")
    with pytest.raises(LabelError, match="class id 0 is named both"):
        read_lvu_task(tmp_path, "scene")


def test_resolve_lvu_dir(monkeypatch, tmp_path):
    """Issue 9.5: an option, else $LMP_LVU_DIR, else the packaged fixture (with a warning); nothing
    outside the repository is looked for (the old default found ../shared/data/lvu beside it)."""
    assert resolve_lvu_dir("fixture") == FIXTURE_DIR
    assert resolve_lvu_dir(tmp_path / "given") == tmp_path / "given"
    monkeypatch.setenv("LMP_LVU_DIR", str(tmp_path))
    assert resolve_lvu_dir("") == tmp_path
    assert resolve_lvu_dir(None) == tmp_path
    assert resolve_lvu_dir(tmp_path / "given") == tmp_path / "given"  # the option wins over the variable
    monkeypatch.delenv("LMP_LVU_DIR")
    with pytest.warns(LMPWarning, match=r"no --lvu_dir and no \$LMP_LVU_DIR: using the shipped mini LVU fixture"):
        assert resolve_lvu_dir("") == FIXTURE_DIR


def test_real_lvu_counts_per_task_and_split(real_lvu_dir):
    assert real_lvu_dir == Path(os.environ["LMP_LVU_DIR"])
    tasks = read_lvu(real_lvu_dir)
    for name, (train, val, test) in REAL_COUNTS.items():
        t = tasks[name]
        assert (len(t.splits["train"]), len(t.splits["val"]), len(t.splits["test"])) == (train, val, test), name
    # Quirks survive on the full files too.
    director_ids = {e.target for rows in tasks["director"].splits.values() for e in rows}
    assert director_ids == {0, 1, 4, 5, 6, 7, 8, 9}
    assert tasks["writer"].spec.classes[0] == "\\N"
    # No YouTube id is in two splits of the same task.
    for name, t in tasks.items():
        ids = [{e.video_id for e in t.splits[s]} for s in ("train", "val", "test")]
        assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2]), name
