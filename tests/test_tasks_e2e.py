"""End to end on a tiny store: representations, probes, fine-tuning, `lmp probe|lvu|embed`."""

import csv
import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

import lmp.tasks.evaluate as evaluate_module
from lmp.cli import main
from lmp.labels import Example, read_task
from lmp.model import LMPModel, ModelConfig
from lmp.store import EncoderSpec, FeatureStore, MovieFeatures, StoreWriter
from lmp.tasks.evaluate import ProbeOptions, evaluate_task, grid_edge_note
from lmp.tasks.features import Representer, task_representations
from lmp.tasks.finetune import _outputs, finetune
from lmp.tasks.loading import load_model
from lmp.tasks.lvu import FIXTURE_DIR, read_lvu_task
from lmp.tasks.probe import attentive_probe, linear_probe, with_position_code

DIMS = {"visual": 12, "audio": 4, "text": 6}
FAST = ProbeOptions(linear_steps=100, linear_weight_decays=(1e-3, 1e-1), attentive_steps=60, finetune_epochs=2)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _writer(root):
    return StoreWriter(root, {m: EncoderSpec(f"fake-{m}", d) for m, d in DIMS.items()})


def _movie(rng, vid, scene_ids, sizes, tags):
    """Visual dims 0-7: scene signature; 8-10: shot size one-hot; text dims 0-2: tags [S, 3]; plus noise."""
    s = len(scene_ids)
    visual = rng.normal(0, 0.3, (s, DIMS["visual"]))
    visual[:, :8] += np.stack([np.sin(np.arange(8) * (k + 1)) * 2 for k in scene_ids])
    visual[np.arange(s), 8 + np.asarray(sizes)] += 2.0
    text = rng.normal(0, 0.3, (s, DIMS["text"]))
    text[:, :3] += tags * 2
    starts = np.arange(s) * 2.0
    return MovieFeatures(
        vid,
        np.stack([starts, starts + 2.0], 1),
        {"visual": visual, "audio": rng.normal(size=(s, 4)), "text": text},
        masks={"text": rng.random(s) > 0.2},
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """10 movies x 24 shots + a labels root with clip (multi-label), shot and boundary tasks."""
    root = tmp_path_factory.mktemp("world")
    rng = np.random.default_rng(0)
    w = _writer(root / "store")
    shot_rows, boundary_rows, clip_rows = {}, {}, {}
    for i in range(10):
        split = "train" if i < 6 else ("val" if i < 8 else "test")
        lengths = rng.integers(3, 7, size=10)
        scene_ids = np.repeat(rng.integers(0, 50, size=10), lengths)[:24]
        sizes = rng.integers(0, 3, size=24)
        # Each 8-shot clip has its own tags (at least one), written into its shots' text features.
        tags = (rng.random((3, 3)) > 0.5).astype(float)
        tags[np.arange(3), rng.integers(0, 3, size=3)] = 1.0
        vid = f"movie{i}"
        w.write(_movie(rng, vid, scene_ids, sizes, np.repeat(tags, 8, axis=0)))
        shot_rows.setdefault(split, []).extend(f"{vid},{k},{['close', 'medium', 'wide'][sizes[k]]}" for k in range(24))
        boundary_rows.setdefault(split, []).extend(
            f"{vid},{k},{'new' if scene_ids[k] != scene_ids[k + 1] else 'same'}" for k in range(23)
        )
        for c, a in enumerate((0, 8, 16)):
            names = "|".join(n for n, t in zip("xyz", tags[c]) if t)
            clip_rows.setdefault(split, []).append(f"{vid},{a},{a + 8},{names}")
    # A labelled video that is not in the store: must be reported, not silently dropped.
    clip_rows["train"].append("gone,,,x")
    labels = root / "labels"
    specs = {
        "shot_size": (
            {"level": "shot", "type": "classification", "classes": ["close", "medium", "wide"]},
            shot_rows, "video_id,shot,label",
        ),
        "scene_boundary": (
            {"level": "boundary", "type": "classification", "classes": ["same", "new"], "metric": "AP"},
            boundary_rows, "video_id,shot,label",
        ),
        "tags": (
            {"level": "clip", "type": "multilabel", "classes": ["x", "y", "z"], "metric": "mAP"},
            clip_rows, "video_id,start_shot,end_shot,label",
        ),
    }  # fmt: skip
    for name, (spec, rows, header) in specs.items():
        (labels / name).mkdir(parents=True)
        (labels / name / "task.json").write_text(json.dumps({"name": name, **spec}))
        for split, lines in rows.items():
            (labels / name / f"{split}.csv").write_text("\n".join([header, *lines]) + "\n")
    store = FeatureStore(root / "store")
    ckpt = root / "ckpt"
    torch.manual_seed(0)
    LMPModel(ModelConfig.from_name("tiny", input_dims=store.dims)).save_pretrained(ckpt)
    return {"root": root, "store": store, "labels": labels, "ckpt": ckpt}


def test_raw_features_linear_probe_solves_shot_and_boundary_tasks(world):
    store = world["store"]
    data, task = task_representations(world["labels"] / "shot_size", store, representation="raw")
    r = linear_probe(*data["train"], *data["val"], *data["test"], "classification", weight_decays=(1e-3,), steps=150)
    assert r["test"]["accuracy"] > 0.9
    data, task = task_representations(world["labels"] / "scene_boundary", store, representation="raw")
    assert data["train"][0].shape[1] == 3 * sum(DIMS.values())
    meta = {
        s: {"groups": [e.video_id for e in rows], "shots": [e.start for e in rows]} for s, rows in task.splits.items()
    }
    r = linear_probe(*data["train"], *data["val"], *data["test"], "classification", metric="AP", meta=meta, steps=150)
    assert r["test"]["AP"] > 0.8
    assert {"mIoU", "F1", "mAP"} <= set(r["test"]) and r["test"]["mIoU"] > 0.5


def test_model_representations_and_long_clip_chunking(world):
    store = world["store"]
    model = load_model(world["ckpt"], store)
    whole = Representer(store, model, "fused", window=64, progress=False)
    chunked = Representer(store, model, "fused", window=5, progress=False)
    clip = [Example("movie0", 2, 20, 0)]
    # fused = mean of shot tokens; a 5-shot window changes the context, so values differ but shapes agree.
    a, b = whole.clips(clip), chunked.clips(clip)
    assert a.shape == b.shape == (1, 32) and not torch.allclose(a, b)
    # With a window covering the clip, the clip's fused vector is the mean of its shots' tokens.
    tokens = whole.movie_tokens("movie0", ["fused"])["fused"]
    assert torch.allclose(whole.clips([Example("movie0", None, None, 0)])[0], tokens.mean(0), atol=1e-5)
    # Attentive-probe tokens of a long clip are averaged in consecutive groups (24 shots -> 5: 0-4, 5-9, ...).
    _, (tok, mask) = whole.clips([Example("movie0", None, None, 0)], tokens=True, max_tokens=5)
    assert tok.shape == (1, 5, 32) and mask.all()
    assert torch.allclose(tok[0, 0], tokens[:5].mean(0), atol=1e-5)
    assert torch.allclose(tok[0, 4], tokens[19:].mean(0), atol=1e-5)
    # cls of a chunked clip is the length-weighted mean of its chunks' cls.
    cls = Representer(store, model, "cls", window=9, progress=False)
    parts = cls.clips([Example("movie0", 2, 11, 0), Example("movie0", 11, 20, 0)])
    assert torch.allclose(cls.clips(clip)[0], parts.mean(0), atol=1e-5)
    uni = Representer(store, model, "unimodal:text", window=64, progress=False).clips(clip)
    assert not torch.allclose(uni, a)


def test_random_init_keeps_architecture_but_not_weights(world):
    store = world["store"]
    trained = load_model(world["ckpt"], store)
    rand = load_model(world["ckpt"], store, random_init=True, seed=3)
    assert rand.cfg == trained.cfg
    assert not torch.equal(rand.cls_token, trained.cls_token)


def test_evaluate_task_linear_attentive_and_missing_report(world, monkeypatch):
    store = world["store"]
    task = read_task(world["labels"] / "tags").restrict(store)
    assert task.missing["train"] == {"total": 19, "found": 18, "missing": 1, "missing_ids": ["gone"]}
    lin = evaluate_task(task, store, None, protocol="linear", representation="raw", seeds=(0, 1), options=FAST,
                        progress=False)
    assert lin["test"]["mAP"]["mean"] > 0.8 and len(lin["test"]["mAP"]["values"]) == 2
    # The linear probe's optimum depends only on its data, the same for both seeds: one fit, reported twice.
    calls = []
    real = evaluate_module.linear_probe
    monkeypatch.setattr(evaluate_module, "linear_probe", lambda *a, **k: calls.append(k["seed"]) or real(*a, **k))
    again = evaluate_task(task, store, None, protocol="linear", representation="raw", seeds=(0, 1, 2), options=FAST,
                          progress=False)
    assert calls == [0] and again["test"]["mAP"]["values"] == [lin["test"]["mAP"]["values"][0]] * 3
    att = evaluate_task(task, store, None, protocol="attentive", representation="raw", seeds=(0,), options=FAST,
                        progress=False)
    # The tags are written plainly into the clips' text features: the attentive probe recovers them.
    assert att["test"]["mAP"]["mean"] > 0.85
    assert lin["missing"]["train"]["missing"] == 1


def _planted_tokens(n, seed, amp=5.0):
    """[n, 6, 8] Gaussian tokens; one token per example (at a random position) carries the binary label as
    +-amp along dimension 0. Returns (tokens, mask, labels)."""
    g = torch.Generator().manual_seed(seed)
    tok = torch.randn(n, 6, 8, generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    tok[torch.arange(n), torch.randint(0, 6, (n,), generator=g), 0] += amp * (2 * y - 1).float()
    return tok, torch.ones(n, 6, dtype=torch.bool), y


def _decorrelated(y, seed):
    """Labels that agree with `y` on exactly half of each class: no direction of the tokens predicts them."""
    g = torch.Generator().manual_seed(seed)
    out = y.clone()
    for c in (0, 1):
        idx = torch.nonzero(y == c).flatten()
        flip = idx[torch.randperm(len(idx), generator=g)[: len(idx) // 2]]
        out[flip] = 1 - c
    return out


def test_attentive_probe_finds_a_planted_signal_and_not_a_shuffled_one():
    train, val, test = _planted_tokens(200, 0), _planted_tokens(100, 1), _planted_tokens(200, 2)
    opts = {"steps": 150, "lr": 1e-2, "weight_decays": (1e-3,)}
    r = attentive_probe(train, val, test, "classification", **opts)
    assert r["test"]["accuracy"] > 0.85  # chance is 1/2
    # Control: the same tokens with labels decorrelated from the signal in train and val -> chance on test.
    shuffled = [(t, m, _decorrelated(y, s)) for s, (t, m, y) in enumerate((train, val))]
    r = attentive_probe(*shuffled, test, "classification", **opts)
    assert abs(r["test"]["accuracy"] - 0.5) < 0.15


def _ordered_tokens(n, seed):
    """Sequences of 5-12 real tokens (padded to 12): class 0 shows a for its first half and b for the rest,
    class 1 the same tokens in reverse order, so both classes hold the same multiset of tokens; plus noise."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.zeros(8), torch.zeros(8)
    a[0], b[1] = 1.0, 1.0
    y = torch.randint(0, 2, (n,), generator=g)
    lengths = torch.randint(5, 13, (n,), generator=g)
    tok, mask = torch.zeros(n, 12, 8), torch.zeros(n, 12, dtype=torch.bool)
    for i, (c, length) in enumerate(zip(y.tolist(), lengths.tolist())):
        half = length // 2
        seq = torch.stack([a] * half + [b] * (length - half))
        tok[i, :length] = (seq if c == 0 else seq.flip(0)) + 0.3 * torch.randn(length, 8, generator=g)
        mask[i, :length] = True
    return tok, mask, y


def test_attentive_probe_reads_order_only_with_the_position_code():
    train, val, test = _ordered_tokens(200, 0), _ordered_tokens(100, 1), _ordered_tokens(200, 2)
    opts = {"steps": 200, "lr": 1e-2, "weight_decays": (1e-3,)}
    assert attentive_probe(train, val, test, "classification", **opts)["test"]["accuracy"] > 0.9
    # Order-blind (no code), the two classes are the same bags of tokens: chance.
    blind = attentive_probe(train, val, test, "classification", position_frequencies=0, **opts)
    assert abs(blind["test"]["accuracy"] - 0.5) < 0.15


def test_position_code_by_hand():
    tok = torch.full((1, 3, 4), 2.0)
    mask = torch.tensor([[True, True, False]])  # two real tokens: r = 1/4 and 3/4
    out, m = with_position_code({"train": (tok, mask)}, 1)["train"]
    assert out.shape == (1, 3, 6) and torch.equal(m, mask)
    assert torch.equal(out[..., :4], tok)
    # sin and cos of pi r, times the train tokens' root mean square entry (2); zero at padding.
    c = 2 * 0.5**0.5
    assert torch.allclose(out[0, :, 4:], torch.tensor([[c, c], [c, -c], [0.0, 0.0]]), atol=1e-6)
    assert with_position_code({"train": (tok, mask)}, 0)["train"][0] is tok


def test_finetune_trains_a_copy_and_selects_on_val(world):
    store = world["store"]
    model = load_model(world["ckpt"], store)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    task = read_task(world["labels"] / "shot_size").restrict(store)
    r = finetune(
        model, store, task, representation="fused", window=8, epochs=8, lr=1e-3, head_lr=1e-2, batch_size=16,
        probe_first=False,
    )  # fmt: skip
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert 1 <= r["epoch"] <= 8
    # Shot size is written plainly into the visual features: fine-tuning must beat chance (1/3) clearly.
    assert r["val"]["accuracy"] > 0.6
    b = read_task(world["labels"] / "scene_boundary").restrict(store)
    rb = finetune(model, store, b, representation="fused", window=8, epochs=1, batch_size=64)
    assert {"AP", "mIoU", "F1"} <= set(rb["test"])
    # Clip level through the differentiable chunked path (8-shot clips, 5-shot window -> 2 chunks each).
    tags = read_task(world["labels"] / "tags").restrict(store)
    rc = finetune(model, store, tags, representation="cls", window=5, epochs=1, batch_size=6)
    assert rc["test_scores"].shape == (6, 3)
    # The reported metric is the one of the returned scores (recomputed here with scikit-learn).
    y = tags.targets("test").numpy()
    expected = np.mean([average_precision_score(y[:, c], rc["test_scores"][:, c].numpy()) for c in range(3)])
    assert rc["test"]["mAP"] == pytest.approx(expected, abs=1e-6)
    # `all` concatenates every encoder's outputs, so the head is wider.
    ra = finetune(model, store, b, representation="all", window=8, epochs=1, batch_size=64)
    scores, y = ra["test_scores"], b.targets("test").numpy()
    assert scores.shape == (len(y), 2)
    positive = (scores[:, 1] - scores[:, 0]).numpy()  # ranks like softmax(scores)[:, 1]
    assert ra["test"]["AP"] == pytest.approx(average_precision_score(y == 1, positive), abs=1e-6)


def test_finetune_starts_from_the_linear_probe_and_keeps_it_when_training_only_hurts(world):
    store = world["store"]
    model = load_model(world["ckpt"], store)
    task = read_task(world["labels"] / "shot_size").restrict(store)
    # The linear probe on the frozen representation, computed apart from fine-tuning, on the inputs fine-tuning
    # reads (one window centred on each shot; the probes' movie windows give other numbers for a shot task).
    reps = {s: (_outputs(Representer(store, model, "fused", window=8), task, rows), task.targets(s))
            for s, rows in task.splits.items()}  # fmt: skip
    probe = linear_probe(*reps["train"], *reps["val"], *reps["test"], "classification", num_classes=3, seed=0)
    # Learning rates this large wreck the backbone and head in the first step, so val must pick epoch 0:
    # the probe's head on the untouched backbone, which scores exactly what the probe scores.
    r = finetune(model, store, task, representation="fused", window=8, epochs=2, lr=50.0, head_lr=50.0, batch_size=16)
    assert r["epoch"] == 0
    assert r["val"]["accuracy"] == pytest.approx(probe["val"]["accuracy"])
    assert r["test"]["accuracy"] == pytest.approx(probe["test"]["accuracy"])
    assert r["test_scores"].argmax(1).tolist() == probe["test_scores"].argmax(1).tolist()
    torch.testing.assert_close(r["test_scores"], probe["test_scores"], atol=1e-4, rtol=0)
    # Without the probe first, the same wrecking run starts from a random head and is worse on val.
    plain = finetune(
        model, store, task, representation="fused", window=8, epochs=2, lr=50.0, head_lr=50.0, batch_size=16,
        probe_first=False,
    )  # fmt: skip
    assert plain["val"]["accuracy"] < probe["val"]["accuracy"]


def test_finetune_hands_back_clips_of_mixed_lengths_in_their_own_order(world):
    store = world["store"]
    model = load_model(world["ckpt"], store)
    task = read_task(world["labels"] / "tags").restrict(store)
    # Clips of 1 to 8 shots (fine-tuning batches clips by length): each keeps its start and its tags.
    task = dataclasses.replace(task, splits={
        split: [dataclasses.replace(e, end=e.start + 1 + (3 * k) % 8) for k, e in enumerate(rows)]
        for split, rows in task.splits.items()
    })  # fmt: skip
    reps = Representer(store, model, "fused", window=8).task(task)
    probe = linear_probe(*reps["train"], *reps["val"], *reps["test"], "multilabel", metric="mAP", seed=0)
    # As above, val keeps epoch 0, whose test scores are the probe's, clip by clip.
    r = finetune(model, store, task, representation="fused", window=8, epochs=1, lr=50.0, head_lr=50.0)
    assert r["epoch"] == 0
    assert len({e.end - e.start for e in task.splits["test"]}) > 3
    torch.testing.assert_close(r["test_scores"], probe["test_scores"], atol=1e-4, rtol=1e-4)


def test_probe_cli_over_a_labels_root_writes_tables_and_provenance(world, tmp_path):
    out = tmp_path / "probe"
    code = main([
        "probe", str(world["labels"]), "--store", str(world["root"] / "store"), "--checkpoint", str(world["ckpt"]),
        "--representations", "cls,raw", "--seeds=[0]", "--out", str(out), "--device", "cpu",
        "--options.linear_steps=100", "--options.linear_weight_decays=[0.01]",
    ])  # fmt: skip
    assert code == 0
    md = (out / "results.md").read_text()
    assert "shot_size" in md and "scene_boundary" in md and "tags" in md
    rows = list(csv.DictReader(open(out / "results.csv")))
    keys = {(r["task"], r["representation"], r["split"], r["metric"]) for r in rows}
    assert ("scene_boundary", "cls", "test", "mIoU") in keys and ("tags", "raw", "test", "mAP") in keys
    # The raw rows really use the store features (not the model), which solve shot size.
    raw = [r for r in rows if r["task"] == "shot_size" and r["representation"] == "raw" and r["split"] == "test"]
    assert float(raw[0]["mean"]) > 0.8  # chance is 1/3
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["seeds"] == [0] and len(prov["stores"]["store"]["manifest_sha256"]) == 64 and "git_sha" in prov
    assert json.loads((out / "missing_videos.json").read_text())["tags"]["train"]["missing_ids"] == ["gone"]
    assert "representations" in (out / "config.yaml").read_text()


def test_grid_edge_note_names_the_end_every_seed_chose():
    opts = ProbeOptions(linear_weight_decays=(0.01, 0.1, 1.0), attentive_weight_decays=(0.001, 0.01, 0.1))

    def summary(protocol, chosen):
        return {"task": "genre", "protocol": protocol, "representation": "all",
                "runs": [{"weight_decay": w} for w in chosen]}  # fmt: skip

    top = grid_edge_note(summary("linear", [1.0, 1.0]), opts)
    assert "largest penalty of the grid (1)" in top and "--options.linear_weight_decays" in top
    assert "smallest penalty of the grid (0.001)" in grid_edge_note(summary("attentive", [0.001, 0.001]), opts)
    assert grid_edge_note(summary("linear", [1.0, 0.1]), opts) is None  # the seeds disagree
    assert grid_edge_note(summary("linear", [0.1, 0.1]), opts) is None  # inside the grid
    assert grid_edge_note(summary("finetune", [0.05]), opts) is None  # no grid
    assert grid_edge_note(summary("linear", [1.0]), ProbeOptions(linear_weight_decays=(1.0,))) is None
    with pytest.raises(ValueError, match="attentive_position_frequencies"):
        ProbeOptions(attentive_position_frequencies=-1)
    # Two values are both ends: the attentive probe's default grid never gets a note.
    assert grid_edge_note(summary("attentive", [0.1, 0.1]), ProbeOptions()) is None


def test_probe_cli_refuses_to_run_without_a_model(world, tmp_path, capsys):
    tags = str(world["labels"] / "tags")
    code = main(["probe", tags, "--store", str(world["root"] / "store"), "--out", str(tmp_path)])
    assert code == 1 and "--random_init" in capsys.readouterr().err


def test_probe_cli_refuses_two_task_directories_of_one_name(world, tmp_path, capsys):
    """A copied task directory keeps its task.json's name: one task's results replaced the other's."""
    labels = tmp_path / "labels"
    shutil.copytree(world["labels"] / "tags", labels / "tags")
    shutil.copytree(world["labels"] / "tags", labels / "tags_variant")
    code = main(["probe", str(labels), "--store", str(world["root"] / "store"), "--representations", "raw",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and f"{labels / 'tags_variant'}/task.json: task name 'tags' is also the name of " \
        f"{labels / 'tags'}; give each task its own name" in err
    assert not (tmp_path / "out").exists()


def test_lvu_cli_on_the_fixture_reports_missing_videos(tmp_path):
    rng = np.random.default_rng(1)
    genre, views = read_lvu_task(FIXTURE_DIR, "genre"), read_lvu_task(FIXTURE_DIR, "view_count")
    w = _writer(tmp_path / "store")
    skipped = genre.splits["train"][0].video_id
    for task in (genre, views):
        for rows in task.splits.values():
            for e in rows:
                if e.video_id == skipped:
                    continue
                tag = np.zeros((6, 3))
                tag[:, int(e.target) % 3 if task is genre else 0] = 1
                w.write(_movie(rng, e.video_id, [int(e.target) if task is genre else 0] * 6, [0] * 6, tag))
    out = tmp_path / "lvu"
    code = main([
        "lvu", "--store", str(tmp_path / "store"), "--lvu_dir", "fixture", "--tasks", "genre,view_count",
        "--random_init", "--representations", "cls,raw", "--seeds", "0,1", "--out", str(out), "--device", "cpu",
        "--protocols", "linear,attentive", "--options.linear_steps=60", "--options.attentive_steps=20",
    ])  # fmt: skip
    assert code == 0
    result = json.loads((out / "results.json").read_text())
    assert result["missing_videos"]["genre"]["train"]["missing"] == 1
    assert result["missing_videos"]["view_count"]["test"]["missing"] == 0
    by = {(r["task"], r["representation"]): r for r in result["results"] if r["protocol"] == "linear"}
    protocols = {(r["protocol"], r["task"]) for r in result["results"]}
    assert protocols >= {("attentive", "genre"), ("attentive", "view_count")}
    assert by[("genre", "raw")]["test"]["accuracy"]["mean"] > 0.5  # chance is 0.25
    assert by[("view_count", "cls")]["metric"] == "mse"
    md = (out / "results.md").read_text()
    assert "genre (accuracy ↑)" in md and "view_count (mse ↓)" in md


def test_embed_export_is_readable_with_numpy_alone(world, tmp_path):
    out = tmp_path / "emb"
    assert main(["embed", "--store", str(world["root"] / "store"), "--checkpoint", str(world["ckpt"]),
                 "--out", str(out), "--clip_shots", "10", "--window", "8", "--device", "cpu"]) == 0  # fmt: skip
    meta = json.loads((out / "embeddings.json").read_text())
    shots = list(csv.DictReader(open(out / "shots.csv")))
    clips = list(csv.DictReader(open(out / "clips.csv")))
    assert len(shots) == meta["shots"]["count"] == 240 and len(clips) == meta["clips"]["count"] == 30
    fused, uni = np.load(out / "shots_fused.npy"), np.load(out / "shots_unimodal_text.npy")
    assert fused.shape == uni.shape == (240, 32)
    # Clip vectors: the mean of their shots' vectors; unimodal ones over the shots that have the modality
    # (the store's masks), all shots when none has it.
    clip_fused, clip_text = np.load(out / "clips_fused.npy"), np.load(out / "clips_unimodal_text.npy")
    partial = 0
    for c in clips:
        a, b = int(c["start_shot"]), int(c["end_shot"])
        rows = [int(r["row"]) for r in shots if r["movie_id"] == c["movie_id"] and a <= int(r["shot"]) < b]
        assert len(rows) == b - a
        assert np.allclose(clip_fused[int(c["row"])], fused[rows].mean(0), atol=1e-5)
        text = world["store"].read(c["movie_id"])["text_mask"][a:b]
        partial += bool(text.any() and not text.all())
        expected = uni[rows][text].mean(0) if text.any() else uni[rows].mean(0)
        assert np.allclose(clip_text[int(c["row"])], expected, atol=1e-5)
    assert partial, "no clip has shots without text: the unimodal check would not test the masks"
    # The per-shot embeddings are the model's own output, computed here by hand from the store arrays:
    # movie0's 24 shots in windows of 8 every 4 shots, each shot taken from the window whose centre is
    # nearest to it (docs/transfer.md).
    arrays = world["store"].read("movie0")
    model = LMPModel.from_pretrained(world["ckpt"]).eval()
    expected = np.zeros((24, 32), np.float32)
    nearest = {0: range(0, 6), 4: range(6, 10), 8: range(10, 14), 12: range(14, 18), 16: range(18, 24)}
    for start, mine in nearest.items():
        win = slice(start, start + 8)
        batch = {
            "shot_mask": torch.ones(1, 8, dtype=torch.bool),
            "times": torch.tensor(arrays["times"][win] - arrays["times"][start, 0], dtype=torch.float32)[None],
            "positions": torch.arange(start, start + 8)[None],
            "movie": torch.zeros(1, dtype=torch.long),
        }
        for m in DIMS:
            batch[m] = torch.tensor(arrays[m][win], dtype=torch.float32)[None]
            batch[f"{m}_mask"] = torch.from_numpy(arrays[f"{m}_mask"][win])[None]
        with torch.no_grad():
            tokens = model.forward_features(batch)["fused_shot"][0].numpy()  # [8, 32]
        expected[list(mine)] = tokens[[i - start for i in mine]]
    movie0 = [int(r["row"]) for r in shots if r["movie_id"] == "movie0"]
    assert [int(shots[i]["shot"]) for i in movie0] == list(range(24))
    assert np.allclose(fused[movie0], expected, atol=1e-5)
    times = np.array([[float(shots[i]["start_s"]), float(shots[i]["end_s"])] for i in movie0])
    assert np.allclose(times, arrays["times"], atol=1e-3)
    assert not list(tmp_path.glob(".emb.tmp-*"))


def test_embed_over_an_earlier_export_leaves_none_of_its_matrices(world, tmp_path):
    """An earlier export of a store with another modality left shots_unimodal_<m>.npy under the documented
    names, rows matching no index of the new export."""
    out = tmp_path / "emb"
    out.mkdir()
    for name in ("shots_unimodal_depth.npy", "clips_unimodal_depth.npy"):
        np.save(out / name, np.zeros((5, 3), np.float32))
    (out / "notes.txt").write_text("mine")
    assert main(["embed", "--store", str(world["root"] / "store"), "--checkpoint", str(world["ckpt"]),
                 "--out", str(out), "--device", "cpu"]) == 0  # fmt: skip
    meta = json.loads((out / "embeddings.json").read_text())
    written = {*meta["shots"]["files"].values(), *meta["clips"]["files"].values()}
    assert {f.name for f in out.glob("*.npy")} == written and "shots_unimodal_text.npy" in written
    assert (out / "notes.txt").read_text() == "mine"  # not an export's file: kept


def _raw_clip_by_hand(store, vid, start, stop):
    """Per modality the mean over the shots that have it, modalities concatenated (what `raw` promises)."""
    r = store.read(vid, start, stop, store.modalities)
    parts = []
    for m in store.modalities:
        present = r[f"{m}_mask"] if f"{m}_mask" in r else np.ones(stop - start, bool)
        parts.append(r[m][present].astype(np.float64).mean(0))
    return np.concatenate(parts)


def test_cca_and_pca_are_the_raw_features_through_their_map(world):
    from lmp.tasks.linear_baselines import LinearMap
    from lmp.tasks.representation_names import RepresentationError

    store = world["store"]
    g = torch.Generator().manual_seed(0)
    dim = sum(DIMS.values())
    lmap = LinearMap(torch.randn(dim, generator=g), torch.randn(dim, 5, generator=g))
    rep = Representer(store, None, "cca", linear_map=lmap, progress=False)
    clips = [Example("movie1", 0, 8, None), Example("movie3", 8, 24, None)]
    got = rep.clips(clips).numpy()
    mean, proj = lmap.mean.numpy(), lmap.proj.numpy()
    for row, e in zip(got, clips):
        np.testing.assert_allclose(row, (_raw_clip_by_hand(store, e.video_id, e.start, e.end) - mean) @ proj, rtol=1e-5)
    # Shot tasks read each shot's features through the same map; a model, if given, is not used.
    shots = Representer(store, object(), "pca", linear_map=lmap, progress=False).movie_shots("movie2").numpy()
    r = store.read("movie2", 0, 24, store.modalities)
    feats = np.concatenate([r["visual"], r["audio"], r["text"] * r["text_mask"][:, None]], axis=1).astype(np.float64)
    np.testing.assert_allclose(shots, (feats - mean) @ proj, rtol=1e-4, atol=1e-4)
    with pytest.raises(RepresentationError, match="fitted map"):
        Representer(store, None, "cca")


def test_probe_cli_fits_cca_and_pca_on_the_movies_outside_val_and_test(world, tmp_path):
    from lmp.tasks.cli import ProbeConfig, _linear_maps
    from lmp.tasks.linear_baselines import fit_cca, fit_pca

    store = world["store"]
    cfg = ProbeConfig(labels=world["labels"], store=world["root"] / "store", representations=["raw", "cca", "pca"])
    cfg.options = dataclasses.replace(cfg.options, cca_components=2, pca_components=3)
    tasks = {n: read_task(world["labels"] / n).restrict(store) for n in ("tags", "shot_size", "scene_boundary")}
    maps = _linear_maps(cfg, store, tasks)
    # movie0-5 are every task's train movies, movie6-9 its val and test: only the first six may be read.
    # Each 24-shot movie is one window of the default 128 shots.
    means = np.stack([_raw_clip_by_hand(store, f"movie{i}", 0, 24) for i in range(6)])
    bounds = np.cumsum([0, *DIMS.values()])
    x = {m: means[:, a:b].astype(np.float64) for m, a, b in zip(DIMS, bounds[:-1], bounds[1:])}
    for name, (mean, proj) in (("cca", fit_cca(x, 2)), ("pca", fit_pca(x, 3))):
        np.testing.assert_allclose(maps[name].mean.numpy(), mean, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(maps[name].proj.numpy(), proj, rtol=1e-4, atol=1e-4)
    # End to end without a checkpoint: only model-free representations are asked for.
    out = tmp_path / "probe"
    code = main([
        "probe", str(world["labels"] / "tags"), "--store", str(world["root"] / "store"), "--out", str(out),
        "--representations", "raw,cca,pca", "--seeds=[0]", "--options.cca_components=2",
        "--options.pca_components=3", "--options.linear_steps=100",
    ])  # fmt: skip
    assert code == 0
    rows = {(r["representation"], r["split"]) for r in csv.DictReader(open(out / "results.csv"))}
    assert {("cca", "test"), ("pca", "test"), ("raw", "test")} <= rows


def test_cca_on_a_store_of_one_modality_is_a_clear_error(tmp_path, capsys):
    w = StoreWriter(tmp_path / "store", {"visual": EncoderSpec("fake-visual", 4)})
    rng = np.random.default_rng(0)
    for i in range(4):
        times = np.stack([np.arange(6.0), np.arange(6.0) + 1], 1)
        w.write(MovieFeatures(f"m{i}", times, {"visual": rng.normal(size=(6, 4))}))
    labels = tmp_path / "labels" / "genre"
    labels.mkdir(parents=True)
    (labels / "task.json").write_text(json.dumps({"name": "genre", "level": "clip", "type": "classification",
                                                   "classes": ["a", "b"]}))  # fmt: skip
    for split, ids in (("train", (0, 1)), ("val", (2,)), ("test", (3,))):
        rows = [f"m{i},,,{'ab'[i % 2]}" for i in ids]
        (labels / f"{split}.csv").write_text("\n".join(["video_id,start_shot,end_shot,label", *rows]) + "\n")
    code = main(["probe", str(labels), "--store", str(tmp_path / "store"), "--representations", "cca",
                 "--out", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "relates two modalities" in err and "['visual']" in err


def test_an_export_cut_short_while_moving_leaves_no_embeddings_json(world, tmp_path, monkeypatch, capsys):
    """embeddings.json names the files of one export: after an export into OUT is interrupted while its files
    are moved in, OUT must not still name (or newly name) files that are only partly there."""
    from lmp.tasks import embed

    out = tmp_path / "emb"
    args = ["embed", "--store", str(world["root"] / "store"), "--checkpoint", str(world["ckpt"]), "--out", str(out),
            "--window", "8", "--device", "cpu"]
    assert main(args) == 0 and (out / "embeddings.json").is_file()
    real, moved = os.replace, []

    def dies_midway(src, dst):
        if len(moved) == 2:
            raise KeyboardInterrupt
        moved.append(dst)
        return real(src, dst)

    monkeypatch.setattr(embed.os, "replace", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        main(args)
    assert len(moved) == 2 and not (out / "embeddings.json").exists()
    (tmp_path / ".emb.tmp-0badf00d").mkdir()  # the stage of an export that was killed
    monkeypatch.setattr(embed.os, "replace", real)
    assert main(args) == 0
    assert "warning: " in (err := capsys.readouterr().err) and "removed 1 staging directories of interrupted" in err
    assert (out / "embeddings.json").is_file() and not list(tmp_path.glob(".emb.tmp-*"))
