"""torchrun for the tests that start real process groups (tests/test_gather_ddp.py, tests/test_train_loop.py):
whether it can run here, and one launcher that retries when the local rendezvous loses its port to
another process and skips (never fails) when that keeps happening."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

# What torchrun prints when the port it picked for the local rendezvous was taken in the meantime.
PORT_CONFLICT = ("Address already in use", "EADDRINUSE", "Connection refused")


def torchrun_available() -> bool:
    if not (dist.is_available() and dist.is_gloo_available()):
        return False
    try:
        import torch.distributed.run  # noqa: F401
    except ImportError:
        return False
    return True


requires_torchrun = pytest.mark.skipif(
    not torchrun_available(), reason="torch.distributed with gloo (torchrun) is unavailable"
)


def run_torchrun(
    args: list[str],
    *,
    nproc: int = 2,
    timeout: float = 240,
    env: dict[str, str] | None = None,
    fresh: Path | None = None,
    attempts: int = 3,
) -> subprocess.CompletedProcess:
    """`python -m torch.distributed.run --standalone --nproc_per_node=NPROC *args` (one thread per process).

    A port conflict is retried (`fresh`, the run's output directory, is removed before each attempt) and
    the test is skipped after `attempts` of them; a timeout fails the test. Other failures are returned
    for the caller to assert on."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    output = ""
    for _ in range(attempts):
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            pytest.fail(f"torchrun timed out after {timeout} s: {' '.join(args)}")
        output = proc.stdout + proc.stderr
        if proc.returncode == 0 or not any(marker in output for marker in PORT_CONFLICT):
            return proc
    pytest.skip(f"torchrun could not set up a local process group in {attempts} attempts:\n{output[-2000:]}")
