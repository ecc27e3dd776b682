"""The LMP backbone: per-modality shot encoders + a cross-modal encoder with a [CLS] token."""

from lmp.model.checkpoint import CheckpointError
from lmp.model.config import ModelConfig
from lmp.model.lmp_model import BatchError, LMPModel

__all__ = ["BatchError", "CheckpointError", "LMPModel", "ModelConfig"]
