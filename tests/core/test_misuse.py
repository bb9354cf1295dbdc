"""Misuse is a one-line error, never a traceback (issue 14, item 3): a semicolon-delimited CSV gets a hint and
--delimiter reads it; a misspelt YAML key names the nearest known one."""

from __future__ import annotations

import json

from tests.conftest import make_rows

APP = "finance-monitor"


def one_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return " ".join(result.stderr.split())


def write_semicolon(path, rows):
    path.write_text("text;label\n" + "".join(f"{t};{label}\n" for t, label in rows), encoding="utf-8")
    return path


def test_a_semicolon_csv_gets_a_hint_and_delimiter_reads_it(cli, workdir, tiny_model):
    train = write_semicolon(workdir / "train.csv", make_rows(24, 1))
    text = one_line(cli(APP, "train", "--model", tiny_model, "--train", train))
    assert f"{train}:1" in text and "semicolon-delimited" in text and "--delimiter ';'" in text
    args = [APP, "train", "--model", tiny_model, "--train", train, "--delimiter", ";", "--max-steps", "1"]
    result = cli(*args, "--threads", "1", "--no-export-onnx", "--name", "semi", "--runs-dir", workdir / "runs")
    assert result.exit_code == 0, result.output
    run = workdir / "runs" / APP / "semi"
    assert json.loads((run / "run.json").read_text())["config"]["delimiter"] == ";"
    # predict and evaluate take it too
    text = one_line(cli(APP, "predict", "--model", run, "--input", train))
    assert "--delimiter ';'" in text
    out = workdir / "scored.jsonl"
    result = cli(APP, "predict", "--model", run, "--input", train, "--delimiter", "semicolon", "--output", out)
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 24
    result = cli(APP, "evaluate", "--model", run, "--data", train, "--delimiter", ";")
    assert result.exit_code == 0, result.output
    text = one_line(cli(APP, "evaluate", "--model", run, "--data", train, "--delimiter", ";;"))
    assert "one character" in text


def test_an_unknown_yaml_key_suggests_the_nearest_known_one(cli, workdir, tiny_model):
    config = workdir / "run.yaml"
    config.write_text("learnig_rate: 0.001\nepochs: 1\n", encoding="utf-8")
    text = one_line(cli(APP, "train", "--model", tiny_model, "--config", config))
    assert str(config) in text and "learnig_rate" in text and "learning_rate" in text
    config.write_text("extra:\n  long_text: truncate\n", encoding="utf-8")
    text = one_line(cli(APP, "train", "--model", tiny_model, "--config", config))
    assert "long_text" in text and "long_texts" in text
