"""The model that transfer runs over a feature store: a checkpoint's, or a randomly initialised one.

The model must encode only modalities the store has, at the store's feature widths; a mismatch is a
RepresentationError naming both sides.
"""

from __future__ import annotations

import os

import torch

from lmp.device import resolve_device
from lmp.store.reader import FeatureStore
from lmp.tasks.representation_names import RepresentationError


def load_model(
    checkpoint: str | os.PathLike | None,
    store: FeatureStore,
    *,
    random_init: bool = False,
    preset: str = "tiny",
    seed: int = 0,
    device: str | torch.device = "cpu",
):
    """An LMPModel in eval mode: the checkpoint's weights, or randomly initialised (seeded).

    checkpoint=None builds `preset` with the store's feature widths; random_init=True keeps the
    checkpoint's architecture but not its weights (the "random init" baseline of a pretrained model).
    A random model standardises its inputs as the checkpoint does (its statistics are the data's, not
    learnt), or, without a checkpoint, with the statistics of `store`.
    """
    from lmp.model import LMPModel, ModelConfig
    from lmp.model.checkpoint import CheckpointError, load_config, load_weights
    from lmp.store.stats import feature_stats

    if checkpoint is not None and not random_init:
        model = LMPModel.from_pretrained(checkpoint)
    else:
        if checkpoint is not None:
            cfg = load_config(checkpoint)
        else:
            dims = store.dims
            cfg = ModelConfig.from_name(preset, input_dims=dims, modalities=tuple(dims))
        torch.manual_seed(seed)
        model = LMPModel(cfg)
        if cfg.standardize_inputs and checkpoint is not None:
            weights = load_weights(checkpoint)
            keys = {m: (f"inputs.{m}.feature_mean", f"inputs.{m}.feature_std") for m in cfg.modalities}
            absent = [k for pair in keys.values() for k in pair if k not in weights]
            if absent:
                raise CheckpointError(f"checkpoint {checkpoint}: no input statistics {absent[:2]} in its weights")
            model.set_input_stats({m: (weights[a], weights[b]) for m, (a, b) in keys.items()})
        elif cfg.standardize_inputs:  # built from the store's widths: it fits
            model.set_input_stats(feature_stats(store, cfg.modalities))
    check_fits(model, store)
    return model.to(resolve_device(str(device))).eval()


def check_fits(model, store: FeatureStore, error: type[Exception] = RepresentationError) -> None:
    """Raise `error` unless the store has every modality the model encodes, at the model's input widths."""
    missing = [m for m in model.modalities if m not in store.modalities]
    if missing:
        raise error(f"model encodes {list(model.modalities)} but store {store.root} has only {list(store.modalities)}")
    wrong = {m: (model.cfg.dim(m), store.dims[m]) for m in model.modalities if model.cfg.dim(m) != store.dims[m]}
    if wrong:
        raise error(f"model input widths differ from store {store.root}: {wrong} (model, store)")
