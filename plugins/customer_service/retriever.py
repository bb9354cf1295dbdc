"""Answer retrieval: a bi-encoder fine-tuned with sentence-transformers (MultipleNegativesRankingLoss: in-batch
negatives) on question -> answer pairs, the answer index of a run, and the ranking figures (R@k, MRR) against the
untuned encoder and BM25 (bm25s)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tlsuite_core.errors import ConfigError
from tlsuite_core.files import write_atomically

RETRIEVER = "retriever"
INDEX = "index"
KS = (1, 5, 10)


def train_retriever(
    base: str,
    questions: Sequence[str],
    answers: Sequence[str],
    output: Path,
    *,
    epochs: float = 1.0,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    max_length: int = 128,
    seed: int = 42,
    aliases: Any = None,
) -> Path:
    """Fine-tune ``base`` on (question, answer) pairs (in-batch negatives); ``output`` becomes a plain
    sentence-transformers folder."""
    from tlsuite_core.retrieval import fine_tune

    if len(questions) != len(answers) or len(questions) < 2:
        raise ConfigError("the retriever needs at least two question -> answer pairs")
    return fine_tune(
        base,
        questions,
        answers,
        output,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        max_length=max_length,
        seed=seed,
        aliases=aliases,
    )


def ranking_figures(ranked: Sequence[Sequence[str]], relevant: Sequence[set[str]]) -> dict[str, float]:
    """Recall@k (a relevant id in the top k) and MRR (of the first relevant id, 0 beyond the list)."""
    out: dict[str, float] = {}
    first = []
    for ids, good in zip(ranked, relevant):
        rank = next((i for i, x in enumerate(ids, start=1) if x in good), None)
        first.append(rank)
    for k in KS:
        out[f"recall@{k}"] = float(np.mean([r is not None and r <= k for r in first]))
    out["mrr"] = float(np.mean([1.0 / r if r else 0.0 for r in first]))
    out["n"] = len(first)
    return out


def bm25_rank(corpus: Sequence[str], ids: Sequence[str], queries: Sequence[str], k: int) -> list[list[str]]:
    """BM25 (bm25s, English stop words) top-``k`` ids per query."""
    try:
        import bm25s
    except ImportError:
        raise ConfigError("the BM25 baseline needs bm25s: pip install 'tlsuite[customer-service]'") from None
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(list(corpus), stopwords="en", show_progress=False), show_progress=False)
    rows, _ = retriever.retrieve(
        bm25s.tokenize(list(queries), stopwords="en", show_progress=False), k=min(k, len(corpus)), show_progress=False
    )
    return [[ids[int(i)] for i in row] for row in rows]


def source_key(answers_file: Path, encoder_ref: str) -> str:
    """What the answer index was built from: the answers file's bytes and the encoder (its weights' size and time
    when it is a folder), so a changed answer set or a retrained retriever rebuilds it."""
    digest = hashlib.sha256(answers_file.read_bytes())
    path = Path(encoder_ref)
    weights = path / "model.safetensors"
    digest.update(encoder_ref.encode())
    if weights.is_file():
        stat = weights.stat()
        digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def answer_index(answers_dir: Path, encoder: Any, texts: dict[str, str], encoder_ref: str, backend: str = "auto"):
    """The run's answer index, built (or rebuilt) when the answers or the encoder changed since it was saved."""
    from tlsuite_core.retrieval import EmbeddingIndex

    key = source_key(answers_dir / "answers.jsonl", encoder_ref)
    folder, stamp = answers_dir / INDEX, answers_dir / "index-source.json"
    if folder.is_dir() and stamp.is_file() and json.loads(stamp.read_text()).get("key") == key:
        return EmbeddingIndex.load(folder), False
    ids = list(texts)
    index = EmbeddingIndex.build(ids, encoder.encode([texts[i] for i in ids]), backend=backend, model=encoder_ref)
    index.save(folder)
    write_atomically(stamp, json.dumps({"key": key, "encoder": encoder_ref, "size": len(ids)}) + "\n")
    return index, True
