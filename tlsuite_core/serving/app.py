"""The FastAPI application: open health, readiness, docs and metrics routes; ``/v1/runs``; a predict route per
served run (typed by its task) and the routes plugins declare; errors as JSON; request ids, metrics and access
logs in an ASGI middleware."""
# no `from __future__ import annotations`: FastAPI reads the endpoints' annotations at runtime

import inspect
import re
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, Callable, Optional, Sequence

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from ..errors import DataError, PluginError, first_line
from .limits import BodyLimitMiddleware, error_body
from .routes import Route, RouteContext, run_openers
from .runs import ServedRun, start_loading
from .schemas import PredictRequest, ScoreRequest, ScoreResponse, as_json, predict_response_model
from .service import Refused, Service

__all__ = ["create_app"]

BEARER = HTTPBearer(auto_error=False, description="An API key from --api-keys or $TLSUITE_API_KEYS.")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DESCRIPTION = (
    "Trained tlsuite runs behind one service. Send `Authorization: Bearer KEY` to every `/v1` route when the "
    'service has API keys. Errors are `{"error": {"status", "message"}, "request_id"}`.'
)


def create_app(
    service: Service, routes: Sequence[Route] = (), *, loader: Optional[Callable[..., Any]] = None
) -> FastAPI:
    """The application serving ``service``'s runs; models load in the background when it starts."""
    from .. import __version__

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runs = list(service.runs.values())
        start_loading(
            runs, service.config, service.registry, service.metrics, loader=loader, openers=openers, log=service.log
        )
        yield
        await service.close()

    openers = run_openers(routes)
    app = FastAPI(title="tlsuite", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.service = service
    _add_error_handlers(app)
    _add_open_routes(app, service)
    for run in service.runs.values():
        if run.generic_route == "predict":
            _add_predict_route(app, service, run)
        elif run.generic_route == "score":
            _add_score_route(app, service, run)
        for route in routes:  # a route that opens its app's runs serves those, not the app's engine runs
            if route.app == run.app and (route.open_run is None or not run.engine):
                _add_plugin_route(app, service, run, route)
    app.add_middleware(BodyLimitMiddleware, limit=service.config.max_body_bytes)
    app.add_middleware(ObserveMiddleware, service=service)
    return app


def _error(request: Request, status: int, message: str, headers: Optional[dict] = None) -> Response:
    body = error_body(status, message, getattr(request.state, "request_id", None))
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def _add_error_handlers(app: FastAPI) -> None:
    async def refused(request: Request, exc: Refused) -> Response:
        return _error(request, exc.status, exc.message, exc.headers)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        message = validation_message(exc.errors())
        if "json" not in request.headers.get("content-type", ""):
            message += " (send the body as JSON with Content-Type: application/json)"
        return _error(request, 422, message)

    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


def validation_message(errors: Sequence[dict]) -> str:
    """``texts[2]: Input should be a valid string; mask_pii: ...``; never the offending values (they may be PII)."""
    parts = []
    for err in errors:
        if err.get("type") == "json_invalid":
            parts.append(f"malformed JSON body: {err.get('ctx', {}).get('error', err.get('msg'))}")
            continue
        loc = [p for p in err.get("loc", ()) if p != "body"]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "body"
        parts.append(f"{where}: {err.get('msg')}")
    return "invalid request: " + "; ".join(parts)


def _authorizer(service: Service, app: Optional[str] = None, run: Optional[str] = None) -> Callable[..., Any]:
    async def authorize(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(BEARER)) -> Any:
        key = service.authorize(credentials.credentials if credentials else None, app, run)
        request.state.key_id = key.id if key is not None else None
        return key

    return authorize


def _add_open_routes(app: FastAPI, service: Service) -> None:
    @app.get("/healthz", tags=["service"], summary="The process is up (no key needed).")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["service"], summary="Every model is loaded and warmed up (no key needed).")
    async def readyz() -> Response:
        ready, runs = service.readiness()
        return JSONResponse({"ready": ready, "runs": runs}, status_code=200 if ready else 503)

    @app.get("/v1/runs", tags=["service"], summary="The served runs this key may call.")
    async def list_runs(key: Any = Depends(_authorizer(service))) -> dict:
        runs = [r.describe() for r in service.runs.values() if key is None or key.allows(r.app, r.name)]
        return {"runs": runs}

    if service.config.metrics == "off":
        return
    dependencies = [Depends(_authorizer(service))] if service.config.metrics == "key" else []

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics.", dependencies=dependencies)
    async def metrics() -> Response:
        body, content_type = service.metrics.render()
        return Response(body, media_type=content_type)


async def _prepared_texts(service: Service, request: Request, texts: list[str], mask: bool) -> tuple[list, Any]:
    """Texts checked against the limits, masked when asked: (texts for the model, masked or None)."""
    request.state.texts = len(texts)
    service.check(texts)
    if not mask:
        return texts, None
    masked = await service.mask(texts)
    return [m.text for m in masked], masked


def _endpoint(body_model: type, response_model: type, run: ServedRun, service: Service, handle: Callable) -> Any:
    """An endpoint ``(body: body_model, request, key) -> response_model`` calling ``handle(body, request)``."""

    async def endpoint(body: Any, request: Request, key: Any) -> Any:
        request.state.app, request.state.run = run.app, run.name
        return await handle(body, request)

    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=body_model),
            inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
            inspect.Parameter(
                "key", inspect.Parameter.KEYWORD_ONLY, default=Depends(_authorizer(service, run.app, run.name))
            ),
        ],
        return_annotation=response_model,
    )
    return endpoint


def _add_predict_route(app: FastAPI, service: Service, run: ServedRun) -> None:
    async def handle(body: PredictRequest, request: Request) -> dict:
        service.ready_run(run)
        texts, masked = await _prepared_texts(service, request, body.texts, body.mask_pii)
        results = await service.predict(run, texts)
        return _answer(run, request, masked, results=as_json(results))

    summary = f"Predict with {run.key} ({run.task or 'unknown task'})."
    _add_task_route(app, service, run, "predict", PredictRequest, predict_response_model(run.task), handle, summary)


def _add_score_route(app: FastAPI, service: Service, run: ServedRun) -> None:
    async def handle(body: ScoreRequest, request: Request) -> dict:
        service.ready_run(run)
        texts, masked = await _prepared_texts(service, request, [body.query, *body.candidates], body.mask_pii)
        scores = await service.predict(run, [(texts[0], candidate) for candidate in texts[1:]])
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return _answer(run, request, masked, scores=scores, order=order)

    summary = f"Score candidates against a query with {run.key} ({run.task})."
    _add_task_route(app, service, run, "score", ScoreRequest, ScoreResponse, handle, summary)


def _answer(run: ServedRun, request: Request, masked: Any, **results: Any) -> dict:
    """A task route's answer: the run, its results, the masked texts (when asked) and the request id."""
    return {
        "app": run.app,
        "run": run.name,
        "task": run.task,
        **results,
        "masked": [m.as_dict() for m in masked] if masked is not None else None,
        "request_id": request.state.request_id,
    }


def _add_task_route(
    app: FastAPI,
    service: Service,
    run: ServedRun,
    name: str,
    request_model: type,
    response_model: type,
    handle: Callable,
    summary: str,
) -> None:
    """``POST /v1/{app}/{run}/{name}``: a route the run's task gets from the service."""
    path = f"/v1/{run.app}/{run.name}/{name}"
    run.routes.append(path)
    app.add_api_route(
        path,
        _endpoint(request_model, response_model, run, service, handle),
        methods=["POST"],
        response_model=response_model,
        response_model_exclude_none=True,
        tags=[run.app],
        summary=summary,
    )


def _add_plugin_route(app: FastAPI, service: Service, run: ServedRun, route: Route) -> None:
    try:
        handler = route.load()
    except Exception as exc:  # a plugin's bug: one line naming the route, not a traceback
        raise PluginError(f"route {route.name}: load() failed: {type(exc).__name__}: {first_line(exc)}") from None

    async def handle(body: Any, request: Request) -> Any:
        service.ready_run(run)
        texts = getattr(body, "texts", None)
        if isinstance(texts, list):
            texts, _ = await _prepared_texts(service, request, texts, bool(getattr(body, "mask_pii", False)))
            body = body.model_copy(update={"texts": texts})
        context = RouteContext(
            run.app, run.name, run.trained, lambda t: service.predict(run, t), request.state.request_id
        )
        try:
            return await handler.handle(body, context)
        except DataError as exc:  # the request names something the run does not know: the client's to fix
            raise Refused(422, first_line(exc)) from None

    path = f"/v1/{run.app}/{run.name}/{route.path.strip('/')}"
    run.routes.append(path)
    app.add_api_route(
        path,
        _endpoint(handler.request_model, handler.response_model, run, service, handle),
        methods=["POST"],
        response_model=handler.response_model,
        tags=[run.app],
        summary=route.summary or f"{route.name} for {run.key}.",
    )


class ObserveMiddleware:
    """Request id (``X-Request-ID``: the client's when well-formed, else a new one), metrics by route template,
    one JSON access-log line per request, and a JSON 500 for an unexpected error (logged, PII masked)."""

    def __init__(self, app: Any, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status, started, responded = 500, time.perf_counter(), False

        async def send_with_id(message: dict) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            self.service.log.exception(
                f"{scope['method']} {scope['path']} failed", extra={"fields": {"request_id": request_id}}
            )
            body = error_body(500, "internal error (see the service log for this request id)", request_id)
            headers = [(b"content-type", b"application/json"), (b"x-request-id", request_id.encode())]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            self._record(scope, state, status, time.perf_counter() - started)

    def _record(self, scope: dict, state: dict, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or state.get("refused") or "unmatched"
        self.service.metrics.observe_request(route, status, seconds)
        if not self.service.config.access_log:
            return
        fields = {
            "request_id": state.get("request_id"),
            "method": scope["method"],
            "route": route,
            "path": scope["path"],
            "status": status,
            "ms": round(seconds * 1000, 2),
            "key": state.get("key_id"),
            "app": state.get("app"),
            "run": state.get("run"),
            "texts": state.get("texts"),
        }
        self.service.access.info(f"{scope['method']} {scope['path']} {status}", extra={"fields": fields})
