"""finance-monitor alerts: replayed episodes are detected, few false alerts, episodes/cooldown, webhook outbox."""

from __future__ import annotations

import itertools
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from tlsuite_finance_monitor.monitor import Monitor
from tlsuite_finance_monitor.monitor.alerts import Rule, fires, load_alert_config
from tlsuite_finance_monitor.monitor.replay import KeywordClassifier, generate, score

from tlsuite_core.errors import ConfigError


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_replay_episodes_raise_alerts_and_few_false_ones(tmp_path, seed):
    """3,000 items over 5 days and 3 topics (about 50 items per topic and 6-hour bucket), 3 injected negative
    episodes of 12-24 h; a stand-in classifier that is wrong on 10 % of items."""
    out = tmp_path / "replay"
    truth = generate(out, items=3000, days=5, topics=3, episodes=3, seed=seed)
    with Monitor(
        tmp_path / "m.db",
        KeywordClassifier(0.1),
        topics=out / "topics.yaml",
        alerts=out / "alerts.yaml",
        batch_size=256,
    ) as m:
        stats = m.ingest_path(out / "stream.jsonl")
        assert stats.stored == 3000 and stats.balanced
        result = score(m.alerts(), truth, "6h")
        assert m.check_alerts() == []  # evaluating again raises nothing new
    assert result["detected"] == result["episodes"] == 3, result["per_episode"]
    assert all(r["delay_buckets"] <= 1 for r in result["per_episode"])
    assert result["false_alerts_per_10k_items"] <= 1.0, result["false"]


def test_one_alert_per_episode_and_incremental_evaluation(tmp_path):
    out = tmp_path / "replay"
    truth = generate(out, items=3000, days=5, topics=3, episodes=3, seed=7)
    stream = (out / "stream.jsonl").read_text().splitlines()
    with Monitor(
        tmp_path / "m.db",
        KeywordClassifier(0.1),
        topics=out / "topics.yaml",
        alerts=out / "alerts.yaml",
        batch_size=128,
    ) as m:
        alerts = []
        for start in range(0, len(stream), 250):  # arrives in chunks, like a live feed
            alerts += m.ingest([json.loads(x) for x in stream[start : start + 250]]).alerts
        stored = m.alerts()
    assert sorted(a.key for a in alerts) == sorted(a.key for a in stored)
    per = {}
    for a in stored:
        per.setdefault((a.rule, a.topic), []).append(a)
    for found in per.values():  # episodes of a rule on a topic never overlap
        found.sort(key=lambda a: a.bucket_start)
        for x, y in itertools.pairwise(found):
            assert y.bucket_start > x.last_bucket
    assert score(stored, truth, "6h")["detected"] == 3
    for a in stored:
        assert a.evidence and all(e["p_negative"] >= 0 for e in a.evidence)
        ps = [e["p_negative"] for e in a.evidence]
        assert ps == sorted(ps, reverse=True)


def test_rule_arithmetic():
    share = Rule("s", "negative_share", threshold=0.5, min_count=10)
    assert fires(share, [], 9, 9, "negative") is None  # below min_count
    assert fires(share, [], 20, 10, "negative")[0] is True
    assert fires(share, [], 20, 9, "negative")[0] is False
    spike = Rule("z", "negative_spike", z=3.0, baseline=4, min_baseline=3, min_count=10, min_delta=0.1)
    history = [(50, {"negative": 5}), (50, {"negative": 6}), (50, {"negative": 4})]
    assert fires(spike, history[:2], 50, 30, "negative") is None  # too little baseline
    ok, z, _ = fires(spike, history, 50, 30, "negative")
    assert ok and z > 3
    assert fires(spike, history, 50, 7, "negative")[0] is False
    surge = Rule("v", "volume_surge", factor=3.0, z=3.0, baseline=4, min_baseline=3, min_count=10)
    assert fires(surge, history, 200, 10, "negative")[0] is True
    assert fires(surge, history, 80, 10, "negative")[0] is False


def test_bad_rules_files(tmp_path):
    bad = tmp_path / "a.yaml"
    for text, match in (
        ("rules: [{type: nope}]", "type must be one of"),
        ("rules: [{type: negative_share, threshold: 2}]", "threshold"),
        ("rules: [{type: negative_share, z: 2}]", "unknown key"),
        ("bucket: fortnight", "bucket"),
        ("sinks: [{type: webhook}]", "http"),
        ("rules: [", "invalid YAML"),
    ):
        bad.write_text(text)
        with pytest.raises(ConfigError, match=match):
            load_alert_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_alert_config(tmp_path / "missing.yaml")


class Receiver:
    """A webhook receiver on 127.0.0.1 that fails the first ``fail`` attempts of every alert with HTTP 503."""

    def __init__(self, fail: int, port: int = 0) -> None:
        self.attempts: dict[str, int] = {}
        self.accepted: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                assert key == body["key"]
                receiver.attempts[key] = receiver.attempts.get(key, 0) + 1
                if receiver.attempts[key] <= fail:
                    self.send_response(503)
                else:
                    receiver.accepted.append(key)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webhook_through_the_outbox_delivers_every_alert_exactly_once(tmp_path):
    out = tmp_path / "replay"
    generate(out, items=3000, days=5, topics=3, episodes=3, seed=1)
    port = free_port()
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        (out / "alerts.yaml")
        .read_text()
        .replace(
            "sinks:\n  - {type: console}",
            f"sinks:\n  - {{type: webhook, url: 'http://127.0.0.1:{port}/hook', backoff: 0.05, max_backoff: 0.2, timeout: 2}}\n"
            f"  - {{type: jsonl, path: '{tmp_path / 'alerts.jsonl'}'}}",
        )
    )
    db = tmp_path / "m.db"
    # the receiver is down while alerts are raised: nothing is lost, deliveries wait in the outbox
    with Monitor(db, KeywordClassifier(0.1), topics=out / "topics.yaml", alerts=rules, batch_size=256) as m:
        stats = m.ingest_path(out / "stream.jsonl")
        keys = sorted(a.key for a in m.alerts())
        assert len(keys) >= 3 and len(stats.alerts) == len(keys)
        down = m.deliver(timeout=0.5)
        assert down.pending == len(keys) and down.failed_attempts >= len(keys)
        assert all(a.deliveries[f"webhook:http://127.0.0.1:{port}/hook"] == "pending" for a in m.alerts())
        assert all(a.deliveries[f"jsonl:{tmp_path / 'alerts.jsonl'}"] == "delivered" for a in m.alerts())
    # later (a new process), the receiver is up but fails the first two attempts of each alert
    receiver = Receiver(fail=2, port=port)
    try:
        with Monitor(db, alerts=rules) as m:
            done = m.deliver(timeout=20)
            assert done.pending == 0
            assert sorted(receiver.accepted) == keys  # each alert accepted exactly once
            assert all(n == 3 for n in receiver.attempts.values())
            assert m.deliver(timeout=0.2).delivered == 0  # nothing left, nothing sent twice
            assert all(set(a.deliveries.values()) == {"delivered"} for a in m.alerts())
    finally:
        receiver.close()
    lines = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert sorted(x["key"] for x in lines) == keys
