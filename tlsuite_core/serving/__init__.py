"""``tlsuite serve``: trained runs behind one HTTP service (FastAPI + uvicorn), and the same batching, limits and
PII masking in-process.

Importing this package imports no web framework or model library (the CLI stays fast); :func:`create_app`,
:func:`serve` and the service import FastAPI and uvicorn when called. In-process::

    from tlsuite_core import load_app
    from tlsuite_core.serving import DynamicBatcher, PiiMasker, check_texts

    app = load_app("runs/finance-monitor/base")
    batcher = DynamicBatcher(app.predict, max_batch_size=32, max_wait=0.005)   # share it between threads
    masked = PiiMasker().mask(["Call +44 20 7946 0958"])                         # [PHONE], with its span
    batcher.predict([m.text for m in masked])

See ``docs/serving.md``.
"""

from __future__ import annotations

from typing import Any

from .batching import BatchStats, DynamicBatcher, QueueFull
from .config import ServeConfig, build_serve_config, load_serve_config
from .keys import ApiKey, KeyRing, RateLimiter
from .limits import LimitExceeded, check_texts
from .pii import MaskedText, PiiMasker, PiiSpan, iban_valid, luhn_valid, routing_valid
from .routes import Route, RouteContext, RouteHandler
from .server import build_service, serve

__all__ = [
    "ApiKey",
    "BatchStats",
    "DynamicBatcher",
    "KeyRing",
    "LimitExceeded",
    "MaskedText",
    "PiiMasker",
    "PiiSpan",
    "QueueFull",
    "RateLimiter",
    "Route",
    "RouteContext",
    "RouteHandler",
    "ServeConfig",
    "build_serve_config",
    "build_service",
    "check_texts",
    "create_app",
    "iban_valid",
    "load_serve_config",
    "luhn_valid",
    "routing_valid",
    "serve",
]


def create_app(service: Any, routes: Any = (), **kwargs: Any) -> Any:
    """The FastAPI application of a service (see :func:`tlsuite_core.serving.app.create_app`)."""
    from .app import create_app as _create_app

    return _create_app(service, routes, **kwargs)
