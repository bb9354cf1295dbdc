"""Conversation state per session id, stored with SQLAlchemy (SQLite by default, any SQLAlchemy URL, e.g.
PostgreSQL): the last turns, the filled slots, a pending question, the failure count and escalations.

Tables::

    cs_sessions     session_id, state (JSON: turns, slots, pending, failures, escalated), updated_at
    cs_escalations  id, session_id, reason, intent, message, created_at
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from tlsuite_core.errors import ConfigError

DEFAULT_DB = "sqlite:///customer-service.db"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class SessionState:
    """What the bot remembers of one conversation."""

    turns: list[dict[str, Any]] = field(default_factory=list)
    slots: dict[str, str] = field(default_factory=dict)
    pending: dict[str, Any] | None = None
    failures: int = 0
    escalated: str | None = None

    def add_turn(self, user: str, reply: str, intent: str, keep: int) -> None:
        self.turns.append({"user": user, "bot": reply, "intent": intent})
        del self.turns[: max(0, len(self.turns) - keep)]


class Store:
    """Sessions and escalations in one database; each ``save`` is one transaction."""

    def __init__(self, url: str = DEFAULT_DB) -> None:
        from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, create_engine
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        self.metadata = MetaData()
        self.sessions = Table(
            "cs_sessions",
            self.metadata,
            Column("session_id", String(200), primary_key=True),
            Column("state", Text, nullable=False),
            Column("updated_at", DateTime, nullable=False),
        )
        self.escalations = Table(
            "cs_escalations",
            self.metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("session_id", String(200), nullable=False, index=True),
            Column("reason", String(100), nullable=False),
            Column("intent", String(200)),
            Column("message", Text, nullable=False),
            Column("created_at", DateTime, nullable=False),
        )
        try:
            self.engine = create_engine(url)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise ConfigError(f"--db {url}: not a usable database URL ({str(exc).splitlines()[0]})") from None
        from sqlalchemy.exc import SQLAlchemyError

        try:
            self.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise ConfigError(f"--db {url}: cannot open the database ({str(exc).splitlines()[0]})") from None

    def load(self, session_id: str) -> SessionState:
        from sqlalchemy import select

        with self.engine.connect() as conn:
            row = conn.execute(select(self.sessions.c.state).where(self.sessions.c.session_id == session_id)).first()
        return SessionState(**json.loads(row[0])) if row else SessionState()

    def save(self, session_id: str, state: SessionState, escalation: dict[str, Any] | None = None) -> None:
        from sqlalchemy import delete

        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(delete(self.sessions).where(self.sessions.c.session_id == session_id))
            conn.execute(
                self.sessions.insert().values(
                    session_id=session_id, state=json.dumps(asdict(state), ensure_ascii=False), updated_at=now
                )
            )
            if escalation is not None:
                conn.execute(self.escalations.insert().values(session_id=session_id, created_at=now, **escalation))

    def escalation_log(self, session_id: str | None = None) -> list[dict[str, Any]]:
        from sqlalchemy import select

        query = select(self.escalations).order_by(self.escalations.c.id)
        if session_id is not None:
            query = query.where(self.escalations.c.session_id == session_id)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def close(self) -> None:
        self.engine.dispose()
