"""Bad input through the CLI: exit code 2, one line naming file / line / field, nothing half-written left behind.

Contract (see ``tlsuite_core/errors.py``): a :class:`DataError` names the file, the line (``path:LINE``) and the
field; the CLI prints it as one line on stderr and exits with code 2; no traceback; a run that did not finish is
never presented as finished (no ``model/`` folder, ``run.json`` not ``completed``), and a data or model problem
found before training starts leaves no run folder at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import make_rows, write_csv

APP = "finance-monitor"
QUICK = ("--max-steps", "2", "--batch-size", "8", "--threads", "1")


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def one_line_error(result, *needles: str) -> str:
    """Assert the tlsuite error contract on a CliRunner result and return the error line."""
    assert result.exit_code == 2, f"exit {result.exit_code}\n{result.output}"
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, f"expected one 'error:' line on stderr:\n{result.stderr}"
    line = errors[0]
    for needle in needles:
        assert needle in line, f"{needle!r} not in error line: {line}"
    # checked last, so a failure here means the message itself is right but there is noise around it
    assert len(lines) == 1, f"expected only the error line on stderr, got {len(lines)} lines:\n{result.stderr}"
    assert result.stdout.strip() == "", f"nothing should go to stdout on an error: {result.stdout!r}"
    return line


def run_dir(workdir: Path, name: str = "x") -> Path:
    return workdir / "runs" / APP / name


def assert_no_run(workdir: Path, name: str = "x") -> None:
    """A problem found before training starts leaves no run folder at all."""
    assert not run_dir(workdir, name).exists(), sorted(p.name for p in run_dir(workdir, name).iterdir())


def assert_not_finished(workdir: Path, name: str = "x") -> None:
    """Whatever is left is not presented as finished."""
    folder = run_dir(workdir, name)
    assert not (folder / "model").exists()
    assert not (folder / "metrics.json").exists()
    record = folder / "run.json"
    if record.exists():
        assert json.loads(record.read_text())["status"] != "completed"


def train(cli, tiny_model: Path, train_file: Path | str, *extra: str):
    return cli(APP, "train", "--model", str(tiny_model), "--train", str(train_file), "--name", "x", *QUICK, *extra)


def good_rows(n: int = 12, seed: int = 5) -> list[tuple[str, str]]:
    return make_rows(n, seed)


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


# --------------------------------------------------------------------------------------------------
# files that cannot be used at all
# --------------------------------------------------------------------------------------------------


def test_missing_train_file(cli, workdir, tiny_model):
    missing = workdir / "no-such-train.csv"
    line = one_line_error(train(cli, tiny_model, missing), str(missing))
    assert "not found" in line
    assert_no_run(workdir)


@pytest.mark.parametrize("content", [b"", b"  \n\n\t \r\n"], ids=["zero-bytes", "whitespace-only"])
def test_empty_file(cli, workdir, tiny_model, content):
    path = workdir / "train.csv"
    path.write_bytes(content)
    line = one_line_error(train(cli, tiny_model, path), str(path))
    assert "empty" in line
    assert_no_run(workdir)


def test_header_only_csv(cli, workdir, tiny_model):
    path = write_csv(workdir / "train.csv", [])
    line = one_line_error(train(cli, tiny_model, path), str(path))
    assert "no data rows" in line
    assert_no_run(workdir)


def test_missing_column_given_by_option(cli, workdir, tiny_model, tiny_data):
    result = train(cli, tiny_model, tiny_data["train"], "--text-col", "headline")
    line = one_line_error(result, str(tiny_data["train"]), "headline", "field 'headline'")
    # lists the columns that are there
    assert "text" in line.split("headline", 1)[1] and "label" in line.split("headline", 1)[1]
    assert_no_run(workdir)

    result = train(cli, tiny_model, tiny_data["train"], "--label-col", "sentiment")
    line = one_line_error(result, str(tiny_data["train"]), "sentiment", "columns: text, label")
    assert_no_run(workdir)


def test_text_column_cannot_be_detected(cli, workdir, tiny_model):
    path = write_csv(workdir / "train.csv", good_rows(), header=("body", "label"))
    line = one_line_error(train(cli, tiny_model, path), str(path), "--text-col", "body")
    assert "no text column" in line
    assert_no_run(workdir)


def test_single_class_training_data(cli, workdir, tiny_model):
    rows = [(text, "positive") for text, _ in good_rows()]
    path = write_csv(workdir / "train.csv", rows)
    line = one_line_error(train(cli, tiny_model, path), str(path), "field 'label'", "'positive'")
    assert "one class" in line
    assert_no_run(workdir)


# --------------------------------------------------------------------------------------------------
# bad rows: file, line and field
# --------------------------------------------------------------------------------------------------


def test_dev_label_unseen_in_train(cli, workdir, tiny_model, tiny_data):
    rows = make_rows(6, 9)
    rows[3] = (rows[3][0], "bullish")  # data row 4 -> line 5 (header is line 1)
    dev = write_csv(workdir / "dev.csv", rows)
    result = train(cli, tiny_model, tiny_data["train"], "--dev", str(dev))
    line = one_line_error(result, f"{dev}:5", "field 'label'", "'bullish'")
    assert f"{tiny_data['train']}:" not in line  # the dev file is the one at fault
    assert_no_run(workdir)


def test_empty_text_cell_line_number(cli, workdir, tiny_model):
    rows = good_rows(6)
    rows[2] = ("", "negative")  # data row 3 -> line 4
    path = write_csv(workdir / "train.csv", rows)
    line = one_line_error(train(cli, tiny_model, path), f"{path}:4", "field 'text'")
    assert "empty text" in line and "--skip-bad-rows" in line
    assert_no_run(workdir)


def test_empty_text_line_number_after_a_multiline_quoted_text(cli, workdir, tiny_model):
    path = write_text(
        workdir / "train.csv",
        "text,label\n"  # 1
        "profit rose,positive\n"  # 2
        '"shares fell\nafter the\nloss",negative\n'  # 3-5: one row over three lines
        "board meeting,neutral\n"  # 6
        "   ,positive\n"  # 7: blank text
        "growth beat,positive\n",  # 8
    )
    one_line_error(train(cli, tiny_model, path), f"{path}:7", "field 'text'")
    assert_no_run(workdir)


def test_empty_label(cli, workdir, tiny_model):
    rows = good_rows(6)
    rows[4] = (rows[4][0], " ")  # data row 5 -> line 6
    path = write_csv(workdir / "train.csv", rows)
    line = one_line_error(train(cli, tiny_model, path), f"{path}:6", "field 'label'")
    assert "empty label" in line
    assert_no_run(workdir)


def test_undecodable_bytes(cli, workdir, tiny_model):
    path = workdir / "train.csv"
    path.write_bytes(
        b"text,label\n"
        b"profit rose,positive\n"
        b"loss widened,negative\n"
        b"Soci\xe9t\xe9 G\xe9n\xe9rale appoints CFO,neutral\n"  # latin-1 on line 4
        b"growth beat,positive\n"
    )
    one_line_error(train(cli, tiny_model, path), f"{path}:4", "UTF-8")
    assert_no_run(workdir)


def test_csv_row_with_wrong_number_of_fields(cli, workdir, tiny_model):
    path = write_text(
        workdir / "train.csv",
        "text,label\nprofit rose,positive\nloss widened,negative\nshares fell, sharply,negative\nboard meets,neutral\n",
    )
    line = one_line_error(train(cli, tiny_model, path), f"{path}:4")
    assert "3 fields" in line and "2" in line
    assert_no_run(workdir)


def test_invalid_json_line(cli, workdir, tiny_model):
    path = write_text(
        workdir / "train.jsonl",
        '{"text": "profit rose", "label": "positive"}\n'
        '{"text": "loss widened", "label": "negative"}\n'
        "\n"
        '{"text": "board meets", "label": neutral}\n'  # line 4
        '{"text": "growth beat", "label": "positive"}\n',
    )
    line = one_line_error(train(cli, tiny_model, path), f"{path}:4")
    assert "invalid JSON" in line
    assert_no_run(workdir)


def test_jsonl_line_numbers_with_unicode_line_separator_in_a_text(cli, workdir, tiny_model):
    """JSON allows a raw U+2028 inside a string; it is not a line break of the file."""
    path = write_text(
        workdir / "train.jsonl",
        json.dumps({"text": "profit rose\u2028strongly", "label": "positive"}, ensure_ascii=False)
        + "\n"  # 1
        + json.dumps({"text": "loss widened", "label": "negative"})
        + "\n"  # 2
        + '{"text": "board meets", "label": neutral}\n',  # 3: the bad one
    )
    one_line_error(train(cli, tiny_model, path), f"{path}:3", "invalid JSON")
    assert_no_run(workdir)


def test_error_line_shows_paths_verbatim(cli, workdir, tiny_model):
    """Paths (and labels) may contain square brackets; the one-line error must still name them exactly."""
    folder = workdir / "data[v2]"
    folder.mkdir()
    rows = good_rows(6)
    rows[1] = ("", "positive")  # line 3
    path = write_csv(folder / "train.csv", rows)
    one_line_error(train(cli, tiny_model, path), f"{path}:3", "field 'text'")
    assert_no_run(workdir)


# --------------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------------


def test_model_folder_without_weights(cli, workdir, tiny_model, tiny_data):
    folder = workdir / "no-weights"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_model / "config.json").read_text())
    result = cli(APP, "train", "--model", str(folder), "--train", str(tiny_data["train"]), "--name", "x", *QUICK)
    line = one_line_error(result, str(folder))
    assert "no weights" in line
    assert_no_run(workdir)


def test_pickle_only_checkpoint_needs_allow_pickle(cli, workdir, tiny_model, tiny_data):
    folder = workdir / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text((tiny_model / "config.json").read_text())
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    result = cli(APP, "train", "--model", str(folder), "--train", str(tiny_data["train"]), "--name", "x", *QUICK)
    one_line_error(result, str(folder), "--allow-pickle", "pytorch_model.bin")
    assert_no_run(workdir)


def test_broken_weights_found_after_the_run_starts_leave_a_failed_run(cli, workdir, tiny_model, tiny_data):
    """With --allow-pickle the garbage .bin only fails when loaded: the run folder is marked failed, no model/."""
    folder = workdir / "pickled"
    folder.mkdir()
    for name in ("config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_model / name).exists():
            (folder / name).write_bytes((tiny_model / name).read_bytes())
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    result = cli(
        APP,
        "train",
        "--model",
        str(folder),
        "--allow-pickle",
        "--train",
        str(tiny_data["train"]),
        "--name",
        "x",
        *QUICK,
    )
    one_line_error(result, str(folder))
    assert_not_finished(workdir)
    record = json.loads((run_dir(workdir) / "run.json").read_text())
    assert record["status"] == "failed" and record["error"]
    assert not (run_dir(workdir) / ".model.tmp").exists()


def test_unknown_model_alias(cli, workdir, tiny_data):
    result = cli(APP, "train", "--model", "nosuchmodel", "--train", str(tiny_data["train"]), "--name", "x", *QUICK)
    line = one_line_error(result, "'nosuchmodel'")
    assert "unknown model alias" in line and "minilm" in line
    assert_no_run(workdir)


# --------------------------------------------------------------------------------------------------
# --skip-bad-rows, evaluate and predict on a real (tiny) run, trained once for this module
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def skipped_run(tmp_path_factory, tiny_model, tiny_data):
    """A run trained with --skip-bad-rows on data with bad rows; returns (run folder, expected skipped)."""
    from tlsuite_core.cli import build_app

    base = tmp_path_factory.mktemp("skip-bad-rows")
    rows = make_rows(30, 3)
    train_rows = list(rows)
    train_rows[4] = ("", "positive")  # line 6: empty text
    train_rows[10] = (train_rows[10][0], "")  # line 12: empty label
    train_file = write_csv(base / "train.csv", train_rows)
    dev_rows = make_rows(9, 4)
    dev_rows[2] = ("  ", "neutral")  # line 4
    dev_file = write_csv(base / "dev.csv", dev_rows)
    runs = base / "runs"
    result = CliRunner().invoke(
        build_app(),
        [
            APP,
            "train",
            "--model",
            str(tiny_model),
            "--train",
            str(train_file),
            "--dev",
            str(dev_file),
            "--skip-bad-rows",
            "--name",
            "skipped",
            "--runs-dir",
            str(runs),
            *QUICK,
        ],
    )
    assert result.exit_code == 0, result.output
    expected = {
        "train": [(6, "text", "empty text"), (12, "label", "empty label")],
        "dev": [(4, "text", "empty text")],
    }
    return runs / APP / "skipped", expected


def test_skip_bad_rows_drops_and_lists_them(skipped_run):
    run, expected = skipped_run
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed"
    assert (run / "model").is_dir()
    listing = json.loads((run / "report" / "skipped_rows.json").read_text())
    for split in ("train", "dev"):
        got = [(r["line"], r["field"], r["reason"]) for r in listing[split]]
        assert got == expected[split], (split, listing[split])
    assert record["data"]["train"]["rows"] == 28 and record["data"]["dev"]["rows"] == 8
    assert "skipped_rows.json" in record["report"]


def test_evaluate_label_unknown_to_the_model(cli, workdir, skipped_run):
    run, _ = skipped_run
    rows = make_rows(6, 11)
    rows[2] = (rows[2][0], "bullish")  # line 4
    data = write_csv(workdir / "test.csv", rows)
    out = workdir / "metrics.json"
    result = cli(APP, "evaluate", "--model", str(run), "--data", str(data), "--output", str(out), "--threads", "1")
    one_line_error(result, f"{data}:4", "field 'label'", "'bullish'")
    assert not out.exists()


def test_evaluate_bad_row_in_data(cli, workdir, skipped_run):
    run, _ = skipped_run
    rows = make_rows(6, 11)
    rows[3] = ("", "neutral")  # line 5
    data = write_csv(workdir / "test.csv", rows)
    one_line_error(cli(APP, "evaluate", "--model", str(run), "--data", str(data)), f"{data}:5", "field 'text'")


def test_predict_without_a_completed_run(cli, workdir):
    line = one_line_error(cli(APP, "predict", "profit rose"), "no completed", APP)
    assert "--model" in line and "train" in line
    # a run that is still running does not count either
    folder = run_dir(workdir, "half")
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"app": APP, "status": "running"}))
    one_line_error(cli(APP, "predict", "profit rose"), "no completed")


@pytest.mark.parametrize("status", ["running", "failed", "interrupted"])
def test_predict_with_a_run_that_did_not_complete(cli, workdir, skipped_run, status):
    import shutil

    run, _ = skipped_run
    folder = run_dir(workdir, "unfinished")
    shutil.copytree(run, folder)
    record = json.loads((folder / "run.json").read_text())
    record["status"] = status
    (folder / "run.json").write_text(json.dumps(record))
    line = one_line_error(cli(APP, "predict", "--model", str(folder), "profit rose"), str(folder), status)
    assert "not complete" in line and "--resume" in line


# --------------------------------------------------------------------------------------------------
# Financial PhraseBank files
# --------------------------------------------------------------------------------------------------


def phrasebank_lines(n: int, seed: int) -> list[str]:
    return [f"{text}@{label}" for text, label in make_rows(n, seed)]


def test_phrasebank_latin1_loads():
    import tempfile

    from tlsuite_core.data import load_labelled
    from tlsuite_core.plugins import PluginHost

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Sentences_50Agree.txt"
        lines = phrasebank_lines(6, 1)
        lines[1] = "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale posts record profit of EUR 5 mn@positive"
        path.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))
        data = load_labelled(
            path, adapters=PluginHost().registry.mapping("data adapter")
        )  # phrasebank: finance-monitor's
        assert data.format == "phrasebank"
        assert len(data) == 6 and data.lines == [1, 2, 3, 4, 5, 6]
        assert data.texts[1] == "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale posts record profit of EUR 5 mn"
        assert data.labels[1] == "positive"


def test_phrasebank_latin1_with_byte_0x85_loads():
    """Byte 0x85 (an ellipsis in Windows files) decodes to U+0085 under latin-1; it is not a line break."""
    import tempfile

    from tlsuite_core.data import load_labelled
    from tlsuite_core.plugins import PluginHost

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pb.txt"
        lines = phrasebank_lines(4, 2)
        path.write_bytes(
            b"\n".join(line.encode("latin-1") for line in lines[:1])
            + b"\nSales rose \x85 strongly in Espo\xf1a@positive\n"
            + b"\n".join(line.encode("latin-1") for line in lines[1:])
            + b"\n"
        )
        data = load_labelled(
            path, adapters=PluginHost().registry.mapping("data adapter")
        )  # phrasebank: finance-monitor's
        assert len(data) == 5 and data.lines == [1, 2, 3, 4, 5]
        assert data.labels[1] == "positive"


def test_phrasebank_line_without_at_sign(cli, workdir, tiny_model):
    good = workdir / "train.txt"
    lines = phrasebank_lines(9, 1)
    lines[0] = "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale posts record profit@positive"
    good.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    bad = workdir / "dev.txt"
    dev_lines = phrasebank_lines(5, 2)
    dev_lines[2] = "The board met on Tuesday, neutral"  # line 3: no '@'
    bad.write_bytes(("\n".join(dev_lines) + "\n").encode("latin-1"))
    # the latin-1 training file loads; the error is about the dev file's line 3
    line = one_line_error(train(cli, tiny_model, good, "--dev", str(bad)), f"{bad}:3", "'@'")
    assert str(good) not in line
    assert_no_run(workdir)
