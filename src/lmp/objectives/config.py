"""ObjectivesConfig: which pretraining objectives run, their weights and hyper-parameters.

Every objective has a `weight` (0 switches it off, and its heads are not even built) and a
`modalities` (or `pairs`) restriction, so each objective and each modality can be ablated:

    --objectives.masked_shot.weight=0                 # no intra-modal masked shot modelling
    --objectives.align.pairs=visual-audio             # align only visual with audio
    --objectives.modalities=visual,audio              # no objective touches text
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lmp.modality import MODALITIES, check_modalities


def _check_common(where: str, weight: float, temperature: float) -> None:
    if weight < 0:
        raise ValueError(f"{where}.weight: must be >= 0 (0 switches the objective off), got {weight}")
    if not 0.0 < temperature <= 10.0:
        raise ValueError(f"{where}.temperature: must be in (0, 10], got {temperature}")


def _check_ratio(where: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{where}: must be in (0, 1), got {value}")


NEGATIVES = ("batch", "window")


def _check_negatives(where: str, value: str) -> None:
    if value not in NEGATIVES:
        raise ValueError(f"{where}: must be one of {list(NEGATIVES)}, got {value!r}")


@dataclass
class MaskedShotConfig:
    """Intra-modal long-range masked shot modelling (unimodal encoders)."""

    weight: float = 1.0
    """Weight of the term in the total loss; 0 switches it off."""
    mask_ratio: float = 0.25
    """Fraction of each window's present shots whose input is replaced by the [MASK] token, per modality."""
    temperature: float = 0.07
    """InfoNCE temperature (its initial value when learnable)."""
    learn_temperature: bool = True
    """Learn the temperature (CLIP-style log scale, clamped to >= 0.01)."""
    modalities: tuple[str, ...] = MODALITIES
    """Modalities whose shots are masked and predicted."""
    negatives: str = "batch"
    """Whose shots are negatives: "batch" (every shot of the batch, all ranks) or "window" (only the
    query's own window: shots of other windows, hence of other movies, are no candidates, so movie-level
    features cannot solve the task; docs/diagnosis-pretraining.md)."""

    def __post_init__(self) -> None:
        _check_common("objectives.masked_shot", self.weight, self.temperature)
        _check_negatives("objectives.masked_shot.negatives", self.negatives)
        _check_ratio("objectives.masked_shot.mask_ratio", self.mask_ratio)
        self.modalities = check_modalities(self.modalities, "objectives.masked_shot.modalities")


@dataclass
class AlignConfig:
    """Inter-modal shot alignment of the unimodal encoders' contextualised shot embeddings."""

    weight: float = 1.0
    """Weight of the term in the total loss; 0 switches it off."""
    pairs: tuple[str, ...] = ("visual-audio", "visual-text", "audio-text")
    """Modality pairs to align, written 'a-b'; each pair is scored in both directions."""
    queries_per_window: int = 32
    """Shots per window (random, per pair) used as queries; keys are always every shot. 0 = all shots."""
    temperature: float = 0.07
    """InfoNCE temperature (its initial value when learnable)."""
    learn_temperature: bool = True
    """Learn the temperature (CLIP-style log scale, clamped to >= 0.01)."""
    negatives: str = "batch"
    """Whose shots are negatives: "batch" (every shot of the batch, all ranks) or "window" (only the
    query's own window: shots of other windows, hence of other movies, are no candidates, so movie-level
    features cannot solve the task; docs/diagnosis-pretraining.md)."""

    def __post_init__(self) -> None:
        _check_common("objectives.align", self.weight, self.temperature)
        _check_negatives("objectives.align.negatives", self.negatives)
        if self.queries_per_window < 0:
            raise ValueError(
                f"objectives.align.queries_per_window: must be >= 0 (0 = all), got {self.queries_per_window}"
            )
        pairs = []
        for p in self.pairs:
            a, sep, b = str(p).partition("-")
            if not sep or a == b:
                raise ValueError(f"objectives.align.pairs: {p!r} is not 'a-b' with two different modalities")
            check_modalities((a, b), f"objectives.align.pairs ({p!r})")
            pairs.append(f"{a}-{b}")
        if len({frozenset(p.split("-")) for p in pairs}) != len(pairs):
            raise ValueError(f"objectives.align.pairs: duplicate pair in {pairs}")
        self.pairs = tuple(pairs)


@dataclass
class CrossMaskedConfig:
    """Cross-modal masked modelling: hide one modality of a shot from the cross-modal encoder."""

    weight: float = 1.0
    """Weight of the term in the total loss; 0 switches it off."""
    hide_ratio: float = 0.15
    """Fraction of each window's present shots whose token of a modality is hidden, per modality."""
    temperature: float = 0.07
    """InfoNCE temperature (its initial value when learnable)."""
    learn_temperature: bool = True
    """Learn the temperature (CLIP-style log scale, clamped to >= 0.01)."""
    modalities: tuple[str, ...] = MODALITIES
    """Modalities that are hidden and recovered."""
    negatives: str = "batch"
    """Whose shots are negatives: "batch" (every shot of the batch, all ranks) or "window" (only the
    query's own window: shots of other windows, hence of other movies, are no candidates, so movie-level
    features cannot solve the task; docs/diagnosis-pretraining.md)."""

    def __post_init__(self) -> None:
        _check_common("objectives.cross_masked", self.weight, self.temperature)
        _check_negatives("objectives.cross_masked.negatives", self.negatives)
        _check_ratio("objectives.cross_masked.hide_ratio", self.hide_ratio)
        self.modalities = check_modalities(self.modalities, "objectives.cross_masked.modalities")


@dataclass
class MovieContrastConfig:
    """Long-range movie-level contrast of window [CLS] embeddings."""

    weight: float = 1.0
    """Weight of the term in the total loss; 0 switches it off. Needs >= 2 windows per movie in a batch."""
    temperature: float = 0.1
    """InfoNCE temperature (its initial value when learnable)."""
    learn_temperature: bool = True
    """Learn the temperature (CLIP-style log scale, clamped to >= 0.01)."""

    def __post_init__(self) -> None:
        _check_common("objectives.movie", self.weight, self.temperature)


@dataclass
class ObjectivesConfig:
    """All pretraining objectives. The optimised loss is the weighted sum of the enabled ones."""

    masked_shot: MaskedShotConfig = field(default_factory=MaskedShotConfig)
    """Intra-modal long-range masked shot modelling."""
    align: AlignConfig = field(default_factory=AlignConfig)
    """Inter-modal shot alignment (visual-audio, visual-text, audio-text)."""
    cross_masked: CrossMaskedConfig = field(default_factory=CrossMaskedConfig)
    """Cross-modal masked modelling."""
    movie: MovieContrastConfig = field(default_factory=MovieContrastConfig)
    """Long-range movie-level contrast between windows of the same movie."""
    modalities: tuple[str, ...] = MODALITIES
    """Modalities any objective may use (intersected with each objective's own list and the model's)."""
    proj_dim: int = 256
    """Output width of the alignment and movie-contrast projection heads."""

    def __post_init__(self) -> None:
        self.modalities = check_modalities(self.modalities, "objectives.modalities")
        if self.proj_dim < 1:
            raise ValueError(f"objectives.proj_dim: must be >= 1, got {self.proj_dim}")

    @classmethod
    def presets(cls) -> dict[str, dict[str, Any]]:
        """Objective ablations: all objectives, or all but one."""
        off = {"weight": 0.0}
        return {
            "all": {},
            "no_masked_shot": {"masked_shot": off},
            "no_align": {"align": off},
            "no_cross_masked": {"cross_masked": off},
            "no_movie": {"movie": off},
        }
