"""End to end through the CLI with a tiny model: train -> run folder -> evaluate -> predict -> Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def train_args(tiny_model: Path, tiny_data: dict[str, Path], *extra: str) -> list[str]:
    return [
        "finance-monitor", "train",
        "--model", str(tiny_model),
        "--train", str(tiny_data["train"]),
        "--dev", str(tiny_data["dev"]),
        "--epochs", "2", "--batch-size", "8", "--lr", "1e-3", "--threads", "1",
        *extra,
    ]


def test_train_writes_a_complete_run_folder(cli, workdir, tiny_model, tiny_data):
    result = cli(*train_args(tiny_model, tiny_data, "--name", "first"))
    assert result.exit_code == 0, result.output
    run = workdir / "runs" / "finance-monitor" / "first"
    for name in ("model", "metrics.json", "config.yaml", "run.json", "report"):
        assert (run / name).exists(), name
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["task"] == "sequence-classification"
    assert record["data"]["train"]["sha256"] and record["versions"]["transformers"]
    assert record["device"]["device"] == "cpu" and record["device"]["precision"] == "fp32"
    assert record["timings"]["real_tokens_seen"] > 0
    for name in ("classification_report.txt", "confusion_matrix.png", "learning_curve.png"):
        assert (run / "report" / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_class"]) == {"positive", "neutral", "negative"}
    assert not (run / "checkpoints").exists()

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(run / "model")
    AutoTokenizer.from_pretrained(run / "model")
    assert model.config.id2label == {0: "positive", 1: "neutral", 2: "negative"}
