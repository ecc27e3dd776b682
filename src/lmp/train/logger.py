"""Run logging on rank 0: one JSON object per log interval in RUN/log.jsonl, mirrored to TensorBoard.

Records carry `step` (optimizer steps done), `lr`, `loss` (what is optimised) and every named loss term
from the Pretrainer, `grad_norm`, `windows_per_s` (all ranks together) and `elapsed_s`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from lmp.config import atomic_write_text

LOG_FILE = "log.jsonl"
TB_DIR = "tb"


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    """All records of RUN/log.jsonl (an empty list if there is none)."""
    path = Path(run_dir) / LOG_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class RunLogger:
    """Appends records to log.jsonl (and TensorBoard). Does nothing on ranks other than 0."""

    def __init__(self, run_dir: Path, *, enabled: bool, tensorboard: bool, resume_step: int | None):
        self.enabled = enabled
        self.path = Path(run_dir) / LOG_FILE
        self.tb = None
        if not enabled:
            return
        if resume_step is not None and self.path.exists():
            # Steps after the checkpoint were run by the interrupted process and will be run again.
            kept = [r for r in read_log(run_dir) if r.get("step", 0) <= resume_step]
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        elif resume_step is None:
            self.path.unlink(missing_ok=True)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print("lmp pretrain: tensorboard is not installed; logging to log.jsonl only "
                      "(pip install 'lmp[tensorboard]')", file=sys.stderr)
            else:
                self.tb = SummaryWriter(str(Path(run_dir) / TB_DIR), purge_step=resume_step)

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if self.tb is not None:
            step = record["step"]
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(f"train/{k}", v, step)
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
