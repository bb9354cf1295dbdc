"""What the monitoring commands share: the stderr console, the ``--db`` / ``--model`` options, a read-only monitor."""

# no `from __future__ import annotations` here: Typer reads the real annotations

import os
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

err = Console(stderr=True, highlight=False)

DB_HELP = "Database: SQLAlchemy URL (sqlite:///monitor.db, postgresql+psycopg://user@host/db) or a SQLite file path (default: $TLSUITE_MONITOR_DB or sqlite:///monitor.db)."

DbOpt = Annotated[str | None, typer.Option(help=DB_HELP)]
#: --model of the commands that read stored predictions (trends, alerts, report)
StoredModelOpt = Annotated[str | None, typer.Option(help="Model id or run folder (default: the last used).")]


def db_url(value: str | None) -> str:
    """``--db``, else ``$TLSUITE_MONITOR_DB``, else ``sqlite:///monitor.db``."""
    return value or os.environ.get("TLSUITE_MONITOR_DB") or "sqlite:///monitor.db"


def read_only_monitor(db: str | None, model: str | None, bucket: str | None = None) -> Any:
    """A monitor that reads the stored predictions of ``model`` (default: the last used); no alerting, no ingest.

    A SQLite file that does not exist is an error: reading commands never leave an empty ``monitor.db`` behind.
    """
    from tlsuite_finance_monitor import APP
    from tlsuite_finance_monitor.monitor import Monitor
    from tlsuite_finance_monitor.monitor.db import sqlite_file

    from tlsuite_core.apps import check_run_app, run_record
    from tlsuite_core.errors import ConfigError

    if model is not None:  # a run of another app has no predictions here: say whose run it is
        check_run_app(model, run_record(model), APP.name)
    url = db_url(db)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise ConfigError(
            f"no monitor database at {path}: run `tlsuite finance-monitor monitor --source FILE` first, "
            "or give --db (or $TLSUITE_MONITOR_DB)"
        )
    return Monitor(url, model_id=model, alerts=False, bucket=bucket)


def announce_folder(output: Any) -> None:
    """``--output`` into a folder that does not exist yet: it is created when the file is written; say so."""
    from pathlib import Path

    folder = Path(output).parent
    if not folder.exists():
        err.print(f"created folder {folder}")


def print_evidence(console: Console, alert: Any, *, width: int, style: str = "") -> None:
    """One line per evidence item of ``alert``: id, P(negative), the start of the text."""
    opening, closing = (f"[{style}]", "[/]") if style else ("", "")
    for ev in alert.evidence:
        console.print(
            f"   {opening}{escape(str(ev['id']))} P(neg)={ev['p_negative']:.2f}{closing} {escape(ev['text'][:width])}"
        )


def print_alert(alert: Any) -> None:
    """The console sink: a new alert and its evidence on stderr."""
    err.print(f"[bold yellow]ALERT[/] [bold]{escape(alert.topic)}[/] {escape(alert.message)}")
    print_evidence(err, alert, width=140, style="dim")
