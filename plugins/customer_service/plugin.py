"""Hook implementations of the customer-service plugin (entry point ``customer-service`` in group ``tlsuite``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tlsuite_core import hookimpl

from . import APP, GENERATOR_APP, SLOTS_APP
from .data import BITEXT


@hookimpl
def tlsuite_register_apps(register: Callable[[Any], None]) -> None:
    register(APP)
    register(SLOTS_APP)
    register(GENERATOR_APP)


@hookimpl
def tlsuite_register_metrics(register: Callable[[Any], None]) -> None:
    from .generator import REPLY_CHRF

    register(REPLY_CHRF)


@hookimpl
def tlsuite_register_data_adapters(register: Callable[[Any], None]) -> None:
    register(BITEXT)


def _respond_route() -> Any:
    from .routes import respond_handler

    return respond_handler()


@hookimpl
def tlsuite_register_routes(register: Callable[[Any], None]) -> None:
    from tlsuite_core.serving import Route

    register(Route(APP.name, "respond", _respond_route, summary="The bot's reply to one message of a conversation."))


@hookimpl
def tlsuite_register_commands(cli: Any) -> None:
    from .commands import customer_service_commands

    cli.add_typer(customer_service_commands(), name=APP.name, help=APP.description)
