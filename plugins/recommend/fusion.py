"""The fusion ranker: LightGBM LambdaRank over per-(user, candidate) features (text scores, collaborative scores,
popularity, item and user features), trained on the validation lists only, with user-fold cross-validation to pick
its size. Stored in LightGBM's text model format plus a JSON list of its features."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .metrics import candidate_ranks

__all__ = ["Fusion", "feature_table"]

#: LightGBM settings tried by the user-fold cross-validation (num_leaves, min_child_samples, rounds)
GRID = ((4, 100, 100), (7, 50, 100), (15, 50, 200), (31, 100, 300))


def feature_table(features: dict[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """``(users * candidates, features)`` rows, users in order, from ``(users, candidates)`` arrays by name."""
    return np.stack([np.asarray(features[n], dtype=np.float32).reshape(-1) for n in names], axis=1)


def _top10(model: Any, x: np.ndarray, candidates: np.ndarray) -> tuple[float, float]:
    """HR@10 and NDCG@10 of ``model``'s scores of ``x`` (rows of ``candidates``' lists, held-out item first)."""
    ranks = candidate_ranks(model.predict(x).reshape(candidates.shape), candidates)
    hit = ranks < 10
    return float(hit.mean()), float((hit / np.log2(ranks + 2.0)).mean())


class Fusion:
    """A LambdaRank model over named features; candidate 0 of each training list is the relevant one."""

    def __init__(
        self,
        features: Sequence[str],
        *,
        seed: int = 13,
        folds: int = 5,
        repeats: int = 1,
        grid: Sequence[Sequence[int]] = GRID,
    ) -> None:
        self.features = list(features)
        self.seed, self.folds, self.repeats = seed, folds, repeats
        self.grid = [tuple(int(v) for v in g) for g in grid]
        self.booster: Any = None
        self.cv: list[dict[str, Any]] = []

    def _ranker(self, leaves: int, min_child: int, rounds: int) -> Any:
        import lightgbm as lgb

        return lgb.LGBMRanker(
            objective="lambdarank",
            n_estimators=rounds,
            num_leaves=leaves,
            min_child_samples=min_child,
            learning_rate=0.05,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=self.seed,
            n_jobs=1,
            verbose=-1,
        )

    def fit(self, features: dict[str, np.ndarray], candidates: np.ndarray) -> Fusion:
        """User-fold CV over ``grid`` (mean HR@10 of held-out users, ``repeats`` fold draws), then the best setting
        on all lists."""
        n_users, size = candidates.shape
        x = feature_table(features, self.features).reshape(n_users, size, -1)
        y = np.zeros((n_users, size), dtype=np.int32)
        y[:, 0] = 1
        self.cv = []
        for leaves, min_child, rounds in self.grid:
            found = []
            for repeat in range(self.repeats):
                fold = np.random.default_rng(self.seed + repeat).permutation(n_users) % self.folds
                for f in range(self.folds):
                    tr, te = fold != f, fold == f
                    model = self._ranker(leaves, min_child, rounds)
                    model.fit(x[tr].reshape(-1, x.shape[2]), y[tr].ravel(), group=[size] * int(tr.sum()))
                    found.append(_top10(model, x[te].reshape(-1, x.shape[2]), candidates[te]))
            hr, ndcg = np.mean(found, axis=0)
            self.cv.append(
                {
                    "num_leaves": leaves,
                    "min_child_samples": min_child,
                    "rounds": rounds,
                    "cv_hr@10": float(hr),
                    "cv_ndcg@10": float(ndcg),
                }
            )
        best = max(self.cv, key=lambda r: (r["cv_hr@10"], r["cv_ndcg@10"]))
        model = self._ranker(best["num_leaves"], best["min_child_samples"], best["rounds"])
        model.fit(x.reshape(-1, x.shape[2]), y.ravel(), group=[size] * n_users)
        self.booster = model.booster_
        return self

    def score(self, features: dict[str, np.ndarray], shape: tuple[int, int]) -> np.ndarray:
        return self.booster.predict(feature_table(features, self.features)).reshape(shape)

    def contributions(self, features: dict[str, np.ndarray]) -> np.ndarray:
        """Per row, each feature's additive contribution to the score (TreeSHAP), then the bias."""
        return self.booster.predict(feature_table(features, self.features), pred_contrib=True)

    def importances(self) -> dict[str, float]:
        gain = self.booster.feature_importance(importance_type="gain")
        total = float(gain.sum()) or 1.0
        return {n: float(g) / total for n, g in zip(self.features, gain)}

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / "ranker.txt"))
        meta = {
            "features": self.features,
            "seed": self.seed,
            "folds": self.folds,
            "repeats": self.repeats,
            "grid": self.grid,
            "cv": self.cv,
        }
        (folder / "ranker.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Fusion:
        import lightgbm as lgb

        meta = json.loads((folder / "ranker.json").read_text(encoding="utf-8"))
        fusion = cls(
            meta["features"],
            seed=meta["seed"],
            folds=meta["folds"],
            repeats=meta.get("repeats", 1),
            grid=meta.get("grid", GRID),
        )
        fusion.cv = meta["cv"]
        fusion.booster = lgb.Booster(model_file=str(folder / "ranker.txt"))
        return fusion
