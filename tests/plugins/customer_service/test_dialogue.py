"""The bot end to end on a tiny trained run: respond's JSON, slots asked for and filled, out of scope, each
escalation reason recorded, dialogue settings, evaluate's JSON; and the same conversation through chat in a real
pseudo-terminal."""

import json
import re
import sys

import pytest

SCRIPT = [
    "please cancel my purchase",
    "it is 12345678",
    "where is my order",
    "weather pizza guitar volcano",
    "i want a human agent",
]


def respond(cli, run, session, message, db):
    result = cli("customer-service", "respond", "--model", run, "--session", session, "--db", db, message)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_scripted_conversation_through_respond(cli, cs_run, tmp_path):
    db = f"sqlite:///{tmp_path / 'cs.db'}"
    replies = [respond(cli, cs_run, "s1", m, db) for m in SCRIPT]
    assert [r["intent"] for r in replies] == [
        "cancel_order",
        "cancel_order",
        "track_order",
        "out_of_scope",
        "handover",
    ]
    assert replies[0]["reply"] == "Could you give me your order number?" and replies[0]["pending"] == "order_id"
    assert replies[1]["reply"] == "I have cancelled order 12345678 for you."
    assert replies[1]["slots"] == {"order_id": "12345678"}
    assert replies[2]["reply"] == "Order 12345678 is on its way; see shop.example."  # slot + profile constant
    assert replies[3]["reply"].startswith("Sorry, I did not understand") and replies[3]["escalation"] is None
    assert replies[4]["escalation"] == {"reason": "request"}
    assert set(replies[0]) == {
        "session",
        "reply",
        "intent",
        "confidence",
        "slots",
        "escalation",
        "pending",
        "answer_id",
    }
    after = respond(cli, cs_run, "s1", "where is my order", db)
    assert after["escalation"] == {"reason": "request"} and "human agent" in after["reply"]
    other = respond(cli, cs_run, "s2", "where is my order", db)  # sessions are separate
    assert other["reply"] == "Could you give me your order number?"


def test_escalation_reasons_are_recorded(cs_run, tmp_path):
    from tlsuite_customer_service.bot import Bot
    from tlsuite_customer_service.store import Store

    store = Store(f"sqlite:///{tmp_path / 'e.db'}")
    bot = Bot(cs_run, store)
    assert bot.respond("a", "weather pizza guitar volcano").escalation is None
    assert bot.respond("a", "football poem sing").escalation == {"reason": "repeated failure"}
    bot.settings.sensitive = ["get_refund"]
    assert bot.respond("b", "i want my money back").escalation == {"reason": "sensitive intent"}
    bot.settings.sensitive = []
    bot.settings.escalate_below = 1.01
    assert bot.respond("c", "where is my order").escalation == {"reason": "low confidence"}
    log = store.escalation_log()
    assert [(e["session_id"], e["reason"]) for e in log] == [
        ("a", "repeated failure"),
        ("b", "sensitive intent"),
        ("c", "low confidence"),
    ]
    assert log[1]["intent"] == "get_refund" and log[1]["message"] == "i want my money back"
    store.close()


def test_dialogue_settings_are_read_and_checked(cs_run, tmp_path):
    from tlsuite_customer_service.settings import DialogueSettings

    from tlsuite_core.errors import ConfigError

    settings = DialogueSettings.from_mapping({"sensitive": ["get_refund"], "modes": {"newsletter": "escalate"}}, "x")
    assert settings.mode("get_refund") == "escalate" and settings.mode("newsletter") == "escalate"
    assert settings.mode("track_order") == "template"
    with pytest.raises(ConfigError, match="x: modes.newsletter: 'sing' is not one of template, generated, escalate"):
        DialogueSettings.from_mapping({"modes": {"newsletter": "sing"}}, "x")
    with pytest.raises(ConfigError, match="unknown key\\(s\\) sensitve"):
        DialogueSettings.from_mapping({"sensitve": []}, "x")


def test_evaluate_writes_closed_set_figures_at_the_top(cli, cs_run, tmp_path):
    from tests.plugins.customer_service.cs_support import make_rows, write_csv

    rows = make_rows(2, 5) + [("weather pizza guitar volcano", "out_of_scope")]
    data = write_csv(tmp_path / "test.csv", rows)
    result = cli("customer-service", "evaluate", "--model", cs_run, "--data", data, "--output", tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert {"accuracy", "macro_f1", "ece", "out_of_scope"} <= set(metrics)
    assert metrics["n"] == len(rows) - 1 and metrics["n_out_of_scope"] == 1
    assert {"auroc", "fpr@95", "in_scope_rejected", "method"} <= set(metrics["out_of_scope"])


def test_respond_bad_input_is_one_line(cli, cs_run, tmp_path):
    db = tmp_path / "never.db"
    result = cli(
        "customer-service", "respond", "--model", tmp_path / "nope", "--session", "x", "--db", f"sqlite:///{db}", "hi"
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not db.exists()  # nothing half-written
    result = cli("customer-service", "respond", "--model", cs_run, "--session", "x", "--db", "nosuch://x", "hi")
    assert result.exit_code == 2 and "--db nosuch://x" in result.output


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.mark.slow
def test_chat_in_a_pseudo_terminal_gives_the_replies_of_respond(cli, cs_run, tmp_path):
    pexpect = pytest.importorskip("pexpect")
    chat_db = f"sqlite:///{tmp_path / 'chat.db'}"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "tlsuite_core", "customer-service", "chat", "--model", str(cs_run), "--session", "t", "--db", chat_db],
        encoding="utf-8",
        timeout=120,
        dimensions=(40, 200),
        env={"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PATH": "/usr/bin:/bin", "TERM": "xterm"},
    )
    chat_replies = []
    child.expect("you>")
    for message in SCRIPT:
        child.sendline(message)
        child.expect(r"bot>(?:\x1b\[[0-9;]*m)* (.*?)\r\n")
        chat_replies.append(ANSI.sub("", child.match.group(1)).strip())
        child.expect("you>")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    db = f"sqlite:///{tmp_path / 'respond.db'}"
    assert chat_replies == [respond(cli, cs_run, "t", m, db)["reply"] for m in SCRIPT]
    assert chat_replies[1] == "I have cancelled order 12345678 for you."


def test_report_has_the_reliability_diagram_and_retrieval_curves(cli, cs_run, tmp_path):
    retrieval = tmp_path / "retrieval.json"
    figures = {"recall@1": 0.5, "recall@5": 0.8, "recall@10": 0.9, "mrr": 0.6}
    retrieval.write_text(json.dumps({"retrieval": {"test": {"bm25": figures, "fine-tuned": figures}}}))
    out = tmp_path / "report.md"
    result = cli("customer-service", "report", "--model", cs_run, "--output", out, "--results", retrieval)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "![reliability](report-reliability.png)" in text and "![retrieval](report-retrieval-retrieval.png)" in text
    assert (tmp_path / "report-reliability.png").is_file() and (tmp_path / "report-retrieval-retrieval.png").is_file()
