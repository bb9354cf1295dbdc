"""Alert rules, episode detection, and delivery to sinks through an outbox table.

Rules file (YAML)::

    bucket: 6h                 # hour, 6h, day, week, <N>h/<N>d/<N>w
    cooldown: 2                # a rule firing again within this many quiet buckets continues the same episode
    evidence: 3                # most negative items cited per alert
    negative_label: negative
    rules:
      - {name: negative-share, type: negative_share, threshold: 0.5, min_count: 20}
      - {name: negative-spike, type: negative_spike, z: 4.0, baseline: 8, min_count: 20, min_delta: 0.1}
      - {name: volume-surge, type: volume_surge, factor: 3.0, z: 4.0, baseline: 8, min_count: 20}
      # any rule may add  topics: [banking, energy]  to watch only those topics
    sinks:
      - {type: console}
      - {type: jsonl, path: alerts.jsonl}
      - {type: webhook, url: "https://hooks.example.com/finance", timeout: 5, backoff: 1.0, max_backoff: 300,
         headers: {Authorization: "Bearer ..."}}

One alert per episode: an episode starts at a bucket where a rule fires for a topic, and continues while the rule
fires again within ``cooldown`` buckets of its last firing bucket. JSONL and webhook deliveries go through the
``outbox`` table, written in the same transaction as the alert: a receiver that is down is retried with exponential
backoff (the outbox survives restarts), and each delivery carries the alert's stable ``key`` (also as the
``Idempotency-Key`` header) so a receiver can drop the rare repeat after a crash between send and record.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.exc import IntegrityError

from tlsuite_core.errors import ConfigError

from . import db
from .records import Alert
from .trends import (
    Bucket,
    aggregate,
    dense_series,
    fetch_scored,
    model_labels,
    parse_bucket,
)

KINDS = ("negative_share", "negative_spike", "volume_surge")


@dataclass
class Rule:
    name: str
    kind: str
    threshold: float = 0.5
    min_count: int = 20
    z: float = 4.0
    baseline: int = 8
    min_baseline: int = 4
    min_delta: float = 0.1
    min_sigma: float = 0.02
    factor: float = 3.0
    topics: list[str] | None = None


@dataclass
class Sink:
    kind: str
    path: str | None = None
    url: str | None = None
    timeout: float = 5.0
    backoff: float = 1.0
    max_backoff: float = 300.0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return (
            f"jsonl:{self.path}"
            if self.kind == "jsonl"
            else f"webhook:{self.url}"
            if self.kind == "webhook"
            else self.kind
        )

    @property
    def uses_outbox(self) -> bool:
        return self.kind in ("jsonl", "webhook")


@dataclass
class AlertConfig:
    bucket: Bucket = field(default_factory=lambda: parse_bucket("6h"))
    cooldown: int = 2
    evidence: int = 3
    negative_label: str = "negative"
    rules: list[Rule] = field(default_factory=list)
    sinks: list[Sink] = field(default_factory=lambda: [Sink("console")])

    @property
    def outbox_sinks(self) -> list[Sink]:
        return [s for s in self.sinks if s.uses_outbox]

    @property
    def context_buckets(self) -> int:
        return max([r.baseline for r in self.rules] + [0]) + self.cooldown + 1


def default_rules() -> list[Rule]:
    return [
        Rule("negative-share", "negative_share", threshold=0.5, min_count=20),
        Rule("negative-spike", "negative_spike", z=4.0, baseline=8, min_count=20, min_delta=0.1),
        Rule("volume-surge", "volume_surge", factor=3.0, z=4.0, baseline=8, min_count=20),
    ]


def default_config(bucket: str = "6h") -> AlertConfig:
    return AlertConfig(bucket=parse_bucket(bucket), rules=default_rules())


def load_alert_config(path: str | Path | None, *, bucket: str | None = None) -> AlertConfig:
    """Read an alert rules file (see the module doc); ``None`` gives the default rules and a console sink."""
    if path is None:
        config = default_config()
        if bucket:
            config.bucket = parse_bucket(bucket)
        return config
    from tlsuite_core.files import read_yaml_mapping

    path = Path(path)
    data = read_yaml_mapping(
        path, "alert rules file", "a mapping with 'rules' (and optionally bucket, cooldown, evidence, sinks)"
    )
    unknown = set(data) - {"bucket", "cooldown", "evidence", "negative_label", "rules", "sinks"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        config = AlertConfig(
            bucket=parse_bucket(bucket or data.get("bucket", "6h")),
            cooldown=int(data.get("cooldown", 2)),
            evidence=int(data.get("evidence", 3)),
            negative_label=str(data.get("negative_label", "negative")),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if config.cooldown < 0 or config.evidence < 0:
        raise ConfigError(f"{path}: cooldown and evidence must be >= 0")
    raw_rules = data.get("rules")
    if raw_rules is None:
        config.rules = default_rules()
    else:
        if not isinstance(raw_rules, list):
            raise ConfigError(f"{path}: 'rules' must be a list")
        config.rules = [_rule(r, i, path) for i, r in enumerate(raw_rules, start=1)]
        names = [r.name for r in config.rules]
        if len(set(names)) != len(names):
            raise ConfigError(f"{path}: rule names must be unique ({', '.join(names)})")
    if data.get("sinks") is not None:
        if not isinstance(data["sinks"], list):
            raise ConfigError(f"{path}: 'sinks' must be a list")
        config.sinks = [_sink(s, i, path) for i, s in enumerate(data["sinks"], start=1)]
    return config


def _rule(spec: Any, number: int, path: Path) -> Rule:
    where = f"{path}: rule {number}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: must be a mapping with name and type")
    kind = spec.get("type")
    if kind not in KINDS:
        raise ConfigError(f"{where}: type must be one of {', '.join(KINDS)} (got {kind!r})")
    allowed = {"name", "type", "topics", "min_count"} | {
        "negative_share": {"threshold"},
        "negative_spike": {"z", "baseline", "min_baseline", "min_delta", "min_sigma"},
        "volume_surge": {"factor", "z", "baseline", "min_baseline"},
    }[kind]
    bad = set(spec) - allowed
    if bad:
        raise ConfigError(
            f"{where} ({kind}): unknown key(s) {', '.join(sorted(bad))} (allowed: {', '.join(sorted(allowed))})"
        )
    values = {k: v for k, v in spec.items() if k not in ("name", "type", "topics")}
    try:
        rule = Rule(
            name=str(spec.get("name") or f"{kind}-{number}"),
            kind=kind,
            **{k: (int(v) if k in ("min_count", "baseline", "min_baseline") else float(v)) for k, v in values.items()},
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    topics = spec.get("topics")
    if topics is not None:
        if isinstance(topics, str):
            topics = [topics]
        rule.topics = [str(t) for t in topics]
    if kind == "negative_share" and not 0 < rule.threshold <= 1:
        raise ConfigError(f"{where}: threshold must be a share in (0, 1]")
    if rule.baseline < 1 or rule.min_baseline < 1 or rule.min_baseline > rule.baseline:
        raise ConfigError(f"{where}: need 1 <= min_baseline <= baseline")
    return rule


def _sink(spec: Any, number: int, path: Path) -> Sink:
    where = f"{path}: sink {number}"
    if not isinstance(spec, dict) or spec.get("type") not in ("console", "jsonl", "webhook"):
        raise ConfigError(f"{where}: type must be console, jsonl or webhook")
    bad = set(spec) - {"type", "path", "url", "timeout", "backoff", "max_backoff", "headers"}
    if bad:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(bad))}")
    sink = Sink(
        kind=spec["type"],
        path=spec.get("path"),
        url=spec.get("url"),
        headers={str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
    )
    try:
        for key in ("timeout", "backoff", "max_backoff"):
            if key in spec:
                setattr(sink, key, float(spec[key]))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if sink.kind == "jsonl" and not sink.path:
        raise ConfigError(f"{where}: jsonl sink needs path")
    if sink.kind == "webhook" and not (sink.url and sink.url.startswith(("http://", "https://"))):
        raise ConfigError(f"{where}: webhook sink needs an http(s) url")
    return sink


# --------------------------------------------------------------------------------------------------
# detection
# --------------------------------------------------------------------------------------------------


def _stats(values: Sequence[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return mean, math.sqrt(var)


def fires(
    rule: Rule, history: Sequence[tuple[int, dict[str, int]]], volume: int, negatives: int, neg_label: str
) -> tuple[bool, float, str] | None:
    """Whether ``rule`` fires on a bucket (``volume`` items, ``negatives`` negative), given the trailing buckets'
    (volume, counts) (oldest first; volume 0 for empty buckets). Returns (fires, value, explanation)."""
    if volume < rule.min_count:
        return None
    share = negatives / volume
    if rule.kind == "negative_share":
        return (
            share >= rule.threshold,
            share,
            f"negative share {share:.2f} ({negatives}/{volume}) >= {rule.threshold:.2f}",
        )
    trailing = history[-rule.baseline :]
    if rule.kind == "negative_spike":
        shares = [c.get(neg_label, 0) / v for v, c in trailing if v > 0]
        if len(shares) < rule.min_baseline:
            return None
        mean, std = _stats(shares)
        sigma = max(std, math.sqrt(max(mean * (1 - mean), 1e-6) / volume), rule.min_sigma)
        z = (share - mean) / sigma
        return (
            (z >= rule.z and share - mean >= rule.min_delta),
            z,
            (
                f"negative share {share:.2f} ({negatives}/{volume}) vs baseline {mean:.2f} over {len(shares)} buckets: z = {z:.1f} >= {rule.z:.1f}"
            ),
        )
    volumes = [v for v, _ in trailing]
    if len(volumes) < rule.min_baseline:
        return None
    mean, std = _stats(volumes)
    sigma = max(std, math.sqrt(max(mean, 1.0)))
    z = (volume - mean) / sigma
    ratio = volume / mean if mean > 0 else float("inf")
    return (
        (volume >= rule.factor * mean and z >= rule.z),
        min(ratio, 1e9),
        (f"volume {volume} = {ratio:.1f}x the trailing mean {mean:.1f} (z = {z:.1f}) >= {rule.factor:.1f}x"),
    )


def alert_key(model_id: str, rule: str, topic: str, bucket_start: datetime) -> str:
    return hashlib.sha256(f"{model_id}|{rule}|{topic}|{bucket_start.isoformat()}".encode()).hexdigest()[:32]


def evidence_items(
    engine: Engine, model_id: str, topic: str, start: datetime, end: datetime, limit: int
) -> list[dict[str, Any]]:
    """The most negative items of a topic in [start, end): what an alert cites."""
    if limit <= 0:
        return []
    i, t, p = db.items, db.item_topics, db.predictions
    query = (
        select(i.c.id, i.c.published_at, i.c.source, i.c.text, p.c.label, p.c.p_negative)
        .join(t, and_(t.c.item_id == i.c.id, t.c.topic == topic))
        .join(p, and_(p.c.item_id == i.c.id, p.c.model_id == model_id))
        .where(i.c.published_at >= start, i.c.published_at < end)
        .order_by(p.c.p_negative.desc(), i.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [
            {
                "id": r.id,
                "published_at": r.published_at.isoformat() + "Z",
                "source": r.source,
                "label": r.label,
                "p_negative": round(float(r.p_negative), 4),
                "text": r.text if len(r.text) <= 300 else r.text[:297] + "...",
            }
            for r in conn.execute(query)
        ]


def _row_to_alert(row: Any) -> Alert:
    return Alert(
        key=row.key,
        rule=row.rule,
        kind=row.kind,
        topic=row.topic,
        model_id=row.model_id,
        bucket=row.bucket,
        bucket_start=row.bucket_start,
        last_bucket=row.last_bucket,
        value=row.value,
        threshold=row.threshold,
        volume=row.volume,
        message=row.message,
        evidence=json.loads(row.evidence),
        created_at=row.created_at,
        id=row.id,
    )


def evaluate(
    engine: Engine,
    model_id: str,
    config: AlertConfig,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    on_alert: Callable[[Alert], None] | None = None,
) -> list[Alert]:
    """Run the rules over the buckets from ``since`` (default: all) and store new alerts (with their outbox rows).

    Idempotent: evaluating the same data again creates nothing new. Returns the alerts created by this call.
    """
    b = config.bucket
    window_start = b.floor(since) if since is not None else None
    context_start = window_start - config.context_buckets * b.size if window_start is not None else None
    rows = fetch_scored(engine, model_id, since=context_start, until=until)
    if not rows:
        return []
    labels = model_labels(engine, model_id)
    trend = aggregate(rows, b, labels)
    first = min(r.bucket_start for r in trend)
    last = max(r.bucket_start for r in trend)
    series = dense_series(trend, b, first, last)
    created: list[Alert] = []
    quiet = (config.cooldown + 1) * b.size
    with engine.connect() as conn:
        existing = conn.execute(
            select(db.alerts)
            .where(
                db.alerts.c.model_id == model_id,
                db.alerts.c.bucket == b.name,
                db.alerts.c.last_bucket >= (context_start or datetime(1900, 1, 1)) - quiet,
            )
            .order_by(db.alerts.c.bucket_start)
        ).all()
    episodes: dict[tuple[str, str], list[Any]] = {}
    for row in existing:
        episodes.setdefault((row.rule, row.topic), []).append(
            {"id": row.id, "start": row.bucket_start, "last": row.last_bucket}
        )
    for topic in sorted(series):
        points = series[topic]
        # leading empty buckets (before the topic's first item) are not part of its history
        first_seen = next(k for k, (_, r) in enumerate(points) if r is not None)
        points = points[first_seen:]
        for rule in config.rules:
            if rule.topics is not None and topic not in rule.topics:
                continue
            history: list[tuple[int, dict[str, int]]] = []
            for when, row in points:
                volume = row.volume if row else 0
                counts = row.counts if row else {}
                if window_start is None or when >= window_start:
                    result = fires(rule, history, volume, counts.get(config.negative_label, 0), config.negative_label)
                    if result is not None and result[0]:
                        alert = _episode(engine, model_id, config, rule, topic, when, volume, result, episodes, quiet)
                        if alert is not None:
                            created.append(alert)
                            if on_alert is not None:
                                on_alert(alert)
                history.append((volume, counts))
    return created


def _episode(
    engine: Engine,
    model_id: str,
    config: AlertConfig,
    rule: Rule,
    topic: str,
    when: datetime,
    volume: int,
    result: tuple[bool, float, str],
    episodes: dict[tuple[str, str], list[Any]],
    quiet: timedelta,
) -> Alert | None:
    known = episodes.setdefault((rule.name, topic), [])
    before = [e for e in known if e["start"] <= when]
    if before:
        latest = before[-1]
        if when <= latest["last"] + quiet:
            if when > latest["last"]:
                latest["last"] = when
                with engine.begin() as conn:
                    conn.execute(update(db.alerts).where(db.alerts.c.id == latest["id"]).values(last_bucket=when))
            return None
    b = config.bucket
    _, value, explanation = result
    threshold = {"negative_share": rule.threshold, "negative_spike": rule.z, "volume_surge": rule.factor}[rule.kind]
    alert = Alert(
        key=alert_key(model_id, rule.name, topic, when),
        rule=rule.name,
        kind=rule.kind,
        topic=topic,
        model_id=model_id,
        bucket=b.name,
        bucket_start=when,
        last_bucket=when,
        value=float(value),
        threshold=float(threshold),
        volume=volume,
        message=f"{topic}: {explanation} in the {b.name} bucket from {when:%Y-%m-%d %H:%M} UTC ({rule.name})",
        evidence=evidence_items(engine, model_id, topic, when, when + b.size, config.evidence),
        created_at=db.utcnow(),
    )
    try:
        with engine.begin() as conn:
            alert.id = conn.execute(
                db.alerts.insert().values(
                    key=alert.key,
                    rule=alert.rule,
                    kind=alert.kind,
                    topic=alert.topic,
                    model_id=model_id,
                    bucket=b.name,
                    bucket_start=when,
                    last_bucket=when,
                    value=alert.value,
                    threshold=alert.threshold,
                    volume=volume,
                    message=alert.message,
                    evidence=json.dumps(alert.evidence),
                    created_at=alert.created_at,
                )
            ).inserted_primary_key[0]
            for sink in config.outbox_sinks:
                conn.execute(
                    db.outbox.insert().values(
                        alert_id=alert.id,
                        sink=sink.name,
                        status="pending",
                        attempts=0,
                        next_attempt_at=alert.created_at,
                    )
                )
                alert.deliveries[sink.name] = "pending"
    except IntegrityError:
        return None  # created concurrently (same key)
    known.append({"id": alert.id, "start": when, "last": when})
    known.sort(key=lambda e: e["start"])
    return alert


def list_alerts(
    engine: Engine,
    *,
    model_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    topic: str | None = None,
    limit: int | None = None,
) -> list[Alert]:
    """Stored alerts (newest episode first) with the delivery status of each outbox sink."""
    query = select(db.alerts)
    if model_id is not None:
        query = query.where(db.alerts.c.model_id == model_id)
    if since is not None:
        query = query.where(db.alerts.c.last_bucket >= since)
    if until is not None:
        query = query.where(db.alerts.c.bucket_start < until)
    if topic is not None:
        query = query.where(db.alerts.c.topic == topic)
    query = query.order_by(db.alerts.c.bucket_start.desc(), db.alerts.c.id.desc())
    if limit:
        query = query.limit(limit)
    with engine.connect() as conn:
        found = [_row_to_alert(r) for r in conn.execute(query)]
        if found:
            for row in conn.execute(
                select(db.outbox.c.alert_id, db.outbox.c.sink, db.outbox.c.status).where(
                    db.outbox.c.alert_id.in_([a.id for a in found])
                )
            ):
                next(a for a in found if a.id == row.alert_id).deliveries[row.sink] = row.status
    return found


# --------------------------------------------------------------------------------------------------
# delivery
# --------------------------------------------------------------------------------------------------


@dataclass
class DeliveryStats:
    delivered: int = 0
    failed_attempts: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    """Delivers outbox rows to the JSONL and webhook sinks; failed attempts back off exponentially, never give up."""

    def __init__(self, engine: Engine, sinks: Sequence[Sink], *, lease: float = 60.0) -> None:
        self.engine = engine
        self.sinks = {s.name: s for s in sinks if s.uses_outbox}
        self.lease = timedelta(seconds=lease)

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(db.outbox).where(db.outbox.c.status == "pending")
                ).scalar()
                or 0
            )

    def undelivered(self) -> list[tuple[str, int, str]]:
        """(sink, pending rows, reason) per sink and last error, for deliveries still pending: the last error of a
        failed attempt, or why nothing was tried (the sink is not in the rules, or the next retry is not due)."""
        o = db.outbox
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(o.c.sink, o.c.last_error, func.count())
                .where(o.c.status == "pending")
                .group_by(o.c.sink, o.c.last_error)
                .order_by(o.c.sink)
            ).all()
        out = []
        for sink, error, count in rows:
            if error:
                reason = error
            elif sink not in self.sinks:
                reason = "not attempted: this sink is not in the rules file"
            else:
                reason = "not attempted yet: the next retry is not due"
            out.append((sink, int(count), reason))
        return out

    def next_due(self) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.min(db.outbox.c.next_attempt_at)).where(
                    db.outbox.c.status == "pending", db.outbox.c.sink.in_(list(self.sinks))
                )
            ).scalar()

    def deliver_due(self) -> DeliveryStats:
        """One pass: try every due row of a configured sink once."""
        stats = DeliveryStats()
        now = db.utcnow()
        o, a = db.outbox, db.alerts
        with self.engine.connect() as conn:
            due = conn.execute(
                select(
                    o.c.id.label("outbox_id"),
                    o.c.sink.label("outbox_sink"),
                    o.c.attempts.label("outbox_attempts"),
                    o.c.next_attempt_at.label("outbox_next"),
                    a,
                )
                .join(a, a.c.id == o.c.alert_id)
                .where(o.c.status == "pending", o.c.next_attempt_at <= now, o.c.sink.in_(list(self.sinks)))
                .order_by(o.c.id)
            ).all()
        for row in due:
            # claim the row (another deliverer running at the same time skips it)
            with self.engine.begin() as conn:
                claimed = conn.execute(
                    update(o)
                    .where(
                        o.c.id == row.outbox_id,
                        o.c.status == "pending",
                        o.c.attempts == row.outbox_attempts,
                        o.c.next_attempt_at == row.outbox_next,
                    )
                    .values(next_attempt_at=now + self.lease)
                ).rowcount
            if claimed != 1:
                continue
            sink = self.sinks[row.outbox_sink]
            alert = _row_to_alert(row)
            error = self._send(sink, alert)
            attempts = row.outbox_attempts + 1
            with self.engine.begin() as conn:
                if error is None:
                    conn.execute(
                        update(o)
                        .where(o.c.id == row.outbox_id)
                        .values(status="delivered", attempts=attempts, delivered_at=db.utcnow(), last_error=None)
                    )
                    stats.delivered += 1
                else:
                    delay = min(sink.max_backoff, sink.backoff * (2 ** (attempts - 1)))
                    conn.execute(
                        update(o)
                        .where(o.c.id == row.outbox_id)
                        .values(
                            attempts=attempts,
                            last_error=error[:500],
                            next_attempt_at=db.utcnow() + timedelta(seconds=delay),
                        )
                    )
                    stats.failed_attempts += 1
                    stats.errors.append(f"{sink.name}: {error}")
        stats.pending = self.pending()
        return stats

    def flush(self, timeout: float = 30.0, *, sleep: Callable[[float], None] = time.sleep) -> DeliveryStats:
        """Deliver until nothing is pending for the configured sinks or ``timeout`` seconds passed."""
        total = DeliveryStats()
        deadline = time.monotonic() + timeout
        while True:
            stats = self.deliver_due()
            total.delivered += stats.delivered
            total.failed_attempts += stats.failed_attempts
            total.errors.extend(stats.errors)
            total.pending = stats.pending
            due = self.next_due()
            if due is None or time.monotonic() >= deadline:
                return total
            wait = max(0.0, (due - db.utcnow()).total_seconds())
            left = deadline - time.monotonic()
            if wait > left:
                return total
            sleep(min(wait, left) + 0.01)

    def _send(self, sink: Sink, alert: Alert) -> str | None:
        payload = alert.payload()
        if sink.kind == "jsonl":
            try:
                path = Path(sink.path or "")
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(payload, ensure_ascii=False) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                return None
            except OSError as exc:
                return f"cannot write {sink.path}: {exc.strerror or exc}"
        request = urllib.request.Request(
            sink.url or "",
            data=json.dumps(payload).encode("utf-8"),
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": alert.key,
                "User-Agent": "tlsuite-finance-monitor",
                **sink.headers,
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=sink.timeout) as response:
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"{type(exc).__name__}: {reason}"
