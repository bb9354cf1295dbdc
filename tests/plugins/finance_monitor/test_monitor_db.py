"""finance-monitor database: fresh schema, migration from an older version, refusal of a newer one, bad URLs."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
)
from tlsuite_finance_monitor.monitor import db as mdb

from tlsuite_core.errors import ConfigError


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    pg = os.environ.get("TLSUITE_TEST_PG_URL")
    if not pg:
        pytest.skip("TLSUITE_TEST_PG_URL not set")
    engine = mdb.create_db_engine(pg)
    with engine.begin() as conn:
        mdb.metadata.drop_all(conn)
        mdb.schema_version.drop(conn, checkfirst=True)
    engine.dispose()
    return pg


def test_fresh_database_is_at_the_latest_version(url):
    engine = mdb.connect(url)
    with engine.connect() as conn:
        assert mdb.current_version(conn) == mdb.SCHEMA_VERSION
        tables = set(inspect(conn).get_table_names())
    assert set(mdb.metadata.tables) <= tables
    assert mdb.migrate(engine) == []  # nothing to do the second time
    engine.dispose()


def test_migration_from_version_1_keeps_data_and_backfills(url):
    engine = mdb.create_db_engine(url)
    assert mdb.migrate(engine, target=1) == [1]
    with engine.connect() as conn:
        assert "outbox" not in inspect(conn).get_table_names()
        assert "sentiment" not in {c["name"] for c in inspect(conn).get_columns("predictions")}
    v1 = MetaData()
    models = Table(
        "models",
        v1,
        Column("model_id", String),
        Column("ref", Text),
        Column("labels", Text),
        Column("created_at", DateTime),
        Column("last_used_at", DateTime),
    )
    items = Table(
        "items",
        v1,
        Column("id", String),
        Column("published_at", DateTime),
        Column("text", Text),
        Column("content_hash", String),
        Column("origin", String),
        Column("position", String),
        Column("ingested_at", DateTime),
    )
    preds = Table(
        "predictions",
        v1,
        Column("item_id", String),
        Column("model_id", String),
        Column("label", String),
        Column("score", Float),
        Column("p_negative", Float),
        Column("probs", Text),
        Column("created_at", DateTime),
    )
    now = mdb.utcnow()
    with engine.begin() as conn:
        conn.execute(
            models.insert().values(
                model_id="m", ref="m", labels='["positive","neutral","negative"]', created_at=now, last_used_at=now
            )
        )
        conn.execute(
            items.insert().values(
                id="i1", published_at=now, text="t", content_hash="h", origin="f", position="line 1", ingested_at=now
            )
        )
        conn.execute(
            preds.insert().values(
                item_id="i1",
                model_id="m",
                label="negative",
                score=0.7,
                p_negative=0.7,
                probs=json.dumps({"positive": 0.1, "neutral": 0.2, "negative": 0.7}),
                created_at=now,
            )
        )
    engine.dispose()
    engine = mdb.connect(url)  # migrates 1 -> 2
    with engine.connect() as conn:
        assert mdb.current_version(conn) == 2
        assert "outbox" in inspect(conn).get_table_names()
        sentiment = conn.execute(select(mdb.predictions.c.sentiment)).scalar()
        versions = conn.execute(select(mdb.schema_version.c.version)).scalars().all()
    assert sentiment == pytest.approx(-0.6)
    assert sorted(versions) == [1, 2]
    engine.dispose()


def test_an_interrupted_migration_runs_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = mdb.create_db_engine(url)
    mdb.migrate(engine, target=1)
    with engine.begin() as conn:  # as if killed after migration 2's DDL but before it was recorded
        mdb._migration_2(conn)
    assert mdb.migrate(engine) == [2]
    engine.dispose()


def test_newer_schema_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = mdb.connect(url)
    with engine.begin() as conn:
        conn.execute(mdb.schema_version.insert().values(version=99, description="future", applied_at=mdb.utcnow()))
    engine.dispose()
    with pytest.raises(ConfigError, match="newer than this tlsuite"):
        mdb.connect(url)


def test_bad_database_references(tmp_path):
    with pytest.raises(ConfigError, match="not a database URL"):
        mdb.connect("://nothing")
    with pytest.raises(ConfigError, match="unknown database kind 'nonsense'"):
        mdb.connect("nonsense://host/db")
    with pytest.raises(ConfigError, match="does not exist"):
        mdb.connect(tmp_path / "no" / "such" / "m.db")
    assert mdb.normalise_url(tmp_path / "x.db") == f"sqlite:///{tmp_path / 'x.db'}"
