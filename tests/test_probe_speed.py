"""Transfer speed, as behaviour: each clip and movie is encoded once per run (EncodingCache), the batched
probes compute what separate heads would, early stopping stops, fit bars follow `progress` and the TTY."""

import io

import numpy as np
import pytest
import torch
from torch import nn

from lmp.labels import Example, Task, TaskSpec
from lmp.model import LMPModel, ModelConfig
from lmp.store import EncoderSpec, FeatureStore, MovieFeatures, StoreWriter
from lmp.tasks.evaluate import ProbeOptions, evaluate_task
from lmp.tasks.features import EncodingCache, Representer
from lmp.tasks.heads import AttentiveGrid, AttentiveHead
from lmp.tasks.probe import attentive_probe, linear_probe, reduce_token_width
from lmp.tasks.selection import train_and_select

DIMS = {"visual": 6, "audio": 4}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """6 movies of 12 shots; visual dim 0 says which half of the movies (the clip tasks' label)."""
    root = tmp_path_factory.mktemp("store")
    rng = np.random.default_rng(0)
    w = StoreWriter(root, {m: EncoderSpec(f"fake-{m}", d) for m, d in DIMS.items()})
    for i in range(6):
        visual = rng.normal(0, 0.3, (12, DIMS["visual"]))
        visual[:, 0] += 2.0 if i % 2 else -2.0
        starts = np.arange(12) * 2.0
        w.write(MovieFeatures(f"m{i}", np.stack([starts, starts + 2], 1),
                              {"visual": visual, "audio": rng.normal(size=(12, 4))}))  # fmt: skip
    return FeatureStore(root)


def _model(store):
    torch.manual_seed(0)
    return LMPModel(ModelConfig.from_name("tiny", input_dims=store.dims, modalities=tuple(store.dims))).eval()


def _count_forwards(model) -> list[int]:
    """Wrap model.forward_features; the returned list holds the number of calls so far."""
    calls = [0]
    forward = model.forward_features

    def counted(batch):
        calls[0] += 1
        return forward(batch)

    model.forward_features = counted
    return calls


CLIPS = [Example("m0", 0, 6, 0), Example("m1", 0, 6, 1), Example("m2", 6, 12, 0), Example("m3", 6, 12, 1),
         Example("m4", 0, 12, 0), Example("m0", 0, 6, 0)]  # fmt: skip  (the last is the first again)


def test_cache_encodes_each_clip_once_across_tasks_and_returns_identical_tensors(store):
    model = _model(store)
    calls = _count_forwards(model)
    cache = EncodingCache()
    first = Representer(store, model, "cls", window=64, batch_size=2, progress=False, cache=cache)
    x = first.clips(CLIPS)
    assert x.shape == (6, model.cfg.cls_width) and torch.equal(x[0], x[5])
    assert calls[0] == 3  # 5 distinct clips in batches of 2
    # Another task of the same run (its own Representer) asking for the same clips in another order:
    # served from the cache, the very same numbers.
    other = Representer(store, model, "cls", window=64, batch_size=2, progress=False, cache=cache)
    assert torch.equal(other.clips(CLIPS[::-1]), x.flip(0))
    assert calls[0] == 3
    # The same encoding without a cache (same batches): identical tensors.
    assert torch.equal(Representer(store, model, "cls", window=64, batch_size=2, progress=False).clips(CLIPS), x)
    assert calls[0] == 6
    # Another representation or window is another encoding.
    Representer(store, model, "fused", window=64, batch_size=2, progress=False, cache=cache).clips(CLIPS)
    assert calls[0] == 9
    Representer(store, model, "cls", window=4, batch_size=8, progress=False, cache=cache).clips(CLIPS[:1])
    assert calls[0] == 10  # one 6-shot clip in two 3-shot chunks: one forward pass


def test_cache_with_tokens_encodes_once_for_both_probes(store):
    model = _model(store)
    calls = _count_forwards(model)
    rep = Representer(store, model, "fused", window=64, batch_size=8, progress=False, cache=EncodingCache(tokens=True))
    x = rep.clips(CLIPS)  # the linear probe's vectors; the cache keeps the tokens of the same pass
    assert calls[0] == 1
    x2, (tok, mask) = rep.clips(CLIPS, tokens=True)  # the attentive probe's tokens
    assert calls[0] == 1 and torch.equal(x, x2)
    assert tok.shape == (6, 12, 32) and mask.sum(1).tolist() == [6, 6, 6, 6, 12, 6]
    # fused = the mean of the clip's shot tokens.
    assert torch.allclose(tok[4].mean(0), x[4], atol=1e-6)


def test_cache_encodes_each_movie_once_for_shot_and_boundary_tasks(store):
    model = _model(store)
    calls = _count_forwards(model)
    cache = EncodingCache()
    shots = [Example(f"m{i}", k, None, 0) for i in range(3) for k in (0, 5, 11)]
    a = Representer(store, model, "fused", window=8, batch_size=8, progress=False, cache=cache).shots(shots)
    assert calls[0] == 3  # one pass per movie (its 2 overlapping windows of 8 shots in one batch)
    # A boundary task on `cls` (which falls back to the fused shot tokens) reuses the same movies.
    bounds = [Example(f"m{i}", k, None, 0) for i in range(3) for k in (0, 5, 10)]
    rep = Representer(store, model, "cls", window=8, batch_size=8, progress=False, cache=cache)
    b = rep.shots(bounds, boundary=True)
    assert calls[0] == 3
    assert torch.equal(b[1, :32], a[1]) and torch.allclose(b[1, 64:], (a[1] - b[1, 32:64]).abs())
    # raw reads the store, once per movie too.
    raw = Representer(store, None, "raw", progress=False, cache=cache)
    assert torch.equal(raw.shots(shots), raw.shots(shots))


def _clip_task(name: str, store) -> Task:
    spec = TaskSpec(name=name, level="clip", type="classification", classes=("neg", "pos"))
    rows = {
        "train": [Example(f"m{i}", a, a + 6, i % 2) for i in range(4) for a in (0, 6)],
        "val": [Example("m4", a, a + 6, 0) for a in (0, 6)] + [Example("m5", 0, 6, 1)],
        "test": [Example("m5", 6, 12, 1), Example("m4", 0, 12, 0)],
    }
    return Task(spec, rows, name).restrict(store)


def test_tasks_of_a_run_share_encodings(store):
    model = _model(store)
    calls = _count_forwards(model)
    cache = EncodingCache(tokens=True)
    fast = ProbeOptions(linear_steps=50, attentive_steps=25)
    results = []
    for name in ("genre", "director"):  # two tasks labelling the same clips
        for protocol in ("linear", "attentive"):
            results.append(evaluate_task(_clip_task(name, store), store, model, protocol=protocol, representation="cls",
                                         seeds=(0,), options=fast, progress=False, cache=cache))  # fmt: skip
    assert calls[0] == 3  # one batch per split (8, 3 and 2 clips), for both tasks and both probes
    assert results[0]["test"] == results[2]["test"] and results[1]["test"] == results[3]["test"]


def test_attentive_head_is_layernorm_multihead_attention_linear():
    torch.manual_seed(0)
    for dim, heads, queries in [(12, 4, 1), (10, 4, 1), (16, 4, 3)]:  # 10: not divisible, one head
        head = AttentiveHead(dim, 3, num_heads=heads, num_queries=queries)
        with torch.no_grad():
            for p in head.parameters():
                p.add_(torch.randn_like(p) * 0.3)  # biases and norms away from their 0/1 initialisation
        tok = torch.randn(5, 7, dim) * 2 + 1
        mask = torch.rand(5, 7) > 0.3
        mask[:, 0] = True
        x = head.norm(tok)
        pooled, _ = head.attn(head.query.expand(5, -1, -1), x, x, key_padding_mask=~mask, need_weights=False)
        reference = head.linear(head.out_norm(pooled.mean(1)))
        assert torch.allclose(head(tok, mask), reference, atol=1e-5)
        # A grid of K copies gives K times the same outputs.
        grid = AttentiveGrid(head, 3)
        assert torch.allclose(grid(tok, mask), reference.expand(3, -1, -1), atol=1e-5)


def test_grid_trains_each_head_as_its_own_adamw_run():
    """Two grid heads after 3 steps = one AttentiveHead trained alone by AdamW with its weight decay."""
    torch.manual_seed(0)
    tok, mask, y = torch.randn(8, 5, 8), torch.ones(8, 5, dtype=torch.bool), torch.randint(0, 3, (8,))
    head = AttentiveHead(8, 3, num_heads=2)
    grid = AttentiveGrid(head, 2)
    decays = torch.tensor([0.0, 0.5])
    opt = torch.optim.Adam(grid.parameters(), lr=0.1)
    for _ in range(3):
        out = grid(tok, mask)
        loss = sum(nn.functional.cross_entropy(out[i], y) for i in range(2))
        opt.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in grid.parameters():
                p.mul_(1 - 0.1 * decays.view(2, *[1] * (p.ndim - 1)))
        opt.step()
    for i, wd in enumerate(decays.tolist()):
        alone = AttentiveHead(8, 3, num_heads=2)
        alone.load_state_dict(head.state_dict())
        opt = torch.optim.AdamW(alone.parameters(), lr=0.1, weight_decay=wd)
        for _ in range(3):
            loss = nn.functional.cross_entropy(alone(tok, mask), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert all(torch.allclose(grid.state(i)[k], v, atol=1e-5) for k, v in alone.state_dict().items())


def _separable(n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 4, generator=gen) * 0.1
    x[:, 0] += y * 4 - 2
    return x, y


def test_attentive_grid_equals_one_run_per_weight_decay():
    """Every weight decay's head starts from the same seeded initialisation and sees the same batches, as
    when each ran alone."""
    (xtr, ytr), (xva, yva), (xte, yte) = _separable(40, 0), _separable(10, 1), _separable(10, 2)
    xva = xva + torch.randn(10, 4, generator=torch.Generator().manual_seed(3))  # val not trivially perfect
    tok = {s: (x[:, None].expand(-1, 3, -1), torch.ones(len(x), 3, dtype=torch.bool), y)
           for s, (x, y) in {"train": (xtr, ytr), "val": (xva, yva), "test": (xte, yte)}.items()}  # fmt: skip
    both = attentive_probe(tok["train"], tok["val"], tok["test"], "classification", weight_decays=(1e-3, 1.0), steps=50)
    alone = [attentive_probe(tok["train"], tok["val"], tok["test"], "classification", weight_decays=(wd,), steps=50)
             for wd in (1e-3, 1.0)]  # fmt: skip
    winner = alone[(1e-3, 1.0).index(both["weight_decay"])]
    assert both["val"] == winner["val"] and both["step"] == winner["step"]
    assert torch.allclose(both["test_scores"], winner["test_scores"], atol=1e-5)


def test_early_stopping_stops_after_patience_scorings_without_improvement():
    seen = []

    def validate(r):
        seen.append(r)
        return r <= 50  # improves at 25 and 50, then never

    assert train_and_select(300, lambda r: None, validate, every=25, patience=2) == 100
    assert seen == [25, 50, 75, 100]
    assert train_and_select(300, lambda r: None, lambda r: False, every=25) == 300  # patience 0: never stops
    with pytest.raises(ValueError):
        train_and_select(10, lambda r: None, lambda r: True, patience=-1)
    # A separable task: val accuracy reaches its best and cannot improve, so the attentive probe stops
    # `patience` scorings (of 25 steps) after its selected step.
    (xtr, ytr), (xva, yva), (xte, yte) = _separable(40, 0), _separable(10, 1), _separable(10, 2)
    tok = {s: (x[:, None], torch.ones(len(x), 1, dtype=torch.bool), y)
           for s, (x, y) in {"train": (xtr, ytr), "val": (xva, yva), "test": (xte, yte)}.items()}  # fmt: skip
    r = attentive_probe(tok["train"], tok["val"], tok["test"], "classification", weight_decays=(1e-3,), patience=1,
                        lr=1e-2)
    assert r["val"]["accuracy"] == 1.0 and r["steps_run"] == r["step"] + 25 < 300


def test_token_width_reduced_to_the_principal_components_of_train():
    # Train tokens vary along (1, 1, 0) / sqrt(2) far more than along anything else.
    t = torch.tensor([-3.0, -1.0, 1.0, 3.0])
    train = torch.stack([t, t, torch.tensor([0.1, -0.1, -0.1, 0.1])], 1)[None]  # [1, 4, 3], dim 2 uncorrelated
    mask = torch.ones(1, 4, dtype=torch.bool)
    other = torch.tensor([[[2.0, 2.0, 5.0], [7.0, 7.0, 7.0]]])
    other_mask = torch.tensor([[True, False]])
    out = reduce_token_width({"train": (train, mask), "test": (other, other_mask)}, 1)
    sign = torch.sign(out["train"][0][0, 0, 0]) * -1  # the direction's sign is the eigensolver's choice
    assert torch.allclose(out["train"][0][0, :, 0] * sign, t * 2**0.5, atol=1e-3)
    # Other splits: centred with the train mean (0) and projected; padding stays zero.
    assert torch.allclose(out["test"][0][0, 0] * sign, torch.tensor([2 * 2**0.5]), atol=1e-3)
    assert out["test"][0][0, 1].item() == 0 and torch.equal(out["test"][1], other_mask)
    same = reduce_token_width({"train": (train, mask)}, 3)
    assert same["train"][0] is train


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_fit_bar_only_when_asked_and_on_a_terminal(monkeypatch, capsys):
    data = [*_separable(20, 0), *_separable(6, 1), *_separable(6, 2)]
    linear_probe(*data, "classification", steps=30, progress=True)  # pytest's stderr is no terminal
    assert capsys.readouterr().err == ""
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    linear_probe(*data, "classification", steps=30, progress=False)
    assert terminal.getvalue() == ""
    linear_probe(*data, "classification", steps=30, progress=True)
    assert "fit linear (seed 0)" in terminal.getvalue()
