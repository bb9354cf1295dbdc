"""``tlsuite finance-monitor monitor | trends | alerts | report``: live sentiment monitoring on a database."""

# no `from __future__ import annotations` here: Typer reads the real annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tlsuite_core.errors import ConfigError, DataError

err = Console(stderr=True, highlight=False)

DB_HELP = "Database: SQLAlchemy URL (sqlite:///monitor.db, postgresql+psycopg://user@host/db) or a SQLite file path (default: $TLSUITE_MONITOR_DB or sqlite:///monitor.db)."


def _db(value: str | None) -> str:
    return value or os.environ.get("TLSUITE_MONITOR_DB") or "sqlite:///monitor.db"


def _print_alert(alert: Any) -> None:
    err.print(f"[bold yellow]ALERT[/] [bold]{escape(alert.topic)}[/] {escape(alert.message)}")
    for ev in alert.evidence:
        err.print(f"   [dim]{escape(str(ev['id']))} P(neg)={ev['p_negative']:.2f}[/] {escape(ev['text'][:140])}")


def _read_only_monitor(db: str | None, model: str | None, bucket: str | None = None) -> Any:
    from tlsuite_finance_monitor.monitor import Monitor

    return Monitor(_db(db), model_id=model, alerts=False, bucket=bucket)


def add_monitor_commands(app: typer.Typer) -> None:
    """Attach the monitoring commands to the finance-monitor command group."""

    @app.command(
        epilog=(
            "Examples: tlsuite finance-monitor monitor --model runs/finance-monitor/NAME --source news.jsonl  |  "
            "tlsuite finance-monitor monitor --source inbox/ --follow --topics topics.yaml --alerts alerts.yaml  |  "
            "cat news.jsonl | tlsuite finance-monitor monitor --source - --db postgresql+psycopg://me@db/monitor"
        )
    )
    def monitor(
        source: Annotated[str, typer.Option(help="JSONL/CSV file, a folder of them, or - for stdin.")],
        model: Annotated[str | None, typer.Option(help="Sentiment run folder (default: the app's latest completed run).")] = None,
        db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
        format: Annotated[str | None, typer.Option("--format", help="jsonl | csv (default: by suffix; stdin: jsonl).")] = None,
        topics: Annotated[Path | None, typer.Option(help="Topic rule file (YAML): companies/tickers/sectors/keywords -> topic, zero-shot, classifier.")] = None,
        alerts: Annotated[Path | None, typer.Option(help="Alert rules file (YAML): rules, bucket, cooldown, sinks (default: built-in rules, console).")] = None,
        no_alerts: Annotated[bool, typer.Option("--no-alerts", help="Ingest only; do not evaluate alert rules.")] = False,
        bucket: Annotated[str | None, typer.Option(help="Alert bucket: hour, 6h, day, week (overrides the rules file).")] = None,
        follow: Annotated[bool, typer.Option("--follow", help="Keep reading a growing file or new files in a folder.")] = False,
        poll: Annotated[float, typer.Option(help="--follow: seconds between polls.")] = 2.0,
        idle_timeout: Annotated[float | None, typer.Option(help="--follow: stop after this many seconds without new records (default: run until Ctrl-C / SIGTERM).")] = None,
        batch_size: Annotated[int, typer.Option(help="Items per classification batch and per database transaction.")] = 64,
        deliver_timeout: Annotated[float, typer.Option(help="At the end, keep retrying webhook/JSONL deliveries for up to this many seconds (undelivered ones stay in the outbox).")] = 30.0,
        device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N | mps.")] = "auto",
        threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
        runs_dir: Annotated[str | None, typer.Option(help="Where run folders are (default: $TLSUITE_RUNS_DIR or ./runs).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    ) -> None:
        """Classify news items (JSONL/CSV: id, published_at, text or title+body, source, topic/ticker) into the database,
        assign topics, raise alerts. Idempotent by item id, resumable after a crash; bad records are quarantined."""
        from tlsuite_finance_monitor import APP
        from tlsuite_finance_monitor.monitor import Monitor
        from tlsuite_finance_monitor.monitor.alerts import load_alert_config

        if format is not None and format not in ("jsonl", "csv"):
            raise ConfigError(f"--format {format!r}: use jsonl or csv")
        if poll <= 0:
            raise ConfigError("--poll must be > 0")
        if source == "-" and follow:
            raise ConfigError("--follow needs a file or folder, not stdin")
        if source != "-" and not Path(source).exists():
            raise DataError("no such file or folder", path=source)
        config = None if no_alerts else load_alert_config(alerts, bucket=bucket)
        console_sink = config is not None and any(s.kind == "console" for s in config.sinks)
        # without --model: load_app(<app name>) picks the app's latest completed run under --runs-dir
        ref = model or APP.name
        mon = Monitor(_db(db), ref, topics=topics, alerts=config if config is not None else False, batch_size=batch_size,
                      device=device, threads=threads, runs_dir=runs_dir or os.environ.get("TLSUITE_RUNS_DIR") or "runs",
                      on_alert=_print_alert if console_sink else None)
        stopping = {"flag": False}

        def request_stop(signum: int, _frame: Any) -> None:
            stopping["flag"] = True
            err.print("[dim]stopping after the current batch...[/]")

        with mon:
            where = getattr(mon.classifier, "run_dir", None) or getattr(mon.classifier, "model_dir", "")
            err.print(f"[dim]model {mon.model_id} ({where}); database {mon.db_url.split('@')[-1]}[/]")
            if source == "-":
                stats = mon.ingest_stream(sys.stdin.buffer, fmt=format or "jsonl")
            elif follow:
                previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
                try:
                    def cycle(s: Any) -> None:
                        if s.read:
                            err.print(f"[dim]{s.count_line()}[/]")

                    stats = mon.follow(source, fmt=format, poll=poll, idle_timeout=idle_timeout, should_stop=lambda: stopping["flag"], on_cycle=cycle)
                finally:
                    for sig, handler in previous.items():
                        signal.signal(sig, handler)
            else:
                stats = mon.ingest_path(source, fmt=format)
            delivery = mon.deliver(timeout=deliver_timeout) if config is not None and config.outbox_sinks else None
            pending = delivery.pending if delivery else 0
            if as_json:
                out = stats.as_dict()
                out["pending_deliveries"] = pending
                typer.echo(json.dumps(out, indent=2))
            else:
                typer.echo(stats.count_line())
                if stats.quarantine_reasons:
                    typer.echo("quarantined: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.quarantine_reasons.items())))
                typer.echo(f"alerts: {len(stats.alerts)} new" + (f"; {pending} deliveries pending (retried on the next run or with `alerts --deliver`)" if pending else ""))
                if stats.read and stats.total_seconds > 0:
                    outside = 1 - stats.model_seconds / stats.total_seconds if stats.total_seconds else 0.0
                    err.print(f"[dim]{stats.read / stats.total_seconds:.1f} items/s; {outside:.1%} of ingest time outside the model[/]")

    @app.command(
        epilog=(
            "Examples: tlsuite finance-monitor trends --bucket day --output trends.png  |  "
            "tlsuite finance-monitor trends --since 2026-03-01 --until 2026-03-08 --bucket 6h --topic banking --json"
        )
    )
    def trends(
        db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
        model: Annotated[str | None, typer.Option(help="Model id or run folder whose predictions to use (default: the last used).")] = None,
        bucket: Annotated[str, typer.Option(help="hour | 6h | day | week | <N>h | <N>d.")] = "day",
        since: Annotated[str | None, typer.Option(help="From (ISO date/time, UTC; or -7d, -12h).")] = None,
        until: Annotated[str | None, typer.Option(help="Until, exclusive (ISO date/time, UTC; or -1d).")] = None,
        topic: Annotated[list[str] | None, typer.Option(help="Only this topic (repeatable).")] = None,
        output: Annotated[Path, typer.Option(help="Write the chart PNG here.")] = Path("trends.png"),
        no_chart: Annotated[bool, typer.Option("--no-chart", help="Do not write the PNG.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON instead of a table.")] = False,
    ) -> None:
        """Sentiment per topic and time bucket: volume, share negative/neutral/positive, mean sentiment (P(pos) - P(neg))."""
        from tlsuite_finance_monitor.monitor.charts import trend_png
        from tlsuite_finance_monitor.monitor.files import write_atomically
        from tlsuite_finance_monitor.monitor.trends import parse_bucket, parse_when

        b = parse_bucket(bucket)
        start, end = parse_when(since, "--since"), parse_when(until, "--until")
        with _read_only_monitor(db, model) as mon:
            rows = mon.trends(since=start, until=end, bucket=b.name, topics=topic)
            found = [a for a in mon.alerts(since=start, until=end) if a.bucket == b.name]
            model_id = mon.model_id
        if as_json:
            typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        else:
            table = Table(title=f"sentiment by topic and {b.name} (model {model_id})")
            for col in ("topic", "bucket (UTC)", "items", "negative", "neutral", "positive", "mean sentiment"):
                table.add_column(col, justify="left" if col in ("topic", "bucket (UTC)") else "right")
            for r in rows:
                table.add_row(r.topic, f"{r.bucket_start:%Y-%m-%d %H:%M}", str(r.volume), f"{r.shares.get('negative', 0):.1%}",
                              f"{r.shares.get('neutral', 0):.1%}", f"{r.shares.get('positive', 0):.1%}", f"{r.mean_sentiment:+.3f}")
            Console().print(table)
            if not rows:
                err.print("no predictions in this period")
        if not no_chart and rows:
            write_atomically(output, trend_png(rows, b, alerts=found))
            err.print(f"chart: {output}")

    @app.command(
        epilog=(
            "Examples: tlsuite finance-monitor alerts --since -7d  |  tlsuite finance-monitor alerts --topic banking --evidence  |  "
            "tlsuite finance-monitor alerts --deliver --rules alerts.yaml   (retry pending webhook/JSONL deliveries)"
        )
    )
    def alerts(
        db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
        model: Annotated[str | None, typer.Option(help="Model id or run folder (default: the last used).")] = None,
        since: Annotated[str | None, typer.Option(help="Episodes active from (ISO date/time, UTC; or -7d).")] = None,
        until: Annotated[str | None, typer.Option(help="Episodes starting before (ISO date/time, UTC).")] = None,
        topic: Annotated[str | None, typer.Option(help="Only this topic.")] = None,
        evidence: Annotated[bool, typer.Option("--evidence", help="Show each alert's evidence items.")] = False,
        limit: Annotated[int | None, typer.Option(help="At most N alerts (newest first).")] = None,
        deliver: Annotated[bool, typer.Option("--deliver", help="Retry pending deliveries to the sinks of --rules first.")] = False,
        rules: Annotated[Path | None, typer.Option(help="Alert rules file whose sinks --deliver uses.")] = None,
        deliver_timeout: Annotated[float, typer.Option(help="--deliver: keep retrying for up to this many seconds.")] = 30.0,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """List stored alerts (one per episode) with their evidence and delivery status."""
        from tlsuite_finance_monitor.monitor.alerts import Dispatcher, load_alert_config
        from tlsuite_finance_monitor.monitor.trends import parse_when

        if deliver and rules is None:
            raise ConfigError("--deliver needs --rules (the alert rules file that names the sinks)")
        start, end = parse_when(since, "--since"), parse_when(until, "--until")
        with _read_only_monitor(db, model) as mon:
            if deliver:
                config = load_alert_config(rules)
                stats = Dispatcher(mon.engine, config.sinks).flush(deliver_timeout)
                err.print(f"delivered {stats.delivered}, failed attempts {stats.failed_attempts}, pending {stats.pending}")
            found = mon.alerts(since=start, until=end, topic=topic, limit=limit)
        if as_json:
            typer.echo(json.dumps([{**a.payload(), "id": a.id, "deliveries": a.deliveries} for a in found], indent=2))
            return
        table = Table(title=f"alerts ({len(found)})")
        for col in ("id", "episode start (UTC)", "last bucket", "topic", "rule", "value", "items", "deliveries"):
            table.add_column(col, justify="right" if col in ("id", "value", "items") else "left", overflow="fold")
        for a in found:
            table.add_row(str(a.id), f"{a.bucket_start:%Y-%m-%d %H:%M}", f"{a.last_bucket:%Y-%m-%d %H:%M}", a.topic, a.rule,
                          f"{a.value:.2f}", str(a.volume), ", ".join(f"{k.split(':')[0]}: {v}" for k, v in a.deliveries.items()) or "-")
        out = Console()
        out.print(table)
        if evidence:
            for a in found:
                out.print(f"[bold]{a.id}[/] {escape(a.message)}")
                for ev in a.evidence:
                    out.print(f"   {escape(str(ev['id']))} P(neg)={ev['p_negative']:.2f} {escape(ev['text'][:160])}")

    @app.command(
        epilog="Example: tlsuite finance-monitor report --since 2026-03-01 --until 2026-04-01 --output report.html --bucket 6h"
    )
    def report(
        output: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
        since: Annotated[str | None, typer.Option(help="From (ISO date/time, UTC; or -7d).")] = None,
        until: Annotated[str | None, typer.Option(help="Until, exclusive (ISO date/time, UTC).")] = None,
        db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
        model: Annotated[str | None, typer.Option(help="Model id or run folder (default: the last used).")] = None,
        bucket: Annotated[str, typer.Option(help="Chart bucket: hour | 6h | day | week.")] = "day",
        top: Annotated[int, typer.Option(help="Top negative items per topic.")] = 5,
    ) -> None:
        """Self-contained HTML report: trend charts (embedded), alerts with evidence, top negative items per topic."""
        from tlsuite_finance_monitor.monitor.trends import parse_when

        start, end = parse_when(since, "--since"), parse_when(until, "--until")
        if start and end and end <= start:
            raise ConfigError("--until must be after --since")
        with _read_only_monitor(db, model, bucket) as mon:
            path = mon.report(output, since=start, until=end, top=top)
        typer.echo(str(path))
