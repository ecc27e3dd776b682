"""ObjectivesConfig: which pretraining objectives run, their weights and hyper-parameters.

Every objective has a `weight` (0 switches it off, and its heads are not even built) and a
`modalities` (or `pairs`) restriction, so each objective and each modality can be ablated:

    --objectives.masked_shot.weight=0                 # no intra-modal masked shot modelling
    --objectives.align.pairs=visual-audio             # align only visual with audio
    --objectives.modalities=visual,audio              # no objective touches text
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from lmp.modality import MODALITIES, check_modalities


def check_pairs(pairs, where: str) -> tuple[str, ...]:
    """Validate modality pairs written 'a-b' (two different modalities, no pair twice)."""
    out = []
    for p in pairs:
        a, sep, b = str(p).partition("-")
        if not sep or a == b:
            raise ValueError(f"{where}.pairs: {p!r} is not 'a-b' with two different modalities")
        check_modalities((a, b), f"{where}.pairs ({p!r})")
        out.append(f"{a}-{b}")
    if len({frozenset(p.split("-")) for p in out}) != len(out):
        raise ValueError(f"{where}.pairs: duplicate pair in {out}")
    return tuple(out)


@dataclass
class WeightConfig:
    """What every objective has: a weight."""

    where = "objectives"
    """Config path used in error messages (a class attribute, not a field)."""

    weight: float = 1.0
    """Weight of the term in the total loss; 0 switches it off (its heads are not even built)."""

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"{self.where}.weight: must be >= 0 (0 switches the objective off), got {self.weight}")


@dataclass
class TermConfig(WeightConfig):
    """A contrastive objective: a weight and an InfoNCE temperature."""

    temperature: float = 0.07
    """InfoNCE temperature (its initial value when learnable)."""
    learn_temperature: bool = True
    """Learn the temperature (CLIP-style log scale, clamped to >= 0.01)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.temperature <= 10.0:
            raise ValueError(f"{self.where}.temperature: must be in (0, 10], got {self.temperature}")


@dataclass
class ShotContrastConfig(TermConfig):
    """A shot-level contrastive term: scores a query shot against candidate shots."""

    negatives: Literal["batch", "window"] = "window"
    """Whose shots are negatives: "batch" (every shot of the batch, all ranks) or "window" (only the
    query's own window: shots of other windows, hence of other movies, are no candidates, so movie-level
    features cannot solve the task; docs/diagnosis-pretraining.md)."""

    negatives_choices = ("batch", "window")
    """The values `negatives` takes here (a class attribute: masked terms add "masked")."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.negatives not in self.negatives_choices:
            raise ValueError(
                f"{self.where}.negatives: must be one of {list(self.negatives_choices)}, got {self.negatives!r}"
            )


@dataclass
class MaskedConfig(ShotContrastConfig):
    """A masked-prediction term: a fraction of each window's present shots is corrupted, per modality."""

    ratio_field = "mask_ratio"
    """Name of the subclass's corruption-ratio field (a class attribute, not a field)."""
    negatives_choices = ("batch", "window", "masked")

    negatives: Literal["batch", "window", "masked"] = "window"
    """Whose shots are negatives: "batch" (every shot of the batch, all ranks), "window" (the query's own
    window) or "masked" (the corrupted shots of the query's own window: none of them was visible to the
    encoders, so a query cannot rule a candidate out for having seen its content; with "window" it can,
    and did, lower the loss below chance on content that predicts nothing; docs/diagnosis-pretraining.md)."""

    modalities: tuple[str, ...] = MODALITIES
    """Modalities whose shots are corrupted and predicted."""
    target: Literal["content", "raw", "regress"] = "content"
    """What a corrupted shot is scored against: "content" (the shots' learned, position-free content
    embeddings) or "raw" (their frozen features, the earlier behaviour)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.target not in ("content", "raw", "regress"):
            raise ValueError(f"{self.where}.target: must be one of ['content', 'raw', 'regress'], got {self.target!r}")
        ratio = getattr(self, self.ratio_field)
        if not 0.0 < ratio < 1.0:
            raise ValueError(f"{self.where}.{self.ratio_field}: must be in (0, 1), got {ratio}")
        self.modalities = check_modalities(self.modalities, f"{self.where}.modalities")


@dataclass
class MaskedShotConfig(MaskedConfig):
    """Intra-modal long-range masked shot modelling: a masked shot's input is replaced by the [MASK]
    token and its frozen feature predicted by its unimodal encoder."""

    where = "objectives.masked_shot"
    mask_ratio: float = 0.25
    """Fraction of each window's present shots whose input is replaced by the [MASK] token, per modality."""


@dataclass
class AlignConfig(ShotContrastConfig):
    """Inter-modal shot alignment of the unimodal encoders' contextualised shot embeddings."""

    where = "objectives.align"
    pairs: tuple[str, ...] = ("visual-audio", "visual-text", "audio-text")
    """Modality pairs to align, written 'a-b'; each pair is scored in both directions."""
    queries_per_window: int = 32
    """Shots per window (random, per pair) used as queries; keys are always every shot. 0 = all shots."""
    keys: Literal["content", "contextual"] = "content"
    """What a query is scored against: the other modality's position-free "content" embeddings, or its
    "contextual" unimodal outputs (the earlier behaviour, solvable from the shared position code)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.keys not in ("content", "contextual"):
            raise ValueError(f"objectives.align.keys: must be one of ['content', 'contextual'], got {self.keys!r}")
        if self.queries_per_window < 0:
            raise ValueError(
                f"objectives.align.queries_per_window: must be >= 0 (0 = all), got {self.queries_per_window}"
            )
        self.pairs = check_pairs(self.pairs, self.where)


@dataclass
class WindowAlignConfig(TermConfig):
    """Window-level cross-modal alignment of the mean-pooled unimodal shot embeddings (lmp.objectives.window_align):
    learns what a window's modalities share and its shots do not tell apart (genre, era, people)."""

    where = "objectives.window_align"
    temperature: float = 0.1
    """InfoNCE temperature (its initial value when learnable)."""
    pairs: tuple[str, ...] = ("visual-audio", "visual-text", "audio-text")
    """Modality pairs to align, written 'a-b'; each pair is scored in both directions."""
    keys: Literal["content", "contextual"] = "contextual"
    """What a window's query (its unimodal mean) is scored against: the other modality's "contextual"
    unimodal mean, or the mean of its position- and time-free "content" embeddings."""
    head: Literal["mlp", "linear"] = "mlp"
    """Projection of a window mean: an "mlp" head (LN, Linear, GELU, Linear) or a "linear" one (LN, Linear)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        choices = (("keys", self.keys, ("content", "contextual")), ("head", self.head, ("mlp", "linear")))
        for name, value, allowed in choices:
            if value not in allowed:
                raise ValueError(f"objectives.window_align.{name}: must be one of {list(allowed)}, got {value!r}")
        self.pairs = check_pairs(self.pairs, self.where)


@dataclass
class ShotAlignConfig(TermConfig):
    """Per-shot cross-modal alignment of content embeddings, batch negatives (lmp.objectives.shot_align):
    what one shot's modalities share, told apart from every other shot of the batch."""

    where = "objectives.shot_align"
    weight: float = 0.0
    """Weight of the term in the total loss; 0 switches it off."""
    temperature: float = 0.1
    """InfoNCE temperature (its initial value when learnable)."""
    pairs: tuple[str, ...] = ("visual-audio", "visual-text", "audio-text")
    """Modality pairs to align, written 'a-b'; each pair is scored in both directions."""
    queries_per_window: int = 32
    """Shots per window (random, per pair) used as queries; keys are every shot of the batch. 0 = all."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.queries_per_window < 0:
            raise ValueError(f"{self.where}.queries_per_window: must be >= 0 (0 = all), got {self.queries_per_window}")
        self.pairs = check_pairs(self.pairs, self.where)


@dataclass
class CrossMaskedConfig(MaskedConfig):
    """Cross-modal masked modelling: a shot's token of one modality is hidden from the cross-modal
    encoder and recovered from the other modalities and the context."""

    where = "objectives.cross_masked"
    ratio_field = "hide_ratio"
    hide_ratio: float = 0.15
    """Fraction of each window's present shots whose token of a modality is hidden, per modality."""


@dataclass
class StretchConfig(TermConfig):
    """Stretch contrast (lmp.objectives.stretch): a chunk of a window must pick out its own window's other
    chunks among the chunks of another window of the same movie, per modality, so film identity cannot."""

    where = "objectives.stretch"
    weight: float = 0.0
    temperature: float = 0.1
    """InfoNCE temperature (its initial value when learnable)."""
    chunks: int = 4
    """Contiguous chunks each window is cut into (at most one per shot)."""
    modalities: tuple[str, ...] = MODALITIES
    """Modalities whose chunks are contrasted."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.modalities = check_modalities(self.modalities, f"{self.where}.modalities")
        if self.chunks < 2:
            raise ValueError(f"{self.where}.chunks: must be >= 2 (each chunk's positives), got {self.chunks}")


@dataclass
class MovieContrastConfig(TermConfig):
    """Long-range movie-level contrast of window [CLS] embeddings (needs >= 2 windows per movie in a batch)."""

    where = "objectives.movie"
    weight: float = 0.0
    """Weight of the term in the total loss; 0 (the default) switches it off: it turns the [CLS] into a
    film fingerprint (docs/studies.md), the window summary keeps the [CLS] about content instead."""
    temperature: float = 0.1
    """InfoNCE temperature (its initial value when learnable)."""


@dataclass
class SummaryConfig(WeightConfig):
    """Window summary: the [CLS] regresses the window mean of what its encoders pool (the unimodal tokens,
    by default), so that it keeps what the window shows (not only which film it is)."""

    where = "objectives.summary"
    target: Literal["features", "unimodal", "both"] = "unimodal"
    """What the [CLS] regresses: the window mean of the normalised frozen "features", of the (detached)
    "unimodal" tokens (what the `all` representation pools), or "both" side by side."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.target not in ("features", "unimodal", "both"):
            raise ValueError(
                f"{self.where}.target: must be one of ['features', 'unimodal', 'both'], got {self.target!r}"
            )


@dataclass
class SpreadConfig(WeightConfig):
    """VICReg-style variance + covariance terms on each modality's unimodal tokens (no contrast)."""

    where = "objectives.spread"
    modalities: tuple[str, ...] = MODALITIES
    """Modalities whose unimodal tokens the term keeps spread."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.modalities = check_modalities(self.modalities, f"{self.where}.modalities")


@dataclass
class RecurrenceConfig(WeightConfig):
    """Recurrence: each shot's unimodal token predicts how familiar its content is from earlier shots of the
    window (lmp.objectives.recurrence), so that "seen before" is in the token a shot-level probe reads."""

    where = "objectives.recurrence"
    modalities: tuple[str, ...] = MODALITIES
    """Modalities whose tokens predict their own familiarity."""
    pool: int = 8
    """Shots averaged into what is compared: the stretch of `pool` shots starting at a shot against every earlier
    such stretch of the window (1: single shots, the behaviour before 2 Dec 2026)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.modalities = check_modalities(self.modalities, f"{self.where}.modalities")
        if self.pool < 1:
            raise ValueError(f"{self.where}.pool must be >= 1 (got {self.pool})")


@dataclass
class ObjectivesConfig:
    """All pretraining objectives. The optimised loss is the weighted sum of the enabled ones."""

    masked_shot: MaskedShotConfig = field(default_factory=MaskedShotConfig)
    """Intra-modal long-range masked shot modelling."""
    align: AlignConfig = field(default_factory=AlignConfig)
    """Inter-modal shot alignment (visual-audio, visual-text, audio-text)."""
    cross_masked: CrossMaskedConfig = field(default_factory=CrossMaskedConfig)
    """Cross-modal masked modelling."""
    window_align: WindowAlignConfig = field(default_factory=WindowAlignConfig)
    """Window-level cross-modal alignment (what a window's modalities share)."""
    shot_align: ShotAlignConfig = field(default_factory=ShotAlignConfig)
    """Per-shot cross-modal alignment of content embeddings with batch negatives."""
    stretch: StretchConfig = field(default_factory=StretchConfig)
    """Per-modality contrast of a film's stretches with each other (what a stretch says, not the film)."""
    movie: MovieContrastConfig = field(default_factory=MovieContrastConfig)
    """Long-range movie-level contrast between windows of the same movie."""
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    """Window summary on the [CLS] (keeps window content in the [CLS])."""
    spread: SpreadConfig = field(default_factory=SpreadConfig)
    """Variance-covariance terms that keep the unimodal shot embeddings from collapsing."""
    recurrence: RecurrenceConfig = field(default_factory=RecurrenceConfig)
    """Per-shot familiarity from earlier in the window (what a return to a place or a voice needs)."""
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
            "no_window_align": {"window_align": off},
            "no_shot_align": {"shot_align": off},
            "no_stretch": {"stretch": off},
            "no_movie": {"movie": off},
            "no_summary": {"summary": off},
            "no_spread": {"spread": off},
            "no_recurrence": {"recurrence": off},
        }
