"""`lmp study data|span|ablate|all`: each writes OUT/<study>/results.{md,csv,json} and a plot."""

from __future__ import annotations

import json

from lmp.config import atomic_write_text
from lmp.studies.config import StudyConfig


def _run(cfg: StudyConfig, names: tuple[str, ...]) -> int:
    import torch

    from lmp.studies.ablation import run_ablate
    from lmp.studies.data_efficiency import run_data
    from lmp.studies.runner import load_corpus
    from lmp.studies.span import run_span

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    studies = {"data": run_data, "span": run_span, "ablate": run_ablate}
    corpus = load_corpus(cfg)
    summary = {name: studies[name](cfg, corpus) for name in names}
    claims = [c for s in summary.values() for c in s["claims"]]
    for c in claims:
        what = c.get("protocol") or c.get("comparison") or ""
        print(f"claim {c['claim']}{f' ({what})' if what else ''}: {c['verdict']}")
    for s in summary.values():
        print(f"results: {s['dir']}/results.md")
    atomic_write_text(cfg.out / f"summary-{'-'.join(names)}.json", json.dumps(summary, indent=2))
    return 0


def data(cfg: StudyConfig) -> int:
    return _run(cfg, ("data",))


def span(cfg: StudyConfig) -> int:
    return _run(cfg, ("span",))


def ablate(cfg: StudyConfig) -> int:
    return _run(cfg, ("ablate",))


def all_studies(cfg: StudyConfig) -> int:
    return _run(cfg, ("data", "span", "ablate"))
