"""The intent model of a customer-service run: logits and encoder features in one batched pass, the out-of-scope
decision stored in the run (``ood.json`` + ``ood-index/``), and its calibration on dev data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tlsuite_core.errors import ConfigError, DataError
from tlsuite_core.files import write_atomically

from . import ood

OUT_OF_SCOPE = "out_of_scope"
OOD_FILE = "ood.json"
OOD_INDEX = "ood-index"
#: used by a run that was never calibrated: max softmax below this is out of scope
UNCALIBRATED = {"method": "msp", "temperature": 1.0, "threshold": 0.5, "k": 1, "calibrated": False}


@dataclass
class Intent:
    """One utterance's intent: ``intent`` is ``out_of_scope`` when the score is under the threshold;
    ``predicted`` is the closed-set argmax; ``confidence`` its temperature-scaled probability."""

    intent: str
    predicted: str
    confidence: float
    score: float
    in_scope: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "predicted": self.predicted,
            "confidence": round(self.confidence, 6),
            "ood_score": round(self.score, 6),
            "in_scope": self.in_scope,
        }


class IntentModel:
    """A trained customer-service (sequence-classification) run loaded for inference."""

    def __init__(self, trained: Any) -> None:
        self.trained = trained
        self.run_dir = Path(trained.run_dir) if trained.run_dir is not None else Path(trained.model_dir)
        self.labels: list[str] = trained.labels
        self.ood = read_ood(self.run_dir)
        self._index: Any = None

    @classmethod
    def load(cls, run: str | Path, *, threads: int | None = None, registry: Any = None) -> IntentModel:
        from tlsuite_core.apps import load_app

        from . import APP

        # PyTorch, not the ONNX export: the out-of-scope scores need the encoder's hidden states beside the logits
        app = load_app(run, device="cpu", threads=threads, registry=registry, backend="torch", app=APP.name)
        return cls(app)

    def forward(self, texts: Sequence[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Logits ``(n, intents)`` and L2-normalised mean-pooled last-layer features ``(n, hidden)``; one tokenizer
        call, batches sorted by length and padded to their own longest text."""
        import torch

        model, tokenizer = self.trained.model, self.trained.tokenizer
        texts = list(texts)
        enc = tokenizer(texts, truncation=True, max_length=self.trained.max_length, padding=False)
        order = sorted(range(len(texts)), key=lambda i: len(enc["input_ids"][i]))
        logits = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        features = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = tokenizer.pad([{k: enc[k][i] for k in enc.keys()} for i in idx], return_tensors="pt")
                batch = {k: v.to(self.trained.device) for k, v in batch.items()}
                out = model(**batch, output_hidden_states=True)
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = (out.hidden_states[-1] * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                logits[idx] = out.logits.float().cpu().numpy()
                features[idx] = pooled.float().cpu().numpy()
        return logits, features

    def knn_similarity(self, features: np.ndarray, k: int | None = None) -> np.ndarray:
        """Mean cosine similarity of each row to its ``k`` nearest training utterances (the stored index)."""
        if self._index is None:
            from tlsuite_core.retrieval import EmbeddingIndex

            folder = self.run_dir / OOD_INDEX
            if not folder.is_dir():
                raise ConfigError(f"{self.run_dir}: no {OOD_INDEX}/ (run `tlsuite customer-service calibrate`)")
            self._index = EmbeddingIndex.load(folder)
        _, scores = self._index.search(features, int(k or self.ood.get("k", 1)))
        return scores.mean(axis=1)

    def scores(self, method: str, logits: np.ndarray, features: np.ndarray, temperature: float, k: int = 1):
        knn = self.knn_similarity(features, k) if method == "knn" else None
        return ood.score(method, logits, temperature, knn)

    def classify(self, texts: Sequence[str], batch_size: int = 64) -> list[Intent]:
        """The intent of each text, or ``out_of_scope`` when the run's out-of-scope score is under its threshold."""
        if not texts:
            return []
        logits, features = self.forward(texts, batch_size)
        cfg = self.ood
        temperature = float(cfg.get("temperature", 1.0))
        probs = ood.softmax(logits, temperature)
        scores = self.scores(cfg["method"], logits, features, temperature, int(cfg.get("k", 1)))
        out = []
        for row, s in zip(probs, scores):
            best = int(row.argmax())
            in_scope = bool(s >= cfg["threshold"])
            label = self.labels[best]
            out.append(Intent(label if in_scope else OUT_OF_SCOPE, label, float(row[best]), float(s), in_scope))
        return out


def read_ood(run_dir: Path) -> dict[str, Any]:
    path = run_dir / OOD_FILE
    if not path.is_file():
        return dict(UNCALIBRATED)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"unreadable out-of-scope settings ({exc})", path=path) from None


def label_ids(labels: Sequence[str], known: Sequence[str], source: str, lines: Sequence[int]) -> np.ndarray:
    index = {label: i for i, label in enumerate(known)}
    for label, line in zip(labels, lines):
        if label not in index:
            raise DataError(f"intent {label!r} is unknown to the model", path=source, line=line, field="label")
    return np.array([index[label] for label in labels])


def calibrate(
    model: IntentModel,
    train_texts: Sequence[str],
    dev_texts: Sequence[str],
    dev_labels: np.ndarray,
    *,
    method: str = "knn",
    k: int = 1,
    recall: float = 0.95,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Fit the temperature on dev (NLL), measure ECE before and after, index the training utterances' features
    (for ``knn``), and set the threshold that keeps ``recall`` of dev's in-scope utterances; written to the run."""
    from tlsuite_core.retrieval import EmbeddingIndex

    if method not in ood.METHODS:
        raise ConfigError(f"--method {method}: expected one of {', '.join(ood.METHODS)}")
    logits, features = model.forward(dev_texts, batch_size)
    temperature = ood.fit_temperature(logits, dev_labels)
    before, after = (
        ood.reliability(ood.softmax(logits), dev_labels),
        ood.reliability(ood.softmax(logits, temperature), dev_labels),
    )
    if method == "knn":
        _, train_features = model.forward(train_texts, batch_size)
        ids = [str(i) for i in range(len(train_features))]
        EmbeddingIndex.build(ids, train_features, backend="numpy", model="intent-encoder").save(
            model.run_dir / OOD_INDEX
        )
        model._index = None
    scores = model.scores(method, logits, features, temperature, k)
    settings = {
        "method": method,
        "temperature": temperature,
        "k": k,
        "threshold": ood.threshold_for_recall(scores, recall),
        "in_scope_recall": recall,
        "calibrated": True,
        "ece_before": before["ece"],
        "ece_after": after["ece"],
        "dev_accuracy": float(np.mean(logits.argmax(1) == dev_labels)),
        "dev_size": len(dev_texts),
        "train_size": len(train_texts),
        "reliability_after": after["bins"],
        "reliability_before": before["bins"],
    }
    write_atomically(model.run_dir / OOD_FILE, json.dumps(settings, indent=2) + "\n")
    model.ood = settings
    return settings
