"""A run's report: the test table of every model (Markdown) and a figure of HR@10 / NDCG@10 with their intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot", "table", "write_report"]

COLUMNS = ("hr@10", "ndcg@10", "mrr", "auc", "coverage@10", "popularity@10")


def table(metrics: dict[str, Any]) -> str:
    """One Markdown row per model: the test figures, HR@10 and NDCG@10 with 95 % bootstrap intervals."""
    lines = [
        "| model | HR@10 [95 % CI] | NDCG@10 [95 % CI] | MRR | AUC | coverage@10 | popularity@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in metrics["test"].items():
        hr, nd = m["hr@10_ci"], m["ndcg@10_ci"]
        lines.append(
            f"| {name} | {m['hr@10']:.4f} [{hr['low']:.3f}, {hr['high']:.3f}] | {m['ndcg@10']:.4f} "
            f"[{nd['low']:.3f}, {nd['high']:.3f}] | {m['mrr']:.4f} | {m['auc']:.4f} | {m['coverage@10']:.3f} "
            f"| {m['popularity@10']:.3f} |"
        )
    paired = metrics["fused_vs_best_collaborative"]
    for key in ("hr@10", "ndcg@10"):
        d = paired[key]
        lines.append("")
        lines.append(
            f"fused - {paired['against']} ({key}): {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}], "
            f"share of resamples <= 0: {d['p_not_better']:.4f}"
        )
    return "\n".join(lines) + "\n"


def plot(metrics: dict[str, Any], path: Path) -> None:
    """HR@10 and NDCG@10 per model, bars with their bootstrap intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(metrics["test"])
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names)), 4))
    for offset, key in ((-0.2, "hr@10"), (0.2, "ndcg@10")):
        values = np.array([metrics["test"][n][key] for n in names])
        ci = [metrics["test"][n][f"{key}_ci"] for n in names]
        err = np.array([[v - c["low"] for v, c in zip(values, ci)], [c["high"] - v for v, c in zip(values, ci)]])
        ax.bar(x + offset, values, width=0.4, yerr=err, capsize=3, label=key.upper())
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("test, 99 sampled negatives")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(folder: Path, metrics: dict[str, Any]) -> list[Path]:
    report = folder / "report"
    report.mkdir(parents=True, exist_ok=True)
    (report / "table.md").write_text(table(metrics), encoding="utf-8")
    plot(metrics, report / "comparison.png")
    return [report / "table.md", report / "comparison.png"]
