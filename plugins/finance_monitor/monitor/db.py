"""The monitor's database: schema, versioned migrations, engine set-up (SQLite by default, any SQLAlchemy URL).

The schema is versioned in ``schema_version`` (one row per applied migration). :func:`connect` creates a fresh
database or migrates an older one to :data:`SCHEMA_VERSION`; a database newer than this tlsuite is refused.
Migrations are idempotent, so one interrupted half-way (SQLite commits DDL as it goes) simply runs again.

Tables (version 2)::

    models          model_id, ref, labels (JSON), created_at, last_used_at
    items           id (the item's own id), published_at (naive UTC), title, text, source, content_hash, origin, position
    item_topics     (item_id, topic), method (item | rule | zero-shot | classifier | default), score
    predictions     (item_id, model_id), label, score, p_negative, sentiment (v2), probs (JSON)
    quarantine      origin, position (unique together), reason, raw, item_id
    ingest_cursors  (origin, model_id), offset (bytes), line, head_hash, header (CSV header JSON)
    alerts          key (unique), rule, kind, topic, model_id, bucket, bucket_start, last_bucket, value, ...
    outbox          (alert_id, sink) unique, status (pending | delivered), attempts, next_attempt_at, last_error (v2)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)

from tlsuite_core.errors import ConfigError

DEFAULT_DB = "sqlite:///monitor.db"
SCHEMA_VERSION = 2

metadata = MetaData()


def utcnow() -> datetime:
    """Naive UTC now (the database stores naive UTC everywhere)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", DateTime, nullable=False),
)


def _models_v1(m: MetaData) -> Table:
    """Each model that scored items: its reference and labels (version 1, unchanged since)."""
    return Table(
        "models",
        m,
        Column("model_id", String(200), primary_key=True),
        Column("ref", Text, nullable=False),
        Column("labels", Text, nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("last_used_at", DateTime, nullable=False),
    )


models = _models_v1(metadata)


def _items_v1(m: MetaData) -> Table:
    """Ingested texts, one per item id (version 1, unchanged since)."""
    return Table(
        "items",
        m,
        Column("id", String(200), primary_key=True),
        Column("published_at", DateTime, nullable=False, index=True),
        Column("title", Text),
        Column("text", Text, nullable=False),
        Column("source", String(200)),
        Column("content_hash", String(64), nullable=False),
        Column("origin", String(500), nullable=False),
        Column("position", String(100), nullable=False),
        Column("ingested_at", DateTime, nullable=False),
    )


items = _items_v1(metadata)


def _item_topics_v1(m: MetaData) -> Table:
    """Which topics each item belongs to, and how it was matched (version 1, unchanged since)."""
    return Table(
        "item_topics",
        m,
        Column("item_id", String(200), ForeignKey("items.id"), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("method", String(20), nullable=False),
        Column("score", Float),
        PrimaryKeyConstraint("item_id", "topic"),
        Index("ix_item_topics_topic", "topic"),
    )


item_topics = _item_topics_v1(metadata)


def _predictions_v1(m: MetaData) -> Table:
    """One prediction per item and model (version 1; version 2 adds ``sentiment``, below)."""
    return Table(
        "predictions",
        m,
        Column("item_id", String(200), ForeignKey("items.id"), nullable=False),
        Column("model_id", String(200), ForeignKey("models.model_id"), nullable=False),
        Column("label", String(100), nullable=False),
        Column("score", Float, nullable=False),
        Column("p_negative", Float, nullable=False),
        Column("probs", Text, nullable=False),
        Column("created_at", DateTime, nullable=False),
        PrimaryKeyConstraint("item_id", "model_id"),
        Index("ix_predictions_model", "model_id"),
    )


predictions = _predictions_v1(metadata)
# version 2 (_migration_2): P(positive) - P(negative), what trends and reports read
predictions.append_column(Column("sentiment", Float, nullable=False))


def _quarantine_v1(m: MetaData) -> Table:
    """Records that could not be ingested, with the reason (version 1, unchanged since)."""
    return Table(
        "quarantine",
        m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("origin", String(500), nullable=False),
        Column("position", String(100), nullable=False),
        Column("reason", Text, nullable=False),
        Column("raw", Text, nullable=False),
        Column("item_id", String(200)),
        Column("created_at", DateTime, nullable=False),
        UniqueConstraint("origin", "position", name="uq_quarantine_position"),
    )


quarantine = _quarantine_v1(metadata)


def _ingest_cursors_v1(m: MetaData) -> Table:
    """Where each ingested file's reading stopped, per model (version 1, unchanged since)."""
    return Table(
        "ingest_cursors",
        m,
        Column("origin", String(500), nullable=False),
        Column("model_id", String(200), nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("line", Integer, nullable=False),
        Column("head_hash", String(64), nullable=False),
        Column("header", Text),
        Column("updated_at", DateTime, nullable=False),
        PrimaryKeyConstraint("origin", "model_id"),
    )


ingest_cursors = _ingest_cursors_v1(metadata)


def _alerts_v1(m: MetaData) -> Table:
    """Raised alerts, one per rule, topic and episode (version 1, unchanged since)."""
    return Table(
        "alerts",
        m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("key", String(64), nullable=False, unique=True),
        Column("rule", String(100), nullable=False),
        Column("kind", String(40), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("model_id", String(200), nullable=False),
        Column("bucket", String(20), nullable=False),
        Column("bucket_start", DateTime, nullable=False, index=True),
        Column("last_bucket", DateTime, nullable=False),
        Column("value", Float, nullable=False),
        Column("threshold", Float, nullable=False),
        Column("volume", Integer, nullable=False),
        Column("message", Text, nullable=False),
        Column("evidence", Text, nullable=False),
        Column("created_at", DateTime, nullable=False),
    )


alerts = _alerts_v1(metadata)


def _outbox_v2(m: MetaData) -> Table:
    """Alert deliveries waiting, retried or done, one per alert and sink (version 2, unchanged since)."""
    return Table(
        "outbox",
        m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=False),
        Column("sink", String(500), nullable=False),
        Column("status", String(20), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("next_attempt_at", DateTime, nullable=False),
        Column("last_error", Text),
        Column("delivered_at", DateTime),
        UniqueConstraint("alert_id", "sink", name="uq_outbox_alert_sink"),
        Index("ix_outbox_status", "status", "next_attempt_at"),
    )


outbox = _outbox_v2(metadata)


# --------------------------------------------------------------------------------------------------
# migrations: each builds the tables as they were at its version (the _<table>_v1 builders are frozen: a later
# change to a table gets a new builder and a migration, so earlier migrations never change)
# --------------------------------------------------------------------------------------------------


def _migration_1(conn: Connection) -> None:
    """Initial schema: items, topics, predictions (without sentiment), quarantine, cursors, alerts."""
    m = MetaData()
    _models_v1(m)
    _items_v1(m)
    _item_topics_v1(m)
    _predictions_v1(m)
    _quarantine_v1(m)
    _ingest_cursors_v1(m)
    _alerts_v1(m)
    m.create_all(conn, checkfirst=True)


def _migration_2(conn: Connection) -> None:
    """predictions.sentiment (P(positive) - P(negative), backfilled from probs) and the webhook/JSONL outbox."""
    columns = {c["name"] for c in inspect(conn).get_columns("predictions")}
    if "sentiment" not in columns:
        conn.execute(text("ALTER TABLE predictions ADD COLUMN sentiment FLOAT"))
    m = MetaData()
    old = Table(
        "predictions",
        m,
        Column("item_id", String(200)),
        Column("model_id", String(200)),
        Column("probs", Text),
        Column("sentiment", Float),
    )
    rows = conn.execute(select(old.c.item_id, old.c.model_id, old.c.probs).where(old.c.sentiment.is_(None))).all()
    for item_id, model_id, probs in rows:
        p = json.loads(probs)
        conn.execute(
            update(old)
            .where(old.c.item_id == item_id, old.c.model_id == model_id)
            .values(sentiment=float(p.get("positive", 0.0)) - float(p.get("negative", 0.0)))
        )
    Table("alerts", m, Column("id", Integer, primary_key=True))
    _outbox_v2(m)
    m.tables["outbox"].create(conn, checkfirst=True)
    # SQLite keeps the added column nullable; on other databases make it NOT NULL like a fresh schema
    if conn.dialect.name != "sqlite":
        conn.execute(text("ALTER TABLE predictions ALTER COLUMN sentiment SET NOT NULL"))


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial schema", _migration_1),
    (2, "predictions.sentiment; outbox", _migration_2),
]


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    found = conn.execute(select(schema_version.c.version).order_by(schema_version.c.version.desc()).limit(1)).scalar()
    return int(found or 0)


def migrate(engine: Engine, target: int | None = None) -> list[int]:
    """Bring the schema to ``target`` (default: the latest); returns the versions applied."""
    target = SCHEMA_VERSION if target is None else target
    with engine.begin() as conn:
        schema_version.create(conn, checkfirst=True)
        version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"{safe_url(engine)}: database schema version {version} is newer than this tlsuite understands "
            f"({SCHEMA_VERSION}); upgrade tlsuite"
        )
    applied = []
    for number, description, step in MIGRATIONS:
        if number <= version or number > target:
            continue
        try:
            with engine.begin() as conn:
                if current_version(conn) >= number:  # another process got there first
                    continue
                step(conn)
                conn.execute(
                    schema_version.insert().values(version=number, description=description, applied_at=utcnow())
                )
        except IntegrityError:
            continue  # a concurrent migrator recorded this version
        applied.append(number)
    return applied


# --------------------------------------------------------------------------------------------------
# engines
# --------------------------------------------------------------------------------------------------


def safe_url(engine_or_url: Any) -> str:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(str(engine_or_url))
    return url.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers (trends, alerts, reports) never block the ingester
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process never loses a committed batch
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def normalise_url(db: str | Path | None) -> str:
    """``None`` -> the default SQLite file; a plain path -> a SQLite file; otherwise an SQLAlchemy URL."""
    if db is None:
        return DEFAULT_DB
    value = str(db)
    if "://" not in value:
        return f"sqlite:///{Path(value).expanduser()}"
    return value


def sqlite_file(db: str | Path | None) -> Path | None:
    """The file of a SQLite database URL or path (``None`` for other databases, in-memory and ``file:`` URIs)."""
    try:
        url = make_url(normalise_url(db))
    except ArgumentError:
        return None
    database = url.database if url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def create_db_engine(db: str | Path | None = None) -> Engine:
    """An engine for ``db`` (URL or SQLite path), schema not yet checked; bad URLs raise :class:`ConfigError`."""
    url_text = normalise_url(db)
    try:
        url = make_url(url_text)
    except ArgumentError:
        raise ConfigError(
            f"--db {url_text!r}: not a database URL (e.g. sqlite:///monitor.db, postgresql+psycopg://user@host/db)"
        ) from None
    if url.get_backend_name() == "sqlite":
        database = url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).expanduser().resolve().parent
            if not folder.is_dir():
                raise ConfigError(f"--db {url_text}: folder {folder} does not exist")
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except NoSuchModuleError:
        raise ConfigError(
            f"--db {safe_url(url)}: unknown database kind '{url.drivername}' (e.g. sqlite:///monitor.db, postgresql+psycopg://user@host/db)"
        ) from None
    except (ImportError, ModuleNotFoundError) as exc:
        raise ConfigError(
            f"--db {safe_url(url)}: database driver missing ({exc}); install it, e.g. pip install psycopg"
        ) from None
    except ArgumentError as exc:
        raise ConfigError(f"--db {safe_url(url)}: {exc}") from None


def connect(db: str | Path | None = None) -> Engine:
    """Open (create or migrate) the monitor database at ``db``; errors say which database and why, on one line."""
    engine = create_db_engine(db)
    try:
        migrate(engine)
    except ConfigError:
        engine.dispose()
        raise
    except (OperationalError, SQLAlchemyError) as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigError(f"database {safe_url(engine)}: {reason}") from None
    return engine
