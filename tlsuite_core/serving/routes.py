"""The contract of app-specific HTTP routes a plugin declares (hook ``tlsuite_register_routes``).

Every served run gets the generic ``POST /v1/{app}/{run}/predict`` from its task (classification, NER spans,
translation, summarization). An app that needs more (the customer-service app's answer route, a recommender's
``recommend``) registers a :class:`Route`: its app, its path under ``/v1/{app}/{run}/`` and ``load``, a function
the service calls at start-up that returns a :class:`RouteHandler` (pydantic request and response models and an
async ``handle``). Registration itself imports no web framework, so the CLI starts fast.

Runs of an app whose folders are not engine runs (a recommender's: collaborative models, an item index, a fusion
ranker, with the cross-encoder's engine run inside) are opened by the app's own ``open_run``; their task (the app's)
takes no texts, so they get only the routes their plugin declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, Sequence

__all__ = ["Route", "RouteContext", "RouteHandler", "run_openers"]


@dataclass(frozen=True)
class RouteHandler:
    """What a route does, loaded when the service starts.

    :param request_model: a ``pydantic.BaseModel`` subclass (the JSON body). A ``texts: list[str]`` field gets the
        service's text limits, and a ``mask_pii: bool`` field PII masking of those texts, like ``predict``.
    :param response_model: a ``pydantic.BaseModel`` subclass (documented in the OpenAPI schema).
    :param handle: ``async handle(request, context) -> response`` (a ``response_model`` or a dict).
    """

    request_model: type
    response_model: type
    handle: Callable[[Any, RouteContext], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    """``POST /v1/{app}/{run}/{path}`` for every served run of ``app``; ``name`` is ``app/path``.

    :param open_run: for an app whose run folders are not engine runs: ``open_run(folder)`` loads (and warms up)
        one; what it returns is ``context.trained`` and a failure keeps ``/readyz`` false with the reason. ``None``
        (engine runs): the service opens the run with :func:`~tlsuite_core.load_app`. The routes of one app name
        the same function or leave it ``None``.
    """

    app: str
    path: str
    load: Callable[[], RouteHandler]
    summary: str = ""
    open_run: Optional[Callable[[Path], Any]] = None

    @property
    def name(self) -> str:
        return f"{self.app}/{self.path}"


class RouteContext:
    """What a route's ``handle`` gets besides the request: the served run and its batched prediction.

    :ivar app / run: the served app's and run's names; ``trained``: the loaded
        :class:`~tlsuite_core.apps.TrainedApp` (or what the route's ``open_run`` returned); ``request_id``: the
        request's id (logs, ``X-Request-ID``).
    """

    def __init__(
        self,
        app: str,
        run: str,
        trained: Any,
        predict: Callable[[Sequence[str]], Awaitable[list[Any]]],
        request_id: str,
    ) -> None:
        self.app = app
        self.run = run
        self.trained = trained
        self._predict = predict
        self.request_id = request_id

    async def predict(self, texts: Sequence[str]) -> list[Any]:
        """The run's predictions for ``texts`` through the service's dynamic batcher (queue, timeout, metrics); a
        run opened by ``open_run`` has no batcher (404)."""
        return await self._predict(texts)


def run_openers(routes: Sequence[Route]) -> dict[str, Callable[[Path], Any]]:
    """``{app: open_run}`` of the routes that declare one; two different functions for one app are a plugin error."""
    from ..errors import PluginError

    openers: dict[str, Callable[[Path], Any]] = {}
    for route in routes:
        if route.open_run is None:
            continue
        known = openers.setdefault(route.app, route.open_run)
        if known is not route.open_run:
            raise PluginError(f"route {route.name}: another route of {route.app} opens its runs with another open_run")
    return openers
