"""``tlsuite serve``'s recommend routes on a real uvicorn server: the plugin opens its run folder itself
(``open_run``), ``rank`` and ``explain`` answer as the Python API does, bad ids are 422, keys apply."""

import json

import httpx
import pytest

from tests.core.serving.support import LiveServer


def test_the_plugin_registers_rank_and_explain():
    from tlsuite_core.plugins import get_host

    names = get_host().registry.names("route")
    assert {"recommend/rank", "recommend/explain"} <= set(names)


def test_rank_and_explain_over_http(trained):
    pytest.importorskip("fastapi")
    from tlsuite_recommend import Recommender

    from tlsuite_core import load_app
    from tlsuite_core.plugins import get_host
    from tlsuite_core.serving import ServeConfig, build_service

    rec, _, _ = trained
    registry = get_host().registry
    marker = json.loads((rec.folder / "cross_encoder.json").read_text())
    cross_encoder = rec.folder / marker["run"]  # the engine run inside: served as a plain ranking run
    srv = build_service(ServeConfig(), [str(rec.folder), str(cross_encoder)], registry, env_keys="rec-key")
    run = srv.runs["recommend/tiny"]
    assert run.task == "ranking" and not run.engine  # no run.json: the app's task, opened by the plugin
    inner = srv.runs[f"recommend/{cross_encoder.name}"]
    assert inner.engine and inner.generic_route == "score"
    with LiveServer(srv, registry.values("route")) as live:
        assert live.wait_ready(120)["runs"]["recommend/tiny"] == {"status": "ready"}
        auth = {"Authorization": "Bearer rec-key"}
        url = live.url + "/v1/recommend/tiny"
        assert httpx.post(url + "/rank", json={"user": "u0"}).status_code == 401
        fresh = Recommender.load(rec.folder)
        r = httpx.post(url + "/rank", json={"user": "u0", "k": 5}, headers=auth, timeout=60)
        assert r.status_code == 200, r.text
        assert [i["item"] for i in r.json()["items"]] == [x.item for x in fresh.rank("u0", k=5)]
        assert r.json()["run"] == "tiny" and r.json()["request_id"]
        newcomer = httpx.post(url + "/rank", json={"history": ["1", "4"], "k": 3}, headers=auth, timeout=60).json()
        assert len(newcomer["items"]) == 3 and not {"1", "4"} & {i["item"] for i in newcomer["items"]}
        pool = httpx.post(url + "/rank", json={"user": "u0", "retrieve": 6, "k": 2}, headers=auth, timeout=60)
        assert pool.status_code == 200 and len(pool.json()["items"]) == 2
        why = httpx.post(url + "/explain", json={"user": "u0", "item": "1"}, headers=auth, timeout=60).json()
        assert why["score"] == pytest.approx(fresh.explain("u0", "1")["score"], abs=1e-5)
        assert set(why["features"]) == set(fresh.fusion.features)
        unknown = httpx.post(url + "/rank", json={"user": "nobody"}, headers=auth, timeout=60)
        assert unknown.status_code == 422 and "unknown user 'nobody'" in unknown.json()["error"]["message"]
        bad_item = httpx.post(url + "/explain", json={"user": "u0", "item": "zz"}, headers=auth, timeout=60)
        assert bad_item.status_code == 422 and "unknown item 'zz'" in bad_item.json()["error"]["message"]
        both = httpx.post(url + "/rank", json={"user": "u0", "history": ["1"]}, headers=auth, timeout=60)
        assert both.status_code == 422 and "not both" in both.json()["error"]["message"]
        neither = httpx.post(url + "/rank", json={"k": 3}, headers=auth, timeout=60)
        assert neither.status_code == 422 and "give user (a known user's id) or history" in neither.text
        for generic in ("/predict", "/score"):  # the plugin's routes only
            assert httpx.post(url + generic, json={"texts": ["x"]}, headers=auth).status_code == 404
        served = {r["run"]: r["routes"] for r in httpx.get(live.url + "/v1/runs", headers=auth).json()["runs"]}
        assert sorted(served["tiny"]) == ["/v1/recommend/tiny/explain", "/v1/recommend/tiny/rank"]
        assert served[cross_encoder.name] == [f"/v1/recommend/{cross_encoder.name}/score"]  # not rank / explain
        body = {"query": "profit rose growth", "candidates": ["profit rose w1", "loss fell w2"]}
        scored = httpx.post(f"{live.url}/v1/recommend/{cross_encoder.name}/score", json=body, headers=auth)
        assert scored.status_code == 200, scored.text
        expected = load_app(cross_encoder, device="cpu").predict(
            [("profit rose growth", c) for c in body["candidates"]]
        )
        assert scored.json()["scores"] == pytest.approx(expected, abs=1e-4)
