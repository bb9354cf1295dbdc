"""The runs a service serves: resolved from the command line at start, loaded and warmed up in the background.

A run that fails to load stays listed with the reason: ``/readyz`` answers 503 naming it, its routes answer 503,
and the other runs are served.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..errors import ConfigError, first_line
from .batching import DynamicBatcher

if TYPE_CHECKING:
    from ..registry import Registry
    from .config import ServeConfig
    from .metrics import ServiceMetrics

__all__ = ["ServedRun", "load_runs", "resolve_runs"]

LOADING, READY, FAILED = "loading", "ready", "failed"
#: texts per padded forward on CPU (bench/bench_serve.py: slices of 8 of a length-sorted batch of 32 beat one
#: forward of 32 padded to the longest text)
CPU_FORWARD_BATCH = 8
WARM_UP = ["Warm-up: the model runs once before the service says it is ready."]
#: the core tasks whose ``predict`` takes texts: their runs get the generic ``predict`` route and a warm-up
TEXT_TASKS = ("sequence-classification", "token-classification", "generation")
#: the core tasks whose ``predict`` takes (query, candidate) pairs: their runs get the generic ``score`` route
PAIR_TASKS = ("ranking",)


@dataclass
class ServedRun:
    """One served run: ``app``/``name`` (the run folder's name) in its routes, its status and, once loaded, the
    :class:`~tlsuite_core.apps.TrainedApp` and its batcher."""

    app: str
    name: str
    path: Path
    task: str | None = None
    status: str = LOADING
    error: str | None = None
    trained: Any = None
    batcher: DynamicBatcher | None = None
    load_seconds: float | None = None
    routes: list[str] = field(default_factory=list)
    #: an engine run or model folder (``run.json`` / ``tlsuite.json``), opened with ``load_app``; another folder
    #: is opened by its app's plugin (``Route.open_run``) and served through that plugin's routes only
    engine: bool = True

    @property
    def generic_route(self) -> str | None:
        """The route the run's task gets from the service: ``predict`` (texts), ``score`` (a query and its
        candidates, ranking), or ``None`` (another task, or a run its plugin opens: its plugin's routes only)."""
        if not self.engine:
            return None
        if self.task is None or self.task in TEXT_TASKS:
            return "predict"
        return "score" if self.task in PAIR_TASKS else None

    @property
    def key(self) -> str:
        return f"{self.app}/{self.name}"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"app": self.app, "run": self.name, "task": self.task, "status": self.status}
        if self.error:
            out["error"] = self.error
        if self.trained is not None and self.task in ("sequence-classification", "token-classification"):
            out["labels"] = list(self.trained.labels)
        out["routes"] = list(self.routes)
        return out


def _record(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def resolve_runs(refs: Sequence[str], runs_dir: str | None, registry: Registry) -> list[ServedRun]:
    """``RUN`` arguments (run folders, or app names: their latest completed run) as runs to serve; a reference to
    nothing, or two runs with the same app and name, is a :class:`~tlsuite_core.errors.ConfigError`."""
    from ..apps import default_runs_dir
    from ..training.runs import default_run

    if not refs:
        raise ConfigError("give at least one RUN to serve (a run folder, or an app name for its latest run)")
    runs: dict[str, ServedRun] = {}
    for ref in refs:
        path = Path(ref)
        if not path.exists() and registry.get("app", str(ref)) is not None:
            path = default_run(default_runs_dir(runs_dir), str(ref))
        if not path.is_dir():
            apps = ", ".join(registry.names("app")) or "none"
            raise ConfigError(f"{ref}: no such run folder, and not an app name (installed apps: {apps})")
        record = _record(path)
        app = str(record.get("app") or path.parent.name)
        spec = registry.get("app", app)  # a run folder without run.json (an app's own runs): the app's task
        task = record.get("task") or (spec.task if spec is not None else None)
        engine = (path / "run.json").is_file() or (path / "tlsuite.json").is_file()
        served = ServedRun(app, path.name, path.resolve(), task, engine=engine)
        if served.key in runs:
            raise ConfigError(f"{ref}: {served.key} is served twice (runs are addressed as /v1/APP/RUN)")
        runs[served.key] = served
    return list(runs.values())


def load_runs(
    runs: Sequence[ServedRun],
    config: ServeConfig,
    registry: Registry,
    metrics: ServiceMetrics,
    *,
    loader: Callable[..., Any] | None = None,
    openers: Mapping[str, Callable[[Path], Any]] | None = None,
    log: logging.Logger | None = None,
) -> None:
    """Load, warm up and start a batcher for each run, in order (a failure is recorded on its run). A run that is
    not an engine run, of an app in ``openers`` (``{app: open_run}`` of its plugin's routes), is opened by that
    function and gets no batcher."""
    from ..apps import load_app

    loader = loader or load_app
    openers = openers or {}
    log = log or logging.getLogger("tlsuite.serve")
    for run in runs:
        metrics.ready.labels(run=run.key).set(0)
        started = time.perf_counter()
        opener = None if run.engine else openers.get(run.app)
        try:
            if opener is not None:
                trained = opener(run.path)
            else:
                trained = loader(
                    run.path, device=config.device, threads=config.threads, registry=registry, backend=config.backend
                )
                if run.generic_route == "predict":
                    trained.predict(WARM_UP)
                elif run.generic_route == "score":
                    trained.predict([(WARM_UP[0], WARM_UP[0])])
        except Exception as exc:  # any failure: recorded with its reason, the other runs go on
            run.status, run.error = FAILED, f"{type(exc).__name__}: {first_line(exc)}"
            log.error(f"{run.key} failed to load: {run.error}", extra={"fields": {"run": run.key}})
            continue
        run.load_seconds = time.perf_counter() - started
        run.trained = trained
        if opener is not None:
            _ready(run, metrics, log)
            continue
        run.task = run.task or trained.task.name
        on_cpu = str(getattr(trained, "device", "cpu")) == "cpu"  # an ONNX Runtime app runs on the CPU
        forward = config.forward_batch_size or (CPU_FORWARD_BATCH if on_cpu else config.max_batch_size)
        run.batcher = DynamicBatcher(
            lambda texts, _app=trained, _size=forward: _app.predict(texts, batch_size=_size),
            max_batch_size=config.max_batch_size,
            max_wait=config.max_wait_ms / 1000,
            max_queue=config.max_queue,
            batching=config.batching,
            on_batch=metrics.batch_observer(run.key),
            name=f"batcher {run.key}",
        )
        metrics.watch_queue(run.key, lambda _b=run.batcher: _b.depth)
        _ready(run, metrics, log)


def _ready(run: ServedRun, metrics: ServiceMetrics, log: logging.Logger) -> None:
    metrics.load_seconds.labels(run=run.key).set(run.load_seconds)
    metrics.ready.labels(run=run.key).set(1)
    run.status = READY
    log.info(f"{run.key} ready in {run.load_seconds:.1f} s", extra={"fields": {"run": run.key}})


def start_loading(runs: Sequence[ServedRun], *args: Any, **kwargs: Any) -> threading.Thread:
    """:func:`load_runs` in a background thread (the server answers ``/healthz`` and ``/readyz`` meanwhile)."""
    thread = threading.Thread(target=load_runs, args=(runs, *args), kwargs=kwargs, name="load runs", daemon=True)
    thread.start()
    return thread
