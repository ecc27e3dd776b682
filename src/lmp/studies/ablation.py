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
    done: dict[str, dict] = {}  # arm -> its probes: the default arm heads both tables, probed once

    def results(arm: str, overrides: dict) -> dict:
        if arm not in done:
            model = load_arm_model(pretrain_arm(cfg, corpus, arm, overrides), corpus, cfg)
            done[arm] = {t: per[1.0] for t, per in evaluate_arm(corpus, cfg, model).items()}
        return done[arm]

    mod = {}
    for ms in cfg.modality_sets:
        names = ms.split("+")
        full = set(names) == set(MODALITIES)
        mod[ms] = results(
            base_arm(cfg) if full else f"mod-{ms}", {} if full else {"data": {"modalities": names}}
        )
    obj = {"default objectives": results(base_arm(cfg), {})}
    for o in cfg.objectives:
        obj[f"no {o}"] = results(f"no-{o}", {"objectives": {o: {"weight": 0.0}}})
    records = [
        {"curve": curve, "setting": arm, "arm": arm, "task": t, "metric": corpus.tasks[t].spec.metric, **st}
        for curve, table in (("modalities", mod), ("objectives", obj))
        for arm, per in table.items() for t, st in per.items()
    ]  # fmt: skip
    mm_tasks = [t for t in cfg.multimodal_tasks if t in corpus.tasks]
    visual_only = next((ms for ms in cfg.modality_sets if ms == "visual"), None)
    all_mods = next((ms for ms in cfg.modality_sets if set(ms.split("+")) == set(MODALITIES)), None)
    claims = []
    sections = []
    if visual_only and all_mods:
        ours, theirs = task_average(mod[all_mods], mm_tasks), task_average(mod[visual_only], mm_tasks)
        margin = ours["mean"] - theirs["mean"]
        per_task = ", ".join(f"{t} {mod[all_mods][t]['mean'] - mod[visual_only][t]['mean']:+.3f}" for t in mm_tasks)
        result = verdict([(ours, theirs)], len(cfg.seeds))
        claims.append({"claim": 3, "verdict": result, "margin": margin})
        sections.append(claim_line(
            3, "all modalities beat visual only on multimodal tasks", result,
            f"All minus visual only, mean test accuracy on {', '.join(mm_tasks)}: {margin:+.3f} ({per_task}).",
            len(cfg.seeds),
        ))  # fmt: skip
    for title, table in (("Modalities", mod), ("Objectives", obj)):
        rows = [[t, *(cell(table[a][t]) for a in table)] for t in cfg.tasks]
        rows.append(["**mean**", *(cell(task_average(table[a], cfg.tasks)) for a in table)])
        sections += [f"\n## {title} (test accuracy; ± = seed std)\n", markdown_table(["task", *table], rows)]
    sections.append("\n![modalities](modalities.png)\n\n![objectives](objectives.png)\n")
    write_study(out, "ablate", "Modality and objective ablations", sections, records, claims, cfg, corpus)
    for name, table in (("modalities", mod), ("objectives", obj)):
        series = {a: ([table[a][t]["mean"] for t in cfg.tasks], [table[a][t]["std"] for t in cfg.tasks]) for a in table}
        bar_plot(
            out / f"{name}.png", list(cfg.tasks), series, f"{name.capitalize()} ablation on MovieWorld", "test accuracy"
        )
    return {"claims": claims, "dir": str(out)}
