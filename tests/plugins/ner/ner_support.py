"""Shared pieces of the ner tests: a tiny BERT with a vocabulary written here, and tiny tagged data."""

from __future__ import annotations

import json
import random
from pathlib import Path

PEOPLE = ["angela", "merkel", "peter", "blackburn", "maria", "lopez"]
PLACES = ["paris", "berlin", "london", "zurich", "tokyo", "madrid"]
ORGS = ["acme", "globex", "initech", "umbrella"]
FILLER = ["the", "visited", "met", "in", "and", "said", "on", "monday", "with", "from", "works", "for", "a", "of"]
PIECES = ["##er", "##s", "##ian", "ber", "##lin"]
PUNCT = [".", ",", "-", "'", "(", ")"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIAL + PEOPLE + PLACES + ORGS + FILLER + PIECES + PUNCT + [f"w{i}" for i in range(40)]
LABELS = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def make_sentences(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """Sentences like 'Angela Merkel visited Paris .' with IOB2 tags."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words: list[str] = []
        tags: list[str] = []
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(["PER", "LOC", "ORG"])
            pool = {"PER": PEOPLE, "LOC": PLACES, "ORG": ORGS}[kind]
            name = rng.sample(pool, rng.randint(1, 2))
            words += [w.capitalize() for w in name]
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
            filler = rng.sample(FILLER, rng.randint(1, 3))
            words += filler
            tags += ["O"] * len(filler)
        words.append(".")
        tags.append("O")
        out.append((words, tags))
    return out


def write_conll(path: Path, sentences, *, docstart: bool = True, extra_column: bool = True) -> Path:
    lines = ["-DOCSTART- -X- O", ""] if docstart else []
    for words, tags in sentences:
        for w, t in zip(words, tags):
            lines.append(f"{w} NN {t}" if extra_column else f"{w} {t}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def build_tiny_bert(folder: Path, *, max_positions: int = 64) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) with a word-level vocab, saved as safetensors.

    ``max_positions`` is small on purpose: documents longer than it must go through sliding windows.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    # transformers 5 takes the vocabulary as ``vocab`` (a ``vocab_file=`` keyword is silently ignored)
    tokenizer = BertTokenizerFast(
        vocab={w: i for i, w in enumerate(VOCAB)}, do_lower_case=True, model_max_length=max_positions
    )
    assert tokenizer.tokenize("Berliner") == ["berlin", "##er"]
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=max_positions,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return folder
