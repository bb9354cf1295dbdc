"""Exporting a trained run to ONNX, so that prediction runs on ONNX Runtime without importing PyTorch or transformers'
modelling code (one-sentence ``predict`` in about a second and a half instead of ten on 2 CPU cores).

What is written, next to the run's ``model/``::

    <run>/onnx/model.onnx     the classifier (inputs input_ids, attention_mask [, token_type_ids]; output logits),
                              batch and sequence length dynamic, opset 17, float32
    <run>/onnx/export.json    opset, inputs, the versions used, and the verification: the largest absolute
                              difference between ONNX Runtime's and PyTorch's logits on texts of several lengths

The model is exported from what ``load_app`` loads (every strategy: a plain model, a peft adapter merged into its
base, bottleneck adapters), with PyTorch's TorchScript-based exporter, then checked with ONNX Runtime: an export
whose logits differ by more than :data:`TOLERANCE` is refused and nothing is written. The folder is staged and
renamed, so a run never holds half an export. The tokenizer stays the run's own ``model/tokenizer.json``.

Exporting needs the ``onnx`` and ``onnxruntime`` packages (dependencies of tlsuite); the engine exports every
sequence-classification run at the end of training (``--no-export-onnx`` to skip), and ``tlsuite export RUN``
exports a run trained before.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

from .errors import ModelError

__all__ = ["ONNX_DIR", "TOLERANCE", "export_onnx", "onnx_available"]

#: the folder of a run that holds the export
ONNX_DIR = "onnx"
#: the largest difference allowed between ONNX Runtime's and PyTorch's logits on the verification texts
TOLERANCE = 1e-3
OPSET = 17
#: texts of several lengths (and a padded batch) for the verification
CHECK_TEXTS = (
    "Net profit halved.",
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007, the company said "
    "in a statement on Tuesday, adding that the outlook for the rest of the year remains unchanged.",
    "ok",
)


def onnx_available() -> bool:
    """Whether exporting can run here (``onnx`` and ``onnxruntime`` importable)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def export_onnx(trained: Any, folder: Path | None = None) -> dict[str, Any]:
    """Export a loaded sequence-classification app (:func:`tlsuite_core.apps.load_app`) to ``folder`` (default:
    ``<run>/onnx``), verify it with ONNX Runtime, and return what ``export.json`` records.

    Raises :class:`ModelError` when the app is not a sequence classifier, or when the export does not reproduce the
    PyTorch logits within :data:`TOLERANCE`.
    """
    import torch

    if getattr(trained.task, "name", None) != "sequence-classification":
        raise ModelError(f"ONNX export covers sequence-classification runs; this run's task is {trained.task.name}")
    base = trained.run_dir if trained.run_dir is not None else trained.model_dir
    folder = Path(folder) if folder is not None else Path(base) / ONNX_DIR
    staging = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model = trained.model.float().to("cpu").eval()
    enc = trained.tokenizer(list(CHECK_TEXTS[:2]), padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            # the TorchScript exporter warns about its own deprecation and about index ops it maps to several ONNX
            # ops; the verification below is what decides whether the export is right
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _LogitsOnly(model).eval(),  # in eval mode: the exporter restores the wrapper's mode afterwards
                tuple(enc[n] for n in names),
                str(staging / "model.onnx"),
                input_names=names,
                output_names=["logits"],
                dynamic_axes={**axes, "logits": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        record = _verify(trained, staging / "model.onnx", names)
    except Exception:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    (staging / "export.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return record


class _LogitsOnly:
    """The model as a function of its inputs that returns the logits tensor (what the exporter traces)."""

    def __new__(cls, model: Any) -> Any:
        import torch

        class LogitsOnly(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, *inputs: Any) -> Any:
                names = ("input_ids", "attention_mask", "token_type_ids")
                return self.inner(**dict(zip(names, inputs))).logits

        return LogitsOnly(model)


def _verify(trained: Any, path: Path, names: list[str]) -> dict[str, Any]:
    """ONNX Runtime's logits against PyTorch's on :data:`CHECK_TEXTS` (one padded batch); the record for
    ``export.json``."""
    import importlib.metadata as md

    import numpy as np
    import onnxruntime as ort
    import torch

    enc = trained.tokenizer(list(CHECK_TEXTS), padding=True, return_tensors="np")
    feed = {n: enc[n].astype(np.int64) for n in names}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["logits"], feed)[0]
    with torch.inference_mode():
        want = trained.model(**{n: torch.from_numpy(v) for n, v in feed.items()}).logits.float().numpy()
    diff = float(np.abs(got - want).max())
    if not diff <= TOLERANCE:
        raise ModelError(f"ONNX export does not reproduce the model (largest logit difference {diff:.2e})")
    versions = {name: md.version(name) for name in ("torch", "transformers", "onnx", "onnxruntime")}
    return {
        "format": "onnx",
        "opset": OPSET,
        "inputs": names,
        "outputs": ["logits"],
        "labels": trained.labels,
        "max_length": trained.max_length,
        "pad_token_id": int(trained.tokenizer.pad_token_id or 0),
        "verified_max_abs_diff": diff,
        "verified_texts": len(CHECK_TEXTS),
        "versions": versions,
    }
