"""The ner app on a small slice of real CoNLL-2003 with the packaged model (skips when ../shared/data is absent)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import shared_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _slice(src, dst, sentences: int) -> None:
    out, count = [], 0
    for line in src.read_text(encoding="utf-8").split("\n"):
        out.append(line)
        if not line.strip() and out[:-1] and out[-2].strip() and not out[-2].startswith("-DOCSTART-"):
            count += 1
            if count >= sentences:
                break
    dst.write_text("\n".join(out) + "\n", encoding="utf-8")


def test_conll2003_slice_trains_evaluates_and_predicts(cli, workdir):
    train, dev = workdir / "train.txt", workdir / "valid.txt"
    _slice(shared_file("conll2003", "train.txt"), train, 64)
    _slice(shared_file("conll2003", "valid.txt"), dev, 32)
    result = cli(
        "ner",
        "train",
        "--train",
        train,
        "--dev",
        dev,
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--max-length",
        "64",
        "--threads",
        "2",
        "--name",
        "real",
    )
    assert result.exit_code == 0, result.output
    run = workdir / "runs" / "ner" / "real"
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["labels"] == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert record["data"]["train"]["scheme"] == "IOB2" and record["data"]["train"]["rows"] == 64
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] == 32 and set(metrics["per_type"]) <= {"LOC", "MISC", "ORG", "PER"}
    result = cli("ner", "predict", "--model", run, "EU rejects German call to boycott British lamb .")
    assert result.exit_code == 0, result.output
    assert "entities" in json.loads(result.stdout.splitlines()[0])
