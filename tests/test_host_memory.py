"""`run.retain_host_memory`: CPU training keeps freed memory instead of page-faulting it in every step."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import lmp.train.step as step_module
from lmp.objectives import ObjectivesConfig
from lmp.train.config import OptimConfig, RunConfig
from lmp.train.distributed import DistInfo
from lmp.train.host_memory import retain_freed_memory
from test_activation_checkpointing import tiny
from test_model import make_batch

# A step in miniature: allocate blocks of 1-12 MiB (every page written), free them all, again. The minor
# page faults of rounds 3-5 are what three more training steps would pay.
CHURN = """
import resource, sys, torch
from lmp.train.host_memory import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
def churn():
    blocks = [torch.ones(mib << 18) for mib in range(1, 13)]
    del blocks
churn(); churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn(); churn(); churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_retained_memory_is_reused_without_page_faults():
    if not retain_freed_memory():
        pytest.skip("the C library is not glibc")
    # 78 MiB written per round is ~20k pages: with glibc's defaults most processes give most of it back and
    # fault it in again (~14.5k faults a round here); about 2 in 5 keep it anyway, by where their heap landed.
    # Kept, three rounds fault 0 times, now and then one block's 3k (the VM reclaiming pages).
    default = [faults("default") for _ in range(3)]
    if max(default) < 20_000:
        pytest.skip(f"glibc's defaults kept the freed memory here too ({default} faults): nothing to compare")
    retained = [faults("retain") for _ in range(3)]
    assert max(retained) < 10_000, (default, retained)


def test_the_run_option_sets_it_on_cpu_only_when_asked(monkeypatch):
    calls = []
    monkeypatch.setattr(step_module, "retain_freed_memory", lambda: calls.append(1) or True)
    info = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    for on in (False, True):
        step_module.build_trainer(
            tiny(), ObjectivesConfig(), OptimConfig(steps=2), RunConfig(device="cpu", retain_host_memory=on),
            info, probe_batch=make_batch(),
        )  # fmt: skip
    assert calls == [1]
