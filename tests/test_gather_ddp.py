"""The DDP-gathered contrastive losses equal the single-process loss, in value and in gradient.

Launches tests/ddp_gather_worker.py under `torchrun --nproc_per_node 2` (gloo backend, CPU).
"""

from __future__ import annotations

from pathlib import Path

from ddp import requires_torchrun, run_torchrun

WORKER = Path(__file__).with_name("ddp_gather_worker.py")


@requires_torchrun
def test_ddp_gathered_losses_and_gradients_equal_single_process():
    proc = run_torchrun([str(WORKER)], timeout=180)
    output = proc.stdout + proc.stderr
    # The worker's own report (first lines) says which term or gradient differs; torchrun's trailer follows.
    assert proc.returncode == 0, output[:3000] + "\n...\n" + output[-1500:]
    assert "OK:" in proc.stdout
