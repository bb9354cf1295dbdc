"""The Python API: embed the monitor in a business system.

Example::

    from tlsuite_finance_monitor.monitor import Monitor

    with Monitor("sqlite:///monitor.db", model="runs/finance-monitor/base", alerts="alerts.yaml") as m:
        stats = m.run("inbox/", follow=True, idle_timeout=600)   # what `tlsuite finance-monitor monitor` does
        print(stats.count_line(), stats.pending_deliveries)

    with Monitor("sqlite:///monitor.db", model="runs/finance-monitor/base", topics="topics.yaml", alerts="alerts.yaml") as m:
        stats = m.ingest([{"id": "n1", "published_at": "2026-03-02T09:15:00Z", "text": "Bank X posts a loss", "ticker": "BKX"}])
        print(stats.count_line())
        for row in m.trends(bucket="day"):
            print(row.topic, row.bucket_start, row.volume, row.share_negative)
        for alert in m.alerts():
            print(alert.message)
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, func, select

from tlsuite_core.errors import ConfigError, DataError

from . import alerts as alerting
from . import db
from .ingest import Ingestor, model_identity
from .records import Alert, BadRecord, IngestStats, NewsItem, RunStats, TrendRow
from .sources import to_item
from .topics import MeanPoolEncoder, TopicAssigner, base_encoder_ref, load_topic_rules
from .trends import parse_bucket
from .trends import trends as compute_trends


def resolve_model_id(engine: Engine, ref: str | None) -> str:
    """The model whose predictions to read: ``None`` -> the one used last; a stored model id (or a unique prefix of
    one); or a run folder (its id is derived from its run.json)."""
    m = db.models
    with engine.connect() as conn:
        known = [r.model_id for r in conn.execute(select(m.c.model_id).order_by(m.c.last_used_at.desc()))]
    if not known:
        raise ConfigError(
            f"database {db.safe_url(engine)} holds no predictions yet: run `tlsuite finance-monitor monitor` first"
        )
    if ref is None:
        return known[0]
    if ref in known:
        return ref
    path = Path(ref)
    if (path / "run.json").is_file():

        class _Run:
            run_dir = path.resolve()
            app = None

        model_id, _ = model_identity(_Run())
        suffix = model_id.split("/", 1)[1]
        for candidate in known:
            if candidate.endswith("/" + suffix):
                return candidate
        raise ConfigError(f"{ref}: this run has no predictions in the database (models there: {', '.join(known)})")
    matches = [k for k in known if k.startswith(ref) or k.split("#")[0].endswith(ref)]
    if len(matches) == 1:
        return matches[0]
    raise ConfigError(
        f"--model {ref!r}: {'ambiguous' if matches else 'unknown'} model (models in the database: {', '.join(known)})"
    )


def _is_stream(source: Any) -> bool:
    return source == "-" or hasattr(source, "read")


def check_source(
    source: str | Path | BinaryIO, *, fmt: str | None = None, follow: bool = False, poll: float = 2.0
) -> None:
    """What :meth:`Monitor.run` checks before reading: a known format, a positive poll interval, a source that exists
    (``-`` or a binary stream: stdin, which cannot be followed). Raises :class:`ConfigError` / :class:`DataError`."""
    if fmt is not None and fmt not in ("jsonl", "csv"):
        raise ConfigError(f"--format {fmt!r}: use jsonl or csv")
    if poll <= 0:
        raise ConfigError("--poll must be > 0")
    if _is_stream(source):
        if follow:
            raise ConfigError("--follow needs a file or folder, not stdin")
    elif not Path(source).exists():
        raise DataError("no such file or folder", path=source)


@contextlib.contextmanager
def _stop_on_signals(enabled: bool, on_signal: Callable[[int], None] | None) -> Iterator[threading.Event]:
    """An event set by SIGINT / SIGTERM while the block runs (handlers installed only when ``enabled`` and in the
    main thread, where Python allows it; the previous handlers come back afterwards)."""
    requested = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        requested.set()
        if on_signal is not None:
            on_signal(signum)

    previous = {}
    if enabled and threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Monitor:
    """Live sentiment monitoring: ingest items, keep trends per topic, raise and deliver alerts.

    Args:
        db: SQLAlchemy URL or SQLite file path (default ``sqlite:///monitor.db``).
        model: a run folder, or an app name (its latest completed run under ``runs_dir``) for
            :func:`tlsuite_core.load_app`, or an object with ``predict(texts)``,
            ``labels`` and ``model_id``. Without it the monitor reads (trends, alerts, reports) but cannot ingest.
        model_id: which stored model's predictions to read when ``model`` is not given (default: the last used).
        topics: topic rule file path, or a :class:`TopicAssigner` (default: the items' own topics, else ``other``).
        alerts: alert rules file path, an :class:`~.alerts.AlertConfig`, ``None`` for the default rules, or ``False``
            for no alerting.
        bucket: overrides the alert config's bucket (also the default bucket of :meth:`trends`).
        on_alert: called with each new :class:`Alert` (the console sink of the CLI uses it).
    """

    def __init__(
        self,
        db_url: str | Path | None = None,
        model: Any = None,
        *,
        model_id: str | None = None,
        topics: str | Path | TopicAssigner | None = None,
        alerts: str | Path | alerting.AlertConfig | None | bool = None,
        bucket: str | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        threads: int | None = None,
        runs_dir: str | Path = "runs",
        on_alert: Callable[[Alert], None] | None = None,
    ) -> None:
        self.db_url = db.normalise_url(db_url)
        self.model = model
        self._model_id = model_id
        self._model_resolved = False
        self.topics_spec = topics
        self.batch_size = batch_size
        self.device = device
        self.threads = threads
        self.runs_dir = runs_dir
        self.on_alert = on_alert
        if alerts is False:
            self.alert_config: alerting.AlertConfig | None = None
        elif isinstance(alerts, alerting.AlertConfig):
            self.alert_config = alerts
        else:
            self.alert_config = alerting.load_alert_config(alerts if alerts is not True else None, bucket=bucket)
        if self.alert_config is not None and bucket:
            self.alert_config.bucket = parse_bucket(bucket)
        self.bucket = (
            parse_bucket(bucket) if bucket else (self.alert_config.bucket if self.alert_config else parse_bucket("day"))
        )
        self.engine: Engine | None = None
        self.ingestor: Ingestor | None = None
        self.classifier: Any = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.watch_stats = IngestStats()
        self.watch_error: BaseException | None = None

    # ----------------------------------------------------------------------------------------------
    # lifecycle
    # ----------------------------------------------------------------------------------------------

    def start(self) -> Monitor:
        """Open (create or migrate) the database and load the classifier and topic methods."""
        if self.engine is not None:
            return self
        assigner = (
            self.topics_spec if isinstance(self.topics_spec, TopicAssigner) else load_topic_rules(self.topics_spec)
        )
        self.engine = db.connect(self.db_url)
        try:
            if self.model is not None:
                if isinstance(self.model, (str, Path)):
                    from tlsuite_core import load_app

                    from .. import APP

                    self.classifier = load_app(
                        self.model, device=self.device, threads=self.threads, runs_dir=self.runs_dir, app=APP.name
                    )
                else:
                    self.classifier = self.model
                if assigner.needs_encoder:
                    ref = assigner.zero_shot.encoder or base_encoder_ref(self.classifier)  # type: ignore[union-attr]
                    assigner.set_encoder(MeanPoolEncoder(ref, device=self.device))
                if assigner.classifier is not None:
                    from tlsuite_core import load_app

                    assigner.set_classifier(
                        load_app(assigner.classifier.model, device=self.device, threads=self.threads)
                    )
                negative = self.alert_config.negative_label if self.alert_config else "negative"
                self.ingestor = Ingestor(
                    self.engine, self.classifier, assigner, batch_size=self.batch_size, negative_label=negative
                )
                self._model_id = self.ingestor.model_id
        except BaseException:
            self.engine.dispose()
            self.engine = None
            raise
        return self

    def stop(self) -> None:
        """Stop a :meth:`watch` thread (after its current batch) and close the database."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    def __enter__(self) -> Monitor:  # noqa: PYI034 (typing.Self needs Python 3.11)
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _engine(self) -> Engine:
        if self.engine is None:
            self.start()
        assert self.engine is not None
        return self.engine

    def _ingestor(self) -> Ingestor:
        self._engine()
        if self.ingestor is None:
            raise ConfigError("this Monitor has no model: give model=RUN to ingest")
        return self.ingestor

    @property
    def model_id(self) -> str:
        if self.ingestor is not None:
            return self.ingestor.model_id
        if not self._model_resolved:
            self._model_id = resolve_model_id(self._engine(), self._model_id)
            self._model_resolved = True
        assert self._model_id is not None
        return self._model_id

    # ----------------------------------------------------------------------------------------------
    # ingest
    # ----------------------------------------------------------------------------------------------

    def ingest(
        self, items: Iterable[dict[str, Any] | NewsItem], *, origin: str = "api", check_alerts: bool = True
    ) -> IngestStats:
        """Ingest items given as dicts (the JSONL fields) or :class:`NewsItem`; bad ones are quarantined."""
        tag = f"{origin}@{db.utcnow().isoformat()}"
        records: list[NewsItem | BadRecord] = []
        for n, item in enumerate(items, start=1):
            if isinstance(item, NewsItem):
                records.append(item)
            elif isinstance(item, dict):
                import json

                records.append(to_item(item, tag, f"item {n}", json.dumps(item, default=str)[:2000]))
            else:
                records.append(
                    BadRecord(
                        tag, f"item {n}", f"invalid record: a {type(item).__name__}, not a mapping", repr(item)[:2000]
                    )
                )
        with self._lock:
            stats = self._ingestor().ingest_items(records)
            if check_alerts:
                self._after(stats)
        return stats

    def ingest_path(
        self,
        path: str | Path,
        *,
        fmt: str | None = None,
        final: bool = True,
        check_alerts: bool = True,
        should_stop: Callable[[], bool] | None = None,
    ) -> IngestStats:
        """Ingest a JSONL/CSV file or a folder of them from where the last run stopped."""
        with self._lock:
            stats = self._ingestor().ingest_path(path, fmt, final=final, should_stop=should_stop)
            if check_alerts:
                self._after(stats)
        return stats

    def ingest_stream(
        self, fh: Any, *, fmt: str = "jsonl", origin: str = "stdin", check_alerts: bool = True
    ) -> IngestStats:
        with self._lock:
            stats = self._ingestor().ingest_stream(fh, fmt, f"{origin}@{db.utcnow().isoformat()}")
            if check_alerts:
                self._after(stats)
        return stats

    def follow(
        self,
        path: str | Path,
        *,
        fmt: str | None = None,
        poll: float = 2.0,
        idle_timeout: float | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_cycle: Callable[[IngestStats], None] | None = None,
    ) -> IngestStats:
        """Keep reading a growing file or a folder of new files, every ``poll`` seconds, until ``should_stop()``
        or ``idle_timeout`` seconds without a new record."""
        total = IngestStats()
        last_new = time.monotonic()
        stop = should_stop or (lambda: False)

        def stopping() -> bool:
            return stop() or self._stop.is_set()

        while not stopping():
            cycle = self.ingest_path(path, fmt=fmt, final=False, should_stop=stopping)
            if cycle.read == 0:
                self.deliver()  # retry due deliveries while the stream is quiet
            total.add(cycle)
            total.held = cycle.held  # what the latest pass left: earlier held lines may be complete now
            if on_cycle is not None:
                on_cycle(cycle)
            if cycle.read:
                last_new = time.monotonic()
            elif idle_timeout is not None and time.monotonic() - last_new >= idle_timeout:
                break
            deadline = time.monotonic() + poll
            while not stopping() and time.monotonic() < deadline:
                time.sleep(min(0.05, poll))
        return total

    def run(
        self,
        source: str | Path | BinaryIO,
        *,
        fmt: str | None = None,
        follow: bool = False,
        poll: float = 2.0,
        idle_timeout: float | None = None,
        deliver_timeout: float = 30.0,
        handle_signals: bool = True,
        should_stop: Callable[[], bool] | None = None,
        on_cycle: Callable[[IngestStats], None] | None = None,
        on_signal: Callable[[int], None] | None = None,
    ) -> RunStats:
        """Ingest a source, raise alerts, deliver them: what ``tlsuite finance-monitor monitor`` does.

        ``source`` is a JSONL/CSV file or a folder of them (resumable: read from where the last run stopped), ``"-"``
        for stdin, or a binary stream (``fmt`` defaults to jsonl there; idempotent by id only). With ``follow``, a
        file or folder is read again every ``poll`` seconds (``on_cycle(stats)`` after each pass) until
        ``idle_timeout`` seconds pass without a new record, ``should_stop()`` is true, or SIGINT / SIGTERM arrives:
        with ``handle_signals`` (and when called from the main thread) those finish the current batch and end the run
        cleanly, calling ``on_signal(signum)`` first; the previous handlers are put back afterwards. At the end,
        JSONL/webhook deliveries are retried for up to ``deliver_timeout`` seconds; the ones still undelivered stay in
        the outbox and are counted in ``pending_deliveries``.
        """
        check_source(source, fmt=fmt, follow=follow, poll=poll)
        if _is_stream(source):
            fh = sys.stdin.buffer if source == "-" else source
            stats = self.ingest_stream(fh, fmt=fmt or "jsonl")
        elif follow:
            with _stop_on_signals(handle_signals, on_signal) as requested:

                def stopping() -> bool:
                    return requested.is_set() or (should_stop is not None and should_stop())

                stats = self.follow(
                    source, fmt=fmt, poll=poll, idle_timeout=idle_timeout, should_stop=stopping, on_cycle=on_cycle
                )
        else:
            # a file's last line without its newline may still be being written: held for the next run
            stats = self.ingest_path(source, fmt=fmt, final=False, should_stop=should_stop)
        result = RunStats()
        result.add(stats)
        result.pending_deliveries = self.deliver(timeout=deliver_timeout).pending
        return result

    def watch(self, path: str | Path, *, fmt: str | None = None, poll: float = 2.0) -> None:
        """Follow ``path`` in a background thread until :meth:`stop`; counts in ``watch_stats``, a crash in ``watch_error``."""
        self._ingestor()
        if self._thread is not None:
            raise ConfigError("this Monitor is already watching a source")
        self._stop.clear()

        def run() -> None:
            try:
                self.follow(path, fmt=fmt, poll=poll, on_cycle=self.watch_stats.add)
            except BaseException as exc:  # noqa: BLE001 (surfaced to the caller through watch_error)
                self.watch_error = exc

        self._thread = threading.Thread(target=run, name="tlsuite-monitor-watch", daemon=True)
        self._thread.start()

    def _after(self, stats: IngestStats) -> None:
        if self.alert_config is None or not stats.stored and not stats.rescored:
            return
        since = stats.first_published
        if stats.rescored:
            since = None  # older items got this model's predictions: look at everything
        stats.alerts.extend(self.check_alerts(since=since))
        self.deliver()

    # ----------------------------------------------------------------------------------------------
    # alerts
    # ----------------------------------------------------------------------------------------------

    def check_alerts(self, *, since: datetime | None = None, until: datetime | None = None) -> list[Alert]:
        """Evaluate the alert rules over buckets from ``since`` (default: all); returns the new alerts."""
        if self.alert_config is None:
            return []
        return alerting.evaluate(
            self._engine(), self.model_id, self.alert_config, since=since, until=until, on_alert=self.on_alert
        )

    def deliver(self, timeout: float = 0.0) -> alerting.DeliveryStats:
        """Deliver due outbox rows (JSONL, webhooks); with ``timeout``, keep retrying for up to that many seconds."""
        if self.alert_config is None or not self.alert_config.outbox_sinks:
            return alerting.DeliveryStats()
        dispatcher = alerting.Dispatcher(self._engine(), self.alert_config.sinks)
        return dispatcher.flush(timeout) if timeout > 0 else dispatcher.deliver_due()

    def alerts(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        topic: str | None = None,
        limit: int | None = None,
        all_models: bool = False,
    ) -> list[Alert]:
        return alerting.list_alerts(
            self._engine(),
            model_id=None if all_models else self.model_id,
            since=since,
            until=until,
            topic=topic,
            limit=limit,
        )

    # ----------------------------------------------------------------------------------------------
    # queries
    # ----------------------------------------------------------------------------------------------

    def trends(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        bucket: str | None = None,
        topics: Sequence[str] | None = None,
    ) -> list[TrendRow]:
        return compute_trends(
            self._engine(), self.model_id, bucket or self.bucket, since=since, until=until, topics=topics
        )

    def top_negative(
        self, topic: str, *, since: datetime | None = None, until: datetime | None = None, limit: int = 5
    ) -> list[dict[str, Any]]:
        return alerting.evidence_items(
            self._engine(), self.model_id, topic, since or datetime(1900, 1, 1), until or datetime(2200, 1, 1), limit
        )

    def topics(self) -> list[str]:
        with self._engine().connect() as conn:
            return list(
                conn.execute(select(db.item_topics.c.topic).distinct().order_by(db.item_topics.c.topic)).scalars()
            )

    def quarantine(
        self, *, limit: int | None = 100, reason: str | None = None, origin: str | None = None
    ) -> list[dict[str, Any]]:
        """Quarantined records in the order they arrived: origin (file or stream), position (line), reason, the raw
        record (clipped), the item id when it had one. ``reason`` / ``origin`` keep rows containing that text."""
        q = db.quarantine
        query = select(q).order_by(q.c.id)
        if reason:
            query = query.where(q.c.reason.contains(reason, autoescape=True))
        if origin:
            query = query.where(q.c.origin.contains(origin, autoescape=True))
        if limit is not None:
            query = query.limit(limit)
        with self._engine().connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def counts(self) -> dict[str, int]:
        """Rows per table: items, predictions (this model), quarantine, alerts (this model), pending deliveries."""
        engine = self._engine()
        with engine.connect() as conn:

            def n(table: Any, *where: Any) -> int:
                query = select(func.count()).select_from(table)
                if where:
                    query = query.where(*where)
                return int(conn.execute(query).scalar() or 0)

            model = self.model_id
            return {
                "items": n(db.items),
                "predictions": n(db.predictions, db.predictions.c.model_id == model),
                "quarantine": n(db.quarantine),
                "alerts": n(db.alerts, db.alerts.c.model_id == model),
                "pending_deliveries": n(db.outbox, db.outbox.c.status == "pending"),
            }

    def report(
        self, output: str | Path, *, since: datetime | None = None, until: datetime | None = None, top: int = 5
    ) -> Path:
        """Write the self-contained HTML report (trend charts, alerts with evidence, top negative items per topic)."""
        from .report import write_report

        return write_report(self, Path(output), since=since, until=until, top=top)
