"""Monitor.run: what `tlsuite finance-monitor monitor` does, for a Python caller too: one pass over a file or a
stream, --follow until a signal (the current batch finishes, the previous handlers come back), delivery at the end."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import sys
import threading

import pytest
from tlsuite_finance_monitor.monitor import Monitor, RunStats
from tlsuite_finance_monitor.monitor.replay import KeywordClassifier, generate

from tlsuite_core.errors import ConfigError, DataError


def news(n: int) -> list[dict]:
    return [
        {
            "id": f"n{k}",
            "published_at": f"2026-01-05T{k % 24:02d}:00:00Z",
            "text": f"Northbank posts a loss {k}",
            "ticker": "NBK",
        }
        for k in range(n)
    ]


def write_jsonl(path, records) -> str:
    text = "".join(json.dumps(r) + "\n" for r in records)
    path.write_text(text, encoding="utf-8")
    return text


def replay_with_sink(tmp_path, sink: str):
    out = tmp_path / "replay"
    generate(out, items=3000, days=5, topics=3, episodes=3, seed=1)
    rules = tmp_path / "alerts.yaml"
    rules.write_text((out / "alerts.yaml").read_text().replace("- {type: console}", f"- {sink}"), encoding="utf-8")
    return out, rules


def test_run_reads_a_file_raises_alerts_and_delivers_them_at_the_end(tmp_path):
    sink = tmp_path / "alerts.jsonl"
    out, rules = replay_with_sink(tmp_path, f"{{type: jsonl, path: {sink}}}")
    with Monitor(
        tmp_path / "m.db", KeywordClassifier(0.1), topics=out / "topics.yaml", alerts=rules, batch_size=256
    ) as m:
        stats = m.run(out / "stream.jsonl")
        again = m.run(out / "stream.jsonl")  # resumable: the cursor is at the end
    assert isinstance(stats, RunStats)
    assert (stats.read, stats.stored, stats.quarantined) == (3000, 3000, 0) and stats.balanced
    assert stats.alerts and stats.pending_deliveries == 0
    delivered = [json.loads(line)["key"] for line in sink.read_text().splitlines()]
    assert sorted(delivered) == sorted(a.key for a in stats.alerts)  # each new alert, once
    assert (again.read, again.alerts, again.pending_deliveries) == (0, [], 0)
    assert stats.as_dict()["pending_deliveries"] == 0 and stats.as_dict()["read"] == 3000


def test_undelivered_alerts_are_counted_as_pending(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out, rules = replay_with_sink(
        tmp_path, f"{{type: webhook, url: 'http://127.0.0.1:{port}/hook', timeout: 1, backoff: 60}}"
    )
    with Monitor(
        tmp_path / "m.db", KeywordClassifier(0.1), topics=out / "topics.yaml", alerts=rules, batch_size=256
    ) as m:
        stats = m.run(out / "stream.jsonl", deliver_timeout=0)
        assert stats.alerts and stats.pending_deliveries == len(stats.alerts) == m.counts()["pending_deliveries"]


def test_run_reads_stdin_or_a_stream_and_checks_its_arguments(tmp_path, monkeypatch):
    src = tmp_path / "news.jsonl"
    text = write_jsonl(src, news(3))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8"))))
    with Monitor(tmp_path / "m.db", KeywordClassifier(0.0), alerts=False) as m:
        stats = m.run("-")
        assert (stats.read, stats.stored, stats.pending_deliveries) == (3, 3, 0)
        stats = m.run(io.BytesIO(text.encode("utf-8")))  # idempotent by id
        assert (stats.read, stats.duplicates) == (3, 3)
        with pytest.raises(ConfigError, match=r"^--follow needs a file or folder, not stdin$"):
            m.run("-", follow=True)
        with pytest.raises(ConfigError, match=r"^--format 'xml': use jsonl or csv$"):
            m.run(src, fmt="xml")
        with pytest.raises(ConfigError, match=r"^--poll must be > 0$"):
            m.run(src, follow=True, poll=0)
        with pytest.raises(DataError, match="no such file or folder"):
            m.run(tmp_path / "missing.jsonl")
        assert m.counts()["items"] == 3


class SignalDuringFirstBatch(KeywordClassifier):
    """Sends ``sig`` to this process while the first batch is being classified."""

    def __init__(self, sig: int) -> None:
        super().__init__(0.0)
        self.sig = sig
        self.sent = False

    def predict(self, texts):
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.sig)
        return super().predict(texts)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_follow_stops_after_the_current_batch_on_a_signal(tmp_path, sig):
    src = tmp_path / "news.jsonl"
    write_jsonl(src, news(10))
    fallback_calls = []
    # a handler of the test's own stands in for the default one, so a broken run() cannot kill the test session
    previous = signal.signal(sig, lambda signum, _frame: fallback_calls.append(signum))
    try:
        before = signal.getsignal(sig)
        seen, cycles = [], []
        with Monitor(tmp_path / "m.db", SignalDuringFirstBatch(sig), alerts=False, batch_size=4) as m:
            stats = m.run(src, follow=True, poll=0.05, idle_timeout=5, on_cycle=cycles.append, on_signal=seen.append)
            assert seen == [sig] and fallback_calls == []
            assert signal.getsignal(sig) is before  # the handlers in place before run() are back
            assert (stats.read, stats.stored) == (4, 4)  # the batch being classified was finished and committed
            assert len(cycles) == 1
            rest = m.run(src)  # and the run resumes after it
            assert (rest.read, rest.stored) == (6, 6)
    finally:
        signal.signal(sig, previous)


def test_run_in_another_thread_leaves_the_signal_handlers_alone(tmp_path):
    src = tmp_path / "news.jsonl"
    write_jsonl(src, news(5))
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    result: dict = {}

    def follow() -> None:
        try:
            with Monitor(tmp_path / "m.db", KeywordClassifier(0.0), alerts=False) as m:
                stops = iter([False, False, True])
                result["stats"] = m.run(src, follow=True, poll=0.05, should_stop=lambda: next(stops, True))
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            result["error"] = exc

    thread = threading.Thread(target=follow)
    thread.start()
    thread.join(60)
    assert "error" not in result, result.get("error")
    assert result["stats"].stored == 5
    assert {sig: signal.getsignal(sig) for sig in before} == before
