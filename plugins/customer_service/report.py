"""``tlsuite customer-service report``: one Markdown file with plots (reliability diagram, the most-confused
intents, retrieval curves) and the reply figures (chrF, escalation rate) from a run and the JSON results given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tlsuite_core.files import write_atomically


def _figure(size: tuple[float, float]) -> tuple[Any, Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    return plt, fig, ax


def _save(plt: Any, fig: Any, ax: Any, titles: tuple[str, str, str], path: Path) -> Path:
    ax.set_xlabel(titles[0])
    ax.set_ylabel(titles[1])
    ax.set_title(titles[2])
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plot_reliability(ood_settings: dict[str, Any], path: Path) -> Path | None:
    bins = ood_settings.get("reliability_after")
    if not bins:
        return None
    plt, fig, ax = _figure((4, 4))
    for key, name in (("reliability_before", "T=1"), ("reliability_after", f"T={ood_settings['temperature']:.2f}")):
        rows = ood_settings.get(key) or []
        ax.plot([r["confidence"] for r in rows], [r["accuracy"] for r in rows], marker="o", label=name)
    ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    return _save(plt, fig, ax, ("confidence", "accuracy", "reliability (dev)"), path)


def _plot_retrieval(result: dict[str, Any], path: Path) -> Path | None:
    systems = result.get("retrieval", {}).get("test") or result.get("retrieval", {}).get("dev")
    if not systems:
        return None
    plt, fig, ax = _figure((5, 3.5))
    for name, figures in systems.items():
        ks = sorted(int(k.split("@")[1]) for k in figures if k.startswith("recall@"))
        ax.plot(ks, [figures[f"recall@{k}"] for k in ks], marker="o", label=name)
    return _save(plt, fig, ax, ("k", "recall@k", "answer retrieval"), path)


def _confused(metrics: dict[str, Any], top: int = 10) -> list[tuple[str, str, int]]:
    cm = metrics.get("confusion_matrix")
    if not cm:
        return []
    labels, matrix = cm["labels"], cm["matrix"]
    pairs = [(labels[i], labels[j], n) for i, row in enumerate(matrix) for j, n in enumerate(row) if i != j and n]
    return sorted(pairs, key=lambda p: -p[2])[:top]


def _replies(result: dict[str, Any]) -> list[str]:
    """The reply figures of an ``evaluate`` result (outcomes, escalation rate, chrF) as Markdown lines."""
    replies = result.get("replies")
    if not replies:
        return []
    outcomes = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in replies["outcomes"].items())
    lines = [
        f"Replies to {replies['n']} messages (one per session): {outcomes}; escalation rate "
        f"{replies['escalation_rate']:.4f}.",
        "",
        "| replies | messages | chrF |",
        "|---|---|---|",
        f"| template (retrieved answer, slots filled) | {replies['template']['n']} | {replies['template']['chrf']:.2f} |",
    ]
    generated = replies.get("generated")
    if generated:
        lines += [
            f"| template, the first {generated['n']} of them | {generated['n']} | "
            f"{generated['template_chrf_same_messages']:.2f} |",
            f"| generated (generator/) | {generated['n']} | {generated['chrf']:.2f} |",
        ]
    return [*lines, ""]


def write_report(run: str, output: Path, results: list[Path]) -> Path:
    run_dir = Path(run)
    lines = [f"# customer-service report: {run_dir}", ""]
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    ood_file = run_dir / "ood.json"
    ood_settings = json.loads(ood_file.read_text()) if ood_file.is_file() else {}
    if "ece_before" in ood_settings:  # calibrated (a hand-written ood.json may carry the threshold only)
        lines += [
            "## Out-of-scope detection and calibration",
            "",
            f"method {ood_settings['method']}, threshold {ood_settings['threshold']:.4f}, temperature "
            f"{ood_settings['temperature']:.3f}, ECE {ood_settings['ece_before']:.4f} -> {ood_settings['ece_after']:.4f}",
            "",
        ]
        figure = _plot_reliability(ood_settings, output.with_name(output.stem + "-reliability.png"))
        if figure:
            lines += [f"![reliability]({figure.name})", ""]
    for path in results:
        result = json.loads(path.read_text())
        lines += [f"## {path.name}", "", *_replies(result)]
        lines += ["```json", json.dumps(result, indent=2)[:4000], "```", ""]
        confused = _confused(result)
        if confused:
            lines += ["Most-confused intents (true -> predicted: count):", ""]
            lines += [f"- {a} -> {b}: {n}" for a, b, n in confused] + [""]
        figure = _plot_retrieval(result, output.with_name(output.stem + f"-{path.stem}-retrieval.png"))
        if figure:
            lines += [f"![retrieval]({figure.name})", ""]
    if metrics:
        lines += ["## Training run metrics", "", "```json", json.dumps(metrics, indent=2)[:3000], "```", ""]
    return write_atomically(output, "\n".join(lines))
