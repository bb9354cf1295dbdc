"""Production scoring through the CLI (issue 14): long texts are windowed or flagged, never cut silently (item 1);
batch outputs keep the input's columns (item 2); --max-length above the model's position limit is refused."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import NEGATIVE, POSITIVE, write_csv

APP = "finance-monitor"


@pytest.fixture(scope="module")
def keyword_run(tmp_path_factory, tiny_model, tiny_data) -> Path:
    """A tiny run trained until it reads the keywords (positive words -> positive, negative -> negative), with
    --max-length 32 so that a text of a few dozen words is already long."""
    from typer.testing import CliRunner

    from tlsuite_core.cli import build_app

    base = tmp_path_factory.mktemp("keyword-run")
    args = [APP, "train", "--model", tiny_model, "--train", tiny_data["train"], "--dev", tiny_data["dev"]]
    args += ["--max-length", "32", "--max-steps", "150", "--batch-size", "16", "--lr", "2e-3", "--threads", "1"]
    args += ["--name", "kw", "--runs-dir", base / "runs", "--evals-per-epoch", "1"]
    result = CliRunner().invoke(build_app(), [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return base / "runs" / APP / "kw"


def long_text() -> str:
    """32 positive words, then 200 negative ones: its first 32 tokens read positive, the whole negative."""
    return " ".join(POSITIVE * 4) + " " + " ".join((NEGATIVE + ["company", "said"]) * 20)


def predict(cli, run: Path, *args: str):
    result = cli(APP, "predict", "--model", run, "--threads", "1", *args)
    assert result.exit_code == 0, result.output
    return result


def test_windows_change_the_prediction_of_a_long_text(cli, workdir, keyword_run):
    text = long_text()
    opening = " ".join(text.split()[:30])
    short = json.loads(predict(cli, keyword_run, opening, "--output-format", "jsonl").stdout)
    assert short["label"] == "positive" and short["windows"] == 1 and short["truncated"] is False, short
    cut = predict(cli, keyword_run, text, "--long-texts", "truncate", "--output-format", "jsonl")
    cut_row = json.loads(cut.stdout)
    assert cut_row["label"] == "positive" and cut_row["truncated"] is True  # what the first 32 tokens give
    assert "1 of 1 texts were truncated" in cut.stderr
    whole = predict(cli, keyword_run, text, "--output-format", "jsonl")
    row = json.loads(whole.stdout)
    assert row["label"] == "negative" and row["windows"] > 5 and row["truncated"] is False, row
    assert "scored over windows" in whole.stderr
    peak = json.loads(predict(cli, keyword_run, text, "--window-aggregation", "max", "--output-format", "jsonl").stdout)
    assert peak["windows"] == row["windows"] and abs(sum(peak["scores"].values()) - 1) < 1e-5
    assert peak["scores"]["positive"] > row["scores"]["positive"]  # max keeps the one positive window's weight


def test_long_text_options_are_the_runs_and_evaluate_takes_them(cli, workdir, keyword_run, tiny_model, tiny_data):
    config = json.loads((keyword_run / "run.json").read_text())["config"]
    assert {"long_texts", "window_aggregation", "window_stride"}.isdisjoint(config.get("extra") or {})
    data = write_csv(workdir / "long.csv", [(long_text(), "negative"), ("profit rose", "positive")])
    for flags, accuracy in (((), 1.0), (("--long-texts", "truncate"), 0.5)):
        result = cli(APP, "evaluate", "--model", keyword_run, "--data", data, "--output", workdir / "m.json", *flags)
        assert result.exit_code == 0, result.output
        assert json.loads((workdir / "m.json").read_text())["accuracy"] == accuracy
    # chosen at train time: saved with the run and used by its predict
    runs = workdir / "runs"
    args = [APP, "train", "--model", tiny_model, "--train", tiny_data["train"], "--max-length", "32"]
    args += ["--max-steps", "1", "--threads", "1", "--long-texts", "truncate", "--name", "t", "--runs-dir", runs]
    assert cli(*args).exit_code == 0
    run = runs / APP / "t"
    assert json.loads((run / "run.json").read_text())["config"]["extra"]["long_texts"] == "truncate"
    row = json.loads(predict(cli, run, long_text(), "--output-format", "jsonl").stdout)
    assert row["truncated"] is True


def test_python_api_flags_windows_and_empty_texts(keyword_run):
    from tlsuite_core import load_app

    app = load_app(keyword_run, device="cpu", threads=1)
    [windowed] = app.predict(long_text())
    assert windowed.windows > 1 and windowed.label == "negative"
    # the ONNX Runtime path (the run was exported) windows exactly as the PyTorch one
    torch_app = load_app(keyword_run, device="cpu", threads=1, backend="torch")
    assert type(app).__name__ == "OnnxApp" and type(torch_app).__name__ == "TrainedApp"
    for options in ({}, {"window_aggregation": "max"}, {"long_texts": "truncate"}):
        [fast], [slow] = app.predict(long_text(), **options), torch_app.predict(long_text(), **options)
        assert (fast.windows, fast.truncated, fast.label) == (slow.windows, slow.truncated, slow.label), options
        assert all(abs(fast.scores[k] - slow.scores[k]) < 1e-4 for k in fast.scores), options
    assert app._torch is None  # never needed PyTorch
    with pytest.warns(UserWarning, match="1 of 2 texts are empty"):
        empty, fine = app.predict(["  ", "profit rose"])
    assert empty.empty is True and empty.as_dict()["empty"] is True and fine.empty is False


def test_max_length_above_the_position_limit_is_refused_at_train_time(cli, workdir, tiny_model, tiny_data):
    args = [APP, "train", "--model", tiny_model, "--train", tiny_data["train"], "--max-length", "129"]
    result = cli(*args, "--threads", "1")
    assert result.exit_code == 2, result.output
    assert "position limit of 128 tokens" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (workdir / "runs").exists()  # refused before a run folder is made


# -- item 2: pass-through columns ------------------------------------------------------------------------------


def news_rows() -> list[dict[str, str]]:
    return [
        {"id": "n1", "source": "wire", "text": "profit rose strong growth", "label": "gold-pos", "score": "7"},
        {"id": "n2", "source": "blog", "text": "loss fell layoffs", "label": "gold-neg", "score": "3"},
    ]


def write_table(path: Path, rows: list[dict[str, str]]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t" if path.suffix == ".tsv" else ",")
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_output(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t" if path.suffix == ".tsv" else ","))


@pytest.mark.parametrize("suffix_in", [".csv", ".tsv", ".jsonl"])
@pytest.mark.parametrize("suffix_out", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_predict_keeps_every_input_column_in_order(cli, workdir, keyword_run, suffix_in, suffix_out):
    source = write_table(workdir / f"news{suffix_in}", news_rows())
    out = workdir / f"scored{suffix_out}"
    predict(cli, keyword_run, "--input", source, "--output", out)
    rows = read_output(out)
    assert [r["id"] for r in rows] == ["n1", "n2"]
    names = list(rows[0])
    # input columns first, in input order; clashing ones renamed; then the prediction
    assert names[:5] == ["id", "source", "text", "input_label", "input_score"], names
    assert names[5:7] == ["label", "score"] and "text" not in names[7:]
    assert rows[1]["source"] == "blog" and rows[1]["input_label"] == "gold-neg"
    assert str(rows[1]["input_score"]) == "3" and rows[1]["label"] in ("positive", "neutral", "negative")


def test_passed_values_are_written_as_they_came(cli, workdir, keyword_run):
    source = workdir / "news.jsonl"
    row = {"id": 7, "price": 3.14159265, "tags": ["a", "b"], "text": "profit rose", "missing": None}
    source.write_text(json.dumps(row) + "\n", encoding="utf-8")
    out = workdir / "scored.csv"
    predict(cli, keyword_run, "--input", source, "--output", out)
    [got] = read_output(out)
    assert got["id"] == "7" and got["price"] == "3.14159265" and got["tags"] == '["a", "b"]' and got["missing"] == ""
    assert len(got["score"].split(".")[1]) == 6


def test_parquet_refuses_a_column_of_mixed_types_in_one_line(cli, workdir, keyword_run):
    source = workdir / "news.jsonl"
    source.write_text('{"id": 7, "text": "profit rose"}\n{"id": "x8", "text": "loss fell"}\n', encoding="utf-8")
    result = cli(APP, "predict", "--model", keyword_run, "--input", source, "--output", workdir / "s.parquet")
    assert result.exit_code == 2 and "one type per column" in result.stderr and "Traceback" not in result.output
    assert not (workdir / "s.parquet").exists()
    predict(cli, keyword_run, "--input", source, "--keep", "text", "--output", workdir / "s.parquet")


def test_keep_chooses_columns_and_names_unknown_ones(cli, workdir, keyword_run):
    source = write_table(workdir / "news.csv", news_rows())
    out = workdir / "scored.csv"
    predict(cli, keyword_run, "--input", source, "--keep", "source,id", "--output", out)
    rows = read_output(out)
    assert list(rows[0])[:3] == ["id", "source", "text"] and "input_label" not in rows[0]
    predict(cli, keyword_run, "--input", source, "--keep", "none", "--output", out)
    assert list(read_output(out)[0])[:2] == ["text", "label"]
    bad = cli(APP, "predict", "--model", keyword_run, "--input", source, "--keep", "id,sauce")
    assert bad.exit_code == 2 and "--keep sauce: not a column" in bad.stderr and "id, source, text" in bad.stderr


def test_output_into_a_missing_folder_is_created_and_said(cli, workdir, keyword_run):
    out = workdir / "new" / "deeper" / "scored.jsonl"
    result = predict(cli, keyword_run, "profit rose", "--output", out)
    assert out.is_file() and f"created folder {out.parent}" in " ".join(result.stderr.split())
    folder = cli(APP, "predict", "--model", keyword_run, "profit rose", "--output-format", "csv", "--output", workdir)
    assert folder.exit_code == 2 and "is a folder" in folder.stderr


def test_ner_predict_keeps_the_input_columns(cli, workdir, ner_model, ner_data):
    runs = workdir / "runs"
    args = ["ner", "train", "--model", ner_model, "--train", ner_data["train"], "--max-steps", "1", "--threads", "1"]
    assert cli(*args, "--name", "r", "--runs-dir", runs, "--no-export-onnx").exit_code == 0
    source = write_table(workdir / "docs.csv", [{"id": "d1", "text": "Ada Lovelace", "entities": "gold"}])
    out = workdir / "ents.jsonl"
    result = cli("ner", "predict", "--model", runs / "ner" / "r", "--input", source, "--output", out, "--threads", "1")
    assert result.exit_code == 0, result.output
    row = json.loads(out.read_text())
    assert list(row) == ["id", "text", "input_entities", "entities"] and row["id"] == "d1"
