"""The public Python API (lmp.load_store, lmp.encode, lmp.LMPModel): the README example runs as written,
encode returns what the probes' Representer computes, and `lmp embed` writes exactly what encode returns."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import lmp
from lmp.api import EncodeError
from lmp.errors import StoreError
from lmp.labels import Example
from lmp.model import LMPModel, ModelConfig
from lmp.store import EncoderSpec, MovieFeatures, StoreWriter
from lmp.tasks.features import RepresentationError, Representer

DIMS = {"visual": 12, "audio": 4, "text": 6}
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """3 movies of 20, 9 and 30 shots (text missing on some shots) + a tiny model saved as a checkpoint."""
    root = tmp_path_factory.mktemp("api")
    rng = np.random.default_rng(0)
    writer = StoreWriter(root / "store", {m: EncoderSpec(f"fake-{m}", d) for m, d in DIMS.items()})
    for vid, n in (("m0", 20), ("m1", 9), ("m2", 30)):
        starts = np.cumsum(rng.uniform(1.0, 3.0, n))
        feats = {m: rng.standard_normal((n, d)).astype(np.float32) for m, d in DIMS.items()}
        writer.write(MovieFeatures(vid, np.stack([starts, starts + 0.5], 1), feats, {"text": rng.random(n) < 0.6}))
    torch.manual_seed(0)
    model = LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS)).eval()
    model.save_pretrained(root / "model")
    return {"root": root, "store": lmp.load_store(root / "store"), "model": model}


def test_readme_python_api_example_runs(world):
    """The README's "Python API" snippet, executed as written, on a tiny store and model."""
    text = README.read_text()
    section = text.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 6
    assert '"runs/mw/store"' in code and '"runs/base/model"' in code
    code = code.replace("runs/mw/store", str(world["root"] / "store"))
    code = code.replace("runs/base/model", str(world["root"] / "model"))
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    first = scope["store"].ids[0]
    assert scope["shots"].shape == (scope["store"].num_shots(first), 32)
    assert scope["clips"].shape == (1, 96)  # one [CLS] per modality, side by side
    assert not scope["model"].training  # from_pretrained returns the model ready for inference
    # The same numbers as the model that was saved.
    torch.testing.assert_close(scope["shots"], lmp.encode(world["model"], world["store"], first))


def test_encode_is_the_representer(world):
    store, model = world["store"], world["model"]
    rep = Representer(store, model, "fused", window=8, progress=False)
    shots = lmp.encode(model, store, "m2", representation="fused", window=8)
    torch.testing.assert_close(shots, rep.movie_shots("m2"))
    # Per shot, "cls" falls back to the fused tokens (a [CLS] belongs to a window, not to a shot).
    torch.testing.assert_close(lmp.encode(model, store, "m2", window=8), shots)
    clips = [("m0", 0, 8), ("m2", None, None), ("m1", 3, 9)]
    examples = [Example("m0", 0, 8, None), Example("m2", 0, 30, None), Example("m1", 3, 9, None)]
    for r in ("cls", "fused", "unimodal:text", "all", "raw"):
        want = Representer(store, None if r == "raw" else model, r, window=8, progress=False).clips(examples)
        torch.testing.assert_close(lmp.encode(model, store, clips, representation=r, window=8), want)
    raw = lmp.encode(None, store, "m1", representation="raw")
    assert raw.shape == (9, sum(DIMS.values()))


def test_encode_several_representations_at_once(world):
    store, model = world["store"], world["model"]
    got = lmp.encode(model, store, "m0", representation=["all", "unimodal:audio", "fused"], window=8)
    assert list(got) == ["all", "unimodal:audio", "fused"]
    assert got["all"].shape == (20, 4 * 32)
    # `all` is [unimodal visual, audio, text, fused], each the same as asked alone.
    torch.testing.assert_close(got["all"][:, 32:64], got["unimodal:audio"])
    torch.testing.assert_close(got["all"][:, 96:], got["fused"])
    torch.testing.assert_close(got["fused"], lmp.encode(model, store, "m0", representation="fused", window=8))


def test_movie_context_clips_pool_the_per_shot_vectors(world):
    store, model = world["store"], world["model"]
    shots = lmp.encode(model, store, "m2", representation=["fused", "unimodal:text"], window=8)
    clips = lmp.encode(
        model, store, [("m2", 2, 12), ("m0", 0, 20), ("m2", 20, 30)], representation=["fused", "unimodal:text"],
        window=8, context="movie",
    )  # fmt: skip
    torch.testing.assert_close(clips["fused"][0], shots["fused"][2:12].mean(0))
    torch.testing.assert_close(clips["fused"][2], shots["fused"][20:30].mean(0))
    text = torch.from_numpy(store.read("m2")["text_mask"][2:12])
    assert text.any() and not text.all()  # else the mask would not be tested
    torch.testing.assert_close(clips["unimodal:text"][0], shots["unimodal:text"][2:12][text].mean(0))
    with pytest.raises(EncodeError, match="'cls' has no movie context"):
        lmp.encode(model, store, [("m0", 0, 4)], context="movie")


def test_encode_errors_are_one_line_and_name_the_problem(world, tmp_path):
    store, model = world["store"], world["model"]
    with pytest.raises(EncodeError, match=r"movie 'm1' has 9 shots; window \[4, 12\)"):
        lmp.encode(model, store, [("m1", 4, 12)])
    with pytest.raises(EncodeError, match=r"window \[3, 3\) is empty"):
        lmp.encode(model, store, [("m1", 3, 3)])
    with pytest.raises(EncodeError, match=r"each window is \(movie_id, start, stop\)"):
        lmp.encode(model, store, ("m1", 0, 4))
    with pytest.raises(EncodeError, match="non-empty list"):
        lmp.encode(model, store, [])
    with pytest.raises(StoreError, match="no movie 'nope'"):
        lmp.encode(model, store, "nope")
    with pytest.raises(RepresentationError, match="unknown"):
        lmp.encode(model, store, "m0", representation="pooled")
    with pytest.raises(RepresentationError, match="needs a model"):
        lmp.encode(None, store, "m0")
    other = LMPModel(ModelConfig.from_name("tiny", input_dims={**DIMS, "visual": 5}))
    with pytest.raises(EncodeError, match="input widths differ"):
        lmp.encode(other, store, "m0")


def test_lmp_embed_writes_what_encode_returns(world, tmp_path):
    from lmp.cli import main

    root = world["root"]
    out = tmp_path / "emb"
    argv = ["embed", "--store", str(root / "store"), "--checkpoint", str(root / "model"), "--out", str(out)]
    assert main([*argv, "--window", "8", "--clip_shots", "6", "--device", "cpu"]) == 0
    store, model = world["store"], world["model"]
    shots = np.load(out / "shots_fused.npy")
    clips = {n: np.load(out / f"clips_{n}.npy") for n in ("cls", "fused", "unimodal_text")}
    row = clip = 0
    for vid in store.ids:
        n = store.num_shots(vid)
        np.testing.assert_allclose(shots[row : row + n], lmp.encode(model, store, vid, window=8).numpy(), atol=1e-6)
        spans = [(vid, a, min(a + 6, n)) for a in range(0, n, 6)]
        k = len(spans)
        np.testing.assert_allclose(clips["cls"][clip : clip + k], lmp.encode(model, store, spans, window=8), atol=1e-6)
        movie = lmp.encode(model, store, spans, representation=["fused", "unimodal:text"], window=8, context="movie")
        np.testing.assert_allclose(clips["fused"][clip : clip + k], movie["fused"], atol=1e-6)
        np.testing.assert_allclose(clips["unimodal_text"][clip : clip + k], movie["unimodal:text"], atol=1e-6)
        row, clip = row + n, clip + k


def test_import_lmp_and_load_store_stay_free_of_torch(world):
    code = (
        "import sys, lmp; store = lmp.load_store(sys.argv[1]); lmp.encode; "
        "print(len(store), 'torch' in sys.modules, sorted(lmp.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(world["root"] / "store")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("3 False") and "'encode'" in out.stdout and "'load_store'" in out.stdout
