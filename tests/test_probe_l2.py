"""The linear probe is L2-regularised regression solved to its optimum, with the penalty chosen on val.

Its optimum is checked against independent solvers: scikit-learn's multinomial logistic regression (the
probe's mean cross-entropy + λ/2 ||W||² is scikit-learn's C · Σ cross-entropy + ½ ||W||² with C = 1 / (λ n))
and the closed form of ridge regression.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmp.tasks.probe import linear_probe


def _standardised(x: torch.Tensor, like: torch.Tensor) -> np.ndarray:
    return ((x - like.mean(0)) / like.std(0)).double().numpy()


def _classes(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes, each shifting two of d noisy dimensions, the other dimensions pure noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, d, generator=g) * torch.linspace(0.5, 3.0, d)  # dimensions of different scales
    x[torch.arange(n), y] += 1.5
    x[torch.arange(n), y + 3] -= 1.0
    return x, y


@pytest.mark.parametrize("lam", [1e-3, 0.1])
def test_the_classification_head_is_scikit_learns_logistic_regression(lam):
    from sklearn.linear_model import LogisticRegression

    (xtr, ytr), (xva, yva), (xte, yte) = _classes(60, 12, 0), _classes(30, 12, 1), _classes(30, 12, 2)
    r = linear_probe(xtr, ytr, xva, yva, xte, yte, "classification", weight_decays=(lam,), steps=500)
    ref = LogisticRegression(C=1.0 / (lam * len(ytr)), tol=1e-10, max_iter=10_000).fit(_standardised(xtr, xtr), ytr)
    # The probe stops at a gradient of 1e-5 (its speed in the studies); the weights are then within a few
    # thousandths of the optimum. Softmax is unchanged by a constant added to every class's logit: compare
    # the centred intercepts.
    np.testing.assert_allclose(r["head"]["weight"].numpy(), ref.coef_, atol=5e-3)
    np.testing.assert_allclose(
        r["head"]["bias"].numpy() - r["head"]["bias"].numpy().mean(), ref.intercept_ - ref.intercept_.mean(), atol=5e-3
    )
    np.testing.assert_allclose(r["test_scores"].numpy(), ref.predict_proba(_standardised(xte, xtr)), atol=2e-3)
    assert r["weight_decay"] == lam


def test_the_regression_head_is_ridge_regressions_closed_form():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(80, 6, generator=g) * torch.tensor([1.0, 2.0, 0.5, 3.0, 1.0, 1.0])
    y = 2.0 + x @ torch.tensor([1.0, -0.5, 0.0, 0.2, 0.0, 0.3]) + 0.3 * torch.randn(80, generator=g)
    lam = 0.05
    r = linear_probe(x[:50], y[:50], x[50:65], y[50:65], x[65:], y[65:], "regression", weight_decays=(lam,), steps=500)
    # Targets standardised with train statistics; mean squared error + λ/2 ||w||² has its gradient zero at
    # (Zᵀ Z + λ n / 2 · I) w = Zᵀ t, and the bias is the (zero) mean of t as Z is centred.
    z, t = _standardised(x[:50], x[:50]), ((y[:50] - y[:50].mean()) / y[:50].std()).double().numpy()
    w = np.linalg.solve(z.T @ z + lam * len(t) / 2 * np.eye(z.shape[1]), z.T @ t)
    np.testing.assert_allclose(r["head"]["weight"].numpy()[0], w, atol=1e-5)
    assert abs(float(r["head"]["bias"][0])) < 1e-5
    # Predictions come back in the target's units.
    expected = (_standardised(x[65:], x[:50]) @ w) * y[:50].std().item() + y[:50].mean().item()
    np.testing.assert_allclose(r["test_scores"].numpy(), expected, atol=1e-4)


def test_val_chooses_the_penalty_and_a_tie_goes_to_the_stronger_one():
    # One informative dimension among 40: with 12 labels, a weak penalty fits the noise dimensions too.
    def data(n, seed):
        g = torch.Generator().manual_seed(seed)
        y = torch.arange(n) % 2
        x = torch.randn(n, 40, generator=g)
        x[:, 0] += 1.2 * (2 * y - 1)
        return x, y

    (xtr, ytr), (xva, yva), (xte, yte) = data(12, 0), data(400, 1), data(400, 2)
    grid = (1e-4, 1e-2, 1.0)
    r = linear_probe(xtr, ytr, xva, yva, xte, yte, "classification", weight_decays=grid)
    alone = {
        lam: linear_probe(xtr, ytr, xva, yva, xte, yte, "classification", weight_decays=(lam,))["val"]["accuracy"]
        for lam in grid
    }
    assert r["val"]["accuracy"] == max(alone.values())
    assert r["weight_decay"] == max(lam for lam, v in alone.items() if v == r["val"]["accuracy"])
    assert alone[1.0] > alone[1e-4]  # the case is one where the penalty matters
    # A val split every penalty gets right: the strongest penalty is kept.
    sep = (torch.tensor([[10.0] + [0.0] * 39, [-10.0] + [0.0] * 39]), torch.tensor([1, 0]))
    r = linear_probe(xtr, ytr, *sep, xte, yte, "classification", weight_decays=grid)
    assert r["val"]["accuracy"] == 1.0 and r["weight_decay"] == 1.0


def test_the_path_records_every_penalty_and_the_choice_reads_val_only():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    (xtr, ytr), (xva, yva), (xte, yte) = _classes(60, 12, 0), _classes(30, 12, 1), _classes(30, 12, 2)
    path: list = []
    grid = (1e-3, 0.1, 1.0)
    r = linear_probe(xtr, ytr, xva, yva, xte, yte, "classification", weight_decays=grid, steps=500, path=path)
    assert [p["weight_decay"] for p in path] == [1.0, 0.1, 1e-3]  # strongest first, as fitted
    # Each entry is that penalty's fit, scored on val and test: scikit-learn at the same optimum agrees.
    for p in path:
        ref = LogisticRegression(C=1.0 / (p["weight_decay"] * len(ytr)), tol=1e-10, max_iter=10_000)
        ref.fit(_standardised(xtr, xtr), ytr)
        for split, (x, y) in (("val", (xva, yva)), ("test", (xte, yte))):
            proba = ref.predict_proba(_standardised(x, xtr))
            assert p[split]["accuracy"] == pytest.approx(float((proba.argmax(1) == y.numpy()).mean()))
            assert p[split]["loss"] == pytest.approx(log_loss(y.numpy(), proba), abs=2e-3)
    # The chosen penalty is the best on val (ties to the stronger), whatever test says.
    best_val = max(p["val"]["accuracy"] for p in path)
    chosen = next(p for p in path if p["val"]["accuracy"] == best_val)
    assert r["weight_decay"] == chosen["weight_decay"]
    assert r["test"]["accuracy"] == chosen["test"]["accuracy"]
