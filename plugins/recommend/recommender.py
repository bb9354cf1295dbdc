"""The recommend app's Python API: train a run, load it, rank, score and explain; cold-start items and users.

A run folder (``runs/recommend/NAME``) holds ``recommend.json`` (settings, protocol, data fingerprints, versions),
``metrics.json``, ``catalogue.json``, ``interactions.safetensors`` (the training + validation events the deployed
models know), ``collaborative/`` (safetensors + JSON), ``two_tower/`` (the item embedding index), ``runs/`` (the
cross-encoder's engine run), ``fusion/`` (LightGBM text model) and ``report/`` (table and figure).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from tlsuite_core.apps import default_runs_dir
from tlsuite_core.errors import ConfigError, DataError, ModelError

from .collaborative import load_model, recent_counts
from .data import Catalogue, Interactions, leave_latest_out, load_interactions, load_items, load_movielens, time_split
from .fusion import Fusion
from .pipeline import ALL_FEATURES, GRIDS, RECENT, Settings, train_run
from .text import TwoTower, rerank

__all__ = ["Recommendation", "Recommender", "save_state"]


@dataclass
class Recommendation:
    """One ranked item: its id, title and fused score."""

    item: str
    title: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_data(data: str | None, interactions: str | None, items: str | None) -> tuple[Interactions, Catalogue]:
    """A MovieLens folder (``data``), or an interaction file and an item file."""
    if data is not None:
        if interactions is not None or items is not None:
            raise ConfigError("give --data DIR, or --interactions FILE with --items FILE, not both")
        if not Path(data).is_dir():
            raise DataError("not a folder (--data takes a MovieLens folder with u.data, u.item, u.genre)", path=data)
        return load_movielens(data)
    if interactions is None or items is None:
        raise ConfigError("give --data DIR (a MovieLens folder), or both --interactions FILE and --items FILE")
    catalogue = load_items(items)
    return load_interactions(interactions, catalogue), catalogue


def _run_folder(runs_dir: str | None, name: str | None) -> Path:
    folder = Path(default_runs_dir(runs_dir)) / "recommend" / (name or time.strftime("%Y%m%d-%H%M%S"))
    if (folder / "recommend.json").is_file():
        raise ConfigError(f"{folder} already holds a completed run; pick another --name")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Recommender:
    """A trained recommender. Get one with :meth:`train` or :meth:`load`."""

    def __init__(self, folder: Path, settings: Settings, catalogue: Catalogue, known: Interactions) -> None:
        self.folder = folder
        self.settings = settings
        self.catalogue = catalogue
        self.known = known
        self.histories = known.histories()
        self.user_index = {u: i for i, u in enumerate(known.users)}
        self.models = {name: load_model(name, folder / "collaborative") for name in GRIDS}
        self.fusion = Fusion.load(folder / "fusion")
        tuned = folder / "two_tower_model"
        encoder = str(tuned) if tuned.is_dir() else settings.model
        self.tower = TwoTower.load(folder / "two_tower", encoder, settings.history_cap)
        self._cross_encoder: Any = None

    # -- training ----------------------------------------------------------------------------------
    @classmethod
    def train(
        cls,
        *,
        data: str | None = None,
        interactions: str | None = None,
        items: str | None = None,
        runs_dir: str | None = None,
        name: str | None = None,
        split: str = "leave-latest-out",
        valid_from: int | None = None,
        test_from: int | None = None,
        log: Callable[[str], None] = _stderr,
        **options: Any,
    ) -> Recommender:
        """Read the data, split it, train every model and the fusion ranker into a new run folder.

        ``options``: :class:`~tlsuite_recommend.pipeline.Settings` fields (``history_cap``, ``rerank_depth``,
        ``cross_encoder``, ``threshold``, ``features``...) and engine options for the cross-encoder
        (``max_steps``, ``strategy``, ``learning_rate``, ``threads``...)."""
        known = {f.name for f in fields(Settings)}
        settings = Settings(**{k: v for k, v in options.items() if k in known and v is not None})
        settings.engine = {**settings.engine, **{k: v for k, v in options.items() if k not in known and v is not None}}
        unknown = [f for f in settings.features if f not in ALL_FEATURES]
        if unknown:
            raise ConfigError(f"unknown feature(s) {', '.join(unknown)} (known: {', '.join(ALL_FEATURES)})")
        events, catalogue = read_data(data, interactions, items)
        events = events.implicit(settings.threshold)
        if split == "time":
            if valid_from is None or test_from is None:
                raise ConfigError("--split time needs --valid-from and --test-from (unix times or ISO dates)")
            parts = time_split(
                events,
                len(catalogue),
                valid_from=valid_from,
                test_from=test_from,
                negatives=settings.negatives,
                seed=settings.seed,
            )
        elif split == "leave-latest-out":
            parts = leave_latest_out(events, len(catalogue), negatives=settings.negatives, seed=settings.seed)
        else:
            raise ConfigError(f"--split {split}: choose leave-latest-out or time")
        if not (parts.valid >= 0).any() or not (parts.test >= 0).any():
            raise DataError("no user has both a validation and a test interaction", path=events.source)
        folder = _run_folder(runs_dir, name)
        for note in events.notes:
            log(note)
        train_run(folder, parts, catalogue, settings, log)
        save_state(folder, settings, parts, catalogue, events)
        log(f"run folder: {folder}")
        return cls.load(folder)

    @classmethod
    def load(cls, run: str | Path) -> Recommender:
        """A run folder written by :meth:`train` (``runs/recommend/NAME``)."""
        from safetensors.numpy import load_file

        from tlsuite_core.apps import check_run_app, run_record

        folder = Path(run)
        check_run_app(folder, run_record(folder), "recommend")  # a run of another app names its own commands
        record = folder / "recommend.json"
        if not record.is_file():
            raise ModelError(f"{folder}: not a completed recommend run (no recommend.json)")
        meta = json.loads(record.read_text(encoding="utf-8"))
        settings = Settings(**meta["settings"])
        catalogue = Catalogue.from_json(json.loads((folder / "catalogue.json").read_text(encoding="utf-8")))
        arrays = load_file(str(folder / "interactions.safetensors"))
        users = json.loads((folder / "users.json").read_text(encoding="utf-8"))
        known = Interactions(
            users, arrays["user"], arrays["item"], np.ones(len(arrays["user"]), np.float32), arrays["timestamp"]
        )
        return cls(folder, settings, catalogue, known)

    @property
    def metrics(self) -> dict[str, Any]:
        return json.loads((self.folder / "metrics.json").read_text(encoding="utf-8"))

    @property
    def cross_encoder(self) -> Any:
        if self._cross_encoder is None and self.settings.cross_encoder:
            from tlsuite_core import load_app

            marker = json.loads((self.folder / "cross_encoder.json").read_text(encoding="utf-8"))
            run = Path(marker["run"])
            self._cross_encoder = load_app(run if run.is_absolute() else self.folder / run, device="cpu")
        return self._cross_encoder

    # -- users, items, features ----------------------------------------------------------------------
    def _user(self, user: str | None, history: Sequence[str] | None) -> tuple[int, np.ndarray]:
        """(user index or -1, the user's items in time order): a known user, or a new one given by its history."""
        if history is not None:
            missing = [h for h in history if str(h) not in self.catalogue.index]
            if missing:
                raise DataError(f"history item(s) not in the catalogue: {', '.join(map(str, missing[:5]))}")
            return -1, np.array([self.catalogue.index[str(h)] for h in history], dtype=np.int32)
        if user is None or str(user) not in self.user_index:
            raise DataError(f"unknown user {user!r} (give their history for a new user)")
        u = self.user_index[str(user)]
        return u, self.histories[u]

    def _last_time(self, user: int) -> int:
        """The time of a known user's latest interaction; for a new user, the latest time in the data (now)."""
        times = self.known.timestamp[self.known.user == user] if user >= 0 else self.known.timestamp
        return int(times.max()) if len(times) else 0

    def _items(self, items: Iterable[str]) -> np.ndarray:
        out = []
        for item in items:
            if str(item) not in self.catalogue.index:
                raise DataError(f"unknown item {item!r} (add new items with add_items)")
            out.append(self.catalogue.index[str(item)])
        return np.array(out, dtype=np.int32)

    def features(self, users: np.ndarray, histories: list[np.ndarray], candidates: np.ndarray) -> dict[str, np.ndarray]:
        """The fusion features of each user's candidates (``users``: index, or -1 for a user known by history)."""
        import scipy.sparse as sp

        n_items = len(self.catalogue)
        rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
        cols = np.concatenate(histories) if histories else np.zeros(0, np.int32)
        matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(histories), n_items))
        out = {
            name: model.score(users, candidates, matrix) for name, model in self.models.items() if name != "popularity"
        }
        counts = self.models["popularity"].counts
        out["popularity"] = np.log1p(
            np.concatenate([counts, np.zeros(max(n_items - len(counts), 0), np.float32)])[candidates]
        )
        last = np.array([self._last_time(u) for u in users], dtype=np.int64)
        out["recent_popularity"] = np.log1p(
            recent_counts(self.known.item, self.known.timestamp, candidates, last, RECENT)
        )
        out["history_length"] = np.repeat(
            np.array([[len(h)] for h in histories], np.float32), candidates.shape[1], axis=1
        )
        self.tower.extend(self.catalogue)
        out["two_tower"] = self.tower.score(self.tower.users(self.catalogue, histories), candidates)
        if self.cross_encoder is not None and "cross_encoder" in self.fusion.features:
            out["cross_encoder"] = rerank(
                self.cross_encoder,
                self.catalogue,
                histories,
                candidates,
                out["als"],
                depth=self.settings.rerank_depth,
                history_cap=self.settings.history_cap,
            )
        return out

    # -- using a run -----------------------------------------------------------------------------------
    def rank(
        self,
        user: str | None = None,
        *,
        k: int = 10,
        candidates: Sequence[str] | None = None,
        history: Sequence[str] | None = None,
    ) -> list[Recommendation]:
        """The ``k`` best items for ``user`` (or a new user given by ``history``) among ``candidates`` (default:
        the whole catalogue), items the user has seen excluded."""
        u, hist = self._user(user, history)
        pool = self._items(candidates) if candidates is not None else np.arange(len(self.catalogue), dtype=np.int32)
        pool = pool[~np.isin(pool, hist)]
        if len(pool) == 0:
            return []
        scores = self.fusion.score(self.features(np.array([u]), [hist], pool[None, :]), (1, len(pool)))[0]
        order = np.lexsort((pool, -scores))[:k]
        return [
            Recommendation(self.catalogue.ids[pool[i]], self.catalogue.titles[pool[i]], float(scores[i])) for i in order
        ]

    def retrieve(self, user: str | None = None, *, k: int = 100, history: Sequence[str] | None = None) -> list[str]:
        """The ``k`` items nearest to the user's history text in the two-tower item index (seen items excluded):
        candidate generation over the whole catalogue, before :meth:`rank` fuses the scores."""
        u, hist = self._user(user, history)
        self.tower.extend(self.catalogue)
        vector = self.tower.users(self.catalogue, [hist])
        ids, _ = self.tower.index.search(vector, min(k + len(hist), len(self.tower.index.ids)))
        seen = {self.catalogue.ids[i] for i in hist}
        return [i for i in ids[0] if i not in seen][:k]

    def score(self, pairs: Iterable[tuple[str, str]], *, batch_users: int = 64) -> Iterator[dict[str, Any]]:
        """Fused scores of (user, item) pairs, streamed in input order, a batch of users at a time."""
        batch: list[tuple[str, str]] = []
        for pair in pairs:
            batch.append((str(pair[0]), str(pair[1])))
            if len({p[0] for p in batch}) >= batch_users:
                yield from self._score_batch(batch)
                batch = []
        if batch:
            yield from self._score_batch(batch)

    def _score_batch(self, pairs: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        by_user: dict[str, list[int]] = {}
        for n, (user, _) in enumerate(pairs):
            by_user.setdefault(user, []).append(n)
        out: dict[int, float] = {}
        for user, rows in by_user.items():
            u, hist = self._user(user, None)
            items = self._items(pairs[n][1] for n in rows)
            scores = self.fusion.score(self.features(np.array([u]), [hist], items[None, :]), (1, len(items)))[0]
            out.update(zip(rows, map(float, scores)))
        for n, (user, item) in enumerate(pairs):
            yield {"user": user, "item": item, "score": out[n]}

    def explain(
        self, user: str | None, item: str, *, history: Sequence[str] | None = None, top: int = 5
    ) -> dict[str, Any]:
        """Which features moved the fused score (TreeSHAP contributions) and which history items the candidate
        resembles most (item-kNN similarity, two-tower cosine)."""
        u, hist = self._user(user, history)
        i = self._items([item])
        feats = self.features(np.array([u]), [hist], i[None, :])
        contrib = self.fusion.contributions(feats)[0]
        vectors = self.tower.index.vectors
        cosine = vectors[hist] @ vectors[i[0]] if len(hist) else np.zeros(0)
        knn = self.models["itemknn"].contributions(hist, int(i[0]))
        order = np.argsort(-(cosine + knn), kind="stable")[:top]
        return {
            "user": user,
            "item": item,
            "title": self.catalogue.titles[int(i[0])],
            "score": float(contrib.sum()),
            "features": {
                n: {"value": float(feats[n][0, 0]), "contribution": float(c)}
                for n, c in zip(self.fusion.features, contrib[:-1])
            },
            "baseline": float(contrib[-1]),
            "history": [
                {
                    "item": self.catalogue.ids[int(hist[j])],
                    "title": self.catalogue.titles[int(hist[j])],
                    "two_tower_cosine": float(cosine[j]),
                    "itemknn_similarity": float(knn[j]),
                }
                for j in order
            ],
        }

    def add_items(self, rows: Sequence[dict[str, Any]]) -> None:
        """New items (``id``, ``title``, ``description``, ``categories``) with no interactions: they are embedded
        by the two-tower encoder and can be ranked from their text (collaborative scores are 0)."""
        self.catalogue = self.catalogue.extended(rows)
        self.tower.extend(self.catalogue)

    def all_pairs(self, k: int = 10) -> Iterator[dict[str, Any]]:
        """Every known user's top ``k`` (for ``score`` without a pairs file)."""
        for user in self.known.users:
            for rank, rec in enumerate(self.rank(user, k=k), start=1):
                yield {"user": user, "rank": rank, **rec.as_dict()}


def save_state(folder: Path, settings: Settings, split: Any, catalogue: Catalogue, events: Interactions) -> None:
    """What inference needs, then ``recommend.json`` last (a run without it is incomplete)."""
    from safetensors.numpy import save_file

    from tlsuite_core.files import write_atomically

    from .pipeline import _with_valid

    known = _with_valid(split)
    save_file(
        {"user": known.user, "item": known.item, "timestamp": known.timestamp}, str(folder / "interactions.safetensors")
    )
    write_atomically(folder / "users.json", json.dumps(known.users))
    write_atomically(folder / "catalogue.json", json.dumps(catalogue.as_json()))
    marker = folder / "cross_encoder.json"
    if marker.is_file():
        run = Path(json.loads(marker.read_text())["run"])
        if run.is_relative_to(folder):
            write_atomically(marker, json.dumps({"run": str(run.relative_to(folder))}))
    record = {
        "app": "recommend",
        "settings": asdict(settings),
        "protocol": split.protocol,
        "data": {
            "interactions": events.source,
            "sha256": events.fingerprint,
            "events": len(events),
            "users": len(events.users),
            "items": len(catalogue),
        },
        "versions": _versions(),
    }
    write_atomically(folder / "recommend.json", json.dumps(record, indent=2))


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("tlsuite", "implicit", "lightgbm", "sentence-transformers", "transformers", "torch", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
