"""Data efficiency: downstream metric vs label fraction and vs amount of pretraining data.

Claim 1 (the paper's): pretraining beats training from scratch when labels are scarce. "From
scratch" here is the same architecture with random weights, probed the same way; the raw frozen
features are shown as a no-model reference.
"""

from __future__ import annotations

from lmp.studies.config import StudyConfig
from lmp.studies.report import cell, claim_line, line_plot, markdown_table, write_study
from lmp.studies.runner import (
    RANDOM_INIT,
    RAW,
    Corpus,
    base_arm,
    evaluate_arm,
    load_arm_model,
    pretrain_arm,
    task_average,
)


def run_data(cfg: StudyConfig, corpus: Corpus) -> dict:
    out = cfg.out / "data"
    fractions = tuple(sorted(cfg.label_fractions))
    base_dir = pretrain_arm(cfg, corpus, base_arm(cfg), {})
    models = {
        "pretrained": load_arm_model(base_dir, corpus, cfg),
        RANDOM_INIT: load_arm_model(base_dir, corpus, cfg, random_init=True),
        RAW: None,
    }
    print(f"data study: probing {len(models)} arms x {len(fractions)} label fractions x {len(cfg.tasks)} tasks")
    by_arm = {arm: evaluate_arm(corpus, cfg, m, fractions) for arm, m in models.items()}
    records = [
        {"curve": "label_fraction", "setting": f, "arm": arm, "task": t, "metric": corpus.tasks[t].spec.metric, **stats}
        for arm, res in by_arm.items() for t, per in res.items() for f, stats in per.items()
    ]  # fmt: skip
    avg = {arm: {f: task_average({t: res[t][f] for t in res}, cfg.tasks) for f in fractions} for arm, res in by_arm.items()}

    # Pretraining-data curve: the probe at full labels and at the low fraction, per amount of movies.
    pre_fracs = tuple(sorted(cfg.pretrain_fractions))
    label_points = tuple(sorted({min(cfg.low_fraction, 1.0), 1.0}))
    amount: dict[float, dict[float, dict]] = {}
    for pf in pre_fracs:
        arm_dir = base_dir if pf >= 1.0 else pretrain_arm(cfg, corpus, f"data-{round(pf * 100)}pct", {}, movie_fraction=pf)
        res = evaluate_arm(corpus, cfg, load_arm_model(arm_dir, corpus, cfg), label_points)
        amount[pf] = {lf: task_average({t: res[t][lf] for t in res}, cfg.tasks) for lf in label_points}
        records += [
            {"curve": "pretrain_fraction", "setting": pf, "arm": f"labels {lf:g}", "task": t,
             "metric": corpus.tasks[t].spec.metric, **res[t][lf]}
            for t in res for lf in label_points
        ]  # fmt: skip

    low = [f for f in fractions if f <= cfg.low_fraction]
    margins = {f: avg["pretrained"][f]["mean"] - avg[RANDOM_INIT][f]["mean"] for f in low}
    holds = bool(low) and all(m > 0 for m in margins.values())
    evidence = "Mean test accuracy over tasks, pretrained minus random init: " + ", ".join(
        f"{f:g} of labels: {m:+.3f}" for f, m in margins.items()
    ) + "."
    claims = [{"claim": 1, "holds": holds, "margins": {str(k): v for k, v in margins.items()}}]
    header = ["label fraction", *by_arm]
    rows = [[f"{f:g}", *(cell(avg[a][f]) for a in by_arm)] for f in fractions]
    per_task = markdown_table(
        ["task", *(f"{a} @ {f:g}" for a in by_arm for f in (fractions[0], fractions[-1]))],
        [[t, *(cell(by_arm[a][t][f]) for a in by_arm for f in (fractions[0], fractions[-1]))] for t in cfg.tasks],
    )
    amount_rows = [[f"{pf:g}", *(cell(amount[pf][lf]) for lf in label_points)] for pf in pre_fracs]
    sections = [
        claim_line(1, "pretraining beats scratch at low label fractions", holds, evidence),
        f"\n## Metric vs label fraction (mean over {len(cfg.tasks)} tasks: {', '.join(cfg.tasks)}; ± = seed std)\n",
        markdown_table(header, rows),
        "\n### Per task, at the smallest and the full label fraction\n",
        per_task,
        "\n## Metric vs pretraining data (fraction of train-split movies)\n",
        markdown_table(["pretraining movies", *(f"labels {lf:g}" for lf in label_points)], amount_rows),
        "\n![data efficiency](data_efficiency.png)\n",
    ]
    write_study(out, "data", "Data efficiency", sections, records, claims, cfg, corpus)
    line_plot(
        out / "data_efficiency.png",
        [
            {"title": "vs label fraction", "xlabel": "fraction of train labels", "ylabel": "mean test accuracy",
             "logx": True, "series": {a: (list(fractions), [avg[a][f]["mean"] for f in fractions],
                                           [avg[a][f]["std"] for f in fractions]) for a in by_arm}},
            {"title": "vs pretraining data", "xlabel": "fraction of train-split movies", "ylabel": "mean test accuracy",
             "logx": True, "series": {f"labels {lf:g}": (list(pre_fracs), [amount[p][lf]["mean"] for p in pre_fracs],
                                                        [amount[p][lf]["std"] for p in pre_fracs]) for lf in label_points}},
        ],
        "Data efficiency on MovieWorld (linear probes on frozen encoders)",
    )  # fmt: skip
    return {"claims": claims, "dir": str(out)}
