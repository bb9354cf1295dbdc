"""Generated replies: the training pairs (a neighbour's reply, never the example's own), bad reply data, and
``train --generator`` end to end with a tiny decoder: generator/ loads with plain transformers + peft, the bot
generates for intents in mode 'generated', evaluate scores template and generated replies with chrF."""

import json

import numpy as np
import pytest

from tests.conftest import tiny_llama_config
from tests.plugins.customer_service.cs_support import ANSWERS, TRAIN_OPTIONS, VOCAB, build_tiny_bert, make_rows


def _example(message, intent, reply, slots=None):
    from tlsuite_customer_service.generator import ReplyExample

    return ReplyExample(message, intent, reply, slots or {})


def test_each_prompt_holds_the_reply_of_another_message_of_its_intent():
    from tlsuite_customer_service.generator import neighbour_answers, reply_prompt

    examples = [
        _example("where is my order", "track", "A"),
        _example("where is my parcel", "track", "B"),
        _example("track my package", "track", "C"),
        _example("cancel it", "cancel", "D"),
        _example("cancel my order", "cancel", "D"),  # the same reply as its neighbour: not a neighbour
        _example("refund", "refund", "E"),  # alone in its intent: the nearest other message
    ]
    vectors = np.array([[1, 0, 0], [0.9, 0.1, 0], [0.5, 0.5, 0], [0, 0, 1], [0, 0.1, 1], [0, 1, 0]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    picks = neighbour_answers(examples, vectors)
    assert picks[:3] == [1, 0, 1]
    assert all(p != i for i, p in enumerate(picks))
    assert examples[picks[3]].intent == "cancel" or examples[picks[3]].reply != "D"
    assert examples[picks[4]].reply != "D" and examples[picks[5]].reply != "E"
    prompt = reply_prompt("where is my order 123", {"order_id": "123"}, "word " * 200)
    assert "Slots: order_id=123" in prompt and prompt.count("word") < 120 and "..." in prompt


def test_reply_data_errors_name_the_file_and_line(tmp_path):
    from tlsuite_customer_service.generator import read_reply_examples

    from tlsuite_core.errors import DataError

    plain = tmp_path / "plain.csv"
    plain.write_text("text,label\nwhere is my order,track_order\n", encoding="utf-8")
    with pytest.raises(DataError, match="no response or answer column") as info:
        read_reply_examples(str(plain))
    assert "plain.csv:1:" in str(info.value)
    assert read_reply_examples(str(plain), required=False) is None
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label,response\nwhere is my order,track_order,\n", encoding="utf-8")
    with pytest.raises(DataError, match="response") as info:
        read_reply_examples(str(empty))
    assert "empty.csv:2, field 'response'" in str(info.value)


def test_train_generator_without_replies_fails_before_training(cli, tmp_path):
    data = tmp_path / "train.csv"
    data.write_text("text,label\nwhere is my order,track_order\ncancel it,cancel_order\n", encoding="utf-8")
    result = cli(
        "customer-service", "train", "--train", data, "--generator", "--runs-dir", tmp_path / "runs", "--name", "x"
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "no response or answer column" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
    result = cli("customer-service", "train", "--train", data, "--generator-steps", "3")
    assert result.exit_code == 2 and "go with --generator" in result.stderr


def build_tiny_decoder(folder):
    """A tiny Llama with the test vocabulary and a chat template (a stand-in for smollm2-135m)."""
    import torch
    from transformers import BertTokenizerFast, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    words = VOCAB + [w for w in "customer message slots retrieved answer write reply i have cancelled".split()]
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(dict.fromkeys(words))}, model_max_length=512)
    tok.chat_template = "{% for m in messages %}[CLS] {{ m['content'] }} [SEP]{% endfor %}"
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    config = tiny_llama_config(
        len(tok),
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.sep_token_id,
        bos_token_id=tok.cls_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def _reply_rows(n, seed):
    replies = {a["intent"]: a["answer"] for a in ANSWERS}
    return [(text, intent, f"{replies[intent]} ({i})") for i, (text, intent) in enumerate(make_rows(n, seed))]


def _write(path, rows):
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label", "response"])
        writer.writerows(rows)
    return path


@pytest.mark.slow
def test_train_with_generator_and_generated_replies(cli, tmp_path):
    from tlsuite_customer_service.bot import Bot
    from tlsuite_customer_service.store import Store

    bert, decoder = build_tiny_bert(tmp_path / "bert"), build_tiny_decoder(tmp_path / "decoder")
    train = _write(tmp_path / "train.csv", _reply_rows(16, 1))
    args = ["customer-service", "train", "--train", train, "--model", bert, "--runs-dir", tmp_path / "runs"]
    args += ["--name", "gen", *TRAIN_OPTIONS, "--generator", "--generator-model", decoder, "--generator-steps", "2"]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "customer-service" / "gen"
    assert result.stdout.strip().splitlines()[-1] == str(run)
    record = json.loads((run / "generator.json").read_text())
    assert record["enabled"] and record["pairs"] == 72 and record["base"] == str(decoder)
    generator = run / "generator"
    assert json.loads((generator / "run.json").read_text())["status"] == "completed"
    assert not (run / ".generator-work").exists() and not (generator / "checkpoints").exists()
    # plain transformers + peft
    from peft import AutoPeftModelForCausalLM

    assert AutoPeftModelForCausalLM.from_pretrained(str(generator / "model")) is not None

    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps(a) + "\n" for a in ANSWERS), encoding="utf-8")
    assert cli("customer-service", "answers", "--model", run, "--answers", answers).exit_code == 0
    ood = {"method": "msp", "temperature": 1.0, "threshold": 0.0, "k": 1, "calibrated": False}
    (run / "ood.json").write_text(json.dumps(ood), encoding="utf-8")  # nothing out of scope: every path answers
    (run / "dialogue.yaml").write_text("modes: {newsletter: generated}\nescalate_below: 0\n", encoding="utf-8")
    bot = Bot(run, Store(f"sqlite:///{tmp_path / 'cs.db'}"))
    calls = []
    real = bot.generate
    bot.generate = lambda *a: calls.append(a) or real(*a)
    reply = bot.respond("s", "subscribe me to the newsletter")
    template = bot.respond("t", "i want my money back")
    bot.store.close()
    assert reply.intent == "newsletter" and len(calls) == 1 and isinstance(reply.reply, str)
    assert template.intent == "get_refund" and len(calls) == 1  # template mode: no generation

    test = _write(tmp_path / "test.csv", _reply_rows(2, 3))
    result = cli("customer-service", "evaluate", "--model", run, "--data", test, "--output", tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    replies = json.loads((tmp_path / "m.json").read_text())["replies"]
    assert replies["n"] == 16 and sum(replies["outcomes"].values()) == 16
    assert 0 <= replies["escalation_rate"] <= 1 and replies["template"]["chrf"] > 0
    assert (
        replies["generated"]["n"] == replies["outcomes"]["answered"] and "nc:6|nw:0" in replies["template"]["signature"]
    )
    result = cli(
        "customer-service", "report", "--model", run, "--output", tmp_path / "r.md", "--results", tmp_path / "m.json"
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r.md").read_text()
    assert "escalation rate" in text and f"| generated (generator/) | {replies['generated']['n']} |" in text
