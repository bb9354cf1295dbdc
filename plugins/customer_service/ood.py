"""Out-of-scope scores, temperature scaling, calibration error and the figures of the held-out-intents evaluation.

Every score is "higher = more in scope": ``msp`` (max softmax at temperature 1, the baseline), ``msp-t`` (max
softmax after temperature scaling), ``energy`` (``T * logsumexp(logits / T)``) and ``knn`` (cosine similarity to
the nearest training utterance in the fine-tuned encoder's space: Sun et al. 2022, the encoder's mean-pooled last
layer, L2-normalised). Pure numpy; the kNN search goes through :mod:`tlsuite_core.retrieval`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

METHODS = ("msp", "msp-t", "energy", "knn")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = np.asarray(logits, dtype=np.float64) / temperature
    return float(np.mean(logsumexp(z) - z[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: Sequence[int]) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (a log-spaced grid, then a finer one
    around its best point: one scalar, so a grid is exact enough and needs no optimiser)."""
    labels = np.asarray(labels)
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    best = grid[int(np.argmin([nll(logits, labels, t) for t in grid]))]
    fine = np.linspace(best * 0.9, best * 1.1, 41)
    return float(fine[int(np.argmin([nll(logits, labels, t) for t in fine]))])


def reliability(probs: np.ndarray, labels: Sequence[int], bins: int = 15) -> dict[str, Any]:
    """Expected calibration error (equal-width confidence bins) and the per-bin figures of a reliability diagram."""
    labels = np.asarray(labels)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (confidence > lo) & (confidence <= hi)
        if not mask.any():
            continue
        acc, conf = float(correct[mask].mean()), float(confidence[mask].mean())
        ece += mask.mean() * abs(acc - conf)
        rows.append(
            {"low": float(lo), "high": float(hi), "count": int(mask.sum()), "accuracy": acc, "confidence": conf}
        )
    return {"ece": float(ece), "bins": rows}


def score(method: str, logits: np.ndarray, temperature: float = 1.0, knn_similarity: np.ndarray | None = None):
    """The in-scope score of each row under ``method`` (higher: more in scope)."""
    if method == "msp":
        return softmax(logits).max(axis=1)
    if method == "msp-t":
        return softmax(logits, temperature).max(axis=1)
    if method == "energy":
        return temperature * logsumexp(np.asarray(logits, dtype=np.float64) / temperature)
    if method == "knn":
        if knn_similarity is None:
            raise ValueError("the knn score needs the similarities to the training utterances")
        return np.asarray(knn_similarity, dtype=np.float64)
    raise ValueError(f"unknown out-of-scope method {method!r} (known: {', '.join(METHODS)})")


def threshold_for_recall(in_scores: np.ndarray, recall: float = 0.95) -> float:
    """The score above which ``recall`` of the in-scope utterances lie (those below are rejected)."""
    return float(np.quantile(np.asarray(in_scores, dtype=np.float64), 1.0 - recall, method="lower"))


def detection_figures(in_scores: np.ndarray, out_scores: np.ndarray, recall: float = 0.95) -> dict[str, float]:
    """AUROC (out-of-scope as the positive class, score negated) and the false-positive rate at ``recall`` in-scope
    recall: the share of out-of-scope utterances accepted by the threshold that keeps ``recall`` of in-scope ones."""
    from sklearn.metrics import roc_auc_score

    in_scores, out_scores = np.asarray(in_scores, float), np.asarray(out_scores, float)
    y = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    auroc = float(roc_auc_score(y, -np.r_[in_scores, out_scores]))
    threshold = threshold_for_recall(in_scores, recall)
    return {
        "auroc": auroc,
        f"fpr@{round(recall * 100)}": float(np.mean(out_scores >= threshold)),
        "threshold": threshold,
    }
