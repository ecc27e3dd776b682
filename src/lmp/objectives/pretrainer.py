"""Pretrainer: the backbone plus every enabled objective, from ONE backbone pass per batch.

    pre = Pretrainer(model, ObjectivesConfig())
    terms = pre(batch)        # {"loss": weighted sum, "masked_shot": ..., "masked_shot/visual": ..., ...}

One pass serves all objectives: the corruptions of masked shot modelling ([MASK] at the unimodal
input) and cross-modal masked modelling ([MASK] at the unimodal input + [HIDDEN] at the cross-modal
input) are sampled on disjoint shots and applied together; alignment uses only uncorrupted shots, and
the movie contrast and window summary see the corrupted windows (the corruption acts as augmentation).
The shot-level terms score against the shots' content embeddings (lmp.objectives.content), computed
once per step and shared.

Terms: "loss" (what is optimised), one term per enabled objective (the mean over its modalities or
pairs), and "<objective>/<modality or pair>" for each part. Under DDP each value is this rank's share
of the global mean (see lmp.objectives.gather); their mean over ranks is the full-batch value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from lmp.config import ConfigError
from lmp.modality import present
from lmp.model import LMPModel
from lmp.objectives.align import ShotAlignment, pair_name, usable_shots
from lmp.objectives.config import ObjectivesConfig
from lmp.objectives.content import ContentKeys, ContentSpace
from lmp.objectives.feature_prediction import FeaturePrediction
from lmp.objectives.gather import all_gather_no_grad
from lmp.objectives.masking import ShotSample, sample_count, sample_ratio
from lmp.objectives.movie import MovieContrast
from lmp.objectives.recurrence import Recurrence
from lmp.objectives.shot_align import ContentAlignment
from lmp.objectives.spread import Spread
from lmp.objectives.stretch import StretchContrast
from lmp.objectives.summary import WindowSummary
from lmp.objectives.window_align import WindowAlignment


@dataclass
class Samples:
    """All randomness of one step: which shots are masked, hidden, and used as alignment queries."""

    masked: dict[str, ShotSample] = field(default_factory=dict)
    """Per modality: shots [MASK]ed at the unimodal input (masked shot modelling)."""
    hidden: dict[str, ShotSample] = field(default_factory=dict)
    """Per modality: shots hidden from the cross-modal encoder (cross-modal masked modelling)."""
    align: dict[str, ShotSample] = field(default_factory=dict)
    """Per pair 'a-b': the query shots of inter-modal alignment."""
    shot_align: dict[str, ShotSample] = field(default_factory=dict)
    """Per pair 'a-b': the query shots of per-shot content alignment."""

    def corrupted(self, m: str, like: torch.Tensor) -> torch.Tensor:
        """bool [b, s]: shots whose modality m is masked or hidden."""
        out = torch.zeros_like(like, dtype=torch.bool)
        for group in (self.masked, self.hidden):
            if m in group:
                out = out | group[m].mask
        return out

    def rows(self, rows: slice) -> Samples:
        """The samples of some windows (a rank's share of a batch)."""

        def pick(group: dict[str, ShotSample]) -> dict[str, ShotSample]:
            return {k: v.rows(rows) for k, v in group.items()}

        return Samples(
            masked=pick(self.masked), hidden=pick(self.hidden), align=pick(self.align),
            shot_align=pick(self.shot_align),
        )  # fmt: skip


class Pretrainer(nn.Module):
    def __init__(self, model: LMPModel, cfg: ObjectivesConfig) -> None:
        super().__init__()
        self.model = model
        self.cfg = cfg
        mcfg = model.cfg
        usable = tuple(m for m in mcfg.modalities if m in cfg.modalities)
        d = mcfg.width

        # An objective whose modalities were all ablated away is off, like one with weight 0.
        msm, xmm, al, mv, sm = cfg.masked_shot, cfg.cross_masked, cfg.align, cfg.movie, cfg.summary
        proj = cfg.proj_dim
        self.msm_modalities = tuple(m for m in usable if m in msm.modalities) if msm.weight > 0 else ()
        self.masked_shot = (
            FeaturePrediction(
                self.msm_modalities, d, mcfg.input_dims, msm.temperature, msm.learn_temperature, msm.negatives,
                msm.target, proj,
            )
            if self.msm_modalities
            else None
        )  # fmt: skip
        self.xmm_modalities = tuple(m for m in usable if m in xmm.modalities) if xmm.weight > 0 else ()
        self.cross_masked = (
            FeaturePrediction(
                self.xmm_modalities, d, mcfg.input_dims, xmm.temperature, xmm.learn_temperature, xmm.negatives,
                xmm.target, proj,
            )
            if self.xmm_modalities
            else None
        )  # fmt: skip
        self.pairs = tuple(tuple(p.split("-")) for p in al.pairs if set(p.split("-")) <= set(usable))
        self.align = (
            ShotAlignment(self.pairs, d, proj, al.temperature, al.learn_temperature, al.negatives, al.keys)
            if al.weight > 0 and self.pairs
            else None
        )
        wa = cfg.window_align
        self.window_pairs = tuple(tuple(p.split("-")) for p in wa.pairs if set(p.split("-")) <= set(usable))
        self.window_align = (
            WindowAlignment(self.window_pairs, d, proj, wa.temperature, wa.learn_temperature, wa.keys, wa.head)
            if wa.weight > 0 and self.window_pairs
            else None
        )
        sa = cfg.shot_align
        self.shot_pairs = tuple(tuple(p.split("-")) for p in sa.pairs if set(p.split("-")) <= set(usable))
        self.shot_align = (
            ContentAlignment(self.shot_pairs, sa.temperature, sa.learn_temperature)
            if sa.weight > 0 and self.shot_pairs
            else None
        )
        st = cfg.stretch
        st_modalities = tuple(m for m in usable if m in st.modalities) if st.weight > 0 else ()
        self.stretch = (
            StretchContrast(st_modalities, d, proj, st.chunks, st.temperature, st.learn_temperature)
            if st_modalities
            else None
        )
        movie_width = mcfg.cls_width  # the [CLS] tokens side by side
        self.movie = MovieContrast(movie_width, proj, mv.temperature, mv.learn_temperature) if mv.weight > 0 else None
        self.summary = (
            WindowSummary(d, mcfg.input_dims, usable, sm.target, mcfg.cls_modalities) if sm.weight > 0 else None
        )
        spread_modalities = tuple(m for m in usable if m in cfg.spread.modalities) if cfg.spread.weight > 0 else ()
        self.spread = Spread(spread_modalities) if spread_modalities else None
        rec = cfg.recurrence
        rec_modalities = tuple(m for m in usable if m in rec.modalities) if rec.weight > 0 else ()
        self.recurrence = Recurrence(rec_modalities, d, rec.pool) if rec_modalities else None
        # The content space serves every term that scores against content embeddings.
        content_users = set()
        if self.masked_shot is not None and msm.target == "content":
            content_users |= set(self.msm_modalities)
        if self.cross_masked is not None and xmm.target == "content":
            content_users |= set(self.xmm_modalities)
        if self.align is not None and al.keys == "content":
            content_users |= {m for pair in self.pairs for m in pair}
        if self.shot_align is not None:
            content_users |= {m for pair in self.shot_pairs for m in pair}
        self.content_modalities = tuple(m for m in usable if m in content_users)
        self.content = ContentSpace(self.content_modalities, d, proj) if self.content_modalities else None
        # Window negatives score a query against its own window only; other ranks' keys are then not needed.
        self.shot_gatherers = tuple(
            name for name, term in (("masked_shot", self.masked_shot), ("cross_masked", self.cross_masked),
                                    ("align", self.align), ("shot_align", self.shot_align))
            if term is not None and (name == "shot_align" or term.negatives == "batch")
        )  # fmt: skip
        """Objectives that gather every shot's key across ranks (so every rank's batch needs one length)."""
        self.content_gathered = bool(self.shot_gatherers)
        if not self.enabled:
            raise ConfigError(
                "objectives: every objective is switched off (weight 0, or no usable modality for "
                f"model.modalities={list(mcfg.modalities)} and objectives.modalities={list(cfg.modalities)})"
            )

    @property
    def enabled(self) -> dict[str, float]:
        """{objective: weight} of the objectives that run."""
        weights = {
            "masked_shot": (self.masked_shot, self.cfg.masked_shot.weight),
            "align": (self.align, self.cfg.align.weight),
            "cross_masked": (self.cross_masked, self.cfg.cross_masked.weight),
            "window_align": (self.window_align, self.cfg.window_align.weight),
            "shot_align": (self.shot_align, self.cfg.shot_align.weight),
            "stretch": (self.stretch, self.cfg.stretch.weight),
            "movie": (self.movie, self.cfg.movie.weight),
            "summary": (self.summary, self.cfg.summary.weight),
            "spread": (self.spread, self.cfg.spread.weight),
            "recurrence": (self.recurrence, self.cfg.recurrence.weight),
        }
        return {name: w for name, (module, w) in weights.items() if module is not None}

    def sample(self, batch: dict[str, torch.Tensor]) -> Samples:
        """Draw this step's corruptions and queries from torch's RNG (masked and hidden are disjoint)."""
        out = Samples()
        for m in self.model.modalities:
            eligible = present(batch, m)
            if m in self.msm_modalities:
                out.masked[m] = sample_ratio(eligible, self.cfg.masked_shot.mask_ratio)
                eligible = eligible & ~out.masked[m].mask
            if m in self.xmm_modalities:
                out.hidden[m] = sample_ratio(eligible, self.cfg.cross_masked.hide_ratio)
        if self.align is not None:
            like = batch["shot_mask"]
            corrupted = {m: out.corrupted(m, like) for m in self.model.modalities}
            for a, b in self.pairs:
                both = usable_shots(batch, a, corrupted) & usable_shots(batch, b, corrupted)
                out.align[pair_name(a, b)] = sample_count(both, self.cfg.align.queries_per_window)
        for a, b in self.shot_pairs if self.shot_align is not None else ():
            both = present(batch, a) & present(batch, b)
            out.shot_align[pair_name(a, b)] = sample_count(both, self.cfg.shot_align.queries_per_window)
        return out

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.loss_terms(batch, self.sample(batch))

    def loss_terms(self, batch: dict[str, torch.Tensor], samples: Samples) -> dict[str, torch.Tensor]:
        """The terms for given samples (forward draws them; tests and DDP checks fix them)."""
        out = self.model.forward_features(
            batch,
            masked={m: x.mask for m, x in samples.masked.items()},
            hidden={m: x.mask for m, x in samples.hidden.items()},
        )
        local = self.content(out["content"]) if self.content is not None else {}  # {m: [b*s, p]}
        keys = ContentKeys.of(local, gather=self.content_gathered)
        parts: dict[str, dict[str, torch.Tensor]] = {}
        if self.masked_shot is not None:
            parts["masked_shot"] = self.masked_shot(batch, out["unimodal"], samples.masked, keys)
        if self.cross_masked is not None:
            parts["cross_masked"] = self.cross_masked(batch, out["fused"], samples.hidden, keys)
        if self.align is not None:
            corrupted = {m: samples.corrupted(m, out["shot_mask"]) for m in self.model.modalities}
            parts["align"] = self.align(batch, out["unimodal"], corrupted, samples.align, keys)
        if self.window_align is not None:
            parts["window_align"] = self.window_align(batch, out["unimodal"], out["content"])
        if self.shot_align is not None:
            parts["shot_align"] = self.shot_align(batch, keys, samples.shot_align)
        if self.stretch is not None:
            parts["stretch"] = self.stretch(batch, out["unimodal"])
        if self.movie is not None:
            parts["movie"] = {"movie": self.movie(batch, out["cls"])}
        if self.summary is not None:
            present_ = {m: present(batch, m) for m in self.summary.modalities}
            parts["summary"] = {"summary": self.summary(batch, out["cls"], present_, out["unimodal"])}
        if self.recurrence is not None:
            visible = {
                m: present(batch, m) & ~samples.corrupted(m, out["shot_mask"]) for m in self.recurrence.modalities
            }
            parts["recurrence"] = self.recurrence(batch, out["unimodal"], visible)
        if self.spread is not None:
            parts["spread"] = self.spread(out["unimodal"], {m: present(batch, m) for m in self.spread.modalities})

        # A modality that no window of the whole batch has (on any rank) gives its parts nothing to learn: they
        # are left out of their objective's mean instead of diluting it with zeros.
        modalities = list(self.model.modalities)
        here = all_gather_no_grad(torch.stack([present(batch, m).any() for m in modalities])[None]).any(0)  # [M]

        def live(part: str) -> torch.Tensor:
            """Whether a part (a modality, a pair 'a-b', or a window-level term's own name) has its data."""
            names = part.split("-")
            if not set(names) <= set(modalities):
                return here.any()
            return torch.stack([here[modalities.index(m)] for m in names]).all()

        terms: dict[str, torch.Tensor] = {}
        loss = out["cls"].new_zeros((), dtype=torch.float32)
        for name, weight in self.enabled.items():
            values = parts[name]
            on = torch.stack([live(part) for part in values]).float()
            terms[name] = (torch.stack(list(values.values())) * on).sum() / on.sum().clamp_min(1.0)
            if name not in ("movie", "summary"):  # window-level terms have no parts
                terms.update({f"{name}/{part}": v for part, v in values.items()})
            loss = loss + weight * terms[name]
        terms["loss"] = loss
        return terms
