"""Calibration of class probabilities: temperature scaling, expected calibration error, reliability diagrams.

A classifier's probabilities feed decisions (the monitor's negative-share alerts, an out-of-scope threshold), so
how well confidence matches accuracy is reported next to accuracy:

* :func:`fit_temperature`: the one temperature ``T`` that minimises the negative log-likelihood of held-out labels
  (Guo et al. 2017); ``T > 1`` softens over-confident probabilities. It never changes the predicted class.
* :func:`apply_temperature`: probabilities (or logits) rescaled by ``T``.
* :func:`expected_calibration_error`: the gap between confidence and accuracy, averaged over equal-width
  confidence bins weighted by their size (ECE, 15 bins by default).
* :func:`reliability_table` and :func:`reliability_diagram_png`: the per-bin figures and their chart.

Inputs are NumPy arrays: ``probs`` of shape (n, classes) whose rows sum to 1 (or ``logits=True`` for raw scores),
``labels`` the n reference class ids. Everything here is plain NumPy (SciPy for the 1-D fit); nothing imports
torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = [
    "Calibration",
    "apply_temperature",
    "calibrate",
    "expected_calibration_error",
    "fit_temperature",
    "negative_log_likelihood",
    "reliability_diagram_png",
    "reliability_table",
]

_EPS = 1e-12


def _matrix(scores: Any) -> np.ndarray:
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"expected a non-empty (examples, classes) array, got shape {array.shape}")
    return array


def _log_probs(scores: Any, *, logits: bool) -> np.ndarray:
    """Log-probabilities up to a per-row constant (which temperature scaling and softmax ignore)."""
    array = _matrix(scores)
    return array if logits else np.log(np.clip(array, _EPS, 1.0))


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _labels(labels: Sequence[int], n: int) -> np.ndarray:
    ids = np.asarray(labels, dtype=np.int64)
    if ids.shape != (n,):
        raise ValueError(f"expected {n} labels, got shape {ids.shape}")
    return ids


def apply_temperature(scores: Any, temperature: float, *, logits: bool = False) -> np.ndarray:
    """Probabilities after dividing the log-probabilities (or logits) by ``temperature``."""
    if temperature <= 0:
        raise ValueError(f"the temperature must be positive, got {temperature}")
    return _softmax(_log_probs(scores, logits=logits) / temperature)


def negative_log_likelihood(probs: Any, labels: Sequence[int]) -> float:
    """Mean negative log-likelihood of the reference labels under ``probs``."""
    p = _matrix(probs)
    ids = _labels(labels, p.shape[0])
    return float(-np.mean(np.log(np.clip(p[np.arange(len(ids)), ids], _EPS, 1.0))))


def fit_temperature(scores: Any, labels: Sequence[int], *, logits: bool = False) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (searched over 0.05 to 20)."""
    from scipy.optimize import minimize_scalar

    log_p = _log_probs(scores, logits=logits)
    ids = _labels(labels, log_p.shape[0])

    def nll(log_t: float) -> float:
        scaled = log_p / np.exp(log_t)
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scaled).sum(axis=1))
        return float(np.mean(log_norm - scaled[np.arange(len(ids)), ids]))

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


def reliability_table(probs: Any, labels: Sequence[int], *, bins: int = 15) -> list[dict[str, float]]:
    """Per equal-width confidence bin: its bounds, example count, mean confidence and accuracy (empty bins
    included with count 0)."""
    p = _matrix(probs)
    ids = _labels(labels, p.shape[0])
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == ids).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin i holds confidences in (edges[i], edges[i + 1]]; a confidence of exactly 0 goes to the first bin
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    rows = []
    for i in range(bins):
        mask = which == i
        count = int(mask.sum())
        rows.append(
            {
                "low": float(edges[i]),
                "high": float(edges[i + 1]),
                "count": count,
                "confidence": float(confidence[mask].mean()) if count else 0.0,
                "accuracy": float(correct[mask].mean()) if count else 0.0,
            }
        )
    return rows


def expected_calibration_error(probs: Any, labels: Sequence[int], *, bins: int = 15) -> float:
    """ECE: sum over bins of (bin share) x |accuracy - confidence| (0: perfectly calibrated)."""
    table = reliability_table(probs, labels, bins=bins)
    n = sum(row["count"] for row in table)
    return float(sum(row["count"] / n * abs(row["accuracy"] - row["confidence"]) for row in table))


class Calibration(dict):
    """What :func:`calibrate` measured (a dict, JSON-ready): ``temperature``, ``ece`` / ``nll`` before and after
    scaling, ``bins``, ``reliability`` (the table before scaling) and ``reliability_scaled``."""


def calibrate(
    fit_probs: Any, fit_labels: Sequence[int], *, bins: int = 15, logits: bool = False, temperature: float | None = None
) -> Calibration:
    """Fit a temperature on (``fit_probs``, ``fit_labels``) — or use ``temperature`` — and report ECE and NLL
    on the same examples before and after scaling, with both reliability tables."""
    before = apply_temperature(fit_probs, 1.0, logits=logits)
    t = fit_temperature(fit_probs, fit_labels, logits=logits) if temperature is None else float(temperature)
    after = apply_temperature(fit_probs, t, logits=logits)
    return Calibration(
        temperature=t,
        bins=bins,
        ece=expected_calibration_error(before, fit_labels, bins=bins),
        ece_scaled=expected_calibration_error(after, fit_labels, bins=bins),
        nll=negative_log_likelihood(before, fit_labels),
        nll_scaled=negative_log_likelihood(after, fit_labels),
        reliability=reliability_table(before, fit_labels, bins=bins),
        reliability_scaled=reliability_table(after, fit_labels, bins=bins),
    )


def reliability_diagram_png(path: Path, calibration: dict[str, Any], *, title: str = "reliability") -> Path:
    """A reliability diagram (accuracy per confidence bin against the diagonal), before and after temperature
    scaling when both tables are present. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    series = [("reliability", "before", "tab:red")]
    if "reliability_scaled" in calibration:
        series.append(("reliability_scaled", f"T = {calibration.get('temperature', 1.0):.2f}", "tab:blue"))
    for key, label, colour in series:
        rows = [r for r in calibration[key] if r["count"]]
        ece = calibration.get("ece" if key == "reliability" else "ece_scaled")
        suffix = f" (ECE {ece:.3f})" if ece is not None else ""
        ax.plot(
            [r["confidence"] for r in rows],
            [r["accuracy"] for r in rows],
            marker="o",
            color=colour,
            label=label + suffix,
        )
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
