"""Launched by tests/test_gather_ddp.py under `torchrun --nproc_per_node 2` (gloo, CPU).

Each rank first computes the full-batch loss and gradients in a single process (torch.distributed not
yet initialised: the no-op gather path), then joins the process group, computes the loss on its half
of the same batch with negatives gathered across ranks, averages gradients as DDP does, and checks
that loss terms and gradients equal the single-process ones. Exit status 0 = equal.

Movie 0 has windows on both ranks, as the sampler can give it (`movie` ids name a film alike on every
rank, docs/design.md): the terms that compare windows by film (window alignment, movie and stretch
contrast) must treat them as one batch would.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist

from lmp.config import from_dict
from lmp.model import LMPModel, ModelConfig
from lmp.objectives import ObjectivesConfig, Pretrainer
from lmp.objectives.pretrainer import Samples

DIMS = {"visual": 6, "audio": 5, "text": 4}
B, S = 8, 6


def make_batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    shot_mask = torch.ones(B, S, dtype=torch.bool)
    shot_mask[1, 4:] = False
    shot_mask[6, 2:] = False
    batch = {m: torch.randn(B, S, d, generator=g) for m, d in DIMS.items()}
    for m in DIMS:
        batch[f"{m}_mask"] = (torch.rand(B, S, generator=g) > 0.3) & shot_mask
    # A subtitle line repeated over two shots on rank 1, to exercise duplicate targets across ranks.
    batch["text"][5, 1] = batch["text"][5, 0]
    start = torch.cumsum(torch.rand(B, S, generator=g), dim=1)
    batch["times"] = torch.stack([start - start[:, :1], start - start[:, :1] + 0.5], dim=-1)
    batch["positions"] = torch.arange(S).expand(B, S).clone()
    batch["shot_mask"] = shot_mask
    batch["movie"] = torch.tensor([0, 0, 1, 1, 2, 2, 0, 0])
    return batch


def run(pre: Pretrainer, batch, samples: Samples) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    pre.zero_grad(set_to_none=True)
    terms = pre.loss_terms(batch, samples)
    terms["loss"].backward()
    grads = {n: p.grad.detach().clone() for n, p in pre.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in terms.items()}, grads


CONFIGS = {
    "default negatives": {
        "masked_shot": {"mask_ratio": 0.4},
        "cross_masked": {"hide_ratio": 0.3},
        "align": {"queries_per_window": 3},
        "shot_align": {"weight": 1.0, "queries_per_window": 3},  # off by default: checked here too
        "stretch": {"weight": 1.0},  # off by default too, as is the movie contrast
        "movie": {"weight": 1.0},
    },
    # Every modality's (or pair's) keys gathered from both ranks in one batched InfoNCE, raw targets of three
    # widths zero-padded to one.
    "batch negatives": {
        "masked_shot": {"mask_ratio": 0.4, "negatives": "batch"},
        "cross_masked": {"hide_ratio": 0.3, "negatives": "batch", "target": "raw"},
        "align": {"queries_per_window": 3, "negatives": "batch", "keys": "contextual"},
    },
}


def main() -> int:
    torch.set_num_threads(1)
    batch = make_batch()
    cases = {}
    for name, values in CONFIGS.items():
        torch.manual_seed(0)
        model = LMPModel(ModelConfig.from_name("tiny", input_dims=DIMS))
        pre = Pretrainer(model, from_dict(ObjectivesConfig, values))
        torch.manual_seed(1)
        samples = pre.sample(batch)
        cases[name] = (pre, samples, *run(pre, batch, samples))  # single process, full batch

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    rows = slice(rank * B // world, (rank + 1) * B // world)
    local = {k: v[rows] for k, v in batch.items()}
    failures = []
    for name, (pre, samples, ref_terms, ref_grads) in cases.items():
        terms, grads = run(pre, local, samples.rows(rows))
        for k, ref in ref_terms.items():
            v = terms[k].clone()
            dist.all_reduce(v)
            v /= world  # what the trainer reports as the global value: the mean over ranks
            if not torch.allclose(v, ref, rtol=1e-5, atol=1e-6):
                failures.append(f"{name}: term {k}: ddp {v.item():.6f} vs single {ref.item():.6f}")
        if set(grads) != set(ref_grads):
            failures.append(f"{name}: parameters with gradients differ: {sorted(set(grads) ^ set(ref_grads))}")
        for n, g in grads.items():
            g = g.clone()
            dist.all_reduce(g)
            g /= world  # DDP averages gradients over ranks
            if n in ref_grads and not torch.allclose(g, ref_grads[n], rtol=1e-4, atol=1e-6):
                err = (g - ref_grads[n]).abs().max().item()
                failures.append(f"{name}: grad {n}: max abs error {err:.2e}")
    for line in failures:
        print(f"rank {rank}: {line}", file=sys.stderr)
    ok = torch.tensor(0 if failures else 1)
    dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    if rank == 0 and ok.item():
        counts = ", ".join(f"{name}: {len(c[2])} terms, {len(c[3])} gradients" for name, c in cases.items())
        print(f"OK: {counts} match over {world} ranks")
    dist.destroy_process_group()
    return 0 if ok.item() else 1


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
