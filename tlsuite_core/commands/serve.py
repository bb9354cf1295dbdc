"""``tlsuite serve``: trained runs behind one HTTP service. The command parses and prints; the service is
:mod:`tlsuite_core.serving`. Its options are the fields of :class:`tlsuite_core.serving.ServeConfig`."""
# no `from __future__ import annotations`: Typer reads these annotations at runtime

from typing import Annotated, Any

import typer
from rich.console import Console

from ..config import options_of
from ..serving.config import SERVE, ServeConfig, build_serve_config, load_serve_config
from .common import Param, RunOptions, bind, parameter, show, with_default

err = Console(stderr=True, highlight=False)

EPILOG = (
    "Examples: tlsuite serve finance-monitor   (the latest finance-monitor run on http://127.0.0.1:8000; docs at "
    "/docs)  |  tlsuite serve runs/finance-monitor/base runs/ner/conll --api-keys keys.txt --port 8080  |  "
    "tlsuite serve finance-monitor --config serve.yaml"
)


def parameters() -> list[Param]:
    """One option per :class:`ServeConfig` field, and ``--config``."""
    params = []
    for o in options_of(ServeConfig).values():
        shown = (
            None if not o.meta.show_default or o.is_flag else (o.meta.unset if o.default is None else show(o.default))
        )
        params.append(parameter(o, "config", with_default(o.meta.help, shown) if shown else o.meta.help))
    config = options_of(RunOptions)["config"]
    params.append(
        parameter(
            config,
            "action",
            "YAML file of serve options (keys as in docs/serving.md); command-line options override it.",
        )
    )
    return params


def serve(
    options: RunOptions,
    runs: Annotated[
        list[str],
        typer.Argument(
            help="Run folders to serve, or app names (their latest completed run under --runs-dir).",
            metavar="RUN",
            show_default=False,
        ),
    ],
) -> None:
    """Serve trained runs over HTTP: POST /v1/APP/RUN/predict with {"texts": [...]}, dynamic batching, API keys,
    limits, PII masking, /metrics, /healthz, /readyz and OpenAPI docs at /docs. Stops on Ctrl-C / SIGTERM after
    in-flight requests finish."""
    from ..plugins import get_host
    from ..serving import serve as run_service

    overrides = {k: v for k, v in options.overrides.items() if k != "extra"}
    config = build_serve_config(load_serve_config(options.config) if options.config else None, overrides)
    run_service(config, runs, get_host().registry, on_start=lambda service: _print_start(config, service))


def _print_start(config: ServeConfig, service: Any) -> None:
    keys = f"{len(service.keys.keys)} API key(s)" if service.keys else "no API keys (every route is open)"
    batching = (
        f"batches of up to {config.max_batch_size}, {config.max_wait_ms:g} ms wait"
        if config.batching
        else "batching off"
    )
    err.print(f"serving {len(service.runs)} run(s) on http://{config.host}:{config.port}  ({keys}; {batching})")
    for run in service.runs.values():
        err.print(f"  POST /v1/{run.key}/predict   {run.path}")
    err.print(
        f"  docs http://{config.host}:{config.port}/docs   readiness /readyz   metrics /metrics ({config.metrics})"
    )


def register(cli: typer.Typer) -> None:
    """Add ``tlsuite serve`` to the root CLI."""
    cli.command(SERVE, epilog=EPILOG)(bind(serve, params=parameters()))
