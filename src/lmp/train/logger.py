"""Run logging on rank 0: one JSON object per log interval in RUN/log.jsonl, mirrored to TensorBoard (RUN/tb, on
by default where installed) and optionally to Weights & Biases (RUN/wandb, `run.wandb`, extra `wandb`).

Records carry `step` (optimizer steps done), `lr`, `loss` (what is optimised) and every named loss term
from the Pretrainer, `grad_norm`, `windows_per_s` (all ranks together) and `elapsed_s`. TensorBoard and W&B get
the same numbers, each as scalar `train/<key>` at `step` (`scalars(record)`): nothing is logged that the jsonl
record does not hold, and nothing it holds is left out.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from lmp.config import atomic_write_text, to_dict
from lmp.errors import LMPError, LMPWarning

LOG_FILE = "log.jsonl"
TB_DIR = "tb"
WANDB_DIR = "wandb"
"""W&B writes its runs under RUN/wandb/ (offline runs: RUN/wandb/offline-run-*, uploaded by `wandb sync`)."""


def read_log(run_dir: Path) -> list[dict[str, Any]]:
    """All records of RUN/log.jsonl (an empty list if there is none). A line that is not a JSON record, such
    as the last one torn by a crash or a full disk, is skipped with a warning: a log must not stop a resume."""
    path = Path(run_dir) / LOG_FILE
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            warnings.warn(f"{path}: line {number} is not a log record (a write cut short?); skipped it",
                          LMPWarning, stacklevel=2)
            continue
        records.append(record)
    return records


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The scalars TensorBoard and W&B log for a record: every number but `step`, as `train/<key>`."""
    return {f"train/{k}": v for k, v in record.items() if k != "step" and isinstance(v, (int, float))}


class WandbLogger:
    """Mirrors records to one W&B run under RUN/wandb. Each launch (a fresh start or a resume) is its own W&B run,
    named and grouped by the run directory: steps re-run after a resume would be dropped by W&B if they were
    logged again into the run that already has them, as W&B steps only increase."""

    def __init__(self, run_dir: Path, *, project: str, mode: str, config: Any, resume_step: int | None):
        try:
            import wandb
        except ImportError:
            raise LMPError(
                "run.wandb: needs the wandb package; install with: pip install 'lmp[wandb]' (or set run.wandb=false)"
            ) from None
        run_dir = Path(run_dir)
        # W&B puts its runs in `dir`/wandb; older wandb releases used a temp folder instead when it did not exist.
        (run_dir / WANDB_DIR).mkdir(parents=True, exist_ok=True)
        try:
            self.run = wandb.init(
                project=project,
                mode=mode,
                dir=str(run_dir),
                name=run_dir.resolve().name,
                group=run_dir.resolve().name,
                job_type="pretrain",
                config={**(to_dict(config) if config is not None else {}), "resumed_from_step": resume_step},
            )
        except Exception as e:  # wandb raises its own types (no login, no network in online mode, bad project)
            raise LMPError(
                f"run.wandb: wandb.init(mode={mode!r}, project={project!r}) failed: {e}"
                + ("; log in with `wandb login`, or use run.wandb_mode=offline" if mode == "online" else "")
            ) from None

    def log(self, record: dict[str, Any]) -> None:
        self.run.log(scalars(record), step=int(record["step"]))

    def close(self) -> None:
        self.run.finish()


class RunLogger:
    """Appends records to log.jsonl (and TensorBoard, and W&B). Does nothing on ranks other than 0.

    `wandb`: None, or the keyword arguments of WandbLogger (project, mode, config: the run's config dataclass);
    mode 'disabled' is no W&B at all, so it needs no wandb install."""

    def __init__(self, run_dir: Path, *, enabled: bool, tensorboard: bool, resume_step: int | None,
                 wandb: dict[str, Any] | None = None):
        self.enabled = enabled
        self.path = Path(run_dir) / LOG_FILE
        self.tb = None
        self.wandb: WandbLogger | None = None
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
        if wandb is not None and wandb.get("mode") != "disabled":
            self.wandb = WandbLogger(run_dir, resume_step=resume_step, **wandb)

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if self.tb is not None:
            step = record["step"]
            for k, v in scalars(record).items():
                self.tb.add_scalar(k, v, step)
            self.tb.flush()
        if self.wandb is not None:
            self.wandb.log(record)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.close()
            self.wandb = None
