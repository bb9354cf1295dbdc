"""Hook implementations of the recommend plugin (entry point ``recommend`` in group ``tlsuite``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tlsuite_core import hookimpl

from . import APP


@hookimpl
def tlsuite_register_apps(register: Callable[[Any], None]) -> None:
    register(APP)


@hookimpl
def tlsuite_register_commands(cli: Any) -> None:
    from .cli import recommend_commands

    cli.add_typer(recommend_commands(), name=APP.name, help=APP.description)
