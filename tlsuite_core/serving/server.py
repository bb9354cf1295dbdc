"""Running the service: keys and runs checked before anything loads, then uvicorn with graceful shutdown."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import ConfigError
from .config import ServeConfig
from .keys import KeyRing
from .runs import resolve_runs

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["build_service", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_service(config: ServeConfig, refs: Sequence[str], registry: Registry, *, env_keys: str | None = None) -> Any:
    """The :class:`~tlsuite_core.serving.service.Service` for ``refs``: keys read, runs resolved (nothing loaded
    yet). A public address without keys is refused unless ``allow_no_keys``."""
    from .service import Service

    keys = KeyRing.load(config.api_keys, env_keys)
    if not keys and not is_loopback(config.host) and not config.allow_no_keys:
        raise ConfigError(
            f"refusing to serve on {config.host} without API keys: give --api-keys FILE or $TLSUITE_API_KEYS "
            "(or --allow-no-keys behind a proxy that authenticates)"
        )
    return Service(config, resolve_runs(refs, config.runs_dir, registry), registry, keys)


def serve(
    config: ServeConfig,
    refs: Sequence[str],
    registry: Registry,
    *,
    on_start: Callable[[Any], None] | None = None,
    loader: Callable[..., Any] | None = None,
) -> None:
    """Serve ``refs`` until SIGINT / SIGTERM; in-flight requests get ``graceful_timeout_s`` to finish.

    :param on_start: called with the service before the server starts (the CLI prints what is served).
    """
    service = build_service(config, refs, registry)  # bad keys, runs or addresses answer before any heavy import
    import uvicorn

    from .app import create_app
    from .logs import configure_logging

    configure_logging(service.masker.mask_text)
    app = create_app(service, registry.values("route"), loader=loader)
    if on_start is not None:
        on_start(service)
    server = uvicorn.Server(uvicorn_config(app, config))
    server.run()


def uvicorn_config(app: Any, config: ServeConfig) -> Any:
    """uvicorn's settings: our JSON logs instead of its own, no server header, graceful shutdown."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=config.graceful_timeout_s,
        lifespan="on",
    )
