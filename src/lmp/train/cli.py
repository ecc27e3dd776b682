"""`lmp pretrain`: the command-line face of lmp.train.pretrain."""

from __future__ import annotations

from lmp.train.config import PretrainConfig
from lmp.train.loop import pretrain as run_pretraining


def pretrain(cfg: PretrainConfig) -> int:
    """Pretrain on a feature store; prints where the final model is."""
    model_dir = run_pretraining(cfg)
    print(f"lmp pretrain: final model in {model_dir}")
    return 0
