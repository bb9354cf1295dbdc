"""Topics by a second classifier trained with the same engine (the rule file's ``classifier:`` route)."""

from __future__ import annotations

import json

from sqlalchemy import select
from tlsuite_finance_monitor.monitor import Monitor
from tlsuite_finance_monitor.monitor import db as mdb
from tlsuite_finance_monitor.monitor.replay import KeywordClassifier

from tests.conftest import make_rows, write_csv

TOPIC_OF = {"positive": "markets", "negative": "legal", "neutral": "governance"}


def test_a_trained_topic_classifier_assigns_topics(cli, workdir, tiny_model):
    rows = [(text, TOPIC_OF[label]) for text, label in make_rows(96, 1)]
    dev = [(text, TOPIC_OF[label]) for text, label in make_rows(30, 2)]
    result = cli(
        "finance-monitor",
        "train",
        "--model",
        tiny_model,
        "--name",
        "topics",
        "--train",
        write_csv(workdir / "topics_train.csv", rows),
        "--dev",
        write_csv(workdir / "topics_dev.csv", dev),
        "--epochs",
        "10",
        "--lr",
        "3e-3",
        "--batch-size",
        "8",
        "--threads",
        "1",
        "--label-smoothing",
        "0",
        "--layer-lr-decay",
        "1",
        "--head-lr-scale",
        "1",
        "--reinit-layers",
        "0",
        "--rdrop",
        "0",
        "--warmup",
        "0.1",
    )
    assert result.exit_code == 0, result.output
    run = workdir / "runs" / "finance-monitor" / "topics"
    assert json.loads((run / "metrics.json").read_text())["accuracy"] >= 0.9

    rules = workdir / "topics.yaml"
    rules.write_text(f"topics: {{}}\nclassifier:\n  model: {run}\n  threshold: 0.0\n", encoding="utf-8")
    items = [
        {"id": f"n{i}", "published_at": 1767607200 + i, "text": text} for i, (text, _) in enumerate(make_rows(30, 3))
    ]
    expected = {f"n{i}": TOPIC_OF[label] for i, (_, label) in enumerate(make_rows(30, 3))}
    with Monitor(workdir / "m.db", KeywordClassifier(0.0), topics=rules, alerts=False) as monitor:
        monitor.ingest(items)
        with monitor.engine.connect() as conn:
            got = {(r.item_id, r.topic, r.method) for r in conn.execute(select(mdb.item_topics))}
    assert {method for _, _, method in got} == {"classifier"}
    assigned = {item: topic for item, topic, _ in got}
    assert len(assigned) == len(items)
    correct = sum(assigned[i] == expected[i] for i in expected)
    assert correct >= 0.9 * len(items), (correct, len(items))
