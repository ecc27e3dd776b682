"""ModelConfig: the shape of the LMP backbone, with named presets (tiny / base / large).

    ModelConfig(preset="base", input_dims={"visual": 1280, "audio": 256, "text": 384})
    ModelConfig.from_name("base", input_dims=...)        # same thing
    {"preset": "base", "dropout": 0.0}                    # YAML / lmp.config.from_dict form

All three apply the preset with `lmp.config.apply_preset`: the preset's values first, then every value
given explicitly on top (also one equal to the field's default: `ModelConfig(preset="tiny", width=512)`
has width 512).

`input_dims` normally comes from the feature store (store.json encoders) and is filled in by the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from lmp.config import ConfigError, preset_init
from lmp.modality import MODALITIES, check_modalities

_PRESETS: dict[str, dict[str, Any]] = {
    # A few thousand parameters: unit tests and smoke runs on CPU.
    "tiny": {"width": 32, "heads": 2, "layers": 1, "cross_layers": 1, "mlp_ratio": 2.0, "dropout": 0.0},
    # The paper-scale backbone: 3 x 4 unimodal + 4 cross-modal = 16 blocks at d=512. No dropout, as in
    # MAE, CLIP and litgpt pretraining: the masking is the regulariser, and dropout would cost ~15 % of a CPU
    # step (its RNG) and keep attention off the fused SDPA kernels.
    "base": {"width": 512, "heads": 8, "layers": 4, "cross_layers": 4, "mlp_ratio": 4.0, "dropout": 0.0},
    "large": {"width": 768, "heads": 12, "layers": 6, "cross_layers": 6, "mlp_ratio": 4.0, "dropout": 0.0},
}


@preset_init("model")
@dataclass
class ModelConfig:
    """Backbone shape. Defaults are the `base` preset; `ModelConfig(preset=NAME, **values)` starts from a
    named preset (tiny, base, large) and puts the given values on top."""

    input_dims: dict[str, int] = field(default_factory=dict)
    """Frozen feature width D per modality, e.g. {visual: 1280}; set from the feature store when empty."""
    modalities: tuple[str, ...] = MODALITIES
    """Modalities the model encodes (drop one for a modality ablation)."""
    width: int = 512
    """Token width d of every encoder."""
    heads: int = 8
    """Attention heads per block (width must be divisible by it)."""
    layers: int = 4
    """Transformer blocks in each per-modality (unimodal) encoder."""
    cross_layers: int = 4
    """Transformer blocks in the cross-modal encoder."""
    mlp_ratio: float = 4.0
    """Hidden width of each block's MLP, as a multiple of width."""
    dropout: float = 0.0
    """Dropout on attention weights, residual branches and embeddings (0 in every preset; e.g. 0.1 for a small
    pretraining corpus)."""
    position: Literal["rotary", "sinusoidal"] = "rotary"
    """How a shot's index in the window reaches the encoders: "rotary" (queries and keys only, so tokens
    carry no absolute position) or "sinusoidal" (added to every token, the earlier behaviour)."""
    context: Literal["window", "shot"] = "window"
    """What a shot's tokens attend to: the whole "window", or only the same "shot" (its other modalities;
    the [CLS] still reads every shot): the per-shot ablation, with no cross-shot context."""
    recall: int = 8
    """Shots pooled by the recall read-out, which adds to each unimodal token how well the stretch of that many
    shots starting at it matches an earlier one of the window (lmp.model.recall; 0: none, as before 2 Dec 2026)."""
    summary_tokens: Literal["one", "per_modality"] = "per_modality"
    """[CLS] tokens that summarise a window: one per modality, each regressing its own modality's window mean, so
    that no modality's summary crowds another's out (the clip vector `cls` is their concatenation,
    len(modalities) * width wide), or "one" for all (checkpoints before 2 Dec 2026, afternoon)."""
    max_shots: int = 8192
    """Longest window (in shots) the model accepts; positions need no table, so this is only a guard."""
    standardize_inputs: bool = True
    """Standardise each input feature dimension with the pretraining store's mean and std (buffers saved with
    the weights) before the per-shot LayerNorm; False = the LayerNorm alone (checkpoints that predate the option)."""
    input_init: Literal["normal", "orthogonal"] = "normal"
    """Initial input projections: "normal" (truncated normal, std 0.02, like every linear layer) or "orthogonal"
    (all singular values 1, so no input direction starts shrunk; docs/diagnosis-pretraining.md)."""

    def __post_init__(self) -> None:
        self.modalities = check_modalities(self.modalities, "model.modalities")
        self.input_dims = {str(m): int(d) for m, d in self.input_dims.items()}
        bad = {m: d for m, d in self.input_dims.items() if d <= 0}
        if bad:
            raise ValueError(f"model.input_dims: widths must be positive, got {bad}")
        for name in ("width", "heads", "layers", "cross_layers", "max_shots"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name}: must be >= 1, got {getattr(self, name)}")
        if self.width % self.heads:
            raise ValueError(f"model.width: {self.width} is not divisible by model.heads={self.heads}")
        if (self.width // self.heads) % 2:
            raise ValueError(f"model.width: head width {self.width // self.heads} must be even")
        if self.width % 2:
            raise ValueError(f"model.width: must be even (sinusoidal positions), got {self.width}")
        if self.position not in ("rotary", "sinusoidal"):
            raise ValueError(f"model.position: must be one of ['rotary', 'sinusoidal'], got {self.position!r}")
        if self.input_init not in ("normal", "orthogonal"):
            raise ValueError(f"model.input_init: must be one of ['normal', 'orthogonal'], got {self.input_init!r}")
        if self.summary_tokens not in ("one", "per_modality"):
            raise ValueError(
                f"model.summary_tokens: must be one of ['one', 'per_modality'], got {self.summary_tokens!r}"
            )
        if self.context not in ("window", "shot"):
            raise ValueError(f"model.context: must be one of ['window', 'shot'], got {self.context!r}")
        if self.recall < 0:
            raise ValueError(f"model.recall: must be >= 0 (0 = no recall), got {self.recall}")
        if self.mlp_ratio <= 0:
            raise ValueError(f"model.mlp_ratio: must be > 0, got {self.mlp_ratio}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout: must be in [0, 1), got {self.dropout}")

    @classmethod
    def presets(cls) -> dict[str, dict[str, Any]]:
        """Named shapes: tiny (tests), base (d=512, 8 heads, 4+4 layers), large (d=768, 12 heads, 6+6)."""
        return {name: dict(values) for name, values in _PRESETS.items()}

    @classmethod
    def from_name(cls, name: str, **overrides: Any) -> ModelConfig:
        """A preset with some fields replaced, e.g. from_name("tiny", input_dims={...}): the same as
        `ModelConfig(preset=name, **overrides)`."""
        return cls(preset=name, **overrides)

    @property
    def cls_modalities(self) -> tuple[str, ...]:
        """The modality each [CLS] token summarises, in token order; () for one [CLS] that summarises them all."""
        return self.modalities if self.summary_tokens == "per_modality" else ()

    @property
    def cls_width(self) -> int:
        """Width of the clip vector `cls`: the [CLS] tokens side by side."""
        return self.width * max(len(self.cls_modalities), 1)

    def dim(self, modality: str) -> int:
        """Input width of one modality; a clear error when the store did not provide it."""
        if modality not in self.input_dims:
            raise ConfigError(
                f"model.input_dims: no feature width for modality {modality!r} "
                f"(have {sorted(self.input_dims)}); set it from the feature store's encoders"
            )
        return self.input_dims[modality]
