"""Interactions and item text: readers (CSV / TSV / JSONL / Parquet, MovieLens folders), implicit feedback, splits
and negative sampling.

Users and items get dense indices (items in id order: numerically when every id is a number), so every model and
metric works on integer arrays; the id lists map them back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tlsuite_core.data import Table, decode, fingerprint, pick_column, read_bytes, read_table
from tlsuite_core.errors import DataError

__all__ = [
    "Catalogue",
    "Interactions",
    "Split",
    "load_interactions",
    "load_items",
    "load_movielens",
    "leave_latest_out",
    "read_records",
    "time_split",
]

ITEM_COLUMNS = ("item", "item_id", "itemid", "movie_id", "id")
USER_COLUMNS = ("user", "user_id", "userid")
SIGNAL_COLUMNS = ("signal", "rating", "value", "score", "clicks")
TIME_COLUMNS = ("timestamp", "time", "ts", "date")
TITLE_COLUMNS = ("title", "name")
DESCRIPTION_COLUMNS = ("description", "text", "overview", "summary")
CATEGORY_COLUMNS = ("categories", "genres", "category", "tags")


@dataclass
class Catalogue:
    """Items with their text; ``ids[i]`` is item index ``i``."""

    ids: list[str]
    titles: list[str]
    descriptions: list[str]
    categories: list[list[str]]
    source: str = ""

    def __post_init__(self) -> None:
        self.index = {item: i for i, item in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def text(self, i: int) -> str:
        """The text a model reads for item ``i``: title, categories, then description."""
        parts = [self.titles[i]]
        if self.categories[i]:
            parts.append("Genres: " + ", ".join(self.categories[i]))
        if self.descriptions[i]:
            parts.append(self.descriptions[i])
        return ". ".join(p for p in parts if p)

    def texts(self) -> list[str]:
        return [self.text(i) for i in range(len(self))]

    def extended(self, rows: Sequence[dict[str, Any]]) -> Catalogue:
        """This catalogue plus new items (``id``, ``title``, ``description``, ``categories``): cold-start items."""
        new = [r for r in rows if str(r["id"]) not in self.index]
        return Catalogue(
            self.ids + [str(r["id"]) for r in new],
            self.titles + [str(r.get("title") or "") for r in new],
            self.descriptions + [str(r.get("description") or "") for r in new],
            self.categories + [list(r.get("categories") or []) for r in new],
            self.source,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "ids": self.ids,
            "titles": self.titles,
            "descriptions": self.descriptions,
            "categories": self.categories,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Catalogue:
        return cls(data["ids"], data["titles"], data["descriptions"], data["categories"], data.get("source", ""))


@dataclass
class Interactions:
    """(user, item, signal, timestamp) events as index arrays; ``users[u]`` is user index ``u``."""

    users: list[str]
    user: np.ndarray
    item: np.ndarray
    signal: np.ndarray
    timestamp: np.ndarray
    source: str = ""
    fingerprint: str = ""
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.user)

    def take(self, mask: np.ndarray) -> Interactions:
        return replace(
            self, user=self.user[mask], item=self.item[mask], signal=self.signal[mask], timestamp=self.timestamp[mask]
        )

    def implicit(self, threshold: float | None) -> Interactions:
        """Every event with ``signal >= threshold`` as a positive interaction (``None``: every event)."""
        if threshold is None:
            return self
        kept = self.take(self.signal >= threshold)
        kept.notes = [*self.notes, f"implicit feedback: {len(kept)} of {len(self)} events have signal >= {threshold}"]
        return kept

    def matrix(self, n_items: int) -> Any:
        """The binary user x item matrix (CSR, float32)."""
        import scipy.sparse as sp

        data = np.ones(len(self), dtype=np.float32)
        m = sp.csr_matrix((data, (self.user, self.item)), shape=(len(self.users), n_items), dtype=np.float32)
        m.data[:] = 1.0  # repeated events count once
        return m

    def histories(self) -> list[np.ndarray]:
        """Per user, the items in time order (ties by item index)."""
        order = np.lexsort((self.item, self.timestamp, self.user))
        bounds = np.searchsorted(self.user[order], np.arange(len(self.users) + 1))
        items = self.item[order]
        return [items[bounds[u] : bounds[u + 1]] for u in range(len(self.users))]


@dataclass
class Split:
    """Training interactions and, per user, the validation and test items (-1: none) each ranked among
    ``negatives`` items the user never interacted with."""

    train: Interactions
    valid: np.ndarray
    test: np.ndarray
    valid_negatives: np.ndarray
    test_negatives: np.ndarray
    protocol: dict[str, Any] = field(default_factory=dict)

    def candidates(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """(users with a held-out item, their candidate lists: the held-out item first, then the negatives)."""
        held = self.valid if which == "valid" else self.test
        negs = self.valid_negatives if which == "valid" else self.test_negatives
        users = np.flatnonzero(held >= 0)
        return users, np.concatenate([held[users, None], negs[users]], axis=1)


# -- reading ---------------------------------------------------------------------------------------------------------


def read_records(source: str | Path, adapters: Any = None) -> Table:
    """Rows of a CSV / TSV / JSONL file (the core's readers and the registered adapters) or a Parquet file
    (row numbers count as lines)."""
    path = Path(source)
    if path.suffix.lower() != ".parquet":
        return read_table(path, adapters=adapters)
    if not path.is_file():
        raise DataError("file not found", path=path)
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"not a readable Parquet file ({str(exc).splitlines()[0][:200]})", path=path) from None
    rows = table.to_pylist()
    return Table(
        str(path),
        list(table.column_names),
        rows,
        list(range(1, len(rows) + 1)),
        "parquet",
        fingerprint(read_bytes(path)),
    )


def _categories(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).strip()
    if text.startswith("["):
        try:
            return [str(v).strip() for v in json.loads(text) if str(v).strip()]
        except json.JSONDecodeError:
            pass
    sep = "|" if "|" in text else ","
    return [v.strip() for v in text.split(sep) if v.strip()]


def _ordered(ids: Sequence[str]) -> list[str]:
    """Ids in order: numerically when all are integers, else as strings."""
    if all(i.lstrip("-").isdigit() for i in ids):
        return sorted(ids, key=int)
    return sorted(ids)


def load_items(source: str | Path, adapters: Any = None) -> Catalogue:
    """Item text from a file with an id column and a title, description and/or categories column."""
    table = read_records(source, adapters)
    id_col = pick_column(table, None, ITEM_COLUMNS, "item id", "an 'item' column")
    cols = {
        role: pick_column(table, None, names, role, f"a '{names[0]}' column", required=False)
        for role, names in (
            ("title", TITLE_COLUMNS),
            ("description", DESCRIPTION_COLUMNS),
            ("categories", CATEGORY_COLUMNS),
        )
    }
    if not any(cols.values()):
        raise DataError("no item text: name a title, description or categories column", path=table.source)
    found: dict[str, tuple[str, str, list[str]]] = {}
    for row, line in zip(table.rows, table.lines):
        item = str(row.get(id_col) if row.get(id_col) is not None else "").strip()
        if not item:
            raise DataError("empty item id", path=table.source, line=line, field=id_col)
        if item in found:
            raise DataError(f"item {item!r} appears twice", path=table.source, line=line, field=id_col)
        text = [str(row.get(cols[r]) or "").strip() if cols[r] else "" for r in ("title", "description")]
        cats = _categories(row.get(cols["categories"])) if cols["categories"] else []
        if not (text[0] or text[1] or cats):
            raise DataError(
                "the item has no text (title, description and categories are empty)",
                path=table.source,
                line=line,
                field=cols["title"] or cols["description"],
            )
        found[item] = (text[0], text[1], cats)
    ids = _ordered(list(found))
    return Catalogue(
        ids, [found[i][0] for i in ids], [found[i][1] for i in ids], [found[i][2] for i in ids], table.source
    )


def _number(value: Any, table: Table, line: int, col: str, kind: type) -> Any:
    try:
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError):
        raise DataError(f"expected a number, got {value!r}", path=table.source, line=line, field=col) from None


def _timestamp(value: Any, table: Table, line: int, col: str) -> int:
    if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "", 1).isdigit():
        from datetime import datetime, timezone

        try:
            stamp = datetime.fromisoformat(value.strip())
        except ValueError:
            raise DataError(
                f"expected a unix time or an ISO date, got {value!r}", path=table.source, line=line, field=col
            ) from None
        return int(stamp.replace(tzinfo=stamp.tzinfo or timezone.utc).timestamp())
    return _number(value, table, line, col, int)


def load_interactions(source: str | Path, items: Catalogue, adapters: Any = None) -> Interactions:
    """(user, item[, signal][, timestamp]) rows; every item must be in the catalogue. Without a signal column every
    row counts 1; without a timestamp, the file order is the time order."""
    table = read_records(source, adapters)
    user_col = pick_column(table, None, USER_COLUMNS, "user", "a 'user' column")
    item_col = pick_column(table, None, ITEM_COLUMNS, "item", "an 'item' column")
    signal_col = pick_column(table, None, SIGNAL_COLUMNS, "signal", "", required=False)
    time_col = pick_column(table, None, TIME_COLUMNS, "timestamp", "", required=False)
    users, items_, signals, stamps = [], [], [], []
    for n, (row, line) in enumerate(zip(table.rows, table.lines)):
        user = str(row.get(user_col) if row.get(user_col) is not None else "").strip()
        if not user:
            raise DataError("empty user id", path=table.source, line=line, field=user_col)
        item = str(row.get(item_col) if row.get(item_col) is not None else "").strip()
        if item not in items.index:
            raise DataError(
                f"item {item!r} is not in the item file ({items.source})", path=table.source, line=line, field=item_col
            )
        users.append(user)
        items_.append(items.index[item])
        signals.append(_number(row.get(signal_col), table, line, signal_col, float) if signal_col else 1.0)
        stamps.append(_timestamp(row.get(time_col), table, line, time_col) if time_col else n)
    if not users:
        raise DataError("no interactions", path=table.source)
    return _indexed(users, items_, signals, stamps, table.source, table.fingerprint)


def _indexed(
    users: list[str], items: list[int], signals: list[float], stamps: list[int], source: str, print_: str
) -> Interactions:
    ids = _ordered(sorted(set(users)))
    index = {u: i for i, u in enumerate(ids)}
    return Interactions(
        ids,
        np.array([index[u] for u in users], dtype=np.int32),
        np.array(items, dtype=np.int32),
        np.array(signals, dtype=np.float32),
        np.array(stamps, dtype=np.int64),
        source,
        print_,
    )


def _movielens_rows(path: Path, sep: str, width: int, encoding: str) -> list[tuple[int, list[str]]]:
    if not path.is_file():
        raise DataError("file not found (a MovieLens folder has u.data, u.item and u.genre)", path=path)
    text = decode(read_bytes(path), path, fallback=encoding)
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(sep)
        if len(parts) < width:
            raise DataError(f"expected {width} fields separated by {sep!r}, found {len(parts)}", path=path, line=n)
        rows.append((n, parts))
    return rows


def load_movielens(folder: str | Path) -> tuple[Interactions, Catalogue]:
    """A MovieLens 100k folder: ``u.data`` (user, item, rating, time), ``u.item`` (title, release date, genre
    flags in ``u.genre``'s order; latin-1)."""
    folder = Path(folder)
    genres = [p[0] for _, p in _movielens_rows(folder / "u.genre", "|", 2, "latin-1")]
    ids, titles, cats = [], [], []
    for n, parts in _movielens_rows(folder / "u.item", "|", 5 + len(genres), "latin-1"):
        flags = parts[5 : 5 + len(genres)]
        if any(f not in ("0", "1") for f in flags):
            raise DataError("genre flags must be 0 or 1", path=folder / "u.item", line=n, field="genres")
        ids.append(parts[0].strip())
        titles.append(parts[1].strip())
        cats.append([g for g, f in zip(genres, flags) if f == "1" and g != "unknown"])
    items = Catalogue(ids, titles, [""] * len(ids), cats, str(folder / "u.item"))
    rows = _movielens_rows(folder / "u.data", "\t", 4, "utf-8")
    users, item_idx, signals, stamps = [], [], [], []
    path = folder / "u.data"
    for n, (user, item, rating, stamp) in ((n, p[:4]) for n, p in rows):
        if item not in items.index:
            raise DataError(f"item {item!r} is not in u.item", path=path, line=n, field="item")
        for value, name in ((rating, "rating"), (stamp, "timestamp")):
            if not value.strip().isdigit():
                raise DataError(f"expected a whole number, got {value!r}", path=path, line=n, field=name)
        users.append(user.strip())
        item_idx.append(items.index[item])
        signals.append(float(rating))
        stamps.append(int(stamp))
    return _indexed(users, item_idx, signals, stamps, str(path), fingerprint(read_bytes(path))), items


# -- splits ----------------------------------------------------------------------------------------------------------


def _negatives(histories: list[np.ndarray], held: np.ndarray, n_items: int, k: int, rng: Any) -> np.ndarray:
    out = np.full((len(histories), k), -1, dtype=np.int32)
    for u, hist in enumerate(histories):
        if held[u] < 0:
            continue
        free = np.setdiff1d(np.arange(n_items), hist)
        if len(free) < k:
            raise DataError(f"user {u} has interacted with all but {len(free)} items; {k} negatives are needed")
        out[u] = rng.choice(free, size=k, replace=False)
    return out


def _with_negatives(
    data: Interactions,
    train_mask: np.ndarray,
    valid: np.ndarray,
    test: np.ndarray,
    n_items: int,
    negatives: int,
    seed: int,
    protocol: dict[str, Any],
) -> Split:
    rng = np.random.default_rng(seed)
    every = data.histories()
    test_neg = _negatives(every, test, n_items, negatives, rng)
    valid_neg = _negatives(every, valid, n_items, negatives, rng)
    return Split(
        data.take(train_mask), valid, test, valid_neg, test_neg, {**protocol, "negatives": negatives, "seed": seed}
    )


def leave_latest_out(data: Interactions, n_items: int, *, negatives: int = 99, seed: int = 13) -> Split:
    """Per user, the latest interaction (by timestamp, ties by item id) is the test item and the one before it the
    validation item; each is ranked among ``negatives`` items the user never interacted with (one generator
    seeded with ``seed``: the test lists of every user in user order, then the validation lists). Users with
    fewer than three interactions keep them all for training (counted in ``protocol``)."""
    order = np.lexsort((data.item, data.timestamp, data.user))
    bounds = np.searchsorted(data.user[order], np.arange(len(data.users) + 1))
    valid = np.full(len(data.users), -1, dtype=np.int32)
    test = np.full(len(data.users), -1, dtype=np.int32)
    train_mask = np.ones(len(data), dtype=bool)
    short = 0
    for u in range(len(data.users)):
        rows = order[bounds[u] : bounds[u + 1]]
        if len(rows) < 3:
            short += 1
            continue
        test[u], valid[u] = data.item[rows[-1]], data.item[rows[-2]]
        train_mask[rows[-2:]] = False
    protocol = {"split": "leave-latest-out", "users_without_holdout": short}
    return _with_negatives(data, train_mask, valid, test, n_items, negatives, seed, protocol)


def time_split(
    data: Interactions, n_items: int, *, valid_from: int, test_from: int, negatives: int = 99, seed: int = 13
) -> Split:
    """Interactions before ``valid_from`` train; per user, the first interaction in ``[valid_from, test_from)`` is
    the validation item and the first at or after ``test_from`` the test item (users lacking one have -1)."""
    if not valid_from <= test_from:
        raise DataError(f"the validation start ({valid_from}) must not be after the test start ({test_from})")
    valid = np.full(len(data.users), -1, dtype=np.int32)
    test = np.full(len(data.users), -1, dtype=np.int32)
    order = np.lexsort((data.item, data.timestamp, data.user))
    for i in order[::-1]:  # latest first, so the first of each window wins
        u, t = data.user[i], data.timestamp[i]
        if t >= test_from:
            test[u] = data.item[i]
        elif t >= valid_from:
            valid[u] = data.item[i]
    protocol = {"split": "time", "valid_from": int(valid_from), "test_from": int(test_from)}
    return _with_negatives(data, data.timestamp < valid_from, valid, test, n_items, negatives, seed, protocol)
