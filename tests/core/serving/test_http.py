"""The service over real HTTP: a uvicorn server on a free port serving a tiny trained finance-monitor run (and a
broken one), called with httpx. Keys, scopes, limits, errors, masking, logs, metrics, readiness."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from tests.core.serving.support import LiveServer

PREDICT = "/v1/finance-monitor/base/predict"
FULL, SCOPED, LIMITED, ENV = "full-key-0123456789", "scoped-key-abcdef", "limited-key-xyz", "env-key-42"


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_run):
    from tlsuite_core.plugins import get_host
    from tlsuite_core.serving import ServeConfig, build_service

    base = tmp_path_factory.mktemp("serve")
    broken = base / "runs" / "finance-monitor" / "broken"
    broken.mkdir(parents=True)
    (broken / "run.json").write_text(json.dumps({"app": "finance-monitor", "task": "sequence-classification"}))
    keys = base / "keys.txt"
    scoped = hashlib.sha256(SCOPED.encode()).hexdigest()
    keys.write_text(
        f"# keys of the test\n{FULL}\nsha256:{scoped} scopes=ner,translate/x  # not finance-monitor\n"
        f"{LIMITED} scopes=finance-monitor/base rate=1/min\n",
        encoding="utf-8",
    )
    config = ServeConfig(api_keys=str(keys), threads=1)
    service = build_service(config, [str(tiny_run), str(broken)], get_host().registry, env_keys=ENV)
    with LiveServer(service) as server:
        server.wait_ready()
        yield server


def post(live, path=PREDICT, key=FULL, **kwargs):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    headers.update(kwargs.pop("headers", {}))
    return httpx.post(live.url + path, headers=headers, timeout=30, **kwargs)


def test_health_docs_and_metrics_are_open(live):
    assert httpx.get(live.url + "/healthz").json() == {"status": "ok"}
    spec = httpx.get(live.url + "/openapi.json").json()
    assert PREDICT in spec["paths"] and "HTTPBearer" in json.dumps(spec["components"]["securitySchemes"])
    results = spec["components"]["schemas"]["PredictResponse_sequence_classification"]["properties"]["results"]
    assert results["items"]["$ref"].endswith("ClassificationResult")
    assert httpx.get(live.url + "/docs").status_code == 200
    post(live, json={"texts": ["profit rose"]})
    metrics = httpx.get(live.url + "/metrics").text
    assert f'tlsuite_requests_total{{route="{PREDICT}",status="200"}}' in metrics
    for name in ("tlsuite_request_seconds_bucket", "tlsuite_batch_size_bucket", "tlsuite_queue_depth"):
        assert name in metrics
    assert 'tlsuite_model_load_seconds{run="finance-monitor/base"}' in metrics


def test_a_run_that_fails_to_load_keeps_readyz_false_with_the_reason(live):
    r = httpx.get(live.url + "/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["ready"] is False and body["runs"]["finance-monitor/base"] == {"status": "ready"}
    assert body["runs"]["finance-monitor/broken"]["status"] == "failed"
    assert "broken" in body["runs"]["finance-monitor/broken"]["error"]
    r = post(live, "/v1/finance-monitor/broken/predict", json={"texts": ["x"]})
    assert r.status_code == 503 and "failed to load" in r.json()["error"]["message"]


def test_predict_answers_one_result_per_text_with_the_request_id(live):
    r = post(live, json={"texts": ["profit rose", "shares fell", "board meeting"]}, headers={"X-Request-ID": "crm-17"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["app"] == "finance-monitor" and body["run"] == "base" and len(body["results"]) == 3
    assert {"label", "score", "scores"} <= set(body["results"][0]) and body["request_id"] == "crm-17"
    assert r.headers["x-request-id"] == "crm-17" and "masked" not in body
    assert post(live, json={"texts": ["x"]}, key=ENV).status_code == 200  # $TLSUITE_API_KEYS adds to the file


def test_401_without_a_key_or_with_a_wrong_one(live):
    for key in (None, "wrong-key"):
        r = post(live, key=key, json={"texts": ["x"]})
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["error"]["status"] == 401
    assert httpx.get(live.url + "/v1/runs").status_code == 401


def test_403_outside_the_key_scopes_and_runs_listing_follows_them(live):
    r = post(live, key=SCOPED, json={"texts": ["x"]})
    assert r.status_code == 403 and "finance-monitor/base" in r.json()["error"]["message"]
    listed = httpx.get(live.url + "/v1/runs", headers={"Authorization": f"Bearer {SCOPED}"}).json()
    assert listed == {"runs": []}
    full = httpx.get(live.url + "/v1/runs", headers={"Authorization": f"Bearer {FULL}"}).json()["runs"]
    assert {(r["run"], r["status"]) for r in full} == {("base", "ready"), ("broken", "failed")}


def test_429_over_the_key_rate(live):
    assert post(live, key=LIMITED, json={"texts": ["x"]}).status_code == 200
    r = post(live, key=LIMITED, json={"texts": ["x"]})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_413_for_an_oversize_body_is_a_response_not_a_dropped_connection(live):
    big = json.dumps({"texts": ["a" * 1000] * 1100}).encode()  # 1.1 MB > the 1 MiB default
    r = post(live, content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "1048576" in r.json()["error"]["message"]

    def chunks():  # no Content-Length: counted while reading
        for _ in range(40):
            yield b"a" * 65536

    r = post(live, content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_413_for_a_text_over_the_length_limit_or_too_many_texts(live):
    r = post(live, json={"texts": ["ok", "a" * 100_001]})
    assert r.status_code == 413 and r.json()["error"]["message"] == "texts[1] has 100001 characters (limit 100000)"
    r = post(live, json={"texts": ["a"] * 1025})
    assert r.status_code == 413 and "limit 1024" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "body, expected",
    [
        (b'{"texts": ["unclosed', "malformed JSON body"),
        (b'{"texts": "not a list"}', "texts: Input should be a valid list"),
        (b'{"texts": ["ok", 3]}', "texts[1]: Input should be a valid string"),
        (b'{"texts": []}', "texts: List should have at least 1 item"),
        (b'{"text": ["wrong field"]}', "texts: Field required"),
        (b'{"texts": ["x"], "mask_pii": "sometimes"}', "mask_pii: Input should be a valid boolean"),
    ],
)
def test_422_names_the_field_without_echoing_values(live, body, expected):
    r = post(live, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert expected in message and "wrong field" not in message and "sometimes" not in message


def test_mask_pii_masks_before_the_model_and_returns_the_spans(live):
    text = "Mail jane.doe@example.com, IBAN GB82 WEST 1234 5698 7654 32; profit rose 12.5% to EUR 1,234,567 in 2024"
    r = post(live, json={"texts": [text], "mask_pii": True})
    assert r.status_code == 200
    masked = r.json()["masked"][0]
    assert masked["text"] == "Mail [EMAIL], IBAN [IBAN]; profit rose 12.5% to EUR 1,234,567 in 2024"
    assert [s["type"] for s in masked["spans"]] == ["EMAIL", "IBAN"]
    assert text[masked["spans"][0]["start"] : masked["spans"][0]["end"]] == "jane.doe@example.com"


def test_access_logs_are_json_with_request_ids_and_no_keys_or_texts(live):
    post(live, json={"texts": ["secret text about jane.doe@example.com"]}, headers={"X-Request-ID": "log-check"})
    post(live, json={"texts": ["x"]}, key="wrong-key")
    lines = live.log_lines()
    access = [line for line in lines if line["logger"] == "tlsuite.serve.access"]
    mine = [line for line in access if line["request_id"] == "log-check"]
    assert mine and mine[0]["status"] == 200 and mine[0]["route"] == PREDICT and mine[0]["texts"] == 1
    assert mine[0]["key"] == hashlib.sha256(FULL.encode()).hexdigest()[:8]
    raw = live.logs.getvalue()
    for secret in (FULL, "wrong-key", "secret text", "jane.doe"):
        assert secret not in raw
    assert any(line["logger"] == "tlsuite.serve" and "broken failed to load" in line["message"] for line in lines)


def test_the_http_client_example_calls_the_service(live, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[3] / "apps" / "http_client_example.py"
    monkeypatch.setenv("TLSUITE_KEY", FULL)
    monkeypatch.setattr(sys, "argv", ["example", "--url", live.url, "--run", "finance-monitor/base", "--batch", "2"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(example), run_name="__main__")
    assert done.value.code == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and "[PHONE]" in out[0] and "[EMAIL]" in out[1] and "[IBAN]" in out[2]
