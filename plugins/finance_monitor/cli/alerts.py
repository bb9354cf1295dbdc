"""``tlsuite finance-monitor alerts``: the stored alerts with their evidence and delivery status; retry deliveries."""

# no `from __future__ import annotations` here: Typer reads the real annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tlsuite_core.errors import ConfigError

from .common import DbOpt, StoredModelOpt, err, print_evidence, read_only_monitor

EPILOG = (
    "Examples: tlsuite finance-monitor alerts --since -7d  |  tlsuite finance-monitor alerts --topic banking --evidence  |  "
    "tlsuite finance-monitor alerts --deliver --rules alerts.yaml   (retry pending webhook/JSONL deliveries)"
)


def command(
    db: DbOpt = None,
    model: StoredModelOpt = None,
    since: Annotated[str | None, typer.Option(help="Episodes active from (ISO date/time, UTC; or -7d).")] = None,
    until: Annotated[str | None, typer.Option(help="Episodes starting before (ISO date/time, UTC).")] = None,
    topic: Annotated[str | None, typer.Option(help="Only this topic.")] = None,
    evidence: Annotated[bool, typer.Option("--evidence", help="Show each alert's evidence items.")] = False,
    limit: Annotated[int | None, typer.Option(help="At most N alerts (newest first).")] = None,
    deliver: Annotated[
        bool, typer.Option("--deliver", help="Retry pending deliveries to the sinks of --rules first.")
    ] = False,
    rules: Annotated[Path | None, typer.Option(help="Alert rules file whose sinks --deliver uses.")] = None,
    deliver_timeout: Annotated[
        float, typer.Option(help="--deliver: keep retrying for up to this many seconds.")
    ] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List stored alerts (one per episode) with their evidence and delivery status.

    With --deliver, exits with code 1 when deliveries are still pending at the end, after one line per sink and
    reason (for example 'Connection refused').
    """
    from tlsuite_finance_monitor.monitor.alerts import Dispatcher, load_alert_config
    from tlsuite_finance_monitor.monitor.trends import parse_when

    if deliver and rules is None:
        raise ConfigError("--deliver needs --rules (the alert rules file that names the sinks)")
    start, end = parse_when(since, "--since"), parse_when(until, "--until")
    undelivered: list[tuple[str, int, str]] = []
    with read_only_monitor(db, model) as mon:
        if deliver:
            config = load_alert_config(rules)
            dispatcher = Dispatcher(mon.engine, config.sinks)
            stats = dispatcher.flush(deliver_timeout)
            err.print(f"delivered {stats.delivered}, failed attempts {stats.failed_attempts}, pending {stats.pending}")
            undelivered = dispatcher.undelivered() if stats.pending else []
        found = mon.alerts(since=start, until=end, topic=topic, limit=limit)
    if as_json:
        typer.echo(json.dumps([{**a.payload(), "id": a.id, "deliveries": a.deliveries} for a in found], indent=2))
    else:
        out = Console()
        out.print(_table(found))
        if evidence:
            for a in found:
                out.print(f"[bold]{a.id}[/] {escape(a.message)}")
                print_evidence(out, a, width=160)
    if deliver and undelivered:
        for sink, count, reason in undelivered:
            err.print(f"[red]not delivered[/] {count} to {escape(sink)}: {escape(reason)}")
        err.print(f"{stats.pending} deliveries still pending (kept in the outbox; run alerts --deliver again)")
        raise typer.Exit(1)


def _table(found: list[Any]) -> Table:
    table = Table(title=f"alerts ({len(found)})")
    for col in ("id", "episode start (UTC)", "last bucket", "topic", "rule", "value", "items", "deliveries"):
        table.add_column(col, justify="right" if col in ("id", "value", "items") else "left", overflow="fold")
    for a in found:
        table.add_row(
            str(a.id),
            f"{a.bucket_start:%Y-%m-%d %H:%M}",
            f"{a.last_bucket:%Y-%m-%d %H:%M}",
            a.topic,
            a.rule,
            f"{a.value:.2f}",
            str(a.volume),
            ", ".join(f"{k.split(':')[0]}: {v}" for k, v in a.deliveries.items()) or "-",
        )
    return table
