"""`lmp demo`: the whole method on a small synthetic corpus, with nothing but the repo.

1. synthesise a MovieWorld corpus (a real feature store + label files),
2. pretrain the long-range multimodal model on the train-split movies (no labels used),
3. linear-probe frozen representations on a few clip tasks: pretrained vs the same architecture
   randomly initialised, the raw frozen features, and a linear CCA between modalities fit on the same
   unlabeled movies (the probes and baselines of `lmp study`),
4. print a table and save it (Markdown, CSV, JSON) with a bar plot and the provenance.

Every step resumes: rerunning reuses the corpus and continues an interrupted pretraining.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lmp.atomic import save_figure
from lmp.config import atomic_write_text, from_dict, save_config

ARMS = ("random init", "pretrained", "raw features", "CCA")


@dataclass
class DemoConfig:
    out: Path = Path("runs/demo")
    """Run directory: movieworld/, pretrain/, results.{md,csv,json}, demo.png."""
    synth_preset: str = "demo"
    """MovieWorld preset (see `lmp synth --help`)."""
    pretrain_preset: str = "small"
    """Pretraining preset (see `lmp pretrain --help`); the overrides below apply on top of it."""
    steps: int = 400
    """Pretraining optimizer steps."""
    window: int = 64
    """Pretraining window length in shots."""
    width: int = 64
    """Model width d."""
    tasks: tuple[str, ...] = ("scene", "relationship", "way_speaking", "director", "genre")
    """MovieWorld clip tasks to probe."""
    representation: str = "all"
    """Representation probed: all (every encoder's shot outputs, concatenated), cls, fused, unimodal:<modality>."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Probe seeds (mean ± std)."""
    seed: int = 0
    """Seed of the corpus and of pretraining."""
    threads: int = 1
    """CPU threads for torch (0 = torch's default). The demo's small model runs fastest on one thread, and
    several threads slow it down badly when other processes compete for the cores."""

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.steps < 1 or self.window < 2 or self.width < 8:
            raise ValueError("steps must be >= 1, window >= 2 and width >= 8")
        if not self.tasks or not self.seeds:
            raise ValueError("tasks and seeds must not be empty")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")


def _corpus(cfg: DemoConfig) -> Path:
    from lmp.synth import SynthConfig, existing_corpus, generate

    root = cfg.out / "movieworld"
    synth = from_dict(SynthConfig, {"preset": cfg.synth_preset, "out": str(root), "seed": cfg.seed})
    if existing_corpus(synth) is not None:
        print(f"[1/3] reusing MovieWorld corpus in {root}")
        return root
    print(f"[1/3] synthesising MovieWorld ({cfg.synth_preset}) into {root}")
    generate(synth)
    return root


def _pretrain(cfg: DemoConfig, corpus: Path) -> Path:
    from lmp.store.subset import subset_store
    from lmp.train import PretrainConfig, pretrain
    from lmp.train.reuse import finished_model

    train_ids = json.loads((corpus / "corpus.json").read_text())["splits"]["train"]
    store = subset_store(corpus / "store", train_ids, cfg.out / "pretrain-store")
    run = cfg.out / "pretrain"
    pcfg = from_dict(
        PretrainConfig,
        {
            "preset": cfg.pretrain_preset,
            "store": str(store.root),
            "out": str(run),
            "model": {"width": cfg.width},
            "data": {"window": cfg.window, "min_gap": cfg.window // 4},
            "optim": {"steps": cfg.steps, "warmup": max(1, cfg.steps // 20)},
            "run": {"seed": cfg.seed, "resume": "auto", "ckpt_every": max(1, cfg.steps // 4)},
        },
    )
    if (model := finished_model(run, pcfg)) is not None:
        print(f"[2/3] reusing the pretrained model in {model}")
        return model
    print(f"[2/3] pretraining on {len(store)} train-split movies ({cfg.steps} steps, window {cfg.window})")
    return pretrain(pcfg)


def _plot(rows: list[dict], path: Path, representation: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tasks = [r["task"] for r in rows]
    x = np.arange(len(tasks))
    fig, ax = plt.subplots(figsize=(1.6 * len(tasks) + 2, 3.6))
    width = 0.8 / len(ARMS)
    for i, arm in enumerate(ARMS):
        means = [r[arm]["mean"] for r in rows]
        stds = [r[arm]["std"] for r in rows]
        ax.bar(x + (i - (len(ARMS) - 1) / 2) * width, means, width, yerr=stds, capsize=3, label=arm)
    ax.set_xticks(x, [f"{t}\n({r['metric']})" for t, r in zip(tasks, rows)])
    ax.set_ylabel("test metric (higher is better)")
    ax.set_title(f"MovieWorld linear probes on frozen encoders ({representation}): pretrained vs random init")
    ax.legend(frameon=False, ncols=len(ARMS), loc="upper center", bbox_to_anchor=(0.5, -0.2))
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def demo(cfg: DemoConfig) -> int:
    import torch

    from lmp.provenance import provenance
    from lmp.studies.baselines import CCA, baseline_representations
    from lmp.studies.config import StudyConfig
    from lmp.studies.report import cell, markdown_table
    from lmp.studies.runner import load_corpus, probe_all, representations
    from lmp.tasks.features import load_model

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cfg.out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, cfg.out / "config.yaml")
    root = _corpus(cfg)
    model_dir = _pretrain(cfg, root)
    # The studies' probe protocol, on the demo's corpus, tasks, seeds and window.
    scfg = from_dict(StudyConfig, {
        "out": str(cfg.out), "corpus": str(root), "tasks": list(cfg.tasks), "seeds": list(cfg.seeds),
        "eval_window": cfg.window, "representation": cfg.representation, "context_tasks": [], "seed": cfg.seed,
    })  # fmt: skip
    corpus = load_corpus(scfg)
    print(f"[3/3] linear probes on {len(cfg.tasks)} tasks x {len(cfg.seeds)} seeds")
    torch.manual_seed(cfg.seed)
    raw = representations(corpus, None, scfg)
    reps = {
        "random init": representations(
            corpus, load_model(model_dir, corpus.store, random_init=True, seed=cfg.seed), scfg
        ),
        "pretrained": representations(corpus, load_model(model_dir, corpus.store), scfg),
        "raw features": raw,
        "CCA": baseline_representations(raw, corpus.store, corpus.train_movies, scfg)[CCA],
    }
    results = {arm: probe_all(corpus, scfg, reps[arm]) for arm in ARMS}
    rows = []
    for name in cfg.tasks:
        row: dict = {"task": name, "metric": corpus.tasks[name].spec.metric}
        row.update({arm: {k: results[arm][name][1.0][k] for k in ("mean", "std")} for arm in ARMS})
        rows.append(row)
        print(f"  {name:<14} " + "  ".join(f"{a}: {row[a]['mean']:.3f}" for a in ARMS))

    body = markdown_table(
        ["task", "metric", *ARMS], [[r["task"], r["metric"], *(cell(r[a]) for a in ARMS)] for r in rows]
    )
    wins = {a: sum(r["pretrained"]["mean"] > r[a]["mean"] for r in rows) for a in ARMS if a != "pretrained"}
    verdict = "Pretrained beats " + ", ".join(f"{a} on {n} of {len(rows)} tasks" for a, n in wins.items())
    verdict += f" (mean of {len(cfg.seeds)} probe seeds, all train labels)."
    table = f"# lmp demo: linear probes on frozen encoders ({cfg.representation})\n\n{body}\n{verdict}\n"
    atomic_write_text(cfg.out / "results.md", table)
    csv = "task,metric," + ",".join(f"{a.replace(' ', '_')}_{s}" for a in ARMS for s in ("mean", "std")) + "\n"
    csv += "".join(
        f"{r['task']},{r['metric']}," + ",".join(f"{r[a][s]:.6f}" for a in ARMS for s in ("mean", "std")) + "\n"
        for r in rows
    )
    atomic_write_text(cfg.out / "results.csv", csv)
    prov = provenance({"movieworld": root / "store"}, list(cfg.seeds))
    atomic_write_text(cfg.out / "results.json", json.dumps({"rows": rows, "provenance": prov}, indent=2))
    _plot(rows, cfg.out / "demo.png", cfg.representation)
    print()
    print(table)
    print(f"saved {cfg.out / 'results.md'}, {cfg.out / 'results.csv'}, {cfg.out / 'demo.png'}")
    return 0

