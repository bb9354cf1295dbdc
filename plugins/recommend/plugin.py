"""Hook implementations of the recommend plugin (entry point ``recommend`` in group ``tlsuite``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tlsuite_core import hookimpl

from . import APP


@hookimpl
def tlsuite_register_apps(register: Callable[[Any], None]) -> None:
    register(APP)


def _open_run(folder: Any) -> Any:
    from .routes import open_run

    return open_run(folder)


def _rank_route() -> Any:
    from .routes import rank_handler

    return rank_handler()


def _explain_route() -> Any:
    from .routes import explain_handler

    return explain_handler()


@hookimpl
def tlsuite_register_routes(register: Callable[[Any], None]) -> None:
    from tlsuite_core.serving import Route

    summary = "A user's best items (a known user, or a new one given by a few items)."
    register(Route(APP.name, "rank", _rank_route, summary=summary, open_run=_open_run))
    summary = "Which features and history items drove a user's score for an item."
    register(Route(APP.name, "explain", _explain_route, summary=summary, open_run=_open_run))


@hookimpl
def tlsuite_register_commands(cli: Any) -> None:
    from .cli import recommend_commands

    cli.add_typer(recommend_commands(), name=APP.name, help=APP.description)
