"""ner data: CoNLL / JSONL formats, tagging schemes, and bad input (exit code 2, one line naming file:line, field)."""

from __future__ import annotations

import pytest

from tests.core.test_bad_input import one_line_error
from tests.plugins.ner.ner_support import write_conll, write_jsonl
from tlsuite_core.errors import DataError
from tlsuite_core.plugins import PluginHost
from tlsuite_core.tagging import convert, detect_scheme, first_violation, split_words
from tlsuite_core.tagging import load_tagged as core_load_tagged

#: the installed plugins' readers (CoNLL files are the ner plugin's)
ADAPTERS = PluginHost().registry.mapping("data adapter")


def load_tagged(source, **options):
    return core_load_tagged(source, adapters=ADAPTERS, **options)


QUICK = ("--max-steps", "1", "--batch-size", "8", "--threads", "1")


# --------------------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------------------


def test_conll_docstart_columns_and_lines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\n-DOCSTART- -X- -X- O\n\n"
        "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n",
        encoding="utf-8",
    )
    data = load_tagged(path)
    assert data.format == "conll" and data.tags_column == "tags"
    assert data.tokens == [["EU", "rejects"], ["Peter", "Blackburn"]]
    assert data.tags == [["B-ORG", "O"], ["B-PER", "I-PER"]]
    assert data.lines == [3, 9] and data.token_lines == [[3, 4], [9, 10]]
    chunks = load_tagged(path, tags_column="3")
    assert chunks.tags == [["B-NP", "B-VP"], ["B-NP", "I-NP"]]
    assert load_tagged(path, tags_column="-1").tags == data.tags
    assert data.describe()["entity_counts"] == {"ORG": 1, "PER": 1}


def test_conll_tab_separated_tokens_with_spaces(tmp_path):
    path = tmp_path / "a.conll"
    path.write_text("New York\tB-LOC\ncity\tO\n", encoding="utf-8")
    data = load_tagged(path)
    assert data.tokens == [["New York", "city"]] and data.tags == [["B-LOC", "O"]]


def test_jsonl_tokens_and_tags(tmp_path):
    path = write_jsonl(
        tmp_path / "a.jsonl", [{"tokens": ["Angela", "Merkel", "spoke"], "ner_tags": ["B-PER", "I-PER", "O"]}]
    )
    data = load_tagged(path)
    assert data.tags_column == "ner_tags" and data.tags == [["B-PER", "I-PER", "O"]]


def test_jsonl_text_and_character_spans(tmp_path):
    text = "Angela Merkel visited  Zürich-Nord on Monday."
    start = text.index("Zürich")
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            {"text": text, "entities": [{"start": 0, "end": 13, "label": "PER"}, [start, start + 6, "LOC"]]},
        ],
    )
    data = load_tagged(path)
    words, tags = data.tokens[0], data.tags[0]
    # the span ends inside 'Zürich-Nord': the word is cut there, so the entity is whole words
    assert words[:5] == ["Angela", "Merkel", "visited", "Zürich", "-Nord"]
    assert tags[:5] == ["B-PER", "I-PER", "O", "B-LOC", "O"]
    assert all(text[a:b] == w for w, (a, b) in zip(words, data.offsets[0]))


def test_split_words_round_trips():
    text = " U.S. stocks\u00a0rose 3.5% on 1996-08-22 — naïve café\u200b東京 🙂 e\u0301 "
    for word, start, end in split_words(text):
        assert text[start:end] == word and word.strip() == word
    assert [w for w, _, _ in split_words("U.S. 1996-08-22 don't")] == ["U.S", ".", "1996-08-22", "don't"]


# --------------------------------------------------------------------------------------------------
# schemes
# --------------------------------------------------------------------------------------------------


def test_scheme_detection_and_conversion():
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]
    assert detect_scheme([iob1]) == "IOB1"
    assert convert(iob1, "IOB2") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert convert(iob1, "BIOES") == ["B-PER", "E-PER", "S-PER", "O", "S-LOC"]
    assert detect_scheme([["B-PER", "I-PER", "O"]]) == "IOB2"
    assert detect_scheme([["S-PER", "O", "B-LOC", "E-LOC"]]) == "BIOES"
    assert convert(["B-LOC", "I-LOC", "E-LOC", "S-PER"], "IOB2") == ["B-LOC", "I-LOC", "I-LOC", "B-PER"]
    assert first_violation(["O", "I-PER"], "IOB2")[0] == 1
    assert first_violation(["B-PER", "O"], "BIOES")[0] == 0
    assert first_violation(["B-PER", "E-PER", "S-LOC"], "BIOES") is None


def test_iob1_file_is_converted_to_iob2(tmp_path):
    path = write_conll(
        tmp_path / "a.txt",
        [(["Peter", "Blackburn", "Anna", "in", "Paris"], ["I-PER", "I-PER", "B-PER", "O", "I-LOC"])],
        docstart=False,
    )
    data = load_tagged(path)
    assert (data.source_scheme, data.scheme) == ("IOB1", "IOB2")
    assert data.tags == [["B-PER", "I-PER", "B-PER", "O", "B-LOC"]]


def test_bioes_is_kept_and_repair(tmp_path):
    good = write_conll(
        tmp_path / "good.txt",
        [(["Peter", "Blackburn", "in", "Paris"], ["B-PER", "E-PER", "O", "S-LOC"])],
        docstart=False,
    )
    assert load_tagged(good).scheme == "BIOES"
    bad = write_conll(
        tmp_path / "bad.txt", [(["Peter", "Blackburn", "in", "Paris"], ["B-PER", "O", "O", "S-LOC"])], docstart=False
    )
    with pytest.raises(DataError) as info:
        load_tagged(bad)
    assert info.value.line == 1 and "--repair-tags" in str(info.value)
    repaired = load_tagged(bad, repair=True)
    assert repaired.tags == [["S-PER", "O", "O", "S-LOC"]] and repaired.repaired == 1


# --------------------------------------------------------------------------------------------------
# bad input through the CLI
# --------------------------------------------------------------------------------------------------


def train(cli, ner_model, train_path, dev_path=None, *extra):
    args = ["ner", "train", "--model", ner_model, "--train", train_path, *QUICK, *extra]
    if dev_path is not None:
        args += ["--dev", dev_path]
    return cli(*args)


def test_inconsistent_columns(cli, workdir, ner_model):
    path = workdir / "t.txt"
    path.write_text("Peter NNP B-PER\nBlackburn I-PER\n", encoding="utf-8")
    one_line_error(train(cli, ner_model, path), f"{path}:2", "2 columns", "line 1")
    assert not (workdir / "runs").exists()


def test_scheme_violation_names_the_token_line_and_field(cli, workdir, ner_model):
    path = write_conll(
        workdir / "t.txt",
        [(["Peter", "said", "Blackburn"], ["B-PER", "O", "I-PER"]), (["Paris"], ["B-LOC"])],
        docstart=False,
        extra_column=False,
    )
    line = one_line_error(
        train(cli, ner_model, path, None, "--scheme", "IOB2"), f"{path}:3", "field 'tags'", "I-PER follows O"
    )
    assert "--repair-tags" in line


def test_bad_tag_and_tag_count(cli, workdir, ner_model):
    path = write_jsonl(
        workdir / "t.jsonl", [{"tokens": ["a", "b"], "tags": ["O", "O"]}, {"tokens": ["Paris"], "tags": ["LOC"]}]
    )
    one_line_error(train(cli, ner_model, path), f"{path}:2", "field 'tags'", "'LOC'")
    path = write_jsonl(workdir / "u.jsonl", [{"tokens": ["a", "b"], "tags": ["O"]}])
    one_line_error(train(cli, ner_model, path), f"{path}:1", "field 'tags'", "1 tags for 2 tokens")


def test_empty_sentence(cli, workdir, ner_model):
    path = write_jsonl(workdir / "t.jsonl", [{"tokens": ["Paris"], "tags": ["B-LOC"]}, {"tokens": [], "tags": []}])
    one_line_error(train(cli, ner_model, path), f"{path}:2", "field 'tokens'", "empty sentence")


def test_empty_file_and_no_entities(cli, workdir, ner_model):
    empty = workdir / "e.txt"
    empty.write_text("\n\n", encoding="utf-8")
    one_line_error(train(cli, ner_model, empty), str(empty), "empty")
    plain = write_conll(workdir / "o.txt", [(["a", "b"], ["O", "O"])], docstart=False)
    one_line_error(train(cli, ner_model, plain), str(plain), "no entities")


def test_bad_spans(cli, workdir, ner_model):
    path = write_jsonl(workdir / "s.jsonl", [{"text": "Paris and Berlin", "entities": [[0, 5, "LOC"], [3, 9, "LOC"]]}])
    one_line_error(train(cli, ner_model, path), f"{path}:1", "field 'entities'", "overlap")
    path = write_jsonl(workdir / "t.jsonl", [{"text": "Paris", "entities": [[0, 50, "LOC"]]}])
    one_line_error(train(cli, ner_model, path), f"{path}:1", "field 'entities'", "not inside the text")


def test_dev_tag_never_seen_in_training(cli, workdir, ner_model, ner_data):
    dev = write_conll(workdir / "dev.txt", [(["Paris"], ["B-LOC"]), (["Rex"], ["B-ANIMAL"])])
    one_line_error(
        train(cli, ner_model, ner_data["train"], dev),
        f"{dev}:5",
        "field 'tags'",
        "'ANIMAL' never occurs in the training data",
    )
    assert not (workdir / "runs").exists()


def test_skip_bad_rows_drops_and_lists_sentences(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"tokens": ["Paris"], "tags": ["B-LOC"]}, {"tokens": [], "tags": []}])
    data = load_tagged(path, skip_bad_rows=True)
    assert len(data) == 1 and data.skipped[0].line == 2 and data.describe()["skipped_rows"][0]["field"] == "tokens"


def test_evaluate_unknown_type_and_bad_output_format(cli, workdir, ner_model, ner_data):
    # predict on a CoNLL input asks for a known output format
    result = cli(
        "ner",
        "predict",
        "--model",
        ner_model,
        "--input",
        ner_data["dev"],
        "--format",
        "conll",
        "--output-format",
        "csv",
    )
    one_line_error(result, "--output-format csv")
