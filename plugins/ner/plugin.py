"""Hook implementations of the ner plugin (entry point ``ner`` in group ``tlsuite``)."""

from __future__ import annotations

from typing import Any, Callable

from tlsuite_core import hookimpl

from . import APP
from .data import CONLL


@hookimpl
def tlsuite_register_apps(register: Callable[[Any], None]) -> None:
    register(APP)


@hookimpl
def tlsuite_register_data_adapters(register: Callable[[Any], None]) -> None:
    register(CONLL)


@hookimpl
def tlsuite_register_commands(cli: Any) -> None:
    from tlsuite_core.commands.token_classification import token_classification_commands

    from .data import write_conll

    cli.add_typer(
        token_classification_commands(APP, writers={"conll": write_conll}), name=APP.name, help=APP.description
    )
