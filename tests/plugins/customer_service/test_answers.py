"""Answer sets (placeholders: slots and constants), the Bitext adapter, split and slot spans, the retriever's
training, ranking figures, BM25 and the answer index rebuilt when the answers change."""

import json

import pytest
from tlsuite_customer_service.answers import Answer, build_answer_set, default_mapping, read_answers
from tlsuite_customer_service.data import read_bitext, slot_rows, slot_span, split_of

from tlsuite_core.errors import ConfigError, DataError

BITEXT_HEADER = (
    "context,role,instruction,intent,entity_type,entity_value,start_offset,end_offset,category,tags,response\n"
)


def test_placeholders_are_slots_or_constants():
    mapping = default_mapping(["Order Number", "Website Name", "Invoice Number", "Customer Support Phone Number"])
    assert mapping["Order Number"] == {"slot": "order_id"} and mapping["Invoice Number"] == {"slot": "invoice_id"}
    assert mapping["Website Name"] == {"constant": "Website Name"}
    answers = build_answer_set([Answer("a", "track", "Order {{Order Number}}: see {{Website Name}} or {{Other}}.")])
    answers.profile = {"Website Name": "shop.example"}
    answer = answers.answers["a"]
    assert answers.required_slots(answer) == ["order_id"]
    assert answers.render(answer, {}) == ("Order {{Order Number}}: see shop.example or Other.", ["order_id"])
    assert answers.render(answer, {"order_id": "123"})[0] == "Order 123: see shop.example or Other."


def test_placeholder_map_and_profile_files(tmp_path):
    (tmp_path / "map.yaml").write_text("Website Name: {slot: site}\n", encoding="utf-8")
    (tmp_path / "profile.yaml").write_text("Other: the help page\n", encoding="utf-8")
    answers = build_answer_set(
        [Answer("a", "x", "{{Website Name}} {{Other}}")], str(tmp_path / "map.yaml"), str(tmp_path / "profile.yaml")
    )
    assert answers.render(answers.answers["a"], {"site": "S"}) == ("S the help page", [])
    (tmp_path / "bad.yaml").write_text("Website Name: {slott: site}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.yaml: 'Website Name': expected"):
        build_answer_set([], str(tmp_path / "bad.yaml"))


def test_read_answers_checks_rows(tmp_path):
    good = tmp_path / "a.jsonl"
    good.write_text('{"intent": "x", "answer": "hi", "question": "q"}\n{"intent": "y", "answer": "ho"}\n')
    rows = read_answers(str(good))
    assert [(a.id, a.intent, a.question) for a in rows] == [("x-1", "x", "q"), ("y-2", "y", "")]
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"intent": "x", "answer": "hi"}\n{"intent": "y", "answer": " "}\n')
    with pytest.raises(DataError, match="b.jsonl:2, field 'answer': empty value"):
        read_answers(str(bad))


def test_bitext_adapter_split_and_slot_spans(tmp_path):
    path = tmp_path / "bitext.csv"
    path.write_text(
        BITEXT_HEADER + "cs,va,cancel order 0012345,cancel_order,order_id,12345,13,19,ORDER,B,ok {{Order Number}}\n"
        "cs,va,open a Gold account,create_account,account_type,gold,7,11,ACCOUNT,B,fine\n"
        "cs,va,hello there,greet,,,,,,B,hi\n",
        encoding="utf-8",
    )
    table = read_bitext(path)
    assert [r["label"] for r in table.rows] == ["cancel_order", "create_account", "greet"]
    assert table.rows[0]["text"] == "cancel order 0012345" and table.lines == [2, 3, 4]
    rows, counts = slot_rows(table.rows)
    assert rows[0]["entities"] == [{"start": 13, "end": 20, "label": "order_id"}]  # grown to the whole number
    assert rows[1]["entities"] == [{"start": 7, "end": 11, "label": "account_type"}]
    assert counts == {"offsets": 0, "offsets-case": 1, "value": 1, "offsets-only": 0, "none": 0, "no-entity": 1}
    assert slot_span("abc", "t", "zzz", "x", "y") is None
    assert split_of("how can I cancel purchase 113542617735902?") in ("train", "dev", "test")
    bad = tmp_path / "bad.csv"
    bad.write_text(BITEXT_HEADER + "cs,va,,cancel_order,,,,,,B,x\n", encoding="utf-8")
    with pytest.raises(DataError, match="bad.csv:2, field 'instruction': empty value"):
        read_bitext(bad)


def test_ranking_figures_and_bm25():
    from tlsuite_customer_service.retriever import bm25_rank, ranking_figures

    figures = ranking_figures([["a", "b"], ["b", "a"], ["c", "d"]], [{"a"}, {"a"}, {"a"}])
    assert figures["recall@1"] == pytest.approx(1 / 3) and figures["mrr"] == pytest.approx((1 + 0.5 + 0) / 3)
    pytest.importorskip("bm25s")
    ranked = bm25_rank(["refund my money", "track the parcel"], ["r", "t"], ["where is my parcel"], 2)
    assert ranked[0][0] == "t"


def test_retriever_trains_and_the_answer_index_follows_the_answers(tmp_path):
    from tlsuite_customer_service.retriever import answer_index, train_retriever

    from tests.plugins.customer_service.cs_support import build_tiny_bert
    from tlsuite_core.retrieval import Encoder

    base = build_tiny_bert(tmp_path / "bert")
    questions = ["where is my order", "cancel my purchase", "i want my money back", "subscribe newsletter"]
    answers = ["track it here", "cancelled", "refund soon", "subscribed"]
    folder = train_retriever(str(base), questions, answers, tmp_path / "retriever", epochs=1, batch_size=4)
    assert (folder / "modules.json").is_file() and (folder / "model.safetensors").is_file()
    assert not list(folder.glob("*.bin")) and not (tmp_path / ".retriever.tmp").exists()
    encoder = Encoder(folder, device="cpu")
    answers_dir = tmp_path / "answers"
    answers_dir.mkdir()
    (answers_dir / "answers.jsonl").write_text(json.dumps({"id": "a", "intent": "x", "answer": "one"}) + "\n")
    index, built = answer_index(answers_dir, encoder, {"a": "one"}, str(folder))
    assert built and len(index) == 1
    assert answer_index(answers_dir, encoder, {"a": "one"}, str(folder))[1] is False  # reused
    (answers_dir / "answers.jsonl").write_text(json.dumps({"id": "b", "intent": "x", "answer": "two"}) + "\n")
    index, built = answer_index(answers_dir, encoder, {"b": "two"}, str(folder))
    assert built and index.ids == ["b"]
