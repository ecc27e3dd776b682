"""One code path for one or many processes: `torchrun` sets RANK/WORLD_SIZE, a plain run is world 1.

Backends: NCCL when training on CUDA, gloo on CPU. With world size 1 no process group is created and
the collectives below are no-ops, so the training loop never branches on "distributed or not".
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from lmp.device import resolve_device


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Only the main process writes files (checkpoints, logs, the final model)."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str) -> DistInfo:
    """Read the torchrun environment, pick the device and (for world > 1) join the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def all_reduce_mean(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean over ranks (in place on a copy); identity for world size 1."""
    if not info.enabled:
        return t
    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / info.world_size


def all_gather_tensor(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Stack a same-shaped tensor from every rank -> [world, ...] (on CPU)."""
    if not info.enabled:
        return t.unsqueeze(0).cpu()
    comm = t.to(info.device)
    out = [torch.empty_like(comm) for _ in range(info.world_size)]
    dist.all_gather(out, comm)
    return torch.stack([o.cpu() for o in out])


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
