"""Plain records passed between the monitor's parts (parsing, storage, trends, alerts)."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class NewsItem:
    """One validated news item, ready to classify and store.

    ``published_at`` is naive UTC. ``text`` is what the model reads (``text``, or ``title`` + ``body``).
    ``topics`` come from the item itself (``topic``/``topics``); ``tickers`` from ``ticker``/``tickers``.
    ``origin`` and ``position`` say where it was read (file and line) for messages and quarantine.
    """

    id: str
    published_at: datetime
    text: str
    title: str | None = None
    source: str | None = None
    topics: list[str] = field(default_factory=list)
    tickers: list[str] = field(default_factory=list)
    origin: str = ""
    position: str = ""

    @property
    def content_hash(self) -> str:
        """What "the same item" means for idempotency: id aside, the same time, text and source."""
        payload = "\x1f".join((self.published_at.isoformat(), self.text, self.source or ""))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class BadRecord:
    """A record that cannot be stored; it goes to the quarantine table with its reason and position."""

    origin: str
    position: str
    reason: str
    raw: str
    item_id: str | None = None


@dataclass
class IngestStats:
    """Counts of one ingest call or run: ``read == stored + duplicates + quarantined`` always holds.

    ``rescored`` counts duplicates (items already stored) that got a first prediction from this model.
    """

    read: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    rescored: int = 0
    batches: int = 0
    model_seconds: float = 0.0
    topic_seconds: float = 0.0
    total_seconds: float = 0.0
    first_published: datetime | None = None
    last_published: datetime | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    #: ``file:line`` of last lines without their newline yet: not read, read once complete (next run or poll)
    held: list[str] = field(default_factory=list)

    def add(self, other: IngestStats) -> None:
        for name in ("read", "stored", "duplicates", "quarantined", "rescored", "batches"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("model_seconds", "topic_seconds", "total_seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.quarantine_reasons.items():
            self.quarantine_reasons[reason] = self.quarantine_reasons.get(reason, 0) + n
        self.alerts.extend(other.alerts)
        self.held = [h for h in self.held if h not in other.held] + other.held
        self.note_published(other.first_published)
        self.note_published(other.last_published)

    def note_published(self, when: datetime | None) -> None:
        if when is None:
            return
        if self.first_published is None or when < self.first_published:
            self.first_published = when
        if self.last_published is None or when > self.last_published:
            self.last_published = when

    @property
    def balanced(self) -> bool:
        return self.read == self.stored + self.duplicates + self.quarantined

    def count_line(self) -> str:
        line = (
            f"read {self.read} = stored {self.stored} + duplicates {self.duplicates} + quarantined {self.quarantined}"
        )
        if self.rescored:
            line += f" ({self.rescored} of the duplicates newly scored by this model)"
        return line

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["alerts"] = [a.key for a in self.alerts]
        for key in ("first_published", "last_published"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


@dataclass
class RunStats(IngestStats):
    """Counts of one :meth:`Monitor.run <tlsuite_finance_monitor.monitor.Monitor.run>`: the ingest counts, plus the
    deliveries still pending after its final delivery attempt (the next run or ``alerts --deliver`` retries them)."""

    pending_deliveries: int = 0


@dataclass
class TrendRow:
    """Sentiment of one topic in one time bucket. ``mean_sentiment`` is the mean of P(positive) - P(negative)."""

    topic: str
    bucket_start: datetime
    volume: int
    counts: dict[str, int]
    shares: dict[str, float]
    mean_sentiment: float
    mean_p_negative: float

    @property
    def share_negative(self) -> float:
        return self.shares.get("negative", 0.0)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["bucket_start"] = self.bucket_start.isoformat()
        return out


@dataclass
class Alert:
    """One alert: one per episode of a rule firing for a topic (consecutive firing buckets within the cooldown)."""

    key: str
    rule: str
    kind: str
    topic: str
    model_id: str
    bucket: str
    bucket_start: datetime
    last_bucket: datetime
    value: float
    threshold: float
    volume: int
    message: str
    evidence: list[dict[str, Any]]
    created_at: datetime
    id: int | None = None
    deliveries: dict[str, str] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The JSON sent to sinks. ``key`` is stable: receivers dedupe on it (also sent as Idempotency-Key)."""
        return {
            "key": self.key,
            "rule": self.rule,
            "kind": self.kind,
            "topic": self.topic,
            "model_id": self.model_id,
            "bucket": self.bucket,
            "bucket_start": self.bucket_start.isoformat() + "Z",
            "last_bucket": self.last_bucket.isoformat() + "Z",
            "value": self.value,
            "threshold": self.threshold,
            "volume": self.volume,
            "message": self.message,
            "evidence": self.evidence,
            "created_at": self.created_at.isoformat() + "Z",
        }
