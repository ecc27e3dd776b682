"""The window InfoNCE checked against the full InfoNCE, on any device (tests/test_objectives.py on CPU,
tests/test_gpu.py on CUDA)."""

from __future__ import annotations

import torch

from lmp.objectives.contrastive import info_nce, window_info_nce


def check_window_info_nce(device: str) -> None:
    """The [b, k, s] window path is the full [b*k, b*s] InfoNCE with every other window's keys masked out:
    same loss, same count, same gradients, with copies of the target (distinct) and invalid keys/queries;
    and one query checked by hand."""
    g = torch.Generator().manual_seed(0)
    b, k, s, c = 3, 4, 6, 5
    unit = lambda x: torch.nn.functional.normalize(x, dim=-1)  # noqa: E731
    q = unit(torch.randn(b, k, c, generator=g)).to(device).requires_grad_()
    keys = unit(torch.randn(b, s, c, generator=g)).to(device).requires_grad_()
    target = torch.randint(0, s, (b, k), generator=g).to(device)
    key_valid = (torch.rand(b, s, generator=g) > 0.2).to(device)
    query_valid = (torch.rand(b, k, generator=g) > 0.2).to(device)
    distinct = (torch.rand(b, k, s, generator=g) > 0.3).to(device)
    distinct.scatter_(2, target[..., None], False)  # the target is never "distinct" from itself
    scale = torch.tensor(3.0, device=device)

    loss, count = window_info_nce(q, keys, scale, target, key_valid, query_valid, distinct)
    grads = torch.autograd.grad(loss, (q, keys))
    # Reference: flatten, point each target at its gathered index, and mark other windows' keys as copies
    # (out of the denominator) through `distinct`.
    own = torch.zeros(b, k, b, s, dtype=torch.bool, device=device)
    for w in range(b):
        own[w, :, w] = distinct[w]
    flat_target = (torch.arange(b, device=device)[:, None] * s + target).reshape(-1)
    ref, ref_count = info_nce(
        q.reshape(b * k, c), keys.reshape(b * s, c), scale, flat_target, key_valid.reshape(-1),
        query_valid.reshape(-1), own.reshape(b * k, b * s),
    )  # fmt: skip
    ref_grads = torch.autograd.grad(ref, (q, keys))
    assert count.item() == ref_count.item() > 0
    torch.testing.assert_close(loss, ref)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want)
    # Without `distinct` every valid key of the window is a candidate: one hand-checked query, the
    # log-sum-exp over its window's valid keys minus the positive's logit.
    one = torch.ones(1, 1, dtype=torch.bool, device=device)
    loss, _ = window_info_nce(q[:1, :1], keys[:1], scale, target[:1, :1], key_valid[:1], one)
    logits = (scale * (keys[0] @ q[0, 0]))[key_valid[0]]
    pos = scale * (keys[0, target[0, 0]] @ q[0, 0])
    expected = torch.logsumexp(logits, 0) - pos if key_valid[0, target[0, 0]] else torch.zeros((), device=device)
    torch.testing.assert_close(loss, expected)
