"""Result tables of `lmp lvu` / `lmp probe`: Markdown + CSV + JSON, with the provenance beside them.

    OUT/results.md       one wide table (tasks as columns, test mean ± std of the primary metric per
                         protocol/representation), then per-task details (val, other metrics, counts, missing)
    OUT/results.csv      long format: task,level,protocol,representation,split,metric,mean,std,n,seeds
    OUT/results.json     everything, including every seed's numbers and the missing-video report
    OUT/config.yaml      the resolved command config
    OUT/provenance.json  git SHA, store manifest sha256, seeds, versions
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from lmp.config import atomic_write_text, save_config

# Accuracy-like metrics are shown in percent, as in the LVU literature.
PERCENT = {"accuracy", "mAP", "AP", "mIoU", "F1", "Precision", "Recall"}


def format_mean_std(stats: dict[str, float], scale: float = 1.0, digits: int = 2) -> str:
    """{"mean", "std"} -> 'mean ± std', both times `scale`, with `digits` decimals; 'n/a' for a NaN mean
    (a metric without a value, e.g. AP of a split with no positive). The one such formatter of lmp:
    these tables, the study tables (lmp.studies.report.cell) and the demo's."""
    mean, std = stats["mean"] * scale, stats["std"] * scale
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _cell(stats: dict[str, float], metric: str) -> str:
    return format_mean_std(stats, scale=100.0 if metric in PERCENT else 1.0)


def markdown(summaries: list[dict[str, Any]], title: str) -> str:
    tasks = list(dict.fromkeys(s["task"] for s in summaries))
    setups = list(dict.fromkeys((s["protocol"], s["representation"]) for s in summaries))
    by_key = {(s["task"], s["protocol"], s["representation"]): s for s in summaries}
    metric_of = {s["task"]: s["metric"] for s in summaries}
    arrows = {t: ("↓" if metric_of[t] == "mse" else "↑") for t in tasks}
    lines = [
        f"# {title}",
        "",
        "Test, mean ± std over seeds (accuracy/AP/mAP in %, mse raw); val selected the model.",
        "",
    ]
    lines.append(
        "| protocol | representation | " + " | ".join(f"{t} ({metric_of[t]} {arrows[t]})" for t in tasks) + " |"
    )
    lines.append("|---|---|" + "---|" * len(tasks))
    for proto, rep in setups:
        cells = []
        for t in tasks:
            s = by_key.get((t, proto, rep))
            cells.append(_cell(s["test"][s["metric"]], s["metric"]) if s else "")
        lines.append(f"| {proto} | {rep} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Details",
        "",
        "| task | level | protocol | representation | split | metric | mean ± std | n | missing |",
    ]
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for s in summaries:
        for split in ("val", "test"):
            for metric, stats in s[split].items():
                if metric.endswith("_classes"):
                    continue
                miss = s["missing"].get(split, {})
                lines.append(
                    f"| {s['task']} | {s['level']} | {s['protocol']} | {s['representation']} | {split} | {metric} | "
                    f"{_cell(stats, metric)} | {s['counts'].get(split, 0)} | "
                    f"{miss.get('missing', 0)} of {miss.get('total', 0)} |"
                )
    return "\n".join(lines) + "\n"


def csv_text(summaries: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["task", "level", "protocol", "representation", "split", "metric", "mean", "std", "n", "missing", "seeds"]
    )
    for s in summaries:
        for split in ("val", "test"):
            for metric, stats in s[split].items():
                w.writerow(
                    [s["task"], s["level"], s["protocol"], s["representation"], split, metric, repr(stats["mean"]),
                     repr(stats["std"]), s["counts"].get(split, 0), s["missing"].get(split, {}).get("missing", 0),
                     " ".join(str(x) for x in s["seeds"])]
                )  # fmt: skip
    return buf.getvalue()


def write_results(
    out: Path,
    summaries: list[dict[str, Any]],
    cfg: Any,
    *,
    title: str,
    stores: dict[str, Path],
    seeds: list[int],
    missing: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the tables, the resolved config and the provenance into `out`; returns the paths."""
    from lmp.provenance import provenance

    out.mkdir(parents=True, exist_ok=True)
    paths = {
        name: out / name for name in ("results.md", "results.csv", "results.json", "config.yaml", "provenance.json")
    }
    prov = {**provenance(stores=stores, seeds=seeds), **(extra or {})}
    save_config(cfg, paths["config.yaml"])
    atomic_write_text(paths["provenance.json"], json.dumps(prov, indent=2) + "\n")
    atomic_write_text(paths["results.md"], markdown(summaries, title))
    atomic_write_text(paths["results.csv"], csv_text(summaries))
    payload = {"title": title, "provenance": prov, "results": summaries, "missing_videos": missing}
    atomic_write_text(paths["results.json"], json.dumps(payload, indent=2, default=float) + "\n")
    return paths
