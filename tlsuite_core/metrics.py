"""Metrics shared by apps (classification metrics come from scikit-learn), and the :class:`Metric` a plugin registers.

A registered metric is looked up by name from a task's ``metrics`` option (generation apps: ``translation``,
``summarization``, ``exact_match``) and called as ``fn(references, predictions, options)``: the references of each
item (a list of strings: several references are allowed), one prediction string per item, and the task's options.
Label tasks call their metric functions (:func:`classification_metrics`, the ner plugin's entity metrics) directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = ["Metric", "MetricFn", "classification_metrics", "exact_match_metrics", "matched_predictions"]


#: the signature of a registered metric function: (references per item, prediction per item, task options) -> scores
MetricFn = Callable[[Sequence[Sequence[str]], Sequence[str], Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Metric:
    """A named metric for generated text: ``fn(references, predictions, options) -> dict`` of JSON-serialisable
    values.

    Args:
        name: the name a task's ``metrics`` option selects.
        fn: see :data:`MetricFn`.
        description: one line for listings.
        keys: the scalar keys ``fn`` returns that ``--metric`` may name (bleu, chrf, rougeL...).
        lower_is_better: those of ``keys`` where a lower value is better (TER); model selection, early stopping,
            search and the compare report turn around for them.
    """

    name: str
    fn: MetricFn
    description: str = ""
    keys: tuple[str, ...] = ()
    lower_is_better: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.lower_is_better) - set(self.keys)
        if unknown:
            raise ValueError(f"metric {self.name!r}: lower_is_better names keys it does not return: {sorted(unknown)}")


def classification_metrics(
    references: Sequence[int], predictions: Sequence[int], label_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1/support and the confusion matrix.

    Stable keys: ``accuracy``, ``macro_f1``, ``weighted_f1``, ``macro_precision``, ``macro_recall``, ``n``,
    ``per_class`` (label -> precision/recall/f1/support), ``confusion_matrix`` (rows: true label, columns: predicted,
    in ``labels`` order).
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    y_true = np.asarray(references)
    y_pred = np.asarray(predictions)
    ids = list(range(len(label_names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    present = s > 0  # macro averages over classes present in the references
    out: dict[str, Any] = {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f[present].mean()) if present.any() else 0.0,
        "macro_precision": float(p[present].mean()) if present.any() else 0.0,
        "macro_recall": float(r[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f * s).sum() / max(s.sum(), 1)),
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, name in enumerate(label_names)
        },
        "confusion_matrix": {
            "labels": list(label_names),
            "matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        },
    }
    return out


def flatten_for_trainer(metrics: dict[str, Any]) -> dict[str, float]:
    """Scalars only (Trainer logs and early stopping): top-level numbers plus ``f1_<label>``."""
    flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "n"}
    for label, values in metrics.get("per_class", {}).items():
        flat[f"f1_{label}"] = values["f1"]
    return flat


def matched_predictions(references: Sequence[Any], predictions: Sequence[Any]) -> list[str]:
    """The predictions as strings (anything else counts as empty), checked to pair one to one with the references;
    :class:`~tlsuite_core.errors.DataError` when they do not or when there are none. For metric functions."""
    from .errors import DataError

    texts = [p if isinstance(p, str) else "" for p in predictions]
    if len(texts) != len(references):
        raise DataError(f"{len(texts)} predictions but {len(references)} reference lists: they must match one to one")
    if not texts:
        raise DataError("no predictions to score")
    return texts


def exact_match_metrics(
    references: Sequence[Sequence[str]], predictions: Sequence[str], options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Generation: share of outputs equal to one of their references (whitespace- and case-normalised), and the
    mean best token-overlap F1 (SQuAD-style), both 0-100."""

    def norm(text: str) -> list[str]:
        return text.lower().split()

    exact, f1s = 0, []
    for refs, pred in zip(references, predictions):
        p = norm(pred)
        exact += any(norm(r) == p for r in refs)
        best = 0.0
        for r in refs:
            t = norm(r)
            common = sum(min(p.count(w), t.count(w)) for w in set(p))
            if common:
                precision, recall = common / len(p), common / len(t)
                best = max(best, 2 * precision * recall / (precision + recall))
        f1s.append(best)
    n = max(1, len(predictions))
    return {"exact_match": 100.0 * exact / n, "token_f1": 100.0 * sum(f1s) / n}


EXACT_MATCH = Metric(
    "exact_match",
    exact_match_metrics,
    "generation: exact match and token F1 against the references",
    keys=("exact_match", "token_f1"),
)

#: the metrics the core registers itself (what a task without a registry knows)
BUILTIN_METRICS = (EXACT_MATCH,)
