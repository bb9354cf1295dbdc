"""Hook implementations of the finance-monitor plugin (entry point ``finance-monitor`` in group ``tlsuite``)."""

from __future__ import annotations

from typing import Any, Callable

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

    cli.add_typer(classification_commands(APP), name=APP.name, help=APP.description)
