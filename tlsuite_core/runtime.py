"""Prediction on ONNX Runtime: a sequence-classification run exported to ``onnx/`` (:mod:`tlsuite_core.export`)
predicts without importing PyTorch or transformers, which is what makes a one-sentence ``predict`` fast.

:func:`tlsuite_core.apps.load_app` returns an :class:`OnnxApp` when ``backend`` is ``onnx``, or ``auto`` on a CPU
(``--device auto`` with no NVIDIA GPU visible, or ``--device cpu``) and the run has an export. It predicts exactly
as :class:`~tlsuite_core.apps.TrainedApp` does (one tokenizer call, length-sorted batches padded to their own
longest text, softmax), from the run's own ``model/tokenizer.json`` through the ``tokenizers`` library; texts longer
than the run's ``max_length`` go over the same windows with the same aggregation (:mod:`tlsuite_core.long_texts`).
What it does not do itself it hands to the PyTorch app, loaded on first use: other task options, ``evaluate``, and
the ``task`` / ``model`` / ``tokenizer`` attributes.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .apps import Prediction, TrainedApp
from .errors import ModelError

__all__ = ["OnnxApp", "gpu_visible", "onnx_folder"]


def onnx_folder(run_dir: Path | None) -> Path | None:
    """The run's verified ONNX export (``onnx/`` with ``model.onnx`` and ``export.json``), or ``None``."""
    if run_dir is None:
        return None
    folder = Path(run_dir) / "onnx"
    return folder if (folder / "model.onnx").is_file() and (folder / "export.json").is_file() else None


def gpu_visible() -> bool:
    """Whether an NVIDIA GPU is visible to this process (without importing torch): then ``--device auto`` means the
    GPU, and PyTorch serves it."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


class OnnxApp(TrainedApp):
    """A completed sequence-classification run on ONNX Runtime (CPU), with :class:`TrainedApp`'s interface."""

    def __init__(
        self,
        run_dir: Path,
        model_dir: Path,
        record: dict[str, Any],
        folder: Path,
        *,
        threads: int | None,
        load_torch: Callable[[], TrainedApp],
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.run_dir, self.model_dir, self.record, self.device = run_dir, model_dir, record, "cpu"
        self.export = json.loads((folder / "export.json").read_text(encoding="utf-8"))
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(folder / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
        tokenizer_file = model_dir / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise ModelError(f"{model_dir}: no tokenizer.json for the ONNX Runtime path")
        self.fast_tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.fast_tokenizer.no_truncation()
        self.fast_tokenizer.no_padding()
        pad_id = self.export.get("pad_token_id")
        self.pad_id = int(pad_id if pad_id is not None else self._pad_id(model_dir))
        self._load_torch, self._torch = load_torch, None
        self._lock = threading.Lock()

    @staticmethod
    def _pad_id(model_dir: Path) -> int:
        """The padding id of an export that does not record it: the model's config (an adapter folder has none:
        ``merged/`` beside it has)."""
        for folder in (model_dir, model_dir.parent / "merged"):
            if (folder / "config.json").is_file():
                return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("pad_token_id") or 0
        return 0

    # -- what the PyTorch app does -----------------------------------------------------------------------------
    @property
    def torch_app(self) -> TrainedApp:
        """The same run on PyTorch, loaded on first use."""
        if self._torch is None:
            self._torch = self._load_torch()
        return self._torch

    @property
    def task(self) -> Any:  # type: ignore[override]
        return self.torch_app.task

    @property
    def model(self) -> Any:  # type: ignore[override]
        return self.torch_app.model

    @property
    def tokenizer(self) -> Any:  # type: ignore[override]
        return self.torch_app.tokenizer

    @property
    def labels(self) -> list[str]:
        return list(self.export["labels"])

    def evaluate(self, data: Any, *, batch_size: int = 64, **options: Any) -> dict[str, Any]:
        return self.torch_app.evaluate(data, batch_size=batch_size, **options)

    # -- prediction -----------------------------------------------------------------------------------------------
    def predict(self, texts: Sequence[str] | str, *, batch_size: int = 64, **options: Any) -> list[Any]:
        """:meth:`TrainedApp.predict` on ONNX Runtime: long texts over windows (or cut and flagged) and raw or
        calibrated scores as the run or ``options`` say (:mod:`tlsuite_core.long_texts`); other task options go to the
        PyTorch app."""
        from .long_texts import INFERENCE_KEYS, run_temperature, score_long_texts, score_temperature, warn_empty

        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if set(options) - set(INFERENCE_KEYS):
            return self.torch_app.predict(texts, batch_size=batch_size, **options)
        extra = (self.record.get("config") or {}).get("extra") or {}
        settings = {key: extra[key] for key in INFERENCE_KEYS if extra.get(key) is not None}
        settings.update(options)
        temperature = score_temperature(settings.pop("scores", "raw"), run_temperature(self.record))
        with self._lock:
            bodies = [e.ids for e in self.fast_tokenizer.encode_batch(texts, add_special_tokens=False)]
            wrap, specials = self._special_tokens()
        scored = score_long_texts(
            bodies,
            limit=self.max_length,
            wrap=wrap,
            specials=specials,
            score=lambda ids: self._probabilities(ids, [[0] * len(x) for x in ids], batch_size),
            n_labels=len(self.labels),
            temperature=temperature,
            **settings,
        )
        labels = self.labels
        out = []
        for k, row in enumerate(scored.probs):
            best = int(row.argmax())
            scores = {labels[i]: float(p) for i, p in enumerate(row)}
            windows, cut, empty = int(scored.windows[k]), bool(scored.truncated[k]), not texts[k].strip()
            out.append(Prediction(labels[best], float(row[best]), scores, windows, cut, empty))
        return warn_empty(out)

    def _special_tokens(self) -> tuple[Callable[[list[int]], list[int]], int]:
        """How the run's tokenizer wraps one text's ids (``[CLS] ... [SEP]``), read off a probe text."""
        body = self.fast_tokenizer.encode("a", add_special_tokens=False).ids
        full = self.fast_tokenizer.encode("a", add_special_tokens=True).ids
        start = next(i for i in range(len(full) - len(body) + 1) if full[i : i + len(body)] == body)
        prefix, suffix = list(full[:start]), list(full[start + len(body) :])
        return (lambda ids: prefix + ids + suffix), len(prefix) + len(suffix)

    def _probabilities(self, ids: list[list[int]], types: list[list[int]], batch_size: int) -> np.ndarray:
        """Softmax of the logits, batches sorted by length and padded to their own longest text."""
        inputs = self.export["inputs"]
        out = np.empty((len(ids), len(self.labels)), dtype=np.float32)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = int(lengths[idx[0]])
            feed = {
                "input_ids": np.full((len(idx), width), self.pad_id, dtype=np.int64),
                "attention_mask": np.zeros((len(idx), width), dtype=np.int64),
                "token_type_ids": np.zeros((len(idx), width), dtype=np.int64),
            }
            for row, i in enumerate(idx):
                n = int(lengths[i])
                feed["input_ids"][row, :n] = ids[i]
                feed["attention_mask"][row, :n] = 1
                feed["token_type_ids"][row, :n] = types[i]
            logits = self.session.run(["logits"], {k: v for k, v in feed.items() if k in inputs})[0]
            shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
            out[idx] = shifted / shifted.sum(axis=-1, keepdims=True)
        return out
