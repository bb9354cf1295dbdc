"""Report figures (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_matrix_png(path: Path, confusion: dict[str, Any]) -> None:
    import numpy as np

    plt = _pyplot()
    labels: Sequence[str] = confusion["labels"]
    matrix = np.asarray(confusion["matrix"])
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = matrix.max() if matrix.size else 0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(
                j, i, str(matrix[i, j]), ha="center", va="center", color="white" if matrix[i, j] > peak / 2 else "black"
            )
    ax.set_title("Confusion matrix (dev)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def learning_curve_png(path: Path, history: list[dict[str, Any]], metric: str) -> bool:
    """Training loss and the dev metric against optimiser steps. Returns False when there is nothing to plot."""
    train = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    dev = [(h["step"], h[f"eval_{metric}"]) for h in history if f"eval_{metric}" in h]
    dev_loss = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if not train and not dev:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), label="train loss", color="tab:blue")
    if dev_loss:
        ax.plot(*zip(*dev_loss), label="dev loss", color="tab:orange", marker="o")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss")
    if dev:
        ax2 = ax.twinx()
        ax2.plot(*zip(*dev), label=f"dev {metric}", color="tab:green", marker="s")
        ax2.set_ylabel(f"dev {metric}")
        ax2.legend(loc="center right")
    ax.legend(loc="upper right")
    ax.set_title("Learning curve")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
