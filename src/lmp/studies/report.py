"""Writing a study's results: Markdown + CSV tables, a JSON record with provenance, and a plot."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from lmp.atomic import save_figure
from lmp.config import atomic_write_text, save_config
from lmp.tasks.report import format_mean_std


def cell(stats: dict[str, float]) -> str:
    """A study table cell: raw scale, 3 decimals ('0.737 ± 0.012'), as in docs/studies.md."""
    return format_mean_std(stats, digits=3)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


def pooled_std(a: dict[str, float], b: dict[str, float]) -> float:
    """Pooled seed std of two results ({"mean", "std"}), the noise scale of their difference."""
    return float((0.5 * (a["std"] ** 2 + b["std"] ** 2)) ** 0.5)


def verdict(comparisons: list[tuple[dict[str, float], dict[str, float]]], seeds: int) -> str:
    """(ours, baseline) result pairs -> HOLDS when ours wins every pair by more than 2 pooled std,
    FAILS when some baseline wins by more than that, INCONCLUSIVE otherwise or with fewer than 2 seeds
    (a single seed has no spread to judge by)."""
    if seeds < 2 or not comparisons:
        return INCONCLUSIVE
    margins = [(a["mean"] - b["mean"], 2 * pooled_std(a, b)) for a, b in comparisons]
    if all(m > bar for m, bar in margins):
        return HOLDS
    if any(m < -bar for m, bar in margins):
        return FAILS
    return INCONCLUSIVE


def not_below(comparisons: list[tuple[dict[str, float], dict[str, float]]], seeds: int) -> str:
    """(ours, baseline) result pairs -> the verdict of a claim that ours is at least the baseline:
    FAILS when some baseline is ahead by more than 2 pooled std, HOLDS when ours is level or ahead in
    every pair's mean, INCONCLUSIVE otherwise (behind somewhere, within the noise) or with fewer than 2
    seeds."""
    if seeds < 2 or not comparisons:
        return INCONCLUSIVE
    margins = [(a["mean"] - b["mean"], 2 * pooled_std(a, b)) for a, b in comparisons]
    if any(m < -bar for m, bar in margins):
        return FAILS
    return HOLDS if all(m >= 0 for m, _ in margins) else INCONCLUSIVE


def claim_line(number: int, text: str, result: str, evidence: str, seeds: int) -> str:
    why = " (n too small: one probe seed)" if seeds < 2 else ""
    return f"**Claim {number} ({text}): {result.upper()}{why}.** {evidence}\n"


def write_study(
    out: Path,
    name: str,
    title: str,
    sections: list[str],
    records: list[dict[str, Any]],
    claims: list[dict[str, Any]],
    cfg: Any,
    corpus,
) -> None:
    """OUT/<name>/results.md, results.csv (one row per arm x setting x task), results.json, configs."""
    from lmp.provenance import provenance

    out.mkdir(parents=True, exist_ok=True)
    prov = provenance({"movieworld": corpus.store.root}, list(cfg.seeds))
    save_config(cfg, out / "study_config.yaml")
    atomic_write_text(out / "pretrain_configs.json", json.dumps(corpus.pretrain_configs, indent=2))
    md = [f"# {title}\n", *sections, "\n## Reproducibility\n",
          f"git `{prov['git_sha']}`, store manifest sha256 `{prov['stores']['movieworld']['manifest_sha256'][:16]}…`, "
          f"probe seeds {list(cfg.seeds)}, pretraining seed {cfg.seed} "
          f"(data and span studies: {list(cfg.pretrain_seeds)}); "
          "resolved configs in `study_config.yaml` "
          "and `pretrain_configs.json`.\n"]  # fmt: skip
    atomic_write_text(out / "results.md", "\n".join(md))
    buf = io.StringIO()
    fields = ["study", "curve", "setting", "arm", "task", "metric", "mean", "std", "values"]
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for r in records:
        writer.writerow(
            {**{k: r.get(k, "") for k in fields}, "study": name, "values": " ".join(f"{v:.4f}" for v in r["values"])}
        )
    atomic_write_text(out / "results.csv", buf.getvalue())
    atomic_write_text(
        out / "results.json", json.dumps({"records": records, "claims": claims, "provenance": prov}, indent=2)
    )


def line_plot(path: Path, panels: list[dict[str, Any]], title: str) -> None:
    """panels: [{"title", "xlabel", "ylabel", "logx", "series": {label: (xs, means, stds)}}]; a panel's
    optional "zero_line" draws y = 0 (for differences)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for label, (xs, means, stds) in panel["series"].items():
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=label)
        if panel.get("logx"):
            ax.set_xscale("log", base=panel.get("base", 10))
            xs = sorted({x for xs_, _, _ in panel["series"].values() for x in xs_})
            ax.set_xticks(xs, [f"{x:g}" for x in xs])
            ax.minorticks_off()
        if panel.get("zero_line"):
            ax.axhline(0.0, color="0.4", linewidth=0.8)
        ax.set_title(panel["title"], fontsize=10)
        ax.set_xlabel(panel["xlabel"])
        ax.set_ylabel(panel["ylabel"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def bar_plot(
    path: Path, groups: list[str], series: dict[str, tuple[list[float], list[float]]], title: str, ylabel: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(groups))
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(groups) + 2), 3.8))
    for i, (label, (means, stds)) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, means, width, yerr=stds, capsize=2, label=label)
    ax.set_xticks(x, groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, frameon=False, ncols=min(4, len(series)))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
