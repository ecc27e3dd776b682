"""The DDP-gathered contrastive losses equal the single-process loss, in value and in gradient.

Launches tests/ddp_gather_worker.py under `torchrun --nproc_per_node 2` (gloo backend, CPU).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

WORKER = Path(__file__).with_name("ddp_gather_worker.py")


def _torchrun_available() -> bool:
    if not (dist.is_available() and dist.is_gloo_available()):
        return False
    try:
        import torch.distributed.run  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _torchrun_available(), reason="torch.distributed with gloo (torchrun) is unavailable")
def test_ddp_gathered_losses_and_gradients_equal_single_process():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(WORKER),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("torchrun worker timed out after 180 s")
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and ("Address already in use" in output or "Connection refused" in output):
        pytest.skip(f"torchrun could not set up a local process group:\n{output[-2000:]}")
    # The worker's own report (first lines) says which term or gradient differs; torchrun's trailer follows.
    assert proc.returncode == 0, output[:3000] + "\n...\n" + output[-1500:]
    assert "OK:" in proc.stdout
