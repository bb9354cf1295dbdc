"""Source -> target pairs: formats, several references, and bad input (one line naming file, line and field)."""

from __future__ import annotations

import json

import pytest

from tlsuite_core.errors import DataError
from tlsuite_core.pairs import load_pairs


def test_parallel_files_by_prefix_and_by_pair(tmp_path):
    (tmp_path / "train.en").write_text("A man rides.\nTwo dogs play.\n", encoding="utf-8")
    (tmp_path / "train.de").write_text("Ein Mann fährt.\nZwei Hunde spielen.\n", encoding="utf-8")
    data = load_pairs(tmp_path / "train", src_lang="en", tgt_lang="de")
    assert data.sources == ["A man rides.", "Two dogs play."] and data.targets[1] == ["Zwei Hunde spielen."]
    assert data.format == "parallel" and data.lines == [1, 2]
    same = load_pairs(f"{tmp_path / 'train.en'},{tmp_path / 'train.de'}")
    assert same.sources == data.sources and same.fingerprint == data.fingerprint


def test_line_count_mismatch_names_both_counts(tmp_path):
    (tmp_path / "x.en").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "x.de").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_pairs(tmp_path / "x", src_lang="en", tgt_lang="de")
    message = str(info.value)
    assert "x.en" in message and "3 lines" in message and "has 2" in message


def test_empty_lines_fail_with_file_and_line_or_are_listed(tmp_path):
    (tmp_path / "y.en").write_text("a\n\nc\n", encoding="utf-8")
    (tmp_path / "y.de").write_text("a\nb\nc\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_pairs(tmp_path / "y", src_lang="en", tgt_lang="de")
    assert "y.en:2" in str(info.value) and "empty source line" in str(info.value)
    data = load_pairs(tmp_path / "y", src_lang="en", tgt_lang="de", skip_bad_rows=True)
    assert len(data) == 2 and data.skipped[0].line == 2


def test_jsonl_with_numbered_references_and_lists(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [
        {"dialogue": "#Person1#: hi", "summary1": "one", "summary2": "two", "summary3": ""},
        {"dialogue": "#Person1#: bye", "summary1": "three", "summary2": "four", "summary3": "five"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    data = load_pairs(path)
    assert data.source_column == "dialogue" and data.target_column == "summary1,summary2,summary3"
    assert data.targets == [["one", "two"], ["three", "four", "five"]]
    listed = tmp_path / "l.jsonl"
    listed.write_text(json.dumps({"source": "s", "target": ["r1", "r2"]}) + "\n", encoding="utf-8")
    assert load_pairs(listed).targets == [["r1", "r2"]]


def test_empty_first_reference_fails_with_row_and_field(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("source,target\nhello,world\nbye,\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_pairs(path)
    assert "e.csv:3" in str(info.value) and "target" in str(info.value) and "empty target" in str(info.value)


def test_translate_cli_bad_input_is_one_line_exit_2(cli, workdir):
    (workdir / "t.en").write_text("a\nb\n", encoding="utf-8")
    (workdir / "t.de").write_text("a\n", encoding="utf-8")
    result = cli(
        "translate", "train", "--train", workdir / "t", "--src-lang", "en", "--tgt-lang", "de", "--max-steps", "1"
    )
    assert result.exit_code == 2
    assert "2 lines" in result.output and "has 1" in result.output and "Traceback" not in result.output
    assert not (workdir / "runs").exists() or not any((workdir / "runs").rglob("model"))
    bad = cli("translate", "train", "--src-lang", "english", "--max-steps", "1")
    assert bad.exit_code == 2 and "english" in bad.output
