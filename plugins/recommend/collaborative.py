"""Collaborative baselines on a binary user x item matrix: popularity, item-kNN (cosine), ALS and BPR (``implicit``).

Each model scores candidate items for users given their history rows; a user the model was not fitted on (index
-1) is folded in from its history (ALS: one least-squares step against the item factors; BPR: ridge regression),
so a new user with a few interactions gets scores. Models are stored as safetensors arrays plus a JSON file of
settings: no pickle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

__all__ = ["ALS", "BPR", "MODELS", "ItemKNN", "Popularity", "load_model", "recent_counts"]


def _save(folder: Path, name: str, arrays: dict[str, np.ndarray], settings: dict[str, Any]) -> None:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / f"{name}.safetensors"))
    (folder / f"{name}.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")


class Popularity:
    """Items by their number of training interactions."""

    name: ClassVar[str] = "popularity"

    def __init__(self) -> None:
        self.counts = np.zeros(0, dtype=np.float32)

    def settings(self) -> dict[str, Any]:
        return {}

    def fit(self, matrix: Any) -> Popularity:
        self.counts = np.asarray(matrix.sum(axis=0)).ravel().astype(np.float32)
        return self

    def score(self, users: np.ndarray, candidates: np.ndarray, history: Any) -> np.ndarray:
        return self._known(candidates, self.counts)

    @staticmethod
    def _known(candidates: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``values`` of the candidates; items added after fitting (cold start) get 0."""
        padded = np.concatenate([values, np.zeros(max(int(candidates.max()) + 1 - len(values), 0), np.float32)])
        return padded[candidates]

    def arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts}

    def restore(self, arrays: dict[str, np.ndarray], settings: dict[str, Any]) -> None:
        self.counts = arrays["counts"]


class ItemKNN(Popularity):
    """Item-based k nearest neighbours: a candidate's score is the sum of its cosine similarities to the user's
    items, each item keeping its ``k`` most similar items."""

    name: ClassVar[str] = "itemknn"

    def __init__(self, k: int = 50) -> None:
        super().__init__()
        self.k = k
        self.neighbours = np.zeros((0, k), dtype=np.int32)
        self.weights = np.zeros((0, k), dtype=np.float32)

    def settings(self) -> dict[str, Any]:
        return {"k": self.k}

    def fit(self, matrix: Any) -> ItemKNN:
        super().fit(matrix)
        norms = np.sqrt(self.counts) + 1e-9
        sim = (matrix.T @ matrix).toarray().astype(np.float32) / norms[:, None] / norms[None, :]
        np.fill_diagonal(sim, 0.0)
        k = min(self.k, sim.shape[1] - 1)
        self.neighbours = np.argpartition(-sim, k, axis=1)[:, :k].astype(np.int32)
        self.weights = np.take_along_axis(sim, self.neighbours, axis=1)
        return self

    def similarity(self) -> Any:
        import scipy.sparse as sp

        n = len(self.neighbours)
        rows = np.repeat(np.arange(n), self.neighbours.shape[1])
        return sp.csr_matrix((self.weights.ravel(), (rows, self.neighbours.ravel())), shape=(n, n))

    def score(self, users: np.ndarray, candidates: np.ndarray, history: Any) -> np.ndarray:
        n = len(self.neighbours)
        dense = np.asarray((history[:, :n] @ self.similarity()).todense(), dtype=np.float32)
        return np.stack([self._known(c, s) for c, s in zip(candidates, dense)]) if len(dense) else dense

    def contributions(self, history_items: np.ndarray, item: int) -> np.ndarray:
        """The similarity of ``item`` to each history item (what ``explain`` shows)."""
        sim = self.similarity()
        return np.array([sim[h, item] if item < sim.shape[0] else 0.0 for h in history_items], dtype=np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts, "neighbours": self.neighbours, "weights": self.weights}

    def restore(self, arrays: dict[str, np.ndarray], settings: dict[str, Any]) -> None:
        self.counts, self.neighbours, self.weights = arrays["counts"], arrays["neighbours"], arrays["weights"]
        self.k = int(settings["k"])


class ALS(Popularity):
    """Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren & Volinsky 2008), fitted by
    ``implicit``; confidence ``1 + alpha`` on observed items."""

    name: ClassVar[str] = "als"

    def __init__(
        self, factors: int = 64, regularization: float = 0.05, alpha: float = 2.0, iterations: int = 15, seed: int = 13
    ) -> None:
        super().__init__()
        self.factors, self.regularization, self.alpha = factors, regularization, alpha
        self.iterations, self.seed = iterations, seed
        self.user_factors = np.zeros((0, factors), dtype=np.float32)
        self.item_factors = np.zeros((0, factors), dtype=np.float32)

    def settings(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("factors", "regularization", "alpha", "iterations", "seed")}

    def _implicit_arguments(self) -> dict[str, Any]:
        """The settings as ``implicit``'s model arguments (its seed is ``random_state``)."""
        found = self.settings()
        found["random_state"] = found.pop("seed")
        return found

    def _implicit_model(self) -> Any:
        from implicit.als import AlternatingLeastSquares

        return AlternatingLeastSquares(**self._implicit_arguments())

    def fit(self, matrix: Any) -> ALS:
        from threadpoolctl import threadpool_limits

        super().fit(matrix)
        # implicit's own threads do the work; BLAS threads would oversubscribe (implicit checks, and warns, when the
        # model is made, so it is made inside the limit too)
        with threadpool_limits(1, "blas"):
            model = self._implicit_model()
            model.fit(matrix.tocsr(), show_progress=False)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)
        return self

    def fold_in(self, items: np.ndarray) -> np.ndarray:
        """A user vector from a history alone (the ALS user step with the item factors fixed)."""
        y = self.item_factors
        yu = y[items[items < len(y)]]
        a = y.T @ y + self.alpha * yu.T @ yu + self.regularization * np.eye(y.shape[1], dtype=np.float32)
        return np.linalg.solve(a, (1.0 + self.alpha) * yu.sum(axis=0)).astype(np.float32)

    def user_vectors(self, users: np.ndarray, history: Any) -> np.ndarray:
        out = np.zeros((len(users), self.item_factors.shape[1]), dtype=np.float32)
        for row, u in enumerate(users):
            known = 0 <= u < len(self.user_factors)
            out[row] = self.user_factors[u] if known else self.fold_in(history[row].indices)
        return out

    def score(self, users: np.ndarray, candidates: np.ndarray, history: Any) -> np.ndarray:
        vectors = self.user_vectors(users, history)
        padded = np.concatenate(
            [
                self.item_factors,
                np.zeros(
                    (max(int(candidates.max()) + 1 - len(self.item_factors), 0), self.item_factors.shape[1]), np.float32
                ),
            ]
        )
        return np.einsum("uf,ucf->uc", vectors, padded[candidates])

    def arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts, "user_factors": self.user_factors, "item_factors": self.item_factors}

    def restore(self, arrays: dict[str, np.ndarray], settings: dict[str, Any]) -> None:
        self.counts, self.user_factors, self.item_factors = (
            arrays["counts"],
            arrays["user_factors"],
            arrays["item_factors"],
        )
        for key, value in settings.items():
            setattr(self, key, value)


class BPR(ALS):
    """Bayesian personalised ranking (Rendle et al. 2009) by ``implicit``; item factors carry a bias column."""

    name: ClassVar[str] = "bpr"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        learning_rate: float = 0.05,
        iterations: int = 100,
        seed: int = 13,
    ) -> None:
        super().__init__(factors=factors, regularization=regularization, iterations=iterations, seed=seed)
        self.learning_rate = learning_rate

    def settings(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("factors", "regularization", "learning_rate", "iterations", "seed")}

    def _implicit_model(self) -> Any:
        from implicit.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(**self._implicit_arguments())

    def fold_in(self, items: np.ndarray) -> np.ndarray:
        """Ridge regression of a 1 on the user's items against the item factors (the bias column's user weight
        stays 1, as implicit's BPR keeps it)."""
        y = self.item_factors[:, :-1]
        yu = y[items[items < len(y)]]
        a = yu.T @ yu + max(self.regularization, 0.1) * np.eye(y.shape[1], dtype=np.float32)
        x = np.linalg.solve(a, yu.sum(axis=0))
        return np.append(x, 1.0).astype(np.float32)


MODELS: dict[str, type[Popularity]] = {m.name: m for m in (Popularity, ItemKNN, ALS, BPR)}


def save_model(model: Popularity, folder: Path) -> None:
    _save(folder, model.name, model.arrays(), model.settings())


def load_model(name: str, folder: Path) -> Popularity:
    from safetensors.numpy import load_file

    settings = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    model = MODELS[name]()
    model.restore(load_file(str(folder / f"{name}.safetensors")), settings)
    return model


def recent_counts(
    item: np.ndarray, timestamp: np.ndarray, candidates: np.ndarray, at: np.ndarray, window: int
) -> np.ndarray:
    """Per candidate, the interactions (``item``, ``timestamp`` arrays) with it in the ``window`` seconds up to its
    row's time ``at``: how popular an item was lately, when the user came (an item feature of the fusion)."""
    keys = np.sort(item.astype(np.int64) << 40 | timestamp.astype(np.int64))
    base = candidates.astype(np.int64) << 40
    when = np.broadcast_to(np.asarray(at, dtype=np.int64)[:, None], candidates.shape)
    high = np.searchsorted(keys, base | when, side="right")
    low = np.searchsorted(keys, base | np.maximum(when - window, 0), side="left")
    return (high - low).astype(np.float32)
