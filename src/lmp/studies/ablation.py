"""Ablations: modalities (visual, + audio, + text, all) and objectives (remove each in turn).

Claim 3 (the paper's): all modalities beat visual only on multimodal tasks. The modality arms (those
claim 3 compares) are pretrained once per pretraining seed (`pretrain_seeds`, as in the data and span
studies) and their probe values pooled, so the verdict's spread includes that of pretraining runs. The
objective ablations, which no claim judges, are single runs (the study's seed) beside the default arm,
whose pooled runs head both tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lmp.modality import MODALITIES
from lmp.studies.config import StudyConfig
from lmp.studies.report import bar_plot, cell, claim_line, markdown_table, verdict, write_study
from lmp.studies.runner import (
    Corpus,
    base_arm,
    evaluate_arm,
    load_arm_model,
    pool_runs,
    pretrain_arm,
    pretrain_seed_list,
    task_average,
)


@dataclass(frozen=True)
class AblationArm:
    """One column of the ablation tables."""

    table: str
    """"modalities" or "objectives"."""
    label: str
    """Its column header, e.g. "visual+audio" or "no spread"."""
    arm: str
    """The pretraining run's name under OUT/pretrain (shared with other studies for the default arm)."""
    overrides: dict[str, Any]
    """Pretraining config overrides."""
    seeds: tuple[int, ...]
    """Pretraining seeds whose runs are pooled."""


def ablation_arms(cfg: StudyConfig) -> list[AblationArm]:
    """Every column of the study, the modality table first."""
    seeds = pretrain_seed_list(cfg)
    arms = []
    for ms in cfg.modality_sets:
        names = ms.split("+")
        if set(names) == set(MODALITIES):
            arms.append(AblationArm("modalities", ms, base_arm(cfg), {}, seeds))
        else:
            arms.append(AblationArm("modalities", ms, f"mod-{ms}", {"data": {"modalities": names}}, seeds))
    arms.append(AblationArm("objectives", "default objectives", base_arm(cfg), {}, seeds))
    for o in cfg.objectives:
        arms.append(AblationArm("objectives", f"no {o}", f"no-{o}", {"objectives": {o: {"weight": 0.0}}}, (cfg.seed,)))
    return arms


def run_ablate(cfg: StudyConfig, corpus: Corpus) -> dict:
    out = cfg.out / "ablate"
    fractions = tuple(sorted(set(cfg.ablate_fractions), reverse=True))  # all labels first
    full = fractions[0]
    done: dict[tuple, dict] = {}  # (arm, seeds) -> {label fraction: its probes}: the default arm is probed once

    def results(a: AblationArm) -> dict:
        key = (a.arm, a.seeds)
        if key not in done:
            runs = []
            for seed in a.seeds:
                model_dir = pretrain_arm(cfg, corpus, a.arm, a.overrides, seed=seed)
                runs.append(evaluate_arm(corpus, cfg, load_arm_model(model_dir, corpus, cfg, seed=seed), fractions))
            per_task = runs[0] if len(runs) == 1 else pool_runs(runs)
            done[key] = {f: {t: per[f] for t, per in per_task.items()} for f in fractions}
        return done[key]

    tables: dict[str, dict[str, dict]] = {"modalities": {}, "objectives": {}}
    for a in ablation_arms(cfg):
        tables[a.table][a.label] = results(a)
    mod, obj = tables["modalities"], tables["objectives"]
    records = [
        {"curve": curve, "setting": f, "arm": arm, "task": t, "metric": corpus.tasks[t].spec.metric, **st}
        for curve, table in (("modalities", mod), ("objectives", obj))
        for arm, per_fraction in table.items() for f, per in per_fraction.items() for t, st in per.items()
    ]  # fmt: skip
    mm_tasks = [t for t in cfg.multimodal_tasks if t in corpus.tasks]
    visual_only = next((ms for ms in cfg.modality_sets if ms == "visual"), None)
    all_mods = next((ms for ms in cfg.modality_sets if set(ms.split("+")) == set(MODALITIES)), None)
    claims = []
    sections = []
    if visual_only and all_mods:
        ours, theirs = task_average(mod[all_mods][full], mm_tasks), task_average(mod[visual_only][full], mm_tasks)
        margin = ours["mean"] - theirs["mean"]
        per_task = ", ".join(
            f"{t} {mod[all_mods][full][t]['mean'] - mod[visual_only][full][t]['mean']:+.3f}" for t in mm_tasks
        )
        result = verdict([(ours, theirs)], len(cfg.seeds))
        claims.append({"claim": 3, "verdict": result, "margin": margin})
        sections.append(claim_line(
            3, "all modalities beat visual only on multimodal tasks", result,
            f"All minus visual only, mean test accuracy on {', '.join(mm_tasks)} with {labels(full)}: {margin:+.3f} "
            f"({per_task}).",
            len(cfg.seeds),
        ))  # fmt: skip
    pooled = ", ".join(str(seed) for seed in pretrain_seed_list(cfg))
    sections.append(
        f"\nThe modality arms and the default objectives are pooled over pretraining seeds {pooled} (± then "
        f"includes the spread between pretraining runs); each objective ablation is one run (seed {cfg.seed}).\n"
    )
    for f in fractions:
        for name, table in tables.items():
            rows = [[t, *(cell(table[a][f][t]) for a in table)] for t in cfg.tasks]
            rows.append(["**mean**", *(cell(task_average(table[a][f], cfg.tasks)) for a in table)])
            sections += [
                f"\n## {name.capitalize()}, {labels(f)} (test accuracy; ± = std over seeds)\n",
                markdown_table(["task", *table], rows),
            ]
    plots = [f"![{name}, labels {f:g}]({plot_name(name, f, full)})" for f in fractions for name in tables]
    sections.append("\n" + "\n\n".join(plots) + "\n")
    write_study(out, "ablate", "Modality and objective ablations", sections, records, claims, cfg, corpus)
    for f in fractions:
        for name, table in tables.items():
            series = {
                a: ([table[a][f][t]["mean"] for t in cfg.tasks], [table[a][f][t]["std"] for t in cfg.tasks])
                for a in table
            }
            title = f"{name.capitalize()} ablation on MovieWorld" + ("" if f == 1.0 else f", {labels(f)}")
            bar_plot(out / plot_name(name, f, full), list(cfg.tasks), series, title, "test accuracy")
    return {"claims": claims, "dir": str(out)}


def plot_name(table: str, fraction: float, full: float) -> str:
    """modalities.png for the largest label fraction (the name it always had), modalities-labels0.01.png else."""
    return f"{table}.png" if fraction == full else f"{table}-labels{fraction:g}.png"


def labels(fraction: float) -> str:
    return "all train labels" if fraction == 1.0 else f"{fraction:g} of the train labels"
