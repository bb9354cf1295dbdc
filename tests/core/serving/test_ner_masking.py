"""Names masked through a real (tiny) ner run served beside a finance-monitor run: the PERSON spans are exactly
the person entities the ner run's own predict route returns for the text (outside the e-mail address, which
wins over a name found inside it)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_person_names_come_from_the_served_ner_run(tmp_path, cli, ner_model, ner_data, tiny_run):
    import httpx

    from tests.core.serving.support import LiveServer
    from tlsuite_core.plugins import get_host
    from tlsuite_core.serving import ServeConfig, build_service

    runs = tmp_path / "runs"
    args = ["ner", "train", "--model", ner_model, "--train", ner_data["train"], "--max-steps", "60"]
    args += ["--batch-size", "8", "--lr", "5e-3", "--threads", "1", "--name", "people", "--runs-dir", runs]
    trained = cli(*args)
    assert trained.exit_code == 0, trained.output
    service = build_service(
        ServeConfig(threads=1), [str(tiny_run), str(runs / "ner" / "people")], get_host().registry, env_keys=""
    )
    text = "Angela Merkel visited Paris and met Peter Blackburn , mail peter@acme.example ."
    with LiveServer(service) as live:
        assert live.wait_ready()["runs"]["ner/people"] == {"status": "ready"}
        entities = httpx.post(live.url + "/v1/ner/people/predict", json={"texts": [text]}, timeout=60).json()
        people = sorted((e["start"], e["end"]) for e in entities["results"][0] if e["label"] == "PER")
        r = httpx.post(
            live.url + "/v1/finance-monitor/base/predict", json={"texts": [text], "mask_pii": True}, timeout=60
        )
        assert r.status_code == 200
        masked = r.json()["masked"][0]
    (email,) = [(s["start"], s["end"]) for s in masked["spans"] if s["type"] == "EMAIL"]
    outside = [p for p in people if p[1] <= email[0] or p[0] >= email[1]]  # a name inside the e-mail: [EMAIL] wins
    assert sorted((s["start"], s["end"]) for s in masked["spans"] if s["type"] == "PERSON") == outside
    assert "peter@acme" not in masked["text"]
    assert outside, "the tiny ner run found no person in the sentence (training too short?)"
