"""Shared fixtures: a tiny BERT built in the test session, tiny labelled data, an isolated runs folder."""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(os.environ.get("TLSUITE_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")

POSITIVE = ["profit", "rose", "growth", "record", "beat", "upgrade", "gain", "strong"]
NEGATIVE = ["loss", "fell", "layoffs", "fine", "miss", "downgrade", "weak", "default"]
NEUTRAL = ["meeting", "appoints", "annual", "report", "date", "board", "filed", "office"]
FILLER = ["the", "company", "said", "in", "quarter", "shares", "bank", "group", "of", "a"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIAL + POSITIVE + NEGATIVE + NEUTRAL + FILLER + [f"w{i}" for i in range(60)]


def make_rows(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label, words = [("positive", POSITIVE), ("negative", NEGATIVE), ("neutral", NEUTRAL)][i % 3]
        k = rng.randint(2, 10)
        text = " ".join(rng.choice(FILLER) for _ in range(k)) + " " + " ".join(rng.sample(words, 2))
        text += " " + " ".join(f"w{rng.randrange(60)}" for _ in range(rng.randint(0, 12)))
        rows.append((text.strip(), label))
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "label")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def tiny_llama_config(vocab_size: int, **overrides):
    """The tests' tiny Llama: 2 layers, hidden 32, grouped-query attention (4 heads, 2 key/value heads)."""
    from transformers import LlamaConfig

    shape = dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
    )
    return LlamaConfig(vocab_size=vocab_size, **{**shape, **overrides})


def build_tiny_bert(folder: Path, vocab: list[str], max_length: int = 128) -> Path:
    """A randomly initialised (seed 0) 2-layer BERT (hidden 32) with the word-level ``vocab``, saved as safetensors
    with its tokenizer in ``folder``."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # transformers 5 ignores vocab_file= here: pass the vocabulary itself
    tokenizer = BertTokenizerFast(
        vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True, model_max_length=max_length
    )
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=max_length,
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) with a word-level vocab, saved as safetensors."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), VOCAB)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tiny-data")
    return {
        "train": write_csv(folder / "train.csv", make_rows(96, 1)),
        "dev": write_csv(folder / "dev.csv", make_rows(30, 2)),
    }


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run each test in its own folder, so runs/ lands in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TLSUITE_RUNS_DIR", raising=False)
    return tmp_path


@pytest.fixture
def cli():
    """Invoke the tlsuite CLI in-process; returns the click Result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from tlsuite_core.cli import build_app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(build_app(), [str(a) for a in args], input=input)

    return invoke


@pytest.fixture(scope="session")
def ner_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT for the ner tests (vocabulary and data helpers in tests/plugins/ner/ner_support.py)."""
    from tests.plugins.ner.ner_support import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("ner-bert"))


@pytest.fixture(scope="session")
def ner_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.plugins.ner.ner_support import make_sentences, write_conll

    folder = tmp_path_factory.mktemp("ner-data")
    return {
        "train": write_conll(folder / "train.txt", make_sentences(64, 1)),
        "dev": write_conll(folder / "dev.txt", make_sentences(16, 2)),
    }


def shared_file(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (../shared/data)")
    return path


def train(app, config, **options):
    """The engine's ``train`` with the installed plugins' registry, as the CLI calls it."""
    from tlsuite_core.plugins import get_host
    from tlsuite_core.training import engine

    return engine.train(app, config, registry=get_host().registry, **options)


def train_base_run(base: Path, tiny_model: Path, tiny_data: dict[str, Path], app: str = "finance-monitor") -> Path:
    """A small completed run of ``app`` under ``base/runs`` (4 steps on the tiny data), through the CLI."""
    from typer.testing import CliRunner

    from tlsuite_core.cli import build_app

    args = [
        app,
        "train",
        "--model",
        str(tiny_model),
        "--train",
        str(tiny_data["train"]),
        "--dev",
        str(tiny_data["dev"]),
        "--max-steps",
        "4",
        "--batch-size",
        "8",
        "--lr",
        "1e-3",
        "--threads",
        "1",
        "--name",
        "base",
        "--runs-dir",
        str(base / "runs"),
    ]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    return base / "runs" / app / "base"
