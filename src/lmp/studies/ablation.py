"""Ablations: modalities (visual, + audio, + text, all) and objectives (remove each in turn).

Claim 3 (the paper's): all modalities beat visual only on multimodal tasks.
"""

from __future__ import annotations

from lmp.modality import MODALITIES
from lmp.studies.config import StudyConfig
from lmp.studies.report import bar_plot, cell, claim_line, markdown_table, verdict, write_study
from lmp.studies.runner import Corpus, base_arm, evaluate_arm, load_arm_model, pretrain_arm, task_average


def run_ablate(cfg: StudyConfig, corpus: Corpus) -> dict:
    out = cfg.out / "ablate"
    fractions = tuple(sorted(set(cfg.ablate_fractions), reverse=True))  # all labels first
    full = fractions[0]
    done: dict[str, dict] = {}  # arm -> {label fraction: its probes}: the default arm heads both tables, probed once

    def results(arm: str, overrides: dict) -> dict:
        if arm not in done:
            model = load_arm_model(pretrain_arm(cfg, corpus, arm, overrides), corpus, cfg)
            per_task = evaluate_arm(corpus, cfg, model, fractions)
            done[arm] = {f: {t: per[f] for t, per in per_task.items()} for f in fractions}
        return done[arm]

    mod = {}
    for ms in cfg.modality_sets:
        names = ms.split("+")
        full_set = set(names) == set(MODALITIES)
        mod[ms] = results(
            base_arm(cfg) if full_set else f"mod-{ms}", {} if full_set else {"data": {"modalities": names}}
        )
    obj = {"default objectives": results(base_arm(cfg), {})}
    for o in cfg.objectives:
        obj[f"no {o}"] = results(f"no-{o}", {"objectives": {o: {"weight": 0.0}}})
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
    tables = {"modalities": mod, "objectives": obj}
    for f in fractions:
        for name, table in tables.items():
            rows = [[t, *(cell(table[a][f][t]) for a in table)] for t in cfg.tasks]
            rows.append(["**mean**", *(cell(task_average(table[a][f], cfg.tasks)) for a in table)])
            sections += [
                f"\n## {name.capitalize()}, {labels(f)} (test accuracy; ± = seed std)\n",
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
