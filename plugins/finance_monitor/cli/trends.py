"""``tlsuite finance-monitor trends``: sentiment per topic and time bucket, as a table (or JSON) and a PNG chart."""

# no `from __future__ import annotations` here: Typer reads the real annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .common import DbOpt, announce_folder, err, read_only_monitor

EPILOG = (
    "Examples: tlsuite finance-monitor trends --bucket day --output trends.png  |  "
    "tlsuite finance-monitor trends --since 2026-03-01 --until 2026-03-08 --bucket 6h --topic banking --json"
)


def command(
    db: DbOpt = None,
    model: Annotated[
        str | None, typer.Option(help="Model id or run folder whose predictions to use (default: the last used).")
    ] = None,
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
    from tlsuite_finance_monitor.monitor.trends import parse_bucket, parse_when

    from tlsuite_core.files import write_atomically

    b = parse_bucket(bucket)
    start, end = parse_when(since, "--since"), parse_when(until, "--until")
    with read_only_monitor(db, model) as mon:
        rows = mon.trends(since=start, until=end, bucket=b.name, topics=topic)
        found = mon.alerts(since=start, until=end)  # every episode, shaded on this chart's own buckets
        model_id = mon.model_id
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        _print_table(rows, b.name, model_id)
    if not no_chart and rows:
        announce_folder(output)
        write_atomically(output, trend_png(rows, b, alerts=found))
        err.print(f"chart: {output}")


def _print_table(rows: list[Any], bucket: str, model_id: str) -> None:
    table = Table(title=f"sentiment by topic and {bucket} (model {model_id})")
    for col in ("topic", "bucket (UTC)", "items", "negative", "neutral", "positive", "mean sentiment"):
        table.add_column(col, justify="left" if col in ("topic", "bucket (UTC)") else "right")
    for r in rows:
        table.add_row(
            r.topic,
            f"{r.bucket_start:%Y-%m-%d %H:%M}",
            str(r.volume),
            f"{r.shares.get('negative', 0):.1%}",
            f"{r.shares.get('neutral', 0):.1%}",
            f"{r.shares.get('positive', 0):.1%}",
            f"{r.mean_sentiment:+.3f}",
        )
    Console().print(table)
    if not rows:
        err.print("no predictions in this period")
