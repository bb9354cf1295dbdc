"""The plugin contract: every hook a tlsuite plugin may implement.

A plugin is a module (or object) registered under the ``tlsuite`` entry-point group whose functions carry
``@tlsuite_core.hookimpl``. Registration hooks receive a ``register`` callback instead of returning values,
so the plugin manager always knows which plugin registered what and can report clashes naming both plugins.
Every hook is optional. See ``docs/plugins.md`` for a worked example.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

__all__ = [
    "hookimpl",
    "hookspec",
    "tlsuite_register_apps",
    "tlsuite_register_commands",
    "tlsuite_register_data_adapters",
    "tlsuite_register_metrics",
    "tlsuite_register_models",
    "tlsuite_register_routes",
    "tlsuite_register_tasks",
]


hookspec = pluggy.HookspecMarker("tlsuite")
hookimpl = pluggy.HookimplMarker("tlsuite")

# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


@hookspec
def tlsuite_register_commands(cli: Any) -> None:
    """Attach command groups to the CLI.

    :param cli: a ``typer.Typer``; call ``cli.add_typer(sub_app, name="my-app", help="...")`` or
        ``cli.command()(func)``. Names are checked against other plugins' before they reach the root CLI.
    """


# --------------------------------------------------------------------------------------------------
# Apps, tasks, data, metrics, models
# --------------------------------------------------------------------------------------------------


@hookspec
def tlsuite_register_apps(register: Callable[..., None]) -> None:
    """Register domain applications.

    :param register: call ``register(spec)`` with a :class:`tlsuite_core.apps.AppSpec`.
    """


@hookspec
def tlsuite_register_tasks(register: Callable[..., None]) -> None:
    """Register task shapes (sequence classification, token classification, ...).

    :param register: call ``register(task_class)`` with a :class:`tlsuite_core.tasks.Task` subclass; its
        ``name`` attribute is the key stored in run folders.
    """


@hookspec
def tlsuite_register_data_adapters(register: Callable[..., None]) -> None:
    """Register readers for data formats.

    :param register: call ``register(adapter)`` with a :class:`tlsuite_core.data.DataAdapter`: a name, the file
        suffixes it claims, and ``read(path) -> Table`` that raises :class:`tlsuite_core.errors.DataError`
        naming file, line and field on a bad row.
    """


@hookspec
def tlsuite_register_metrics(register: Callable[..., None]) -> None:
    """Register metric functions.

    :param register: call ``register(metric)`` with a :class:`tlsuite_core.metrics.Metric`: a name,
        ``fn(references, predictions, options) -> dict``, the scalar ``keys`` ``--metric`` may name and those of
        them where ``lower_is_better``. A generation task's ``metrics`` option selects it by name.
    """


@hookspec
def tlsuite_register_models(register: Callable[..., None]) -> None:
    """Register model aliases usable with ``--model``.

    :param register: call ``register(alias)`` with a :class:`tlsuite_core.models.ModelAlias`.
    """


# --------------------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------------------


@hookspec
def tlsuite_register_routes(register: Callable[..., None]) -> None:
    """Register HTTP routes of ``tlsuite serve`` beside the generic ``POST /v1/{app}/{run}/predict`` every served
    run gets from its task.

    :param register: call ``register(route)`` with a :class:`tlsuite_core.serving.Route`:
        ``Route(app, path, load, summary, open_run)``: the app whose runs it serves, its path under
        ``/v1/{app}/{run}/`` and ``load() -> RouteHandler`` (request and response models,
        ``async handle(request, context)``), called when the service starts, so registering imports no web
        framework. Its name is ``app/path``. ``open_run(folder)``, for an app whose run folders are not engine runs,
        loads one (``context.trained``); a ``DataError`` a handler raises is answered 422 with its message.
    """
