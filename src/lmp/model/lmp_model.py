"""LMPModel: per-modality shot encoders (transferable) + one cross-modal encoder with a [CLS] token.

Dimension legend:
    b  batch (windows)      s  shots per window      m  modalities in use      d  width
    D_m  frozen feature width of modality m          k  [CLS] tokens (1, or m with summary_tokens="per_modality")

    features[m] [b, s, D_m] --standardise+LN+Linear--> content[m] [b, s, d]   (position-free: one shot only)
                (missing shot -> learned [MISSING_m], masked shot -> learned [MASK_m])
                + time MLP_m(duration) (+ sinusoid(shot index) + start, with position="sinusoidal")
      --unimodal encoder m (over the window's shots; rotary shot index)--> unimodal[m] [b, s, d]
      (+ with model.recall: how well what starts at the shot matches an earlier stretch, lmp.model.recall)
    k x [CLS] ++ (unimodal[m] or learned [HIDDEN_m] + shot embedding) + modality embedding_m, for each m
      --cross-modal encoder over k + m*s tokens--> cls [b, k*d], fused[m] [b, s, d]

Masks: True = present/valid. Padded shots (shot_mask False) are never attended to, and their outputs
are zero, so nothing written in a padded slot can change a real shot's output. Heads live outside
the backbone (lmp.objectives, lmp.tasks).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from lmp import modality
from lmp.errors import LMPError
from lmp.model.checkpoint import (
    CheckpointError,
    load_config,
    load_state,
    load_weights,
    push_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from lmp.model.config import ModelConfig
from lmp.model.embeddings import TimeEmbedding, rotary, sinusoidal
from lmp.model.layers import Encoder
from lmp.model.recall import Recall
from lmp.model.rng import own_stream


class BatchError(LMPError):
    """A batch given to the model lacks a key or has inconsistent shapes."""


def _token(width: int) -> nn.Parameter:
    return nn.Parameter(torch.zeros(width))


class ModalityInput(nn.Module):
    """Everything modality-specific before the encoders: projection, time embedding, special tokens."""

    def __init__(self, in_dim: int, width: int, time_start: bool, standardize: bool) -> None:
        super().__init__()
        # Frozen encoders differ in scale by dimension too (one modality's row may be two encoders side by
        # side, e.g. aisfx's events beside a unit-norm speaker embedding, or have a few outlier dimensions),
        # which a LayerNorm over the shot does not undo: the store's per-dimension statistics do, as the
        # probes' and CCA's own standardisation does. Identity until set_input_stats; saved with the weights.
        self.standardize = standardize
        if standardize:
            self.register_buffer("feature_mean", torch.zeros(in_dim))
            self.register_buffer("feature_std", torch.ones(in_dim))
        # Frozen encoders differ wildly in overall scale (CLIP vs speaker embeddings); LN puts them on par.
        self.norm = nn.LayerNorm(in_dim)
        self.proj = nn.Linear(in_dim, width)
        self.time = TimeEmbedding(width, with_start=time_start)
        # Stands in for a shot that lacks this modality (e.g. no dialogue): absence is information.
        self.missing_token = _token(width)
        # Replaces a shot's input for intra-modal masked shot modelling.
        self.mask_token = _token(width)
        # Replaces a shot's unimodal output at the cross-modal input for cross-modal masked modelling.
        self.hidden_token = _token(width)
        # Tells the cross-modal encoder which modality a token belongs to.
        self.modality_embed = _token(width)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Frozen features [..., D_m] -> content tokens [..., d]."""
        if self.standardize:
            x = (x - self.feature_mean) / self.feature_std
        return self.proj(self.norm(x))


class LMPModel(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.width
        self.modalities = cfg.modalities
        absolute = cfg.position == "sinusoidal"
        self.inputs = nn.ModuleDict(
            {m: ModalityInput(cfg.dim(m), d, absolute, cfg.standardize_inputs) for m in cfg.modalities}
        )
        self.unimodal = nn.ModuleDict(
            {m: Encoder(d, cfg.heads, cfg.layers, cfg.mlp_ratio, cfg.dropout) for m in cfg.modalities}
        )
        self.cross = Encoder(d, cfg.heads, cfg.cross_layers, cfg.mlp_ratio, cfg.dropout)
        self.n_cls = max(len(cfg.cls_modalities), 1)
        self.cls_token = _token(d) if self.n_cls == 1 else nn.Parameter(torch.zeros(self.n_cls, d))
        self.drop = nn.Dropout(cfg.dropout)
        self.apply(self._init_weights)
        for inp in self.inputs.values():
            for tok in (inp.missing_token, inp.mask_token, inp.hidden_token, inp.modality_embed):
                nn.init.trunc_normal_(tok, std=0.02)
        # The first [CLS] starts as the single one does; the others come from their own stream, so that every
        # other weight (the objectives' heads too, built after the model) starts the same with one or several.
        first = self.cls_token if self.n_cls == 1 else self.cls_token[0]
        nn.init.trunc_normal_(first, std=0.02)
        if self.n_cls > 1:
            with own_stream("model.cls"):
                nn.init.trunc_normal_(self.cls_token[1:], std=0.02)
        if cfg.input_init == "orthogonal":
            # A near-square Gaussian matrix shrinks some input directions ~100x against others (condition
            # number 73 for 64 -> 64), which a few-label L2 probe of the outputs pays for.
            for inp in self.inputs.values():
                nn.init.orthogonal_(inp.proj.weight)
        # Recall compares shots across the window: the per-shot ablation has none. Built last, from its own
        # stream, so that every other weight starts the same with recall on or off (lmp.model.rng).
        self.recall = None
        if cfg.recall > 0 and cfg.context == "window":
            with own_stream("model.recall"):
                self.recall = nn.ModuleDict({m: Recall(d, cfg.recall) for m in cfg.modalities})

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    @property
    def width(self) -> int:
        return self.cfg.width

    def set_input_stats(self, stats: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Set each modality's per-dimension feature mean and std ([D_m] each, e.g. from
        lmp.store.stats.feature_stats) used by model.standardize_inputs; a no-op when that is off."""
        if not self.cfg.standardize_inputs:
            return
        for m, inp in self.inputs.items():
            if m not in stats:
                raise LMPError(f"input statistics: none for modality {m!r} (have {sorted(stats)})")
            mean, std = (torch.as_tensor(v, dtype=torch.float32) for v in stats[m])
            if mean.shape != inp.feature_mean.shape or std.shape != inp.feature_std.shape:
                raise LMPError(
                    f"input statistics of {m!r}: shapes {list(mean.shape)}/{list(std.shape)}, model input width "
                    f"{inp.feature_mean.shape[0]}"
                )
            if not (torch.isfinite(mean).all() and torch.isfinite(std).all() and (std > 0).all()):
                raise LMPError(f"input statistics of {m!r}: the mean must be finite and the std positive")
            inp.feature_mean.copy_(mean)
            inp.feature_std.copy_(std)

    def input_stats(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{modality: (mean, std)} the model standardises its inputs with (empty when it does not)."""
        if not self.cfg.standardize_inputs:
            return {}
        return {m: (inp.feature_mean.clone(), inp.feature_std.clone()) for m, inp in self.inputs.items()}

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Activation checkpointing of every transformer block (unimodal and cross-modal): a training
        forward keeps only each block's input and the backward recomputes the block, so activation
        memory no longer grows with depth, for about one more forward's compute. The outputs and
        gradients are the same; the config is not changed (a memory setting, not part of the model)."""
        for encoder in (*self.unimodal.values(), self.cross):
            encoder.grad_checkpointing = enable

    def forward_features(
        self,
        batch: dict[str, torch.Tensor],
        masked: dict[str, torch.Tensor] | None = None,
        hidden: dict[str, torch.Tensor] | None = None,
    ) -> dict:
        """Encode a batch of windows (see docs/design.md for the batch keys).

        masked[m] bool [b, s]: shots whose modality-m input is replaced by [MASK_m] (masked shot modelling).
        hidden[m] bool [b, s]: shots whose modality-m token is replaced by [HIDDEN_m] at the cross-modal
        input (cross-modal masked modelling). Hidden shots are also [MASK_m]ed at the unimodal input:
        otherwise their neighbours' unimodal tokens, which attended to them, would leak them to the
        cross-modal encoder. Both are optional and only used by the pretraining objectives.

        Returns {"unimodal": {m: [b, s, d]}, "fused": {m: [b, s, d]}, "fused_shot": [b, s, d],
        "cls": [b, k*d], "content": {m: [b, s, d]}, "shot_mask": [b, s]}; outputs at padded shots are zero.
        content[m] is the shot's own projected features before any context, position, time or
        corruption (zero where the shot lacks m): the position-free targets of the objectives.
        """
        shot_mask = self._shot_mask(batch)
        b, s = shot_mask.shape
        d = self.cfg.width
        times = batch.get("times")
        times = torch.zeros(b, s, 2, device=shot_mask.device) if times is None else times
        times = torch.where(shot_mask[..., None], times, 0)
        index = self._shot_index(batch, shot_mask)
        # Windows are usually cut to full length: without padding the encoders attend with no mask at all,
        # which lets SDPA use its fused kernels. Costs one host read of the b*s booleans per forward.
        uni_valid = None if bool(shot_mask.all()) else shot_mask
        if self.cfg.position == "sinusoidal":
            position, rope, cross_rope = sinusoidal(index, d), None, None  # [b, s, d], shared by all modalities
        else:
            position, dh = torch.zeros((), device=index.device), d // self.cfg.heads
            rope = rotary(index, dh)
            # Every modality's token of shot i sits at i; the [CLS] tokens at the window's centre.
            centre = (index.float().amax(dim=1, keepdim=True) / 2).expand(-1, self.n_cls)  # [b, k]
            cross_rope = rotary(torch.cat([centre, index.float().repeat(1, len(self.modalities))], dim=1), dh)

        unimodal: dict[str, torch.Tensor] = {}
        content: dict[str, torch.Tensor] = {}
        presents: list[torch.Tensor] = []
        k = self.n_cls
        cross_tokens = [self.cls_token.view(k, d).expand(b, k, d)]
        for m in self.modalities:
            inp = self.inputs[m]
            present = modality.present(batch, m, shot_mask)
            # Sanitise absent/padded features first: a NaN there would survive a 0 attention weight.
            x = torch.where(present[..., None], batch[m], 0).to(inp.proj.weight.dtype)
            tok = inp.embed(x)
            content[m] = torch.where(present[..., None], tok, 0)
            tok = torch.where(present[..., None], tok, inp.missing_token)
            corrupt = self._corrupted(m, masked, hidden, shot_mask)
            if corrupt is not None:
                tok = torch.where(corrupt[..., None], inp.mask_token, tok)
            shot_embed = position.to(tok.dtype) + inp.time(times)  # [b, s, d]
            u = self.unimodal[m](
                self.drop(tok + shot_embed), uni_valid, rope, self._own_shot(b, s, 1, 0, tok.device)
            )
            if self.recall is not None:
                u = self.recall[m](u, present)
            unimodal[m] = torch.where(shot_mask[..., None], u, 0)
            if hidden is not None and m in hidden:
                # The hidden token still needs to know where its shot is: give it the shot embedding.
                u = torch.where(hidden[m][..., None], inp.hidden_token + shot_embed, u)
            cross_tokens.append(u + inp.modality_embed)
            presents.append(present)

        n_mod = len(self.modalities)
        seq = torch.cat(cross_tokens, dim=1)  # [b, k + m*s, d]: the [CLS] tokens, then each modality's s shots
        valid = None
        if uni_valid is not None:
            valid = torch.cat([shot_mask.new_ones(b, k), shot_mask.repeat(1, n_mod)], dim=1)  # [b, k + m*s]
        out = self.cross(seq, valid, cross_rope, self._own_shot(b, s, n_mod, k, seq.device))
        fused_all = torch.where(
            shot_mask[:, None, :, None], out[:, k:].reshape(b, n_mod, s, d), 0
        )  # [b, m, s, d]
        fused = {m: fused_all[:, i] for i, m in enumerate(self.modalities)}

        # Mean over the modalities a shot has; a shot with none (possible without visual) averages all.
        weights = torch.stack(presents, dim=1).to(fused_all.dtype)  # [b, m, s]
        weights = torch.where(weights.sum(1, keepdim=True) > 0, weights, torch.ones_like(weights))
        fused_shot = (fused_all * weights[..., None]).sum(1) / weights.sum(1)[..., None]  # [b, s, d]
        return {
            "unimodal": unimodal,
            "fused": fused,
            "fused_shot": fused_shot,
            "cls": out[:, :k].reshape(b, k * d),  # [b, k, d] -> [b, k*d]: the [CLS] tokens side by side
            "content": content,
            "shot_mask": shot_mask,
        }

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        return self.forward_features(batch)

    def _own_shot(self, b: int, s: int, n_mod: int, n_cls: int, device: torch.device) -> torch.Tensor | None:
        """With context="shot": bool [b, n, n], token i may attend to token j only when both belong to
        the same shot (the n_cls leading [CLS] tokens attend to all, and nothing else attends to them); None
        (no restriction) with context="window"."""
        if self.cfg.context == "window":
            return None
        shot = torch.arange(s, device=device).repeat(n_mod)  # [n_mod * s]
        # The cross-modal sequence: the [CLS] tokens first, then each modality's s shots.
        shot = torch.cat([shot.new_full((n_cls,), -1), shot])
        pairs = shot[:, None] == shot[None, :]
        pairs[:n_cls] = True
        return pairs.expand(b, -1, -1)

    # -- batch access ---------------------------------------------------------------------------------

    def _shot_mask(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        missing = [m for m in self.modalities if m not in batch]
        if missing:
            raise BatchError(
                f"batch has no features for modality {missing} (keys: {sorted(batch)}); "
                f"the model encodes {list(self.modalities)}"
            )
        first = batch[self.modalities[0]]
        if "shot_mask" in batch:
            shot_mask = batch["shot_mask"].bool()
        else:
            shot_mask = torch.ones(first.shape[:2], dtype=torch.bool, device=first.device)
        b, s = shot_mask.shape
        if s > self.cfg.max_shots:
            raise BatchError(f"batch: a window of {s} shots exceeds model.max_shots={self.cfg.max_shots}")
        for m in self.modalities:
            x = batch[m]
            if x.dim() != 3 or tuple(x.shape[:2]) != (b, s) or x.shape[2] != self.cfg.dim(m):
                raise BatchError(
                    f"batch[{m!r}]: expected shape [{b}, {s}, {self.cfg.dim(m)}], got {list(x.shape)}"
                )
        return shot_mask

    @staticmethod
    def _corrupted(
        m: str, masked: dict | None, hidden: dict | None, shot_mask: torch.Tensor
    ) -> torch.Tensor | None:
        parts = [x[m] for x in (masked, hidden) if x is not None and m in x]
        if not parts:
            return None
        return torch.stack(parts).any(dim=0) & shot_mask

    @staticmethod
    def _shot_index(batch: dict[str, torch.Tensor], shot_mask: torch.Tensor) -> torch.Tensor:
        """Shot index within the window, [b, s]: from absolute `positions` when given (keeps gaps)."""
        if "positions" in batch:
            positions = batch["positions"]
            index = positions - positions[:, :1]
            return torch.where(shot_mask, index, 0)
        b, s = shot_mask.shape
        return torch.arange(s, device=shot_mask.device).expand(b, s)

    # -- checkpoints ----------------------------------------------------------------------------------

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write `model.safetensors` + `config.json` into `directory` (created if needed), nothing else:
        the layout every lmp checkpoint has had, and that of a Hub repo (push_to_hub adds a README.md)."""
        return save_checkpoint(self.state_dict(), self.cfg, directory)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        device: str | torch.device = "cpu",
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        force_download: bool = False,
        token: str | bool | None = None,
        local_files_only: bool = False,
    ) -> LMPModel:
        """Rebuild a model, in eval mode, from a checkpoint directory written by save_pretrained (or the
        trainer), or from a Hugging Face Hub model id ("owner/name", needs the `hub` extra; revision,
        cache_dir, force_download, token and local_files_only are passed to huggingface_hub). A local
        directory always wins over a Hub id of the same name and never touches the network."""
        directory = resolve_checkpoint(
            pretrained_model_name_or_path, revision=revision, cache_dir=cache_dir, force_download=force_download,
            token=token, local_files_only=local_files_only,
        )  # fmt: skip
        try:
            model = cls(load_config(directory))
            load_state(model, load_weights(directory, device), directory)
        except CheckpointError as e:
            if Path(pretrained_model_name_or_path) == directory:
                raise
            # Name the Hub id, not only the cache path the files were fetched to.
            raise CheckpointError(f"{pretrained_model_name_or_path} (from the Hugging Face Hub): {e}") from None
        # As PyTorchModelHubMixin and transformers do: a loaded model is for inference until told otherwise.
        return model.to(device).eval()

    def push_to_hub(
        self,
        repo_id: str,
        *,
        model_card: str | os.PathLike | None = None,
        commit_message: str = "Upload LMP model",
        private: bool | None = None,
        token: str | None = None,
        branch: str | None = None,
        create_pr: bool | None = None,
    ) -> str:
        """Upload save_pretrained's files and a model card (README.md) to the Hub repo `repo_id` (created if
        needed) in one commit; returns the commit URL. Needs the `hub` extra and a token (`hf auth login`).

        model_card: a README.md to publish, e.g. RUN/model/README.md written by `lmp pretrain` (data,
        recipe, provenance); without it a card with what the model itself knows (shape, inputs, lmp version)."""
        from lmp.model.card import render_model_card

        if model_card is not None:
            path = Path(model_card)
            if not path.is_file():
                raise CheckpointError(f"push_to_hub({repo_id!r}): model card {path} is not a file")
            card = path.read_text()
        else:
            card = render_model_card(self)
        return push_checkpoint(
            self.save_pretrained, repo_id, card=card, commit_message=commit_message, private=private, token=token,
            branch=branch, create_pr=create_pr,
        )  # fmt: skip
