"""Embedding retrieval: a sentence encoder, and an index of vectors searched by inner product.

Shared by the apps that retrieve (customer-service answers, recommend's two-tower items)::

    from tlsuite_core.retrieval import EmbeddingIndex, Encoder

    encoder = Encoder("minilm")                       # alias, model folder, run folder or hub id
    index = EmbeddingIndex.build(ids, encoder.encode(texts), model="minilm")
    index.save("runs/x/index")                        # vectors.npy, ids.json, index.json; no pickle
    hits, scores = EmbeddingIndex.load("runs/x/index").search(encoder.encode(["where is my card"]), k=5)

Vectors are float32 and L2-normalised by :meth:`Encoder.encode`, so the inner product is the cosine. Search is
exact: numpy by default; FAISS (``faiss-cpu``, an optional extra) when installed and asked for or when
``backend="auto"``. Both give the same neighbours (``IndexFlatIP`` is exact too).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ConfigError, DataError, ModelError, first_line
from .files import write_atomically
from .models import ModelAlias, quiet_transformers, resolve_model

__all__ = ["BACKENDS", "EmbeddingIndex", "Encoder", "faiss_available", "fine_tune", "fingerprint_of", "normalise"]

#: the values ``EmbeddingIndex.build(backend=...)`` accepts
BACKENDS = ("auto", "numpy", "faiss")
INDEX_FILES = ("vectors.npy", "ids.json", "index.json")


def faiss_available() -> bool:
    """Whether ``faiss`` (the ``faiss-cpu`` package) can be imported."""
    import importlib.util

    return importlib.util.find_spec("faiss") is not None


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as contiguous float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def fingerprint_of(ids: Sequence[str], vectors: np.ndarray) -> str:
    """sha256 of the ids (as JSON) and the float32 vectors' bytes and shape: changes when either changes."""
    digest = hashlib.sha256()
    digest.update(json.dumps(list(ids), ensure_ascii=False).encode("utf-8"))
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    digest.update(repr(array.shape).encode("ascii"))
    digest.update(array.tobytes())
    return digest.hexdigest()


class Encoder:
    """A sentence-transformers model that turns texts into unit vectors.

    Args:
        model_ref_or_folder: a model alias (``minilm``), a sentence-transformers or model folder, a trained run
            folder (its ``model/``) or a hub id; resolved like ``--model`` (safetensors only).
        device: ``"cpu"``, ``"cuda"``, ...; ``None``: CUDA when available, else CPU.
        aliases: the registered model aliases (``None``: the core's own).
    """

    def __init__(
        self,
        model_ref_or_folder: str | os.PathLike[str],
        device: str | None = None,
        *,
        aliases: Mapping[str, ModelAlias] | None = None,
    ) -> None:
        resolved = resolve_model(model_ref_or_folder, aliases=aliases)
        self.ref = str(model_ref_or_folder)
        self.path = resolved.path
        if device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        from sentence_transformers import SentenceTransformer

        quiet_transformers()
        try:
            self.model = SentenceTransformer(str(self.path), device=device, trust_remote_code=False)
        except (OSError, ValueError) as exc:
            raise ModelError(f"{self.path}: cannot load as a sentence encoder ({first_line(exc)})") from None
        self.device = device

    @property
    def dimension(self) -> int:
        """The length of the vectors :meth:`encode` returns."""
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """``(len(texts), dimension)`` float32, each row L2-normalised; batched (length-sorted by the library)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalise(vectors)


def fine_tune(
    base: str | os.PathLike[str],
    anchors: Sequence[str],
    positives: Sequence[str],
    output: str | os.PathLike[str],
    *,
    epochs: float = 1.0,
    max_steps: int | None = None,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    max_length: int | None = None,
    seed: int = 42,
    aliases: Mapping[str, ModelAlias] | None = None,
) -> Path:
    """Fine-tune the encoder ``base`` contrastively on (anchor, positive) pairs with sentence-transformers' trainer
    and ``MultipleNegativesRankingLoss`` (in-batch negatives; batches never hold the same text twice); ``output``
    becomes a plain sentence-transformers folder (safetensors), written beside it and renamed into place.
    ``max_steps`` (when given) overrides ``epochs``; ``max_length``: the encoder's token limit (default: its own)."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    if len(anchors) != len(positives) or len(anchors) < 2:
        raise ConfigError("contrastive fine-tuning needs at least two (anchor, positive) pairs, as many of each")
    model = Encoder(base, device="cpu", aliases=aliases).model
    if max_length is not None:
        model.max_seq_length = max_length
    output = Path(output)
    staging = output.with_name(f".{output.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(staging / "checkpoints"),
        num_train_epochs=epochs,
        max_steps=max_steps if max_steps is not None else -1,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=0.1,  # a float: a ratio of the steps (transformers 5 deprecates warmup_ratio)
        batch_sampler=BatchSamplers.NO_DUPLICATES,  # the same text twice in a batch would be a false negative
        seed=seed,
        save_strategy="no",
        logging_steps=20,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    data = Dataset.from_dict({"anchor": list(anchors), "positive": list(positives)})
    loss = MultipleNegativesRankingLoss(model)
    SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss).train()
    shutil.rmtree(staging, ignore_errors=True)
    model.save(str(staging), safe_serialization=True)
    if output.exists():
        shutil.rmtree(output)
    staging.rename(output)
    return output


class EmbeddingIndex:
    """Ids and their unit vectors, searched exactly by inner product. Build with :meth:`build`, or :meth:`load`."""

    def __init__(self, ids: list[str], vectors: np.ndarray, *, backend: str, model: str | None = None) -> None:
        self.ids = ids
        self.vectors = vectors
        self.backend = backend
        self.model = model
        self.fingerprint = fingerprint_of(ids, vectors)
        self._faiss_index: Any = None
        if backend == "faiss":
            import faiss

            self._faiss_index = faiss.IndexFlatIP(vectors.shape[1])
            if len(ids):
                self._faiss_index.add(vectors)

    @classmethod
    def build(
        cls, ids: Sequence[str], vectors: np.ndarray, backend: str = "auto", *, model: str | None = None
    ) -> EmbeddingIndex:
        """An index over ``vectors`` (one row per id, ids unique). ``backend``: ``auto`` (FAISS when installed,
        else numpy), ``numpy`` or ``faiss`` (a :class:`ConfigError` when not installed); ``model``: recorded in
        ``index.json`` so a later query can check it encodes with the same model."""
        ids = [str(i) for i in ids]
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(ids):
            raise ValueError(f"vectors must be ({len(ids)}, dimension); got shape {vectors.shape}")
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            duplicate = next(i for i in ids if i in seen or seen.add(i))
            raise DataError(f"duplicate id '{duplicate}' in the index")
        return cls(ids, np.ascontiguousarray(vectors), backend=_backend(backend), model=model)

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query_vectors: np.ndarray, k: int) -> tuple[list[list[str]], np.ndarray]:
        """The ``k`` best ids per query row, best first, and their inner-product scores ``(queries, k)``.

        ``k`` larger than the index gives all ids (the score array is then ``(queries, len(index))``)."""
        queries = np.ascontiguousarray(np.atleast_2d(np.asarray(query_vectors, dtype=np.float32)))
        if queries.shape[1] != self.dimension:
            raise ValueError(f"query dimension {queries.shape[1]} != index dimension {self.dimension}")
        k = min(int(k), len(self.ids))
        if k <= 0:
            return [[] for _ in range(len(queries))], np.zeros((len(queries), 0), dtype=np.float32)
        if self._faiss_index is not None:
            scores, rows = self._faiss_index.search(queries, k)
        else:
            all_scores = queries @ self.vectors.T
            part = np.argpartition(-all_scores, k - 1, axis=1)[:, :k]
            part_scores = np.take_along_axis(all_scores, part, axis=1)
            order = np.argsort(-part_scores, axis=1, kind="stable")
            rows = np.take_along_axis(part, order, axis=1)
            scores = np.take_along_axis(part_scores, order, axis=1)
        return [[self.ids[r] for r in row] for row in rows], np.asarray(scores, dtype=np.float32)

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``vectors.npy``, ``ids.json`` and ``index.json`` (model, dimension, backend, fingerprint) into
        ``folder``: written beside it first and renamed into place, so a reader never sees half an index."""
        folder = Path(folder)
        staging = folder.with_name(f".{folder.name}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        np.save(staging / "vectors.npy", self.vectors, allow_pickle=False)
        write_atomically(staging / "ids.json", json.dumps(self.ids, ensure_ascii=False))
        meta = {
            "model": self.model,
            "dimension": self.dimension,
            "size": len(self.ids),
            "backend": self.backend,
            "fingerprint": self.fingerprint,
        }
        write_atomically(staging / "index.json", json.dumps(meta, indent=2) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str], backend: str | None = None) -> EmbeddingIndex:
        """An index saved by :meth:`save`; checks the fingerprint. ``backend``: ``None`` keeps the saved one when
        it is available (a FAISS index loads as numpy where faiss is not installed)."""
        folder = Path(folder)
        missing = [name for name in INDEX_FILES if not (folder / name).is_file()]
        if missing:
            raise DataError(f"not an embedding index (missing {', '.join(missing)})", path=folder)
        try:
            meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
            ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
            vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"unreadable embedding index ({first_line(exc)})", path=folder) from None
        if not isinstance(ids, list) or vectors.ndim != 2 or vectors.shape[0] != len(ids):
            raise DataError("ids.json and vectors.npy disagree on the number of entries", path=folder)
        if fingerprint_of(ids, vectors) != meta.get("fingerprint"):
            raise DataError("fingerprint mismatch: vectors.npy or ids.json changed after saving", path=folder)
        if backend is None:
            backend = meta.get("backend", "numpy")
            backend = backend if backend != "faiss" or faiss_available() else "numpy"
        return cls(
            [str(i) for i in ids],
            np.ascontiguousarray(vectors, dtype=np.float32),
            backend=_backend(backend),
            model=meta.get("model"),
        )


def _backend(name: str) -> str:
    if name not in BACKENDS:
        raise ConfigError(f"unknown index backend '{name}' (choose from {', '.join(BACKENDS)})")
    if name == "auto":
        return "faiss" if faiss_available() else "numpy"
    if name == "faiss" and not faiss_available():
        raise ConfigError("index backend 'faiss' needs faiss-cpu: pip install 'tlsuite[customer-service]'")
    return name
