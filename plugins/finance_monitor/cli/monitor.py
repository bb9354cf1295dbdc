"""``tlsuite finance-monitor monitor``: classify news items into the database, assign topics, raise alerts.

The command parses its options and prints; :meth:`Monitor.run <tlsuite_finance_monitor.monitor.Monitor.run>` does the
rest (reading, following, SIGINT / SIGTERM, delivery at the end).
"""

# no `from __future__ import annotations` here: Typer reads the real annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tlsuite_core.apps import default_runs_dir

from .common import DbOpt, db_url, err, print_alert

EPILOG = (
    "Examples: tlsuite finance-monitor monitor --model runs/finance-monitor/NAME --source news.jsonl  |  "
    "tlsuite finance-monitor monitor --source inbox/ --follow --topics topics.yaml --alerts alerts.yaml  |  "
    "cat news.jsonl | tlsuite finance-monitor monitor --source - --db postgresql+psycopg://me@db/monitor"
)


def command(
    source: Annotated[str, typer.Option(help="JSONL/CSV file, a folder of them, or - for stdin.")],
    model: Annotated[
        str | None, typer.Option(help="Sentiment run folder (default: the app's latest completed run).")
    ] = None,
    db: DbOpt = None,
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl | csv (default: by suffix; stdin: jsonl).")] = None,
    topics: Annotated[
        Path | None,
        typer.Option(
            help="Topic rule file (YAML): companies/tickers/sectors/keywords -> topic, zero-shot, classifier."
        ),
    ] = None,
    alerts: Annotated[
        Path | None,
        typer.Option(
            help="Alert rules file (YAML): rules, bucket, cooldown, sinks (default: built-in rules, console)."
        ),
    ] = None,
    no_alerts: Annotated[bool, typer.Option("--no-alerts", help="Ingest only; do not evaluate alert rules.")] = False,
    bucket: Annotated[
        str | None, typer.Option(help="Alert bucket: hour, 6h, day, week (overrides the rules file).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep reading a growing file or new files in a folder.")
    ] = False,
    poll: Annotated[float, typer.Option(help="--follow: seconds between polls.")] = 2.0,
    idle_timeout: Annotated[
        float | None,
        typer.Option(
            help="--follow: stop after this many seconds without new records (default: run until Ctrl-C / SIGTERM)."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Items per classification batch and per database transaction.")] = 64,
    deliver_timeout: Annotated[
        float,
        typer.Option(
            help="At the end, keep retrying webhook/JSONL deliveries for up to this many seconds (undelivered ones stay in the outbox)."
        ),
    ] = 30.0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N | mps.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    runs_dir: Annotated[
        str | None, typer.Option(help="Where run folders are (default: $TLSUITE_RUNS_DIR or ./runs).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Classify news items (JSONL/CSV: id, published_at, text or title+body, source, topic/ticker) into the database,
    assign topics, raise alerts. Idempotent by item id, resumable after a crash; bad records are quarantined."""
    from tlsuite_finance_monitor import APP
    from tlsuite_finance_monitor.monitor import Monitor
    from tlsuite_finance_monitor.monitor.alerts import load_alert_config
    from tlsuite_finance_monitor.monitor.api import check_source

    from tlsuite_core.apps import check_run_app, run_record

    if model is not None:  # a run of another app: said before anything is read
        check_run_app(model, run_record(model), APP.name)
    check_source(source, fmt=fmt, follow=follow, poll=poll)  # before the model loads
    config = None if no_alerts else load_alert_config(alerts, bucket=bucket)
    console_sink = config is not None and any(s.kind == "console" for s in config.sinks)
    # without --model: load_app(<app name>) picks the app's latest completed run under --runs-dir
    mon = Monitor(
        db_url(db),
        model or APP.name,
        topics=topics,
        alerts=config if config is not None else False,
        batch_size=batch_size,
        device=device,
        threads=threads,
        runs_dir=default_runs_dir(runs_dir),
        on_alert=print_alert if console_sink else None,
    )
    with mon:
        where = getattr(mon.classifier, "run_dir", None) or getattr(mon.classifier, "model_dir", "")
        err.print(f"[dim]model {mon.model_id} ({where}); database {mon.db_url.split('@')[-1]}[/]")
        stats = mon.run(
            source,
            fmt=fmt,
            follow=follow,
            poll=poll,
            idle_timeout=idle_timeout,
            deliver_timeout=deliver_timeout,
            on_cycle=_print_cycle,
            on_signal=_print_stopping,
        )
    if as_json:
        typer.echo(json.dumps(stats.as_dict(), indent=2))
    else:
        _print_counts(stats)


def _print_cycle(stats: Any) -> None:
    """--follow: the counts of each poll that read something."""
    if stats.read:
        err.print(f"[dim]{stats.count_line()}[/]")


def _print_stopping(_signum: int) -> None:
    err.print("[dim]stopping after the current batch...[/]")


def _print_counts(stats: Any) -> None:
    """The counts line, the quarantine reasons, new alerts and pending deliveries; the speed on stderr."""
    typer.echo(stats.count_line())
    if stats.quarantine_reasons:
        typer.echo("quarantined: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.quarantine_reasons.items())))
    for where in stats.held:
        typer.echo(f"held: {where} has no newline yet; it is read once complete (next run or poll)")
    pending = stats.pending_deliveries
    typer.echo(
        f"alerts: {len(stats.alerts)} new"
        + (f"; {pending} deliveries pending (retried on the next run or with `alerts --deliver`)" if pending else "")
    )
    if stats.read and stats.total_seconds > 0:
        outside = 1 - stats.model_seconds / stats.total_seconds
        err.print(
            f"[dim]{stats.read / stats.total_seconds:.1f} items/s; {outside:.1%} of ingest time outside the model[/]"
        )
