"""Out-of-scope scores, temperature scaling, calibration error and the figures of the held-out-intents evaluation.

Every score is "higher = more in scope": ``msp`` (max softmax at temperature 1, the baseline), ``msp-t`` (max
softmax after temperature scaling), ``energy`` (``T * logsumexp(logits / T)``) and ``knn`` (cosine similarity to
the nearest training utterance in the fine-tuned encoder's space: Sun et al. 2022, the encoder's mean-pooled last
layer, L2-normalised). Temperature scaling and ECE are the core's (:mod:`tlsuite_core.training.calibration`);
the kNN search goes through :mod:`tlsuite_core.retrieval`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tlsuite_core.training.calibration import (
    apply_temperature,
    expected_calibration_error,
    reliability_table,
)
from tlsuite_core.training.calibration import fit_temperature as fit_scaled

METHODS = ("msp", "msp-t", "energy", "knn")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities of ``logits`` at ``temperature`` (the core's temperature scaling)."""
    return apply_temperature(logits, temperature, logits=True)


def logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


def fit_temperature(logits: np.ndarray, labels: Sequence[int]) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (Guo et al. 2017, the core's fit)."""
    return fit_scaled(logits, labels, logits=True)


def reliability(probs: np.ndarray, labels: Sequence[int], bins: int = 15) -> dict[str, Any]:
    """Expected calibration error (equal-width confidence bins) and the non-empty bins of a reliability diagram."""
    table = reliability_table(probs, labels, bins=bins)
    return {
        "ece": expected_calibration_error(probs, labels, bins=bins),
        "bins": [row for row in table if row["count"]],
    }


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
