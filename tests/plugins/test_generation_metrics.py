"""The translate and summarize plugins: their metrics, language codes, demo data, dialogue formatting, registration."""

from __future__ import annotations

import json

import pytest
from tlsuite_summarize import APP as SUMMARIZE_APP
from tlsuite_summarize.data import format_dialogue, load_dialogsum, read_dialogsum
from tlsuite_summarize.metrics import (
    SUMMARIZATION,
    split_sentences,
    summarization_metrics,
)
from tlsuite_translate import APP as TRANSLATE_APP
from tlsuite_translate import metrics as tm
from tlsuite_translate.metrics import (
    LANGUAGE_CODES,
    TRANSLATION,
    check_language,
    reference_streams,
    translation_metrics,
)

from tlsuite_core.errors import ConfigError, DataError
from tlsuite_core.pairs import load_pairs

# --------------------------------------------------------------------------------------------------
# translation metrics
# --------------------------------------------------------------------------------------------------

REFS = ["The company opened a new office in Berlin.", "Sales rose by ten percent in the first quarter."]


def test_identical_translation_scores_perfectly() -> None:
    out = translation_metrics([[r] for r in REFS], list(REFS), {"tgt_lang": "en"})
    assert out["bleu"] == pytest.approx(100.0)
    assert out["bleu_lc"] == pytest.approx(100.0)
    assert out["chrf"] == pytest.approx(100.0)
    assert out["ter"] == pytest.approx(0.0)
    assert out["n"] == 2
    assert out["bleu_details"]["brevity_penalty"] == pytest.approx(1.0)
    json.dumps(out)  # JSON-serialisable, as run.json needs


def test_lowercase_difference_changes_bleu_not_bleu_lc() -> None:
    out = translation_metrics([[r] for r in REFS], [r.lower() for r in REFS], {})
    assert out["bleu"] < 90.0
    assert out["bleu_lc"] == pytest.approx(100.0)
    assert out["ter"] == pytest.approx(0.0)  # sacreBLEU's TER is case-insensitive by default


def test_wrong_output_scores_low() -> None:
    out = translation_metrics(
        [[r] for r in REFS], ["Completely different words here.", "Nothing in common at all."], {}
    )
    assert out["bleu"] < 10.0 and out["chrf"] < 30.0 and out["ter"] > 50.0


def test_variable_reference_counts_per_item() -> None:
    references = [
        ["The firm opened an office in Berlin."],
        [
            "Revenue grew ten percent.",
            "Sales rose by ten percent in the first quarter.",
            "Turnover went up by a tenth.",
        ],
        ["The meeting was moved.", "The meeting has been moved to Thursday."],
    ]
    predictions = [
        "The firm opened an office in Berlin.",
        "Sales rose by ten percent in the first quarter.",
        "The meeting has been moved to Thursday.",
    ]
    out = translation_metrics(references, predictions, {})
    # every prediction equals one of its references (not always the first): a perfect corpus score
    assert out["bleu"] == pytest.approx(100.0)
    assert out["chrf"] == pytest.approx(100.0)
    assert out["ter"] == pytest.approx(0.0)
    assert out["signatures"]["bleu"].startswith("nrefs:var|")
    first_only = translation_metrics([r[:1] for r in references], predictions, {})
    assert first_only["bleu"] < out["bleu"]
    assert first_only["signatures"]["bleu"].startswith("nrefs:1|")


def test_reference_streams_pad_with_none_and_drop_blank_references() -> None:
    streams = reference_streams([["a"], ["b1", "b2", "b3"], ["c1", "  ", "c2"]])
    assert streams == [["a", "b1", "c1"], [None, "b2", "c2"], [None, "b3", None]]
    assert reference_streams(["single string"]) == [["single string"]]


def test_variable_references_match_sacrebleu_directly() -> None:
    from sacrebleu.metrics import BLEU, CHRF

    references = [["a cat sat on the mat"], ["the dog barked loudly", "a dog was barking"]]
    predictions = ["a cat sat on a mat", "a dog barked"]
    out = translation_metrics(references, predictions, {})
    streams = [["a cat sat on the mat", "the dog barked loudly"], [None, "a dog was barking"]]
    assert out["bleu"] == pytest.approx(BLEU().corpus_score(predictions, streams).score, abs=1e-5)
    assert out["chrf"] == pytest.approx(CHRF().corpus_score(predictions, streams).score, abs=1e-5)


def test_signatures_present() -> None:
    out = translation_metrics([["Das ist gut."]], ["Das ist gut."], {"tgt_lang": "de"})
    assert set(out["signatures"]) == {"bleu", "bleu_lc", "chrf", "ter"}
    assert "tok:13a" in out["signatures"]["bleu"]
    assert "case:lc" in out["signatures"]["bleu_lc"]
    assert "nc:6" in out["signatures"]["chrf"] and "version:" in out["signatures"]["ter"]
    assert out["tokenize"] == "13a" and out["notes"] == []


def test_tokenizer_follows_target_language(monkeypatch: pytest.MonkeyPatch) -> None:
    out = translation_metrics([["今天天气很好。"]], ["今天天气很好。"], {"tgt_lang": "zh_CN"})
    assert out["tokenize"] == "zh" and "tok:zh" in out["signatures"]["bleu"]
    assert out["bleu"] == pytest.approx(100.0) and out["ter"] == pytest.approx(0.0)
    assert "asian:yes" in out["signatures"]["ter"]
    monkeypatch.setattr(tm, "_installed", lambda *modules: False)
    tokenize, notes = tm.pick_tokenizer("ja")
    assert tokenize == "char" and "ja-mecab" in notes[0]
    assert tm.pick_tokenizer("ko")[0] == "13a"
    assert tm.pick_tokenizer("th")[0] == "char"
    assert tm.pick_tokenizer("de_DE") == ("13a", [])
    assert tm.pick_tokenizer(None) == ("13a", [])
    assert tm.pick_tokenizer("zh", "intl") == ("intl", [])
    out = translation_metrics([["Das ist gut."]], ["Das ist gut."], {"tgt_lang": "de", "tokenize": "char"})
    assert "tok:char" in out["signatures"]["bleu"]
    with pytest.raises(ConfigError, match="unknown sacreBLEU tokenizer 'bogus'"):
        translation_metrics([["x"]], ["x"], {"tokenize": "bogus"})


def test_bad_metric_inputs() -> None:
    with pytest.raises(DataError, match="2 predictions but 1 reference"):
        translation_metrics([["a"]], ["a", "b"], {})
    with pytest.raises(DataError, match="item 1: no reference"):
        translation_metrics([["a"], ["", " "]], ["a", "b"], {})
    with pytest.raises(DataError, match="no predictions"):
        translation_metrics([], [], {})
    out = translation_metrics(
        [["a b c d e f"], ["g h i j k"]], ["a b c d e f", ""], {}
    )  # an empty output scores, no crash
    assert 0 < out["bleu"] < 100


def test_language_codes() -> None:
    assert check_language("de", "--tgt-lang") == "de"
    assert check_language("EN", "--src-lang") == "en"
    assert check_language("de_de", "--tgt-lang") == "de_DE"
    assert check_language("en_XX", "--src-lang") == "en_XX"
    assert LANGUAGE_CODES["de_DE"] == "de" and LANGUAGE_CODES["zh_CN"] == "zh" and LANGUAGE_CODES["fr"] == "fr"
    assert len([c for c in LANGUAGE_CODES if len(c) == 2]) >= 180


@pytest.mark.parametrize("code, hint", [("english", "en"), ("deu", "de"), ("dee", "de"), ("xq", None), ("de-XX", "de")])
def test_unknown_language_code_is_a_one_line_config_error(code: str, hint: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        check_language(code, "--tgt-lang")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"--tgt-lang: unknown language code '{code}'")
    if hint:
        assert f"did you mean '{hint}'" in message


# --------------------------------------------------------------------------------------------------
# summarization metrics
# --------------------------------------------------------------------------------------------------


def test_identical_summary_scores_100() -> None:
    text = "The customer ordered a blue jacket. The shop sent a red one."
    out = summarization_metrics([[text]], [text], {})
    for key in ("rouge1", "rouge2", "rougeL", "rougeLsum", "rouge1_precision", "rougeLsum_recall"):
        assert out[key] == pytest.approx(100.0), key
    assert out["n"] == 1 and out["stemmer"] is True
    assert out["mean_prediction_words"] == 12 and out["mean_reference_words"] == 12
    json.dumps(out)


def test_stemming_matches_running_and_runs() -> None:
    out = summarization_metrics([["The dog is running fast."]], ["The dog is runs fast."], {})
    assert out["rouge1"] == pytest.approx(100.0)
    out = summarization_metrics([["The dog is running fast."]], ["The dog is walking fast."], {})
    assert out["rouge1"] == pytest.approx(80.0)


def test_best_of_several_references() -> None:
    prediction = "Person2 will refund the double charge within five days."
    good, bad = "Person2 will refund the double charge within five days.", "The weather in the mountains was lovely."
    multi = summarization_metrics([[bad, good]], [prediction], {})
    assert multi["rougeL"] == pytest.approx(100.0)
    assert summarization_metrics([[bad]], [prediction], {})["rougeL"] < 20.0
    # averaged over items, each item scored against its own best reference
    two = summarization_metrics([[bad, good], [bad]], [prediction, prediction], {})
    assert two["rougeL"] == pytest.approx((100.0 + summarization_metrics([[bad]], [prediction], {})["rougeL"]) / 2)
    assert two["mean_reference_words"] == pytest.approx(((9 + 7) / 2 + 7) / 2)


def test_rouge_lsum_differs_from_rouge_l_on_multi_sentence_text() -> None:
    reference = "The printer is broken. The technician comes after lunch."
    prediction = "The technician comes after lunch. The printer is broken."  # same sentences, other order
    out = summarization_metrics([[reference]], [prediction], {})
    assert out["rouge1"] == pytest.approx(100.0)
    assert out["rougeLsum"] == pytest.approx(100.0)
    assert out["rougeL"] < 60.0


def test_non_english_summaries_keep_their_words() -> None:
    text = "今天天气很好。我们去公园。"
    assert summarization_metrics([[text]], [text], {})["rouge1"] == 0.0  # rouge-score's default drops non a-z0-9
    out = summarization_metrics([[text]], [text], {"lang": "zh"})
    assert out["rouge1"] == pytest.approx(100.0) and out["stemmer"] is False and out["notes"]
    out = summarization_metrics([["Das Büro öffnet um acht."]], ["Das Büro schließt um acht."], {"tgt_lang": "de_DE"})
    assert out["rouge1"] == pytest.approx(80.0)


def test_summarization_bad_inputs() -> None:
    with pytest.raises(DataError, match="1 predictions but 2"):
        summarization_metrics([["a"], ["b"]], ["a"], {})
    with pytest.raises(DataError, match="item 0: no reference"):
        summarization_metrics([[""]], ["a"], {})
    assert summarization_metrics([["a summary here"]], [""], {})["rouge1"] == 0.0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        ("Mr. Smith met Dr. Brown. They talked.", ["Mr. Smith met Dr. Brown.", "They talked."]),
        (
            "J. Smith paid 3.5 euros, e.g. for coffee. Then he left.",
            ["J. Smith paid 3.5 euros, e.g. for coffee.", "Then he left."],
        ),
        ("He moved to the U.S. last year.", ["He moved to the U.S. last year."]),
        ('She said "Yes." Then she left...  Bye', ['She said "Yes."', "Then she left...", "Bye"]),
        ("line one\nline two.\n\n  line   three  ", ["line one", "line two.", "line three"]),
        (
            "#Person1# asks #Person2# for help. #Person2# agrees.",
            ["#Person1# asks #Person2# for help.", "#Person2# agrees."],
        ),
        ("", []),
        ("no punctuation at all", ["no punctuation at all"]),
    ],
)
def test_sentence_splitter(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


# --------------------------------------------------------------------------------------------------
# DialogSum inputs
# --------------------------------------------------------------------------------------------------


def test_format_dialogue() -> None:
    raw = "#Person1# :  Hi there.\r\n\r\n#Person2#: Hello,\n  how are you? #Person1#: Fine, thanks #Person2#.\n"
    assert (
        format_dialogue(raw)
        == "#Person1#: Hi there.\n#Person2#: Hello, how are you?\n#Person1#: Fine, thanks #Person2#."
    )
    assert format_dialogue("# Person 1 #: a\n#Person2#:b") == "#Person1#: a\n#Person2#: b"
    assert format_dialogue("Amanda:  hi\n\nTom: hello  there") == "Amanda: hi\nTom: hello there"  # untagged: lines kept
    clean = "#Person1#: Hello.\n#Person2#: Hi."
    assert format_dialogue(clean) == clean


def test_dialogsum_numbered_summaries(tmp_path) -> None:
    path = tmp_path / "test.jsonl"
    row = {
        "fname": "test_1",
        "dialogue": "#Person1#: Hi.  How are you?\r\n#Person2#: Fine.",
        "summary1": "A greets B.",
        "summary2": "B is fine.",
        "summary3": "",
        "topic1": "greeting",
    }
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    data = load_pairs(path)
    assert data.source_column == "dialogue" and data.target_column == "summary1,summary2,summary3"
    assert data.targets == [["A greets B.", "B is fine."]]  # empty further references are dropped
    formatted = load_dialogsum(path)
    assert formatted.sources == ["#Person1#: Hi. How are you?\n#Person2#: Fine."]
    table = read_dialogsum(path)
    assert table.rows[0]["dialogue"] == formatted.sources[0] and table.rows[0]["topic1"] == "greeting"


# --------------------------------------------------------------------------------------------------
# demo data
# --------------------------------------------------------------------------------------------------


def test_translate_demo_is_line_aligned_german() -> None:
    total = 0
    for prefix, low, high in ((TRANSLATE_APP.demo_train, 90, 110), (TRANSLATE_APP.demo_dev, 15, 25)):
        en = prefix.with_suffix(".en").read_text(encoding="utf-8").split("\n")
        de = prefix.with_suffix(".de").read_text(encoding="utf-8").split("\n")
        assert en[-1] == "" and de[-1] == ""  # newline-terminated
        en, de = en[:-1], de[:-1]
        assert len(en) == len(de) and low <= len(en) <= high
        assert all(line.strip() == line and line for line in en + de)
        assert len(set(en)) == len(en)
        data = load_pairs(str(prefix), src_lang="en", tgt_lang="de")
        assert len(data) == len(en) and data.format == "parallel"
        assert data.sources[0] == en[0] and data.targets[0] == [de[0]]
        total += len(en)
    train = set(TRANSLATE_APP.demo_train.with_suffix(".en").read_text(encoding="utf-8").splitlines())
    dev = set(TRANSLATE_APP.demo_dev.with_suffix(".en").read_text(encoding="utf-8").splitlines())
    assert not train & dev and 110 <= total <= 130
    german = TRANSLATE_APP.demo_train.with_suffix(".de").read_text(encoding="utf-8")
    assert all(ch in german for ch in "äöüß")


def test_summarize_demo_is_valid_dialogsum_style() -> None:
    seen = set()
    for path, low, high in ((SUMMARIZE_APP.demo_train, 45, 55), (SUMMARIZE_APP.demo_dev, 8, 12)):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert low <= len(rows) <= high
        for row in rows:
            assert set(row) == {"dialogue", "summary"}
            assert format_dialogue(row["dialogue"]) == row["dialogue"]  # already normalised
            assert all(line.startswith(("#Person1#: ", "#Person2#: ")) for line in row["dialogue"].split("\n"))
            assert len(split_sentences(row["summary"])) == 1
            assert row["dialogue"] not in seen
            seen.add(row["dialogue"])
        data = load_pairs(path)
        assert len(data) == len(rows) and data.source_column == "dialogue" and data.target_column == "summary"


# --------------------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------------------


def test_plugins_register_apps_and_metrics() -> None:
    from tlsuite_core.plugins import get_host

    host = get_host()
    assert host.registry.get("app", "translate") is TRANSLATE_APP
    assert host.registry.get("app", "summarize") is SUMMARIZE_APP
    assert host.registry.get("metric", "translation") is TRANSLATION
    assert host.registry.get("metric", "summarization") is SUMMARIZATION
    assert host.registry.owner("app", "translate") == "translate"
    assert host.registry.owner("metric", "summarization") == "summarize"
    for name in ("translate", "summarize"):
        assert host.infos[name].status == "loaded", host.infos[name].error
        assert {"tlsuite_register_apps", "tlsuite_register_metrics", "tlsuite_register_commands"} <= set(
            host.infos[name].hooks
        )
    assert host.registry.get("data adapter", "dialogsum") is not None


@pytest.mark.parametrize("app", [TRANSLATE_APP, SUMMARIZE_APP], ids=lambda a: a.name)
def test_app_defaults_are_valid_train_options(app) -> None:
    from tlsuite_core.config import build_config

    config = build_config({"model": app.default_model}, dict(app.defaults))
    assert app.task == "generation" and config.extra["metrics"] in ("translation", "summarization")
    assert config.extra["max_new_tokens"] > 20  # never the transformers default
    scores = (TRANSLATION if app is TRANSLATE_APP else SUMMARIZATION).fn([["a b c d"]], ["a b c d"], config.extra)
    metric = TRANSLATION if app is TRANSLATE_APP else SUMMARIZATION
    assert config.metric in scores and config.metric in metric.keys  # the selection metric is a key the metric returns
    assert set(metric.keys) <= {k for k, v in scores.items() if isinstance(v, float)}
