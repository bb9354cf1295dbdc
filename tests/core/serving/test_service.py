"""Service behaviour over real HTTP with fake models (no weights needed): the bounded queue, timeouts, graceful
shutdown, names masked through a NER run, and a plugin's own route declared through the hook."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from pydantic import BaseModel

from tests.core.serving.support import FakeApp, LiveServer, fake_loader, fake_run
from tlsuite_core import hookimpl
from tlsuite_core.plugins import PluginHost
from tlsuite_core.serving import Route, RouteHandler, ServeConfig, build_service

PREDICT = "/v1/finance-monitor/slow/predict"


def service(tmp_path, registry=None, **config):
    runs = [fake_run(tmp_path, "finance-monitor", "slow", "sequence-classification")]
    runs.append(fake_run(tmp_path, "ner", "people", "token-classification"))
    host_registry = registry or PluginHost(entry_points=[]).registry
    return build_service(ServeConfig(**config), [str(r) for r in runs], host_registry, env_keys="")


def test_a_full_queue_answers_503_with_retry_after_and_the_service_recovers(tmp_path):
    slow = FakeApp(delay=0.3)
    loader = fake_loader({"slow": slow, "people": FakeApp("token-classification")})
    with LiveServer(service(tmp_path, max_queue=2, max_batch_size=1), loader=loader) as live:
        live.wait_ready()
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda i: httpx.post(live.url + PREDICT, json={"texts": [f"t{i}"]}, timeout=30), range(8))
            )
        codes = sorted(r.status_code for r in answers)
        assert 200 in codes and 503 in codes, codes
        refused = [r for r in answers if r.status_code == 503]
        assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
        assert "overloaded" in refused[0].json()["error"]["message"]
        assert httpx.post(live.url + PREDICT, json={"texts": ["after"]}, timeout=30).status_code == 200
        metrics = httpx.get(live.url + "/metrics").text
        assert 'tlsuite_refused_total{reason="queue_full",run="finance-monitor/slow"}' in metrics


def test_a_request_past_its_timeout_gets_504(tmp_path):
    loader = fake_loader({"slow": FakeApp(delay=1.0), "people": FakeApp("token-classification")})
    with LiveServer(service(tmp_path, request_timeout_s=0.2), loader=loader) as live:
        live.wait_ready()
        r = httpx.post(live.url + PREDICT, json={"texts": ["x"]}, timeout=30)
        assert r.status_code == 504 and "0.2 s" in r.json()["error"]["message"]


def test_shutdown_finishes_in_flight_requests(tmp_path):
    slow = FakeApp(delay=0.8)
    loader = fake_loader({"slow": slow, "people": FakeApp("token-classification")})
    live = LiveServer(service(tmp_path), loader=loader).__enter__()
    try:
        live.wait_ready()
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(httpx.post, live.url + PREDICT, json={"texts": ["in flight"]}, timeout=30)
            time.sleep(0.3)
            live.server.should_exit = True  # what uvicorn's SIGTERM / SIGINT handler does
            answer = pending.result(30)
        assert answer.status_code == 200 and answer.json()["results"][0]["label"] == "negative"
        live.thread.join(30)
        assert not live.thread.is_alive()
    finally:
        live.__exit__(None, None, None)


def test_names_are_masked_through_the_served_ner_run(tmp_path):
    people = FakeApp("token-classification")
    loader = fake_loader({"slow": FakeApp(), "people": people})
    with LiveServer(service(tmp_path), loader=loader) as live:
        live.wait_ready()
        text = "John Smith (john@corp.example) says profit rose"
        r = httpx.post(live.url + PREDICT, json={"texts": [text], "mask_pii": True}, timeout=30)
        assert r.status_code == 200
        assert r.json()["masked"][0]["text"] == "[PERSON] ([EMAIL]) says profit rose"
        assert [text] in people.calls
        ner = httpx.post(live.url + "/v1/ner/people/predict", json={"texts": [text]}, timeout=30).json()
        assert ner["results"][0][0]["label"] == "PER" and ner["task"] == "token-classification"


class Ask(BaseModel):
    texts: list[str]
    mask_pii: bool = False
    top: int = 1


class Answer(BaseModel):
    answers: list[str]
    seen: list[str]


async def handle(request: Ask, context) -> Answer:
    results = await context.predict(request.texts)
    return Answer(answers=[f"{context.run}:{r.label}" for r in results][: request.top], seen=request.texts)


class RoutePlugin:
    @hookimpl
    def tlsuite_register_routes(self, register):
        register(Route("finance-monitor", "ask", lambda: RouteHandler(Ask, Answer, handle), summary="Ask it."))


def test_a_plugin_route_declared_through_the_hook_is_served_with_keys_limits_and_masking(tmp_path):
    entry = SimpleNamespace(name="asker", value="tests:asker", dist=None, load=lambda: RoutePlugin())
    host = PluginHost(entry_points=[entry])
    assert host.registry.names("route") == ["finance-monitor/ask"]
    srv = service(tmp_path, registry=host.registry, max_text_chars=50)
    srv.keys = type(srv.keys).load(env="route-key")
    loader = fake_loader({"slow": FakeApp(), "people": FakeApp("token-classification")})
    with LiveServer(srv, host.registry.values("route"), loader=loader) as live:
        live.wait_ready()
        url, auth = live.url + "/v1/finance-monitor/slow/ask", {"Authorization": "Bearer route-key"}
        assert httpx.post(url, json={"texts": ["x"]}).status_code == 401
        r = httpx.post(url, json={"texts": ["profit rose, call +1 415 555 2671"], "mask_pii": True}, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json() == {"answers": ["slow:positive"], "seen": ["profit rose, call [PHONE]"]}
        assert httpx.post(url, json={"texts": ["a" * 51]}, headers=auth).status_code == 413
        assert httpx.post(url, json={"texts": ["a"], "top": "many"}, headers=auth).status_code == 422
        assert "/v1/finance-monitor/slow/ask" in httpx.get(live.url + "/openapi.json").json()["paths"]


def test_context_predict_is_awaitable_from_a_handler():
    from tlsuite_core.serving import RouteContext

    async def predict(texts):
        return [t[::-1] for t in texts]

    context = RouteContext("app", "run", None, predict, "rid")
    assert asyncio.run(context.predict(["abc"])) == ["cba"]


def test_the_service_refuses_a_public_address_without_keys(tmp_path):
    from tlsuite_core.errors import ConfigError

    with pytest.raises(ConfigError, match="without API keys"):
        service(tmp_path, host="0.0.0.0")
    assert service(tmp_path / "ok", host="0.0.0.0", allow_no_keys=True).keys.keys == []


def test_two_runs_under_one_name_and_a_missing_run_are_refused(tmp_path):
    from tlsuite_core.errors import ConfigError

    run = fake_run(tmp_path, "finance-monitor", "a", "sequence-classification")
    registry = PluginHost(entry_points=[]).registry
    with pytest.raises(ConfigError, match="served twice"):
        build_service(ServeConfig(), [str(run), str(run)], registry, env_keys="")
    with pytest.raises(ConfigError, match="no such run folder"):
        build_service(ServeConfig(), [str(tmp_path / "nothing")], registry, env_keys="")


def test_the_batcher_gathers_concurrent_http_requests(tmp_path):
    slow = FakeApp(delay=0.05)
    loader = fake_loader({"slow": slow, "people": FakeApp("token-classification")})
    with LiveServer(service(tmp_path, max_wait_ms=50), loader=loader) as live:
        live.wait_ready()
        start = threading.Barrier(12)

        def call(i):
            start.wait()
            return httpx.post(live.url + PREDICT, json={"texts": [f"t{i}"]}, timeout=30).status_code

        with ThreadPoolExecutor(12) as pool:
            assert set(pool.map(call, range(12))) == {200}
        served = [c for c in slow.calls if c[0].startswith("t")]
        assert max(len(c) for c in served) > 1 and sum(len(c) for c in served) == 12


def test_a_plugin_route_that_fails_to_load_is_named_in_one_line(tmp_path):
    from tlsuite_core.errors import PluginError
    from tlsuite_core.serving import create_app

    def broken():
        raise ImportError("no module named 'fancy_models'")

    with pytest.raises(PluginError, match="route finance-monitor/ask: load\\(\\) failed: ImportError: no module"):
        create_app(service(tmp_path), [Route("finance-monitor", "ask", broken)])


@pytest.mark.parametrize("access, without_key", [("key", 401), ("off", 404), ("open", 200)])
def test_metrics_access_is_configurable(tmp_path, access, without_key):
    srv = service(tmp_path, metrics=access)
    srv.keys = type(srv.keys).load(env="metrics-key")
    loader = fake_loader({"slow": FakeApp(), "people": FakeApp("token-classification")})
    with LiveServer(srv, loader=loader) as live:
        assert httpx.get(live.url + "/metrics").status_code == without_key
        if access == "key":
            r = httpx.get(live.url + "/metrics", headers={"Authorization": "Bearer metrics-key"})
            assert r.status_code == 200 and "tlsuite_requests_total" in r.text


def test_masking_refuses_rather_than_leave_names_when_the_ner_run_failed(tmp_path):
    loader = fake_loader({"slow": FakeApp()})  # the ner run fails to load
    with LiveServer(service(tmp_path), loader=loader) as live:
        assert live.wait_ready()["runs"]["ner/people"]["status"] == "failed"
        r = httpx.post(live.url + PREDICT, json={"texts": ["John Smith"], "mask_pii": True}, timeout=30)
        assert r.status_code == 503 and "names cannot be masked" in r.json()["error"]["message"]
        assert httpx.post(live.url + PREDICT, json={"texts": ["John Smith"]}, timeout=30).status_code == 200


def test_a_ranking_run_scores_candidates_and_other_tasks_get_only_their_plugin_routes(tmp_path):
    ranker = fake_run(tmp_path, "search", "ranker", "ranking")
    lm = fake_run(tmp_path, "search", "domain-lm", "language-modeling")
    srv = build_service(ServeConfig(), [str(ranker), str(lm)], PluginHost(entry_points=[]).registry, env_keys="")
    ranking, language_model = FakeApp("ranking"), FakeApp("language-modeling")
    with LiveServer(srv, loader=fake_loader({"ranker": ranking, "domain-lm": language_model})) as live:
        assert live.wait_ready()["runs"]["search/ranker"] == {"status": "ready"}
        assert ranking.calls and isinstance(ranking.calls[0][0], tuple)  # warmed up with a pair
        assert language_model.calls == []  # no text route: no warm-up
        url = live.url + "/v1/search/ranker"
        body = {"query": "profit rose", "candidates": ["sales fell", "profit rose again", "rose"]}
        r = httpx.post(url + "/score", json=body, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["scores"] == [0.0, 2.0, 1.0] and r.json()["order"] == [1, 2, 0]
        assert ("profit rose", "profit rose again") in ranking.calls[-1]
        masked = httpx.post(url + "/score", json={**body, "query": "mail a@b.example", "mask_pii": True}, timeout=30)
        assert masked.json()["masked"][0]["text"] == "mail [EMAIL]" and ranking.calls[-1][0][0] == "mail [EMAIL]"
        assert httpx.post(url + "/score", json={"query": "q", "candidates": []}, timeout=30).status_code == 422
        assert httpx.post(url + "/predict", json={"texts": ["x"]}).status_code == 404
        assert httpx.post(live.url + "/v1/search/domain-lm/predict", json={"texts": ["x"]}).status_code == 404
        routes = {r["run"]: r["routes"] for r in httpx.get(live.url + "/v1/runs").json()["runs"]}
        assert routes == {"ranker": ["/v1/search/ranker/score"], "domain-lm": []}


class Shelf:
    """A run of an app whose folders are not engine runs: a JSON file of items, opened by the plugin itself."""

    def __init__(self, folder: Path) -> None:
        import json

        self.items = json.loads((folder / "shelf.json").read_text(encoding="utf-8"))

    def find(self, item: str) -> str:
        from tlsuite_core.errors import DataError

        if item not in self.items:
            raise DataError(f"unknown item {item!r}")
        return self.items[item]


class Find(BaseModel):
    item: str


class Found(BaseModel):
    title: str


async def find(request: Find, context) -> Found:
    return Found(title=context.trained.find(request.item))


def open_shelf(folder: Path) -> Shelf:
    if folder.name == "broken":
        raise OSError(f"{folder}: shelf.json is missing")
    return Shelf(folder)


class ShelfPlugin:
    @hookimpl
    def tlsuite_register_apps(self, register):
        from tlsuite_core.apps import AppSpec

        register(AppSpec("shelf", "ranking"))

    @hookimpl
    def tlsuite_register_routes(self, register):
        register(Route("shelf", "find", lambda: RouteHandler(Find, Found, find), open_run=open_shelf))


def test_a_plugin_opens_its_own_runs_and_serves_them_through_its_routes(tmp_path):
    import json

    good, broken = tmp_path / "shelf" / "books", tmp_path / "shelf" / "broken"
    for folder in (good, broken):
        folder.mkdir(parents=True)
    (good / "shelf.json").write_text(json.dumps({"b1": "A title"}), encoding="utf-8")
    entry = SimpleNamespace(name="shelf", value="tests:shelf", dist=None, load=lambda: ShelfPlugin())
    host = PluginHost(entry_points=[entry])
    srv = build_service(ServeConfig(), [str(good), str(broken)], host.registry, env_keys="")
    assert [run.task for run in srv.runs.values()] == ["ranking", "ranking"]  # no run.json: the app's task
    with LiveServer(srv, host.registry.values("route"), loader=fake_loader({})) as live:
        runs = live.wait_ready()["runs"]
        assert runs["shelf/books"] == {"status": "ready"}
        assert runs["shelf/broken"]["status"] == "failed" and "shelf.json is missing" in runs["shelf/broken"]["error"]
        assert httpx.get(live.url + "/readyz").status_code == 503
        url = live.url + "/v1/shelf/books"
        assert httpx.post(url + "/find", json={"item": "b1"}).json() == {"title": "A title"}
        unknown = httpx.post(url + "/find", json={"item": "b2"})
        assert unknown.status_code == 422 and unknown.json()["error"]["message"] == "unknown item 'b2'"
        assert httpx.post(url + "/predict", json={"texts": ["x"]}).status_code == 404  # a ranking run takes no texts
        assert httpx.post(live.url + "/v1/shelf/broken/find", json={"item": "b1"}).status_code == 503


def test_two_routes_of_one_app_may_not_open_its_runs_differently(tmp_path):
    from tlsuite_core.errors import PluginError
    from tlsuite_core.serving import create_app

    routes = [
        Route("shelf", "find", lambda: RouteHandler(Find, Found, find), open_run=open_shelf),
        Route("shelf", "other", lambda: RouteHandler(Find, Found, find), open_run=lambda folder: None),
    ]
    with pytest.raises(PluginError, match="shelf/other: another route of shelf opens its runs"):
        create_app(service(tmp_path), routes)


def test_a_generation_run_answers_with_its_own_result_model(tmp_path):
    run = fake_run(tmp_path, "translate", "de-en", "generation")
    srv = build_service(ServeConfig(), [str(run)], PluginHost(entry_points=[]).registry, env_keys="")
    with LiveServer(srv, loader=fake_loader({"de-en": FakeApp("generation")})) as live:
        live.wait_ready()
        r = httpx.post(live.url + "/v1/translate/de-en/predict", json={"texts": ["guten Tag"]}, timeout=30)
        assert r.json()["results"] == [
            {"text": "gaT netug", "truncated": False, "tokens": 2, "source_truncated": False}
        ]
        schemas = httpx.get(live.url + "/openapi.json").json()["components"]["schemas"]
        assert schemas["PredictResponse_generation"]["properties"]["results"]["items"]["$ref"].endswith(
            "GeneratedResult"
        )


class Failing(FakeApp):
    def predict(self, texts, batch_size=64):
        if texts and texts[0].startswith("boom"):
            raise RuntimeError(f"cannot score {texts[0]!r}")
        return super().predict(texts, batch_size)


def test_a_model_error_is_a_json_500_with_the_request_id_and_a_masked_log(tmp_path):
    loader = fake_loader({"slow": Failing(), "people": FakeApp("token-classification")})
    with LiveServer(service(tmp_path), loader=loader) as live:
        live.wait_ready()
        r = httpx.post(live.url + PREDICT, json={"texts": ["boom jane@corp.example"]}, headers={"X-Request-ID": "b1"})
        assert r.status_code == 500 and r.json()["request_id"] == "b1" and r.headers["x-request-id"] == "b1"
        assert "jane@corp" not in r.text
        assert httpx.post(live.url + PREDICT, json={"texts": ["fine"]}).status_code == 200
        errors = [line for line in live.log_lines() if line["level"] == "error"]
        assert errors and errors[0]["request_id"] == "b1" and "cannot score" in errors[0]["message"]
        assert "jane@corp" not in live.logs.getvalue() and "[EMAIL]" in errors[0]["message"]


def test_the_hook_docstring_states_the_contract_the_code_uses():
    import dataclasses
    import inspect

    from tlsuite_core import hookspecs

    doc = inspect.getdoc(hookspecs.tlsuite_register_routes)
    assert "tlsuite_core.serving.Route" in doc and "load() -> RouteHandler" in doc
    assert "async handle(request, context)" in doc
    assert "open_run" in doc and "Route(app, path, load, summary, open_run)" in doc
    assert [f.name for f in dataclasses.fields(Route)] == ["app", "path", "load", "summary", "open_run"]
    assert [f.name for f in dataclasses.fields(RouteHandler)] == ["request_model", "response_model", "handle"]
    assert (
        "Route(app, path, load, summary, open_run)"
        in (Path(__file__).resolve().parents[3] / "docs" / "plugins.md").read_text()
    )
