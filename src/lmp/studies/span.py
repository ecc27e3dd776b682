"""Long range: downstream metric vs pretraining window length (same shots per step for every span).

Claim 2 (the paper's): longer pretraining spans beat short ones on long-range tasks. It is judged on
MovieWorld's context tasks (`context_tasks`: shot-level tasks whose answer lies minutes from the shot,
docs/movieworld.md), probed per shot on the contextual tokens; clip tasks are reported too, but mean
pooling over a clip does the long-range aggregation for any encoder, so they cannot show it. Every arm
is encoded with the same evaluation window, so only what pretraining taught the encoder differs. The
same tasks also compare the default arm with the per-shot ablation (no cross-shot context at all).

The order-aware clip tasks (`order_tasks`: whose answer is the order of a clip's shots, not their mix)
are read with the attentive probe, which codes each token's place in its clip; the same two comparisons
are made on them, with raw features' tokens as a reference row.

Every span arm and the per-shot ablation are pretrained once per pretraining seed (`pretrain_seeds`, as in
the data study; the default arm's and the per-shot ablation's runs are shared with it), and their probe
values are pooled over pretraining and probe seeds, so a verdict's spread includes that of pretraining runs.
"""

from __future__ import annotations

from lmp.studies.config import StudyConfig
from lmp.studies.report import cell, claim_line, line_plot, markdown_table, verdict, write_study
from lmp.studies.runner import (
    PER_SHOT,
    PER_SHOT_OVERRIDES,
    Corpus,
    context_arm,
    evaluate_arm,
    load_arm_model,
    order_arm,
    pool_runs,
    pretrain_arm,
    pretrain_seed_list,
    span_arm,
    task_average,
)


def _pooled(runs: list[dict[str, dict]]) -> dict[str, dict]:
    """task -> stats of several pretraining runs (one setting each) as one result (runner.pool_runs)."""
    return {t: per[1.0] for t, per in pool_runs([{t: {1.0: st} for t, st in r.items()} for r in runs]).items()}


def run_span(cfg: StudyConfig, corpus: Corpus) -> dict:
    out = cfg.out / "span"
    spans = tuple(sorted(cfg.spans))
    seeds = pretrain_seed_list(cfg)
    res, ctx, order = {}, {}, {}
    for s in spans:
        arm, overrides = span_arm(cfg, s)
        clip_runs, ctx_runs, order_runs = [], [], []
        for seed in seeds:
            model = load_arm_model(pretrain_arm(cfg, corpus, arm, overrides, seed=seed), corpus, cfg, seed=seed)
            clip_runs.append({t: per[1.0] for t, per in evaluate_arm(corpus, cfg, model).items()})
            ctx_runs.append(context_arm(corpus, cfg, model))
            order_runs.append(order_arm(corpus, cfg, model))
        res[s], ctx[s], order[s] = _pooled(clip_runs), _pooled(ctx_runs), _pooled(order_runs)
    base = cfg.window if cfg.window in spans else spans[-1]
    shot_ctx, shot_order = [], []
    for seed in seeds:
        model = load_arm_model(
            pretrain_arm(cfg, corpus, PER_SHOT, PER_SHOT_OVERRIDES, seed=seed), corpus, cfg, seed=seed
        )
        shot_ctx.append(context_arm(corpus, cfg, model))
        shot_order.append(order_arm(corpus, cfg, model))
    per_shot, per_shot_order = _pooled(shot_ctx), _pooled(shot_order)
    raw_order = order_arm(corpus, cfg, None)
    records = [
        {"curve": "span", "setting": s, "arm": f"window {s}", "task": t, "metric": task_metric(corpus, t), **st}
        for s in spans for per in (res[s], ctx[s], order[s]) for t, st in per.items()
    ] + [
        {"curve": "per-shot", "setting": "context shot", "arm": PER_SHOT, "task": t, "metric": task_metric(corpus, t),
         **st}
        for per in (per_shot, per_shot_order) for t, st in per.items()
    ] + [
        {"curve": "raw", "setting": "order", "arm": "raw features", "task": t, "metric": task_metric(corpus, t), **st}
        for t, st in raw_order.items()
    ]  # fmt: skip
    context = list(corpus.context)
    short, longest = spans[0], spans[-1]
    claims, sections = [], []
    if context:
        avg, shot_avg, (span_result, span_margin), (ctx_result, ctx_margin) = _comparisons(
            ctx, per_shot, context, spans, base, len(cfg.seeds)
        )
        best = max(spans, key=lambda s: avg[s]["mean"])
        claims += [
            {"claim": 2, "comparison": f"window {longest} vs {short}", "verdict": span_result, "margin": span_margin,
             "best_span": best},
            {"claim": 2, "comparison": f"window {base} vs per-shot", "verdict": ctx_result, "margin": ctx_margin},
        ]  # fmt: skip
        sections += [
            claim_line(2, "longer spans beat short ones on long-range tasks", span_result,
                       f"Mean AP on the context tasks ({', '.join(context)}), window {longest} minus window {short}: "
                       f"{span_margin:+.3f}; the best span is {best}.", len(cfg.seeds)),
            claim_line(2, "long-range context beats none", ctx_result,
                       f"Mean AP on the context tasks, window {base} minus the per-shot ablation: "
                       f"{ctx_margin:+.3f}.", len(cfg.seeds)),
            f"\n## Context tasks: AP vs pretraining window (per-shot probes; evaluation window {cfg.eval_window}; "
            "± = seed std)\n",
            markdown_table(
                ["task", *(f"window {s}" for s in spans), PER_SHOT],
                [[t, *(cell(ctx[s][t]) for s in spans), cell(per_shot[t])] for t in context]
                + [["**mean**", *(cell(avg[s]) for s in spans), cell(shot_avg)]],
            ),
        ]  # fmt: skip
    ordered = list(corpus.order)
    if ordered:
        _, _, (span_result, span_margin), (shot_result, shot_margin) = _comparisons(
            order, per_shot_order, ordered, spans, base, len(cfg.seeds)
        )
        claims += [
            {"claim": 2, "comparison": f"order tasks: window {longest} vs {short}", "verdict": span_result,
             "margin": span_margin},
            {"claim": 2, "comparison": f"order tasks: window {base} vs per-shot", "verdict": shot_result,
             "margin": shot_margin},
        ]  # fmt: skip
        sections += [
            claim_line(2, "longer spans beat short ones on order-aware clip tasks", span_result,
                       f"Accuracy on {', '.join(ordered)} (attentive probe), window {longest} minus window {short}: "
                       f"{span_margin:+.3f}.", len(cfg.seeds)),
            claim_line(2, "long-range context beats none on order-aware clip tasks", shot_result,
                       f"Accuracy on {', '.join(ordered)}, window {base} minus the per-shot ablation: "
                       f"{shot_margin:+.3f}.", len(cfg.seeds)),
            "\n## Order-aware clip tasks: accuracy vs pretraining window (attentive probe over the clip's shot "
            f"tokens, each coded with its place in the clip; evaluation window {cfg.eval_window}; ± = seed std)\n",
            markdown_table(
                ["task", *(f"window {s}" for s in spans), PER_SHOT, "raw features"],
                [[t, *(cell(order[s][t]) for s in spans), cell(per_shot_order[t]), cell(raw_order[t])]
                 for t in ordered],
            ),
        ]  # fmt: skip
    long_tasks = [t for t in cfg.long_range_tasks if t in corpus.tasks]
    rows = [[t, *(cell(res[s][t]) for s in spans)] for t in cfg.tasks]
    if long_tasks:
        rows.append(["**long-range clip tasks mean**", *(cell(task_average(res[s], long_tasks)) for s in spans)])
    sections += [
        f"\n## Clip tasks: test accuracy vs pretraining window (mean-pooled; evaluation window {cfg.eval_window})\n",
        markdown_table(["task", *(f"window {s}" for s in spans)], rows),
        "\n![span](span.png)\n",
    ]
    write_study(out, "span", "Long-range span", sections, records, claims, cfg, corpus)
    series = {t: (list(spans), [per[s][t]["mean"] for s in spans], [per[s][t]["std"] for s in spans])
              for per, names in ((ctx, context), (order, ordered), (res, cfg.tasks)) for t in names}  # fmt: skip
    line_plot(
        out / "span.png",
        [{"title": "per task (context tasks: AP; clip tasks: accuracy)", "xlabel": "pretraining window (shots)",
          "ylabel": "test metric", "logx": True, "base": 2, "series": series}],
        "Pretraining span on MovieWorld",
    )  # fmt: skip
    return {"claims": claims, "dir": str(out)}


def _comparisons(per_span: dict, per_shot: dict, tasks: list[str], spans: tuple[int, ...], base: int, seeds: int):
    """Claim 2's two comparisons on `tasks`: (task means per span, the per-shot ablation's task mean,
    (verdict, margin) of the longest span against the shortest, (verdict, margin) of `base` against per-shot)."""
    avg = {s: task_average(per_span[s], tasks) for s in spans}
    shot_avg = task_average(per_shot, tasks)
    longest, short = avg[spans[-1]], avg[spans[0]]
    longer = (verdict([(longest, short)], seeds), longest["mean"] - short["mean"])
    context = (verdict([(avg[base], shot_avg)], seeds), avg[base]["mean"] - shot_avg["mean"])
    return avg, shot_avg, longer, context


def task_metric(corpus: Corpus, name: str) -> str:
    task = corpus.tasks.get(name) or corpus.context.get(name) or corpus.order[name]
    return task.spec.metric
