"""Model cards: the README.md of a checkpoint directory, in the Hugging Face Hub's format (YAML front
matter, then Markdown), so the same file documents a run directory and a Hub repo.

`lmp pretrain` writes one next to the final weights (`write_pretrain_card`): what data (store, movies,
shots, modalities, frozen encoders), what recipe (closest preset, changes, objectives with weights,
the resolved config), which lmp and git commit, and how to measure probe results. `push_to_hub`
without a card uses `render_model_card(model)`, which knows only the model itself.

The card is not in checksums.json: it is documentation that users edit (the license, results), and an
edit must not make the weights refuse to load.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import yaml

from lmp.config import atomic_write_text, from_dict, to_dict

CARD_FILE = "README.md"
TAGS = ("lmp", "video", "movie-understanding", "multimodal", "self-supervised", "feature-extraction")
# Settings that change how a run is carried out or logged, not what it learns: left out of the recipe
# diff. Of `run`, only the seed and the precision shape the weights (logging, devices, checkpoints don't).
_LOGISTICS = {"store", "out", "model.input_dims", "model.modalities", "data.workers"}
_RUN_RECIPE = {"run.seed", "run.precision"}


def _is_recipe(key: str) -> bool:
    return key not in _LOGISTICS and (not key.startswith("run.") or key in _RUN_RECIPE)


# Logged values that are not loss terms.
_NOT_TERMS = {"step", "lr", "grad_norm", "windows_per_s", "elapsed_s"}


def front_matter() -> str:
    """Hub metadata. The license is left empty on purpose: the weights' terms depend on the data they
    were trained on, which only the user knows."""
    tags = "".join(f"- {t}\n" for t in TAGS)
    return (
        "---\n"
        "library_name: lmp\n"
        "license:  # yours to set before publishing (e.g. mit, apache-2.0, cc-by-nc-4.0); mind the data's terms\n"
        f"tags:\n{tags}"
        "pipeline_tag: feature-extraction\n"
        "---\n"
    )


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v and k != "input_dims":
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, list | tuple):
        return "[" + ", ".join(map(str, v)) + "]"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 'es' if word.endswith('s') else 's'}"


def model_preset(cfg: Any) -> str | None:
    """The ModelConfig preset whose shape `cfg` has, if any."""
    for name, values in type(cfg).presets().items():
        if all(getattr(cfg, k) == v for k, v in values.items()):
            return name
    return None


def closest_recipe(cfg: Any) -> tuple[str | None, dict[str, Any]]:
    """(preset, changes): the pretraining preset (None = the defaults) from which the resolved config
    `cfg` differs in the fewest settings, and those settings. The resolved config no longer says which
    preset it started from, so this is the shortest true description of it."""
    mine = _flat(to_dict(cfg))
    best: tuple[str | None, dict[str, Any]] | None = None
    for name in [*type(cfg).presets(), None]:
        start = _flat(to_dict(from_dict(type(cfg), {"preset": name} if name else {})))
        changes = {k: v for k, v in mine.items() if _is_recipe(k) and start.get(k) != v}
        if best is None or len(changes) < len(best[1]):
            best = (name, changes)
    assert best is not None
    return best


def _model_section(model: Any) -> list[str]:
    cfg = model.cfg
    params = sum(p.numel() for p in model.parameters())
    preset = model_preset(cfg)
    shape = (
        f"width {cfg.width}, {_n(cfg.heads, 'head')}, {_n(cfg.layers, 'layer')} per modality, "
        f"{_n(cfg.cross_layers, 'cross-modal layer')}, MLP ratio {cfg.mlp_ratio:g}, dropout {cfg.dropout:g}"
    )
    inputs = ", ".join(f"{m} ({cfg.input_dims.get(m, '?')})" for m in cfg.modalities)
    return [
        "## Model",
        "",
        "| | |",
        "|---|---|",
        "| architecture | LMP backbone: one unimodal encoder per modality + a cross-modal encoder with a [CLS] |",
        f"| shape | {shape} ({f'preset `{preset}`' if preset else 'no preset'}) |",
        f"| parameters | {params / 1e6:.2f} M |",
        f"| inputs (frozen feature width) | {inputs} |",
        f"| position / context | {cfg.position} / {cfg.context} |",
        "",
        "Files: `model.safetensors` (weights) and `config.json` (the `ModelConfig`), the layout of "
        "huggingface_hub's `PyTorchModelHubMixin`.",
        "",
    ]


def _data_section(store: Any, store_path: str | os.PathLike) -> list[str]:
    from lmp.provenance import store_hash

    summary = store.summary()
    lines = [
        "## Training data",
        "",
        f"- feature store: `{store_path}` (store.json + manifest sha256 `{store_hash(store.root)}`)",
        f"- {summary['movies']} movies, {summary['shots']} shots, {summary['hours']:g} hours",
        "",
        "| modality | frozen encoder | feature width |",
        "|---|---|---|",
    ]
    lines += [f"| {m} | `{e['name']}` | {e['dim']} |" for m, e in summary["encoders"].items()]
    lines += ["", "Inputs to this model must come from the same encoders (`lmp ingest` records them in the store).", ""]
    return lines


def _recipe_section(cfg: Any, world_size: int, last: dict[str, Any] | None) -> list[str]:
    preset, changes = closest_recipe(cfg)
    start = f"preset `{preset}`" if preset else "the defaults"
    changed = ", ".join(f"`{k}={_fmt(v)}`" for k, v in changes.items()) or "none"
    o, d = cfg.optim, cfg.data
    windows = d.batch_size * o.accumulation * world_size
    lines = [
        "## Pretraining recipe",
        "",
        f"- `lmp pretrain`: {start}, changed: {changed}",
        f"- {o.steps} optimizer steps of {windows} windows of {d.window} shots "
        f"({d.batch_size} per process × {o.accumulation} accumulation × {_n(world_size, 'process')}); "
        f"AdamW, peak lr {o.lr:g}, warmup {o.warmup}, weight decay {o.weight_decay:g}; seed {cfg.run.seed}",
        "",
        "| objective | weight | settings |",
        "|---|---|---|",
    ]
    for name, sub in to_dict(cfg.objectives).items():
        if isinstance(sub, dict) and "weight" in sub:
            settings = ", ".join(f"{k}={_fmt(v)}" for k, v in sub.items() if k != "weight") or "-"
            weight = f"{sub['weight']:g}" if sub["weight"] else "0 (off)"
            lines.append(f"| {name} | {weight} | {settings} |")
    lines.append("")
    if last:
        names = sorted((k for k in last if k not in _NOT_TERMS), key=lambda k: (k != "loss", k))
        terms = ", ".join(f"{k} {last[k]:.4g}" for k in names)
        lines += [f"Last logged training terms (step {last.get('step')}): {terms}.", ""]
    lines += [
        "<details><summary>Resolved pretraining config (config.yaml of the run)</summary>",
        "",
        "```yaml",
        yaml.safe_dump(to_dict(cfg), sort_keys=False).rstrip(),
        "```",
        "",
        "</details>",
        "",
    ]
    return lines


def _provenance_section() -> list[str]:
    import torch

    from lmp import __version__
    from lmp.provenance import git_sha

    sha = git_sha()
    return [
        "## Provenance",
        "",
        f"- lmp {__version__}, git commit {f'`{sha}`' if sha else 'unknown (not run from a git checkout)'}",
        f"- torch {torch.__version__}, Python {platform.python_version()}",
        "",
    ]


def _results_section(results: str | None, store_path: str | os.PathLike | None, checkpoint: str) -> list[str]:
    lines = ["## Evaluation", ""]
    if results:
        return [*lines, results.rstrip(), ""]
    store = str(store_path) if store_path else "STORE"
    return [
        *lines,
        "No probe results yet. Measure the frozen encoders with linear probes and paste the table here:",
        "",
        "```bash",
        f"lmp probe LABELS --store {store} --checkpoint {checkpoint}     # your clip, shot and boundary tasks",
        f"lmp lvu --store LVU_STORE --checkpoint {checkpoint}            # the 9 LVU tasks",
        "```",
        "",
        "Each writes `results.md` (mean ± std over probe seeds) next to its resolved config and provenance.",
        "",
    ]


def _usage_section(checkpoint: str) -> list[str]:
    return [
        "## Usage",
        "",
        "```python",
        "import lmp",
        "",
        f'model = lmp.LMPModel.from_pretrained("{checkpoint}")   # this directory, or its Hub id',
        'store = lmp.load_store("path/to/store")                  # features from the encoders above',
        "shots = lmp.encode(model, store, store.ids[0])          # [S, d] per-shot vectors",
        'clips = lmp.encode(model, store, [(store.ids[0], 0, 8)], representation="cls")  # [1, cls_width] per clip',
        "```",
        "",
    ]


def render_model_card(
    model: Any,
    *,
    store: Any = None,
    pretrain: Any = None,
    world_size: int = 1,
    last: dict[str, Any] | None = None,
    results: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    title: str | None = None,
) -> str:
    """The README.md of a checkpoint. model: an LMPModel; store (FeatureStore) and pretrain
    (PretrainConfig) add the data and recipe sections, `last` the last logged training terms, `results`
    (Markdown) the evaluation section (else how to produce it)."""
    where = str(checkpoint) if checkpoint else "path/or/hub-id"
    lines = [front_matter(), f"# {title or 'LMP backbone'}", ""]
    lines += [
        "A backbone pretrained with lmp (long-range multimodal pretraining for movie "
        "understanding, after Argaw et al., ICCV 2023). It turns a movie's shot-level frozen features "
        "(visual, audio, text) into per-shot and per-clip vectors for transfer (probes, fine-tuning, retrieval).",
        "",
    ]
    lines += _model_section(model)
    if store is not None:
        lines += _data_section(store, pretrain.store if pretrain is not None else store.root)
    else:
        lines += ["## Training data", "", "Not recorded with these weights.", ""]
    if pretrain is not None:
        lines += _recipe_section(pretrain, world_size, last)
    else:
        lines += [
            "## Pretraining recipe",
            "",
            "Not recorded with these weights (`lmp pretrain` writes a full card into RUN/model/README.md; "
            "publish it with `push_to_hub(repo_id, model_card=...)`).",
            "",
        ]
    lines += _provenance_section()
    lines += _results_section(results, pretrain.store if pretrain is not None else None, where)
    lines += _usage_section(where)
    return "\n".join(lines)


def write_model_card(directory: str | os.PathLike, text: str) -> Path:
    """Write `text` as `directory`/README.md, atomically."""
    path = Path(directory) / CARD_FILE
    atomic_write_text(path, text)
    return path


def write_pretrain_card(
    directory: str | os.PathLike,
    model: Any,
    store: Any,
    cfg: Any,
    *,
    world_size: int = 1,
    last: dict[str, Any] | None = None,
) -> Path:
    """The card `lmp pretrain` writes next to the final weights (RUN/model/README.md)."""
    text = render_model_card(
        model, store=store, pretrain=cfg, world_size=world_size, last=last, checkpoint=directory,
        title=f"LMP backbone `{Path(cfg.out).name}`",
    )  # fmt: skip
    return write_model_card(directory, text)
