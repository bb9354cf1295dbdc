"""Ranking metrics of held-out items among sampled candidates, top-k list statistics, paired bootstrap."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["bootstrap", "candidate_ranks", "list_metrics", "per_user", "top_k"]


def candidate_ranks(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The 0-based rank of each row's first candidate (the held-out item) among the row's candidates: how many
    score higher, plus how many tie with a smaller item id (ties broken by item id)."""
    pos, pos_item = scores[:, :1], candidates[:, :1]
    higher = (scores[:, 1:] > pos) | ((scores[:, 1:] == pos) & (candidates[:, 1:] < pos_item))
    return higher.sum(axis=1)


def per_user(ranks: np.ndarray, n_candidates: int, k: int = 10) -> dict[str, np.ndarray]:
    """Per-user HR@k, NDCG@k, reciprocal rank and AUC (the share of negatives ranked below the held-out item)."""
    hit = (ranks < k).astype(np.float64)
    return {
        f"hr@{k}": hit,
        f"ndcg@{k}": hit / np.log2(ranks + 2.0),
        "mrr": 1.0 / (ranks + 1.0),
        "auc": 1.0 - ranks / max(n_candidates - 1, 1),
    }


def top_k(scores: np.ndarray, candidates: np.ndarray, k: int = 10) -> np.ndarray:
    """Each row's k best candidates (score descending, ties by item id)."""
    order = np.lexsort((candidates, -scores), axis=1)[:, :k]
    return np.take_along_axis(candidates, order, axis=1)


def list_metrics(scores: np.ndarray, candidates: np.ndarray, popularity: np.ndarray, k: int = 10) -> dict[str, Any]:
    """HR@k, NDCG@k, MRR, AUC (means over users), catalogue coverage of the top-k lists (distinct items / catalogue)
    and their popularity bias (mean training popularity percentile of recommended items; 0.5 is neutral)."""
    ranks = candidate_ranks(scores, candidates)
    values = {name: float(v.mean()) for name, v in per_user(ranks, candidates.shape[1], k).items()}
    tops = top_k(scores, candidates, k)
    percentile = np.argsort(np.argsort(popularity, kind="stable"), kind="stable") / max(len(popularity) - 1, 1)
    values[f"coverage@{k}"] = float(len(np.unique(tops)) / len(popularity))
    values[f"popularity@{k}"] = float(percentile[tops].mean())
    values["users"] = int(len(ranks))
    return values


def bootstrap(a: np.ndarray, b: np.ndarray | None = None, *, samples: int = 2000, seed: int = 13) -> dict[str, float]:
    """Mean of per-user values ``a`` with a 95 % percentile bootstrap interval over users; with ``b`` (the same
    users under another model), the paired difference ``a - b``, its interval and the share of resamples where
    it is <= 0 (a one-sided p-value)."""
    rng = np.random.default_rng(seed)
    values = a if b is None else a - b
    idx = rng.integers(0, len(values), size=(samples, len(values)))
    means = values[idx].mean(axis=1)
    out = {
        "mean": float(values.mean()),
        "low": float(np.percentile(means, 2.5)),
        "high": float(np.percentile(means, 97.5)),
    }
    if b is not None:
        out["p_not_better"] = float((means <= 0).mean())
    return out
