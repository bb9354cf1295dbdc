"""Ingest: parse, deduplicate, classify and store news items, one transaction per batch.

Each batch commits its items, topics, predictions, quarantined records and the source's read cursor (byte offset)
together, so a process killed at any point restarts exactly after the last committed batch: every item ends up
stored once, every bad record quarantined once.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tlsuite_core.errors import ConfigError, DataError

from . import db
from .records import BadRecord, IngestStats, NewsItem
from .sources import FileReader, file_head, list_files, source_format, to_item
from .topics import TopicAssigner


@dataclass
class Cursor:
    origin: str
    offset: int
    line: int
    header: list[str] | None


def model_identity(classifier: Any) -> tuple[str, str]:
    """(model id, reference) for a classifier: a tlsuite run -> ``<app>/<run name>#<hash of run.json>``."""
    explicit = getattr(classifier, "model_id", None)
    if explicit:
        return str(explicit), str(getattr(classifier, "ref", explicit))
    run_dir = getattr(classifier, "run_dir", None)
    if run_dir is not None and (Path(run_dir) / "run.json").is_file():
        digest = hashlib.sha256((Path(run_dir) / "run.json").read_bytes()).hexdigest()[:8]
        app = getattr(classifier, "app", None) or Path(run_dir).parent.name
        return f"{app}/{Path(run_dir).name}#{digest}", str(run_dir)
    model_dir = getattr(classifier, "model_dir", None)
    if model_dir is not None:
        config = Path(model_dir) / "config.json"
        digest = hashlib.sha256(config.read_bytes()).hexdigest()[:8] if config.is_file() else "0"
        return f"{Path(model_dir).name}#{digest}", str(model_dir)
    raise ConfigError("the classifier has no model_id (give it a model_id attribute)")


def _insert_ignore(engine: Engine, table: Any) -> Any:
    """INSERT that skips rows whose key exists (a safety net under the explicit duplicate checks)."""
    name = engine.dialect.name
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return table.insert()


class Ingestor:
    """Classifies and stores items for one model. ``classifier`` has ``predict(texts) -> [Prediction]`` and
    ``labels``; a :class:`tlsuite_core.TrainedApp` is the usual one."""

    def __init__(
        self,
        engine: Engine,
        classifier: Any,
        topics: TopicAssigner,
        *,
        batch_size: int = 64,
        negative_label: str = "negative",
        positive_label: str = "positive",
    ) -> None:
        if batch_size < 1:
            raise ConfigError("--batch-size must be >= 1")
        self.engine = engine
        self.classifier = classifier
        self.topics = topics
        self.batch_size = batch_size
        self.negative_label = negative_label
        self.positive_label = positive_label
        self.model_id, self.model_ref = model_identity(classifier)
        self.labels = list(classifier.labels)
        self._predict_kwargs = {}
        try:
            if "batch_size" in inspect.signature(classifier.predict).parameters:
                self._predict_kwargs["batch_size"] = batch_size
        except (TypeError, ValueError):
            pass
        self._register_model()

    def _register_model(self) -> None:
        now = db.utcnow()
        m = db.models
        with self.engine.begin() as conn:
            done = conn.execute(update(m).where(m.c.model_id == self.model_id).values(last_used_at=now)).rowcount
            if not done:
                conn.execute(
                    _insert_ignore(self.engine, m).values(
                        model_id=self.model_id,
                        ref=self.model_ref,
                        labels=json.dumps(self.labels),
                        created_at=now,
                        last_used_at=now,
                    )
                )

    # ----------------------------------------------------------------------------------------------
    # one batch
    # ----------------------------------------------------------------------------------------------

    def ingest_batch(self, records: Sequence[NewsItem | BadRecord], cursor: Cursor | None = None) -> IngestStats:
        """Store one batch in one transaction (with ``cursor``, the source's read position after it)."""
        started = time.perf_counter()
        stats = IngestStats(read=len(records), batches=1)
        bad: list[BadRecord] = [r for r in records if isinstance(r, BadRecord)]
        good = [r for r in records if isinstance(r, NewsItem)]
        new, rescore = self._sort_out(good, bad, stats)
        stats.quarantined = len(bad)
        for record in bad:
            key = reason_category(record.reason)
            stats.quarantine_reasons[key] = stats.quarantine_reasons.get(key, 0) + 1
        to_score = new + rescore
        predictions = []
        if to_score:
            t0 = time.perf_counter()
            predictions = self.classifier.predict([item.text for item in to_score], **self._predict_kwargs)
            stats.model_seconds = time.perf_counter() - t0
            if len(predictions) != len(to_score):
                raise RuntimeError(f"classifier returned {len(predictions)} predictions for {len(to_score)} texts")
        topic_hits: list[list[tuple[str, str, float | None]]] = []
        if new:
            t0 = time.perf_counter()
            topic_hits = self.topics.assign(new)
            stats.topic_seconds = time.perf_counter() - t0
        for item in new:
            stats.note_published(item.published_at)
        self._store(new, topic_hits, list(zip(to_score, predictions)), bad, cursor)
        stats.stored = len(new)
        stats.total_seconds = time.perf_counter() - started
        return stats

    def _stored(self, ids: list[str]) -> tuple[dict[str, tuple[str, str, str]], set[str]]:
        """Of ``ids``: those already stored (content hash, origin, position) and those this model already scored."""
        existing: dict[str, tuple[str, str, str]] = {}
        scored: set[str] = set()
        if not ids:
            return existing, scored
        i, p = db.items, db.predictions
        with self.engine.connect() as conn:
            for chunk in _chunks(ids, 500):
                query = select(i.c.id, i.c.content_hash, i.c.origin, i.c.position).where(i.c.id.in_(chunk))
                for row in conn.execute(query):
                    existing[row.id] = (row.content_hash, row.origin, row.position)
                query = select(p.c.item_id).where(p.c.model_id == self.model_id, p.c.item_id.in_(chunk))
                scored.update(conn.execute(query).scalars())
        return existing, scored

    def _sort_out(
        self, good: list[NewsItem], bad: list[BadRecord], stats: IngestStats
    ) -> tuple[list[NewsItem], list[NewsItem]]:
        """(new items, stored items this model has not scored yet); duplicates are counted, and an id seen again
        with other content is quarantined (appended to ``bad``)."""
        existing, scored = self._stored(list(dict.fromkeys(item.id for item in good)))
        new: list[NewsItem] = []
        rescore: list[NewsItem] = []
        seen: dict[str, NewsItem] = {}
        for item in good:
            if item.id in seen:
                first = seen[item.id]
                if first.content_hash == item.content_hash:
                    stats.duplicates += 1
                else:
                    bad.append(_conflict(item, f"first at {first.position}"))
                continue
            if item.id in existing:
                stored_hash, origin, position = existing[item.id]
                if stored_hash != item.content_hash:
                    bad.append(_conflict(item, f"stored from {Path(origin).name} {position}"))
                    continue
                stats.duplicates += 1
                seen[item.id] = item
                if item.id not in scored:
                    rescore.append(item)
                    stats.rescored += 1
                continue
            seen[item.id] = item
            new.append(item)
        return new, rescore

    def _store(
        self,
        new: list[NewsItem],
        topic_hits: list[list[tuple[str, str, float | None]]],
        scored: list[tuple[NewsItem, Any]],
        bad: list[BadRecord],
        cursor: Cursor | None,
    ) -> None:
        """Items, their topics, predictions, quarantined records and the source's cursor, in one transaction."""
        now = db.utcnow()
        with self.engine.begin() as conn:
            if new:
                conn.execute(_insert_ignore(self.engine, db.items), [_row(db.items, it, ingested_at=now) for it in new])
                topic_rows = [
                    {"item_id": it.id, "topic": topic[:200], "method": method, "score": score}
                    for it, hits in zip(new, topic_hits)
                    for topic, method, score in hits
                ]
                if topic_rows:
                    conn.execute(_insert_ignore(self.engine, db.item_topics), topic_rows)
            if scored:
                conn.execute(
                    _insert_ignore(self.engine, db.predictions),
                    [self._prediction_row(it, p, now) for it, p in scored],
                )
            if bad:
                conn.execute(
                    _insert_ignore(self.engine, db.quarantine), [_row(db.quarantine, r, created_at=now) for r in bad]
                )
            if cursor is not None:
                self._save_cursor(conn, cursor, now)

    def _prediction_row(self, item: NewsItem, p: Any, now: Any) -> dict[str, Any]:
        scores = {str(k): float(v) for k, v in dict(p.scores).items()}
        return {
            "item_id": item.id,
            "model_id": self.model_id,
            "label": str(p.label),
            "score": float(p.score),
            "p_negative": scores.get(self.negative_label, 0.0),
            "sentiment": scores.get(self.positive_label, 0.0) - scores.get(self.negative_label, 0.0),
            "probs": json.dumps(scores),
            "created_at": now,
        }

    def _save_cursor(self, conn: Any, cursor: Cursor, now: Any) -> None:
        c = db.ingest_cursors
        values = {
            "offset": cursor.offset,
            "line": cursor.line,
            "head_hash": cursor_head(cursor),
            "header": json.dumps(cursor.header) if cursor.header else None,
            "updated_at": now,
        }
        done = conn.execute(
            update(c).where(c.c.origin == cursor.origin, c.c.model_id == self.model_id).values(**values)
        ).rowcount
        if not done:
            conn.execute(c.insert().values(origin=cursor.origin, model_id=self.model_id, **values))

    # ----------------------------------------------------------------------------------------------
    # sources
    # ----------------------------------------------------------------------------------------------

    def ingest_items(self, records: Iterable[NewsItem | BadRecord]) -> IngestStats:
        total = IngestStats()
        batch: list[NewsItem | BadRecord] = []
        for record in records:
            batch.append(record)
            if len(batch) >= self.batch_size:
                total.add(self.ingest_batch(batch))
                batch = []
        if batch:
            total.add(self.ingest_batch(batch))
        return total

    def load_cursor(self, origin: str) -> Cursor | None:
        c = db.ingest_cursors
        with self.engine.connect() as conn:
            row = conn.execute(select(c).where(c.c.origin == origin, c.c.model_id == self.model_id)).first()
        if row is None:
            return None
        cursor = Cursor(origin, int(row.offset), int(row.line), json.loads(row.header) if row.header else None)
        cursor._head = row.head_hash  # type: ignore[attr-defined]
        return cursor

    def _ingest_file(self, path: Path, fmt: str, final: bool, should_stop: Callable[[], bool] | None) -> IngestStats:
        """Read ``path`` from its stored cursor to the end (``final=False``: leave an unfinished last line)."""
        origin = str(path.resolve())
        cursor = self.load_cursor(origin) or Cursor(origin, 0, 0, None)
        size = path.stat().st_size
        if cursor.offset and (cursor.offset > size or file_head(path, cursor.offset) != getattr(cursor, "_head", None)):
            cursor = Cursor(origin, 0, 0, None)  # replaced or truncated: read it again (ids keep it idempotent)
        total = IngestStats()
        if cursor.offset >= size:
            return total
        with path.open("rb") as fh:
            fh.seek(cursor.offset)
            reader = FileReader(fh, fmt, offset=cursor.offset, line=cursor.line, header=cursor.header, final=final)
            try:
                for batch, end in _batched(reader.records(), self.batch_size, origin):
                    position = Cursor(origin, end.end_offset, end.end_line, reader.header)
                    position._path = path  # type: ignore[attr-defined]
                    total.add(self.ingest_batch(batch, position))
                    if should_stop is not None and should_stop():
                        break
            except DataError as exc:
                raise DataError(exc.reason, path=path, line=exc.line) from None
        if reader.pending:
            total.held.append(f"{path}:{reader.line + 1}")
        return total

    def ingest_stream(self, fh: BinaryIO, fmt: str, origin: str) -> IngestStats:
        """Read a non-seekable stream (stdin) to its end; idempotent by id, not resumable by position."""
        reader = FileReader(fh, fmt, final=True)
        total = IngestStats()
        for batch, _ in _batched(reader.records(), self.batch_size, origin):
            total.add(self.ingest_batch(batch))
        return total

    def ingest_path(
        self,
        path: str | Path,
        fmt: str | None = None,
        *,
        final: bool = True,
        should_stop: Callable[[], bool] | None = None,
    ) -> IngestStats:
        """A file, or every ``.jsonl``/``.csv`` file of a folder in name order."""
        path = Path(path)
        if not path.exists():
            raise DataError("no such file or folder", path=path)
        total = IngestStats()
        for f in list_files(path) if path.is_dir() else [path]:
            total.add(self._ingest_file(f, source_format(f, fmt), final, should_stop))
            if should_stop is not None and should_stop():
                break
        return total


REASONS = (
    "invalid JSON",
    "invalid CSV row",
    "invalid record",
    "missing id",
    "missing timestamp",
    "unparseable timestamp",
    "missing text",
    "duplicate id",
    "bytes",
)


def reason_category(reason: str) -> str:
    """A short category of a quarantine reason, for the counts line."""
    found = next((c for c in REASONS if reason.startswith(c)), None)
    if found == "duplicate id":
        return "duplicate id with different content"
    if found == "bytes":
        return "not valid UTF-8"
    return found or reason.split(":")[0][:40]


def cursor_head(cursor: Cursor) -> str:
    path = getattr(cursor, "_path", None) or Path(cursor.origin)
    return file_head(Path(path), cursor.offset)


def _raw(item: NewsItem) -> str:
    return json.dumps(
        {"id": item.id, "published_at": item.published_at.isoformat(), "text": item.text[:1500], "source": item.source}
    )


def _chunks(values: Sequence[str], n: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), n):
        yield values[start : start + n]


def _batched(raws: Iterator[Any], size: int, origin: str) -> Iterator[tuple[list[NewsItem | BadRecord], Any]]:
    batch: list[NewsItem | BadRecord] = []
    last = None
    for raw in raws:
        position = f"line {raw.line}"
        if raw.fields is None:
            batch.append(BadRecord(origin, position, raw.error or "unreadable record", raw.raw))
        else:
            batch.append(to_item(raw.fields, origin, position, raw.raw))
        last = raw
        if len(batch) >= size:
            yield batch, last
            batch = []
    if batch:
        yield batch, last


def _conflict(item: NewsItem, where: str) -> BadRecord:
    """An id seen again with other content: quarantined, naming where the first one came from."""
    return BadRecord(
        item.origin, item.position, f"duplicate id {item.id!r} with different content ({where})", _raw(item), item.id
    )


def _row(table: Any, record: Any, **stamps: Any) -> dict[str, Any]:
    """The values of ``table``'s columns from the record's attributes of the same names, plus ``stamps``
    (``ingested_at`` / ``created_at``); an autoincrement id is left to the database."""
    names = [c.name for c in table.columns if c.autoincrement is not True and c.name not in stamps]
    return {**{name: getattr(record, name) for name in names}, **stamps}
