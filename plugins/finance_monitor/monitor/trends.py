"""Time buckets and per-topic sentiment trends, computed from the stored predictions of one model."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from tlsuite_core.errors import ConfigError

from . import db
from .records import TrendRow

EPOCH_MONDAY = datetime(1970, 1, 5)  # weeks start on Monday 00:00 UTC
NAMED = {"hour": "1h", "hourly": "1h", "day": "1d", "daily": "1d", "week": "1w", "weekly": "1w"}


@dataclass(frozen=True)
class Bucket:
    """A bucket size: ``hour``, ``6h``, ``day``, ``week``, or ``<N>h`` / ``<N>d`` / ``<N>w``; aligned to UTC midnight
    (hours/days) or Monday (weeks)."""

    name: str
    size: timedelta

    def floor(self, when: datetime) -> datetime:
        origin = EPOCH_MONDAY if self.size % timedelta(weeks=1) == timedelta(0) else datetime(1970, 1, 1)
        steps = (when - origin) // self.size
        return origin + steps * self.size

    def __str__(self) -> str:
        return self.name


def parse_bucket(value: str | Bucket) -> Bucket:
    if isinstance(value, Bucket):
        return value
    text = str(value).strip().lower()
    text = NAMED.get(text, text)
    match = re.fullmatch(r"(\d+)\s*([hdw])", text)
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(f"bucket {value!r}: use hour, 6h, day, week (or <N>h, <N>d, <N>w)")
    n, unit = int(match.group(1)), match.group(2)
    size = {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
    name = {"1h": "hour", "1d": "day", "1w": "week"}.get(f"{n}{unit}", f"{n}{unit}")
    return Bucket(name, size)


@dataclass
class Scored:
    """One (item, topic) row with its prediction, as trends and alerts read it."""

    item_id: str
    topic: str
    published_at: datetime
    label: str
    p_negative: float
    sentiment: float


def fetch_scored(
    engine: Engine,
    model_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    topics: Sequence[str] | None = None,
) -> list[Scored]:
    i, t, p = db.items, db.item_topics, db.predictions
    query = (
        select(i.c.id, t.c.topic, i.c.published_at, p.c.label, p.c.p_negative, p.c.sentiment)
        .join(t, t.c.item_id == i.c.id)
        .join(p, p.c.item_id == i.c.id)
        .where(p.c.model_id == model_id)
    )
    if since is not None:
        query = query.where(i.c.published_at >= since)
    if until is not None:
        query = query.where(i.c.published_at < until)
    if topics:
        query = query.where(t.c.topic.in_(list(topics)))
    with engine.connect() as conn:
        return [Scored(*row) for row in conn.execute(query)]


def model_labels(engine: Engine, model_id: str) -> list[str]:
    with engine.connect() as conn:
        found = conn.execute(select(db.models.c.labels).where(db.models.c.model_id == model_id)).scalar()
    return json.loads(found) if found else ["positive", "neutral", "negative"]


def aggregate(rows: Iterable[Scored], bucket: Bucket, labels: Sequence[str]) -> list[TrendRow]:
    """Trend rows for the buckets that have items, sorted by topic then time."""
    groups: dict[tuple[str, datetime], list[Scored]] = defaultdict(list)
    for row in rows:
        groups[(row.topic, bucket.floor(row.published_at))].append(row)
    out = []
    for (topic, start), members in sorted(groups.items()):
        n = len(members)
        counts = {label: 0 for label in labels}
        for m in members:
            counts[m.label] = counts.get(m.label, 0) + 1
        out.append(
            TrendRow(
                topic=topic,
                bucket_start=start,
                volume=n,
                counts=counts,
                shares={label: c / n for label, c in counts.items()},
                mean_sentiment=sum(m.sentiment for m in members) / n,
                mean_p_negative=sum(m.p_negative for m in members) / n,
            )
        )
    return out


def trends(
    engine: Engine,
    model_id: str,
    bucket: str | Bucket = "day",
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    topics: Sequence[str] | None = None,
) -> list[TrendRow]:
    b = parse_bucket(bucket)
    if since is not None:
        since = b.floor(since)
    return aggregate(
        fetch_scored(engine, model_id, since=since, until=until, topics=topics), b, model_labels(engine, model_id)
    )


def dense_series(
    rows: Sequence[TrendRow], bucket: Bucket, start: datetime, end: datetime
) -> dict[str, list[tuple[datetime, TrendRow | None]]]:
    """Per topic, every bucket from ``start`` to ``end`` (inclusive), ``None`` where a bucket has no items."""
    by_topic: dict[str, dict[datetime, TrendRow]] = defaultdict(dict)
    for r in rows:
        by_topic[r.topic][r.bucket_start] = r
    out = {}
    for topic, found in by_topic.items():
        series = []
        when = bucket.floor(start)
        while when <= end:
            series.append((when, found.get(when)))
            when += bucket.size
        out[topic] = series
    return out


def parse_when(value: str | None, what: str) -> datetime | None:
    """``--since`` / ``--until``: ISO 8601 date or time (UTC unless an offset is given), or ``-7d`` / ``-12h``."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    match = re.fullmatch(r"-(\d+)\s*([hdw])", text)
    if match:
        n, unit = int(match.group(1)), match.group(2)
        return db.utcnow() - {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
    from .sources import parse_timestamp

    try:
        return parse_timestamp(text)
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(
            f"{what} {value!r}: use an ISO 8601 date/time (2026-01-31, 2026-01-31T06:00Z) or -7d / -12h"
        ) from None
