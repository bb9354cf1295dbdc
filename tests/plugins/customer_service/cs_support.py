"""Shared pieces of the customer-service tests: a tiny BERT whose vocabulary covers the utterances written here,
a tiny intent data set with answers, and a trained tiny run."""

from __future__ import annotations

import json
import random
from pathlib import Path

INTENTS = {
    "track_order": ["where", "is", "my", "order", "track", "package", "parcel", "shipment"],
    "cancel_order": ["cancel", "purchase", "stop", "order", "annul", "withdraw"],
    "get_refund": ["refund", "money", "back", "return", "reimburse", "repay"],
    "newsletter": ["newsletter", "subscribe", "emails", "mailing", "list", "unsubscribe"],
}
FILLER = ["please", "i", "want", "to", "can", "you", "help", "me", "need", "the", "a", "how", "do"]
OTHER = ["weather", "football", "pizza", "recipe", "guitar", "volcano", "poem", "sing"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
DIGITS = [str(d) for d in range(10)] + [f"##{d}" for d in range(10)]
VOCAB = list(
    dict.fromkeys(
        SPECIAL
        + [w for ws in INTENTS.values() for w in ws]
        + FILLER
        + OTHER
        + DIGITS
        + ["agent", "human", "it", "number", "order", "?", ".", "'", ","]
    )
)

#: a tiny model memorises the tiny data in a few seconds with these
TRAIN_OPTIONS = (
    "--epochs 12 --lr 3e-3 --batch-size 8 --threads 1 --label-smoothing 0 --layer-lr-decay 1 --head-lr-scale 1"
).split()

ANSWERS = [
    {"id": "track-1", "intent": "track_order", "answer": "Order {{Order Number}} is on its way; see {{Website Name}}."},
    {"id": "cancel-1", "intent": "cancel_order", "answer": "I have cancelled order {{Order Number}} for you."},
    {
        "id": "refund-1",
        "intent": "get_refund",
        "answer": "Refunds take five days. Call {{Customer Support Phone Number}}.",
    },
    {"id": "news-1", "intent": "newsletter", "answer": "You can manage the newsletter in your account settings."},
]


#: the scripted conversation's in-scope messages, in the training data so that the tiny model knows them
SCRIPT_ROWS = [
    ("please cancel my purchase", "cancel_order"),
    ("where is my order", "track_order"),
    ("i want my money back", "get_refund"),
    ("subscribe me to the newsletter", "newsletter"),
]


def make_rows(n_per_intent: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = list(SCRIPT_ROWS) * 2
    for _ in range(n_per_intent):
        for intent, words in INTENTS.items():
            text = " ".join(rng.sample(FILLER, rng.randint(1, 3)) + rng.sample(words, 3))
            rows.append((text, intent))
    return rows


def build_tiny_bert(folder: Path) -> Path:
    """The suite's tiny BERT (tests/conftest.py) with this app's vocabulary and 64 positions."""
    from tests.conftest import build_tiny_bert as build

    return build(folder, VOCAB, max_length=64)


def write_csv(path: Path, rows) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def write_answers(path: Path) -> Path:
    path.write_text("".join(json.dumps(a) + "\n" for a in ANSWERS), encoding="utf-8")
    return path


def train_tiny_run(base: Path) -> Path:
    """A completed customer-service run on the tiny data (CLI), calibrated, with answers and a company profile."""
    from typer.testing import CliRunner

    from tlsuite_core.cli import build_app

    model = build_tiny_bert(base / "tiny-cs-bert")
    train = write_csv(base / "train.csv", make_rows(16, 1))
    dev = write_csv(base / "dev.csv", make_rows(4, 2))
    runner = CliRunner()
    app = build_app()
    args = [
        "customer-service",
        "train",
        "--train",
        str(train),
        "--dev",
        str(dev),
        "--model",
        str(model),
        "--runs-dir",
        str(base / "runs"),
        "--name",
        "tiny",
        *TRAIN_OPTIONS,
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    run = base / "runs" / "customer-service" / "tiny"
    result = runner.invoke(app, ["customer-service", "calibrate", "--model", str(run), "--dev", str(dev)])
    assert result.exit_code == 0, result.output
    profile = base / "company.yaml"
    profile.write_text("Website Name: shop.example\nCustomer Support Phone Number: 555-0100\n", encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "customer-service",
            "answers",
            "--model",
            str(run),
            "--answers",
            str(write_answers(base / "answers.jsonl")),
            "--profile",
            str(profile),
        ],
    )
    assert result.exit_code == 0, result.output
    return run
