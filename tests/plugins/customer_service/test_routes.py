"""``tlsuite serve``'s customer-service route: POST /v1/customer-service/{run}/respond answers a conversation as
``respond`` does (the plugin registers it through ``tlsuite_register_routes``)."""

import time

import pytest


def test_the_plugin_registers_the_respond_route():
    from tlsuite_core.plugins import get_host

    assert "customer-service/respond" in get_host().registry.names("route")


def test_respond_over_http_keeps_the_conversation(cs_run, tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from tlsuite_core.plugins import get_host
    from tlsuite_core.serving import ServeConfig, build_service, create_app

    monkeypatch.setenv("TLSUITE_CUSTOMER_SERVICE_DB", f"sqlite:///{tmp_path / 'served.db'}")
    registry = get_host().registry
    service = build_service(ServeConfig(), [str(cs_run)], registry, env_keys="")
    app = create_app(service, registry.values("route"))
    url = f"/v1/customer-service/{cs_run.name}/respond"
    with TestClient(app) as client:
        deadline = time.monotonic() + 120  # the service loads its runs in the background
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.2)
        first = client.post(url, json={"session": "web-1", "message": "please cancel my purchase"})
        assert first.status_code == 200, first.text
        assert first.json()["reply"] == "Could you give me your order number?"
        assert first.json()["pending"] == "order_id" and first.json()["request_id"]
        second = client.post(url, json={"session": "web-1", "message": "it is 12345678"}).json()
        assert second["reply"] == "I have cancelled order 12345678 for you."
        assert second["slots"] == {"order_id": "12345678"}
        assert client.post(url, json={"session": "web-1"}).status_code == 422
        assert url in client.get("/openapi.json").json()["paths"]
