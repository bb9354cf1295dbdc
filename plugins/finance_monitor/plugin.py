"""Hook implementations of the finance-monitor plugin (entry point ``finance-monitor`` in group ``tlsuite``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tlsuite_core import hookimpl

from . import APP
from .data import PHRASEBANK


@hookimpl
def tlsuite_register_apps(register: Callable[[Any], None]) -> None:
    register(APP)


@hookimpl
def tlsuite_register_data_adapters(register: Callable[[Any], None]) -> None:
    register(PHRASEBANK)


@hookimpl
def tlsuite_register_commands(cli: Any) -> None:
    from tlsuite_core.commands.classification import classification_commands

    from .cli import add_monitor_commands

    sub = classification_commands(APP)
    add_monitor_commands(sub)  # monitor, trends, alerts, report
    cli.add_typer(sub, name=APP.name, help=APP.description)
