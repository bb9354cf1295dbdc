"""``tlsuite finance-monitor quarantine``: the records the monitor could not store, with the reason and the place."""

# no `from __future__ import annotations` here: Typer reads the real annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .common import DbOpt, read_only_monitor

EPILOG = (
    "Examples: tlsuite finance-monitor quarantine  |  tlsuite finance-monitor quarantine --reason 'invalid JSON' "
    "--origin news.jsonl --json"
)


def command(
    db: DbOpt = None,
    reason: Annotated[str | None, typer.Option(help="Only reasons containing this text.")] = None,
    origin: Annotated[str | None, typer.Option(help="Only records from sources whose path contains this.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most N records (in the order they arrived).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List quarantined records: where each came from (file and line), why it was refused, the raw record."""
    with read_only_monitor(db, None) as mon:
        matching = mon.quarantine(limit=None, reason=reason, origin=origin)
    rows, total = matching[:limit], len(matching)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=f"quarantined records ({len(rows)} of {total} shown)")
    for col in ("id", "source", "line", "reason", "record"):
        table.add_column(col, overflow="fold", justify="right" if col == "id" else "left")
    for row in rows:
        table.add_row(
            str(row["id"]),
            escape(row["origin"]),
            escape(row["position"]),
            escape(row["reason"]),
            escape(row["raw"][:200]),
        )
    Console(width=max(Console().width, 140)).print(table)
