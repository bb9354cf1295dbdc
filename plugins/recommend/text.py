"""Text models of interest: the two-tower bi-encoder (user history text, item text) over the core's embedding
retrieval, and the training lists and re-ranking of the cross-encoder (the core's ranking task).

A user's history text is their ``history_cap`` most recent items, newest first, each as its catalogue text.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .data import Catalogue

__all__ = ["TwoTower", "history_text", "next_item_pairs", "rerank", "write_lists"]


def history_text(catalogue: Catalogue, items: Sequence[int], cap: int) -> str:
    """The ``cap`` most recent of ``items`` (oldest first in ``items``), newest first, joined with `` | ``."""
    recent = list(items)[-cap:][::-1]
    return " | ".join(catalogue.text(int(i)) for i in recent if int(i) < len(catalogue))


class TwoTower:
    """Users and items embedded by one sentence encoder (``tlsuite_core.retrieval.Encoder``); an item index
    (``EmbeddingIndex``) serves retrieval over the whole catalogue; a score is the cosine of the two vectors."""

    def __init__(self, model: str, *, history_cap: int = 10, batch_size: int = 64) -> None:
        self.model = model
        self.history_cap = history_cap
        self.batch_size = batch_size
        self._encoder: Any = None
        self.index: Any = None

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from tlsuite_core.retrieval import Encoder

            self._encoder = Encoder(self.model, device="cpu")
        return self._encoder

    def build(self, catalogue: Catalogue) -> TwoTower:
        from tlsuite_core.retrieval import EmbeddingIndex

        vectors = self.encoder.encode(catalogue.texts(), batch_size=self.batch_size)
        self.index = EmbeddingIndex.build(list(catalogue.ids), vectors, backend="numpy")
        return self

    def extend(self, catalogue: Catalogue) -> None:
        """Embed catalogue items the index lacks (cold-start items: text, no interactions)."""
        missing = catalogue.ids[len(self.index.ids) :]
        if missing:
            from tlsuite_core.retrieval import EmbeddingIndex

            new = self.encoder.encode([catalogue.text(catalogue.index[i]) for i in missing], self.batch_size)
            self.index = EmbeddingIndex.build(
                self.index.ids + missing, np.concatenate([self.index.vectors, new]), backend="numpy"
            )

    def users(self, catalogue: Catalogue, histories: Sequence[Sequence[int]]) -> np.ndarray:
        texts = [history_text(catalogue, h, self.history_cap) for h in histories]
        return self.encoder.encode(texts, batch_size=self.batch_size)

    def score(self, user_vectors: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        return np.einsum("ud,ucd->uc", user_vectors, self.index.vectors[candidates])

    def save(self, folder: Path) -> None:
        self.index.save(folder)

    @classmethod
    def load(cls, folder: Path, model: str, history_cap: int) -> TwoTower:
        from tlsuite_core.retrieval import EmbeddingIndex

        tower = cls(model, history_cap=history_cap)
        tower.index = EmbeddingIndex.load(folder)
        return tower


def write_lists(
    path: Path,
    catalogue: Catalogue,
    histories: Sequence[np.ndarray],
    seen: Sequence[set[int]],
    *,
    positives: int,
    list_size: int,
    history_cap: int,
    seed: int,
    targets: Sequence[int] | None = None,
    hard: Sequence[Sequence[int]] | None = None,
    hard_negatives: int = 0,
) -> int:
    """Write cross-encoder training lists as a ranking file (query, candidate, label, group): per user, each of
    the last ``positives`` history items (or the one ``targets`` item) with the items before it as the query and
    ``list_size - 1`` items the user never saw as the others: up to ``hard_negatives`` of them drawn from the
    user's ``hard`` items (what a first-stage model ranks high: the candidates the cross-encoder will re-rank), the
    rest uniformly from the catalogue. Returns the number of lists."""
    rng = np.random.default_rng(seed)
    n_items, lists = len(catalogue), 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["query", "candidate", "label", "group"])
        for u, hist in enumerate(histories):
            steps = [len(hist)] if targets is not None else range(max(len(hist) - positives, 1), len(hist))
            for t in steps:
                target = targets[u] if targets is not None else hist[t]
                if target < 0 or t == 0:
                    continue
                query = history_text(catalogue, hist[:t], history_cap)
                pool = [int(j) for j in (hard[u] if hard is not None else ()) if int(j) not in seen[u]]
                negatives = [pool[i] for i in rng.permutation(len(pool))[: min(hard_negatives, list_size - 1)]]
                while len(negatives) < list_size - 1:
                    j = int(rng.integers(n_items))
                    if j not in seen[u] and j not in negatives:
                        negatives.append(j)
                group = f"{u}:{t}"
                out.writerow([query, catalogue.text(int(target)), 1, group])
                out.writerows([query, catalogue.text(j), 0, group] for j in negatives)
                lists += 1
    return lists


def rerank(
    app: Any,
    catalogue: Catalogue,
    histories: Sequence[Sequence[int]],
    candidates: np.ndarray,
    first_stage: np.ndarray,
    *,
    depth: int,
    history_cap: int,
    batch_size: int = 64,
) -> np.ndarray:
    """Cross-encoder scores of each user's ``depth`` best candidates by ``first_stage`` scores (ties by item id);
    the other candidates get NaN (a missing feature to the fusion ranker)."""
    out = np.full(candidates.shape, np.nan, dtype=np.float32)
    order = np.lexsort((candidates, -first_stage), axis=1)[:, :depth]
    pairs, where = [], []
    for u, cols in enumerate(order):
        query = history_text(catalogue, histories[u], history_cap)
        for c in cols:
            pairs.append((query, catalogue.text(int(candidates[u, c]))))
            where.append((u, c))
    if pairs:
        scores = app.predict(pairs, batch_size=batch_size)
        rows, cols = zip(*where)
        out[list(rows), list(cols)] = scores
    return out


def next_item_pairs(
    catalogue: Catalogue, histories: Sequence[np.ndarray], *, positives: int, history_cap: int
) -> tuple[list[str], list[str]]:
    """(history text, next item text) for each of the last ``positives`` items of every history."""
    queries, items = [], []
    for hist in histories:
        for t in range(max(len(hist) - positives, 1), len(hist)):
            queries.append(history_text(catalogue, hist[:t], history_cap))
            items.append(catalogue.text(int(hist[t])))
    return queries, items
