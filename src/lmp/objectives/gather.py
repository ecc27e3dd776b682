"""Cross-rank gathering for contrastive losses, differentiable, and a no-op in a single process.

Every contrastive loss in lmp scores its LOCAL queries against keys gathered from ALL ranks. The
gathered keys keep autograd: the backward pass sums every rank's gradient for a rank's shard and
hands it back to that rank (an all-reduce, then the local slice). With losses normalised by the
GLOBAL number of queries and multiplied by the world size (`global_mean`), DDP's gradient averaging
then yields exactly the gradient of the full-batch, single-process loss.

Requirement: every rank gathers tensors of the same shape (the trainer pads windows to a fixed length).
When torch.distributed is not initialised (or has one rank), every function here returns its input,
so single-process runs take the same code path.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) without torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _AllGatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        rank, size = world()
        ctx.rank, ctx.n = rank, x.shape[0]
        parts = [torch.empty_like(x) for _ in range(size)]
        dist.all_gather(parts, x.contiguous())
        parts[rank] = x  # the local shard is the input itself
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        # Each rank's loss touched every shard; the sum over ranks is the shard's full gradient.
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n : (ctx.rank + 1) * ctx.n]


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """[n, ...] on each rank -> [world * n, ...] in rank order; gradients flow back to every shard."""
    if world()[1] == 1:
        return x
    return _AllGatherWithGrad.apply(x)


def all_gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Like all_gather_with_grad for constants (targets, masks, ids). Bool tensors are supported."""
    if world()[1] == 1:
        return x
    is_bool = x.dtype == torch.bool
    y = x.detach().to(torch.uint8) if is_bool else x.detach().contiguous()
    parts = [torch.empty_like(y) for _ in range(world()[1])]
    dist.all_gather(parts, y)
    out = torch.cat(parts, dim=0)
    return out.bool() if is_bool else out


def global_offset(n_local: int) -> int:
    """Index of this rank's first row in a gathered tensor with n_local rows per rank."""
    return world()[0] * n_local


def global_mean(loss_sum: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """A sum over local queries -> this rank's share of the global mean over all ranks' queries.

    The result times the world size is what DDP averages, so the mean over ranks of this value is the
    full-batch mean and DDP's averaged gradient is the full-batch gradient. Empty batches give 0.
    """
    _, size = world()
    total = count.detach().to(loss_sum.dtype)
    if size > 1:
        total = total.clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return loss_sum * size / total.clamp(min=1)


def window_targets(movie: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For window-level contrast: this rank's windows' indices among the gathered ones, long [b], and
    which gathered windows come from the same film as each local one, bool [b, B] (itself included).

    movie long [b]: this rank's movie ids, which name a film alike on every rank (docs/design.md): the
    sampler may put windows of one film on two ranks, and they share it as they would in one batch."""
    b = movie.shape[0]
    local = global_offset(b) + torch.arange(b, device=movie.device)  # [b]
    gathered = all_gather_no_grad(movie.long())  # [B]
    same_film = gathered[local][:, None] == gathered[None, :]  # [b, B]
    return local, same_film
