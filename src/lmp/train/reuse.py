"""Reusing a pretraining run only when it matches the config asked for now.

A run directory holds the config.yaml it was trained with. Callers that skip pretraining when its model
exists (the demo's and the studies' cached models) must first check that it was trained with the config
asked for now: after a change of defaults (a new lmp) or of an option, the old model would otherwise be
reported under the new settings. A resumed run is told which settings changed since it started.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from lmp.config import ConfigError, config_yaml, load_yaml
from lmp.modality import MODALITIES


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for k, v in data.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


PREDATED = {
    "data.pad_multiple": 0, "data.bucket": 0, "model.input_init": "normal",
    "objectives.window_align.head": "mlp", "objectives.window_align.keys": "contextual",
    "objectives.recurrence.pool": 1, "model.recall": 0, "model.summary_tokens": "one",
    "objectives.spread.modalities": list(MODALITIES),
}
"""Settings added after runs were saved -> the value that trains what lmp trained before them: a saved
config without the key is read as having that value (an objective's weight is handled below)."""


def config_changes(saved_file: Path, cfg: Any, ignore: tuple[str, ...] = ()) -> list[str]:
    """'key: saved -> now' for every setting of `cfg` (but those in `ignore`) that differs from the config
    saved in `saved_file`."""
    saved = _flatten(load_yaml(saved_file)) if saved_file.is_file() else {}
    if saved:
        saved = {**PREDATED, **saved}
    wanted = _flatten(yaml.safe_load(config_yaml(cfg)))
    # An objective that is off in both configs builds nothing, whatever its other settings; one the saved
    # config predates was not there at all, which is what weight 0 means.
    off = tuple(
        k[: -len("weight")]
        for k, v in wanted.items()
        if k.startswith("objectives.") and k.endswith(".weight") and v == 0 and saved.get(k, 0) == 0
    )
    # Keys only the saved config has are what the run derived (the input widths, from the store).
    return [
        f"{k}: {saved.get(k, '<absent>')!r} -> {v!r}"
        for k, v in sorted(wanted.items())
        if saved.get(k) != v and k not in ignore and not k.startswith(off)
    ]


def describe_changes(changes: list[str], shown: int = 5) -> str:
    """The first `shown` changes, joined by '; ', and how many more there are."""
    return "; ".join(changes[:shown]) + (f"; and {len(changes) - shown} more" if len(changes) > shown else "")


SAME_MODEL = (
    "run.activation_checkpointing", "run.retain_host_memory", "run.progress", "run.log_every", "run.tensorboard",
    "run.wandb", "run.wandb_project", "run.wandb_mode",
)
"""Settings that change how a run is computed or reported, not the model it trains (checkpointing gives the
same gradients, tests/test_activation_checkpointing.py; where freed host memory goes changes no number): a
finished run that differs only in them, or that predates one of them, is reused."""


def as_saved(cfg: Any) -> Any:
    """`cfg` as `lmp pretrain` saves it: the model's modalities are data.modalities when given, else every
    modality the store has (lmp.train.loop.resolve_model_config; the other values it fills in from the store
    are absent from `cfg`, so the comparison skips them). A store that cannot be opened leaves them as asked:
    the comparison then names the difference."""
    from lmp.errors import StoreError
    from lmp.store import FeatureStore

    modalities = tuple(getattr(getattr(cfg, "data", None), "modalities", ()) or ())
    store = getattr(cfg, "store", None)
    if not modalities and store:
        try:
            modalities = FeatureStore(store).modalities
        except (StoreError, OSError):
            modalities = ()
    if not modalities:
        return cfg
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, modalities=tuple(modalities)))


def finished_model(run: Path, cfg: Any, data: str | None = None) -> Path | None:
    """run/model if the run finished with config `cfg` on the movies it would train on now; None if it did
    not finish; ConfigError if it finished with another config or on other movies (naming them).

    `data`: the fingerprint (FeatureStore.fingerprint) of the movies it would train on now; default: those
    of cfg.store. The same config can name a store whose content changed (a regenerated corpus, another
    split, a rewritten movie): the run's run.json records what it trained on (runs older than that record
    are compared by config alone)."""
    import json

    from lmp import __version__
    from lmp.store import FeatureStore

    model = run / "model"
    if not (model / "model.safetensors").exists():
        return None
    changes = config_changes(run / "config.yaml", as_saved(cfg), ignore=SAME_MODEL)
    again = f"Remove {run} to pretrain it again, or give the command another --out."
    if changes:
        raise ConfigError(
            f"pretrained model in {run}: it was pretrained with another config ({describe_changes(changes)}). "
            + again
        )
    info = run / "run.json"
    record = json.loads(info.read_text()) if info.is_file() else {}
    # A new lmp can train another model from the same config (a changed objective or default it computes
    # the same way in name only); runs record the version that trained them.
    if record.get("lmp", __version__) != __version__:
        raise ConfigError(
            f"pretrained model in {run}: it was pretrained by lmp {record['lmp']}, this is lmp {__version__}. "
            + again
        )
    trained_on = record.get("store_fingerprint")
    if trained_on is not None:
        now = data if data is not None else FeatureStore(cfg.store).fingerprint()
        if now != trained_on:
            raise ConfigError(
                f"pretrained model in {run}: it was pretrained on other movies than it would be now (the store "
                "or the corpus changed since, though the config did not). " + again
            )
    return model
