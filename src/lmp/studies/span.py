"""Long range: downstream metric vs pretraining window length (same shots per step for every span).

Claim 2 (the paper's): longer pretraining spans beat short ones on long-range tasks. Every arm is
probed with the same evaluation window, so only what pretraining taught the encoder differs.
"""

from __future__ import annotations

from lmp.studies.config import StudyConfig
from lmp.studies.report import cell, claim_line, line_plot, markdown_table, write_study
from lmp.studies.runner import Corpus, base_arm, evaluate_arm, load_arm_model, pretrain_arm, task_average


def run_span(cfg: StudyConfig, corpus: Corpus) -> dict:
    out = cfg.out / "span"
    spans = tuple(sorted(cfg.spans))
    res = {}
    for s in spans:
        arm = base_arm(cfg) if s == cfg.window else f"span-{s}"
        model_dir = pretrain_arm(cfg, corpus, arm, {"data": {"window": s}})
        res[s] = {t: per[1.0] for t, per in evaluate_arm(corpus, cfg, load_arm_model(model_dir, corpus, cfg)).items()}
    records = [
        {"curve": "span", "setting": s, "arm": f"window {s}", "task": t, "metric": corpus.tasks[t].spec.metric, **st}
        for s, per in res.items() for t, st in per.items()
    ]  # fmt: skip
    long_tasks = [t for t in cfg.long_range_tasks if t in corpus.tasks]
    other = [t for t in cfg.tasks if t not in long_tasks]
    avg_long = {s: task_average(res[s], long_tasks) for s in spans}
    avg_other = {s: task_average(res[s], other) for s in spans} if other else {}
    short, longest = spans[0], spans[-1]
    margin = avg_long[longest]["mean"] - avg_long[short]["mean"]
    best = max(spans, key=lambda s: avg_long[s]["mean"])
    holds = margin > 0
    evidence = (
        f"On the long-range tasks ({', '.join(long_tasks)}), window {longest} minus window {short}: {margin:+.3f} "
        f"mean test accuracy; the best span is {best}."
    )
    claims = [{"claim": 2, "holds": holds, "margin": margin, "best_span": best}]
    rows = [[t, *(cell(res[s][t]) for s in spans)] for t in cfg.tasks]
    rows.append(["**long-range mean**", *(cell(avg_long[s]) for s in spans)])
    if other:
        rows.append(["**other tasks mean**", *(cell(avg_other[s]) for s in spans)])
    sections = [
        claim_line(2, "longer spans beat short ones on long-range tasks", holds, evidence),
        f"\n## Test accuracy vs pretraining window (shots; evaluation window {cfg.eval_window}; ± = seed std)\n",
        markdown_table(["task", *(f"window {s}" for s in spans)], rows),
        "\n![span](span.png)\n",
    ]
    write_study(out, "span", "Long-range span", sections, records, claims, cfg, corpus)
    series = {t: (list(spans), [res[s][t]["mean"] for s in spans], [res[s][t]["std"] for s in spans]) for t in cfg.tasks}
    line_plot(
        out / "span.png",
        [{"title": "per task (long-range: " + ", ".join(long_tasks) + ")", "xlabel": "pretraining window (shots)",
          "ylabel": "test accuracy", "logx": True, "base": 2, "series": series}],
        "Pretraining span on MovieWorld",
    )  # fmt: skip
    return {"claims": claims, "dir": str(out)}
