"""Pretraining: window sampler, schedules, checkpoints, DDP and the loop behind `lmp pretrain`.

    from lmp.train import PretrainConfig, pretrain
    model_dir = pretrain(PretrainConfig(store="runs/demo/store", out="runs/tiny", ...))
"""

from lmp.train.config import DataConfig, OptimConfig, PretrainConfig, RunConfig

__all__ = ["DataConfig", "OptimConfig", "PretrainConfig", "RunConfig", "pretrain"]


def __getattr__(name: str):
    # The loop imports the model and objectives; the data path and configs do not need them.
    if name == "pretrain":
        from lmp.train.loop import pretrain

        return pretrain
    raise AttributeError(f"module 'lmp.train' has no attribute {name!r}")
