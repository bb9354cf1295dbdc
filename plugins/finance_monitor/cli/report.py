"""``tlsuite finance-monitor report``: the self-contained HTML report of a period."""

# no `from __future__ import annotations` here: Typer reads the real annotations

from pathlib import Path
from typing import Annotated

import typer

from tlsuite_core.errors import ConfigError

from .common import DbOpt, StoredModelOpt, announce_folder, read_only_monitor

EPILOG = (
    "Example: tlsuite finance-monitor report --since 2026-03-01 --until 2026-04-01 --output report.html --bucket 6h"
)


def command(
    output: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    since: Annotated[str | None, typer.Option(help="From (ISO date/time, UTC; or -7d).")] = None,
    until: Annotated[str | None, typer.Option(help="Until, exclusive (ISO date/time, UTC).")] = None,
    db: DbOpt = None,
    model: StoredModelOpt = None,
    bucket: Annotated[str, typer.Option(help="Chart bucket: hour | 6h | day | week.")] = "day",
    top: Annotated[int, typer.Option(help="Top negative items per topic.")] = 5,
) -> None:
    """Self-contained HTML report: trend charts (embedded), alerts with evidence, top negative items per topic."""
    from tlsuite_finance_monitor.monitor.trends import parse_when

    start, end = parse_when(since, "--since"), parse_when(until, "--until")
    if start and end and end <= start:
        raise ConfigError("--until must be after --since")
    with read_only_monitor(db, model, bucket) as mon:
        announce_folder(output)
        path = mon.report(output, since=start, until=end, top=top)
    typer.echo(str(path))
