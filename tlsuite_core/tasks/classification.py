"""Sequence classification: one label per text (sentiment, intent, topic...)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from ..config import LABELLED, TaskOptions, option
from ..data import LabelledData, check_label_sets, load_labelled, refuse_unknown
from ..errors import DataError
from ..long_texts import (
    INFERENCE_KEYS,
    LONG_TEXTS,
    SCORES,
    WINDOW_AGGREGATIONS,
    Scored,
    run_temperature,
    score_long_texts,
    score_temperature,
    warn_empty,
)
from ..metrics import classification_metrics, flatten_for_trainer
from .base import Task
from .batching import length_sorted_batches


@dataclass
class ClassificationOptions(TaskOptions):
    """How a classification run scores texts longer than ``--max-length`` (saved with the run, the default of its
    ``predict`` / ``evaluate``, which can override each)."""

    task: ClassVar[str] = "sequence-classification"
    panel: ClassVar[str | None] = "Data"
    commands: ClassVar[tuple[str, ...]] = (*LABELLED, "predict", "evaluate")
    long_texts: str = option(
        "window",
        choices=LONG_TEXTS,
        help="window | truncate: score a text longer than --max-length over overlapping windows of it, or only its "
        "first --max-length tokens (each such prediction flagged 'truncated' and counted). predict / evaluate "
        "follow the run's own setting unless given.",
    )
    window_aggregation: str = option(
        "mean",
        choices=WINDOW_AGGREGATIONS,
        help="mean | max: a windowed text's class probabilities are the mean of its windows' (a calibrated whole), "
        "or each class's max over windows, renormalised (one strongly worded passage decides).",
    )
    window_stride: int | None = option(
        None, ge=0, help="Tokens shared by neighbouring windows of a long text (default: a quarter of --max-length)."
    )
    scores: str = option(
        "raw",
        choices=SCORES,
        help="raw | calibrated | auto: the class probabilities predictions carry: the model's softmax, or scaled by "
        "the temperature the run fitted on dev at the end of training (better calibrated for thresholds and "
        "averages, e.g. the monitor's P(negative); the predicted label is the same), or calibrated when the run "
        "fitted a temperature and raw when it had no dev set.",
    )


class SequenceClassification(Task):
    """Texts -> one label each. Model: ``AutoModelForSequenceClassification``; data: text + label columns.

    A text longer than ``--max-length`` tokens is scored over overlapping windows (``--long-texts window``, the
    default; mean or max of the windows' probabilities) or cut and flagged (``--long-texts truncate``); see
    :func:`window_token_ids` and :func:`classify`.
    """

    name: ClassVar[str] = "sequence-classification"
    options_class: ClassVar[type[TaskOptions]] = ClassificationOptions
    options: ClassificationOptions
    auto_class: ClassVar[str] = "AutoModelForSequenceClassification"
    peft_task_type: ClassVar[str | None] = "SEQ_CLS"
    onnx_export: ClassVar[bool] = True

    # -- data --------------------------------------------------------------------------------------
    def load_data(self, source: str, config: Any, *, limit: int | None = None) -> LabelledData:
        columns = {"text_column": config.text_col, "label_column": config.label_col}
        return load_labelled(source, **columns, limit=limit, delimiter=config.delimiter, **self.reading(config))

    def label_names(
        self, train: LabelledData, others: Sequence[LabelledData], config: Any, default: Sequence[str] | None
    ) -> list[str]:
        check_label_sets(train, others)
        present = set(train.labels)
        if config.labels:
            for data in (train, *others):
                for label, line in zip(data.labels, data.lines):
                    if label not in config.labels:
                        raise DataError(
                            f"label {label!r} is not in --labels ({', '.join(config.labels)})",
                            path=data.source,
                            line=line,
                            field=data.label_column,
                        )
            return list(config.labels)
        if default and present <= set(default):
            return [label for label in default if label in present]
        return sorted(present)

    # -- model -------------------------------------------------------------------------------------
    def encode(self, data: LabelledData, tokenizer: Any, labels: Sequence[str], max_length: int) -> Any:
        """Tokenize without padding (the collator pads per batch). Returns (dataset, number of truncated texts)."""
        import datasets

        label2id = {label: i for i, label in enumerate(labels)}
        enc, truncated = tokenize(tokenizer, data.texts, max_length)
        columns = {key: enc[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in enc}
        columns["labels"] = [label2id[label] for label in data.labels]
        return datasets.Dataset.from_dict(columns), truncated

    def collator(self, tokenizer: Any) -> Any:
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    def majority_baseline(self, train: LabelledData, data: LabelledData, labels: Sequence[str]) -> dict[str, Any]:
        from collections import Counter

        ids = {label: i for i, label in enumerate(labels)}
        top = Counter(train.labels).most_common(1)[0][0]
        return self.final_metrics([ids[label] for label in data.labels], [ids[top]] * len(data), labels)

    def soft_targets(
        self, model: Any, tokenizer: Any, data: LabelledData, *, max_length: int, temperature: float
    ) -> Any:
        return classify(
            model, tokenizer, data.texts, max_length=max_length, long_texts="truncate", temperature=temperature
        ).probs

    def example_classes(self, dataset: Any, labels: Sequence[str]) -> list[int]:
        return list(dataset["labels"])

    def class_weights(self, dataset: Any, labels: Sequence[str]) -> Any:
        import torch

        counts = torch.bincount(torch.tensor(dataset["labels"]), minlength=len(labels)).float()
        return counts.sum() / (len(labels) * counts.clamp(min=1))

    # -- evaluation --------------------------------------------------------------------------------
    def metric_names(self, labels: Sequence[str]) -> set[str]:
        base = {"loss", "accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall"}
        return base | {f"f1_{label}" for label in labels}

    def evaluate_output(self, output: Any, labels: Sequence[str], dataset: Any = None) -> dict[str, Any]:
        """Metrics of the selected model on dev, with its calibration: ECE and the temperature fitted on the same
        dev set (``calibration``: the reliability tables before and after scaling)."""
        from ..training.calibration import calibrate

        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        metrics = classification_metrics(output.label_ids, logits.argmax(-1), labels)
        metrics["loss"] = float(output.metrics.get("test_loss", float("nan")))
        if len(logits):
            calibration = calibrate(logits, output.label_ids, logits=True)
            metrics.update(ece=calibration["ece"], temperature=calibration["temperature"])
            metrics["calibration"] = dict(calibration)
        return metrics

    def summary(self, metrics: dict[str, Any]) -> str:
        return f"accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  (n={metrics['n']})"

    def compute_metrics(self, labels: Sequence[str], dataset: Any = None) -> Any:
        def compute(eval_pred: Any) -> dict[str, float]:
            logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
            return flatten_for_trainer(classification_metrics(eval_pred.label_ids, logits.argmax(-1), labels))

        return compute

    def final_metrics(self, references: Any, predictions: Any, labels: Sequence[str]) -> dict[str, Any]:
        return classification_metrics(references, predictions, labels)

    def write_report(self, folder: Path, metrics: dict[str, Any], labels: Sequence[str]) -> list[str]:
        from ..training.report import confusion_matrix_png

        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"{'label':<24}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
        for label, v in metrics["per_class"].items():
            lines.append(f"{label:<24}{v['precision']:>10.4f}{v['recall']:>10.4f}{v['f1']:>10.4f}{v['support']:>10}")
        lines.append("")
        lines.append(f"{'accuracy':<24}{'':>20}{metrics['accuracy']:>10.4f}{metrics['n']:>10}")
        lines.append(
            f"{'macro avg':<24}{metrics['macro_precision']:>10.4f}{metrics['macro_recall']:>10.4f}{metrics['macro_f1']:>10.4f}{metrics['n']:>10}"
        )
        if "calibration" in metrics:
            c = metrics["calibration"]
            lines += [
                "",
                f"calibration: ECE {c['ece']:.4f} ({c['bins']} bins); temperature {c['temperature']:.3f} fitted on this "
                f"set gives ECE {c['ece_scaled']:.4f} on it (optimistic: fitted and scored on the same rows)",
            ]
        (folder / "classification_report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (folder / "classification_report.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        confusion_matrix_png(folder / "confusion_matrix.png", metrics["confusion_matrix"])
        files = ["classification_report.txt", "classification_report.json", "confusion_matrix.png"]
        if "calibration" in metrics:
            from ..training.calibration import reliability_diagram_png

            title = "reliability on dev (temperature fitted on dev)"
            reliability_diagram_png(folder / "reliability.png", metrics["calibration"], title=title)
            files.append("reliability.png")
        return files

    def evaluate(
        self, model: Any, tokenizer: Any, data: LabelledData, labels: Sequence[str], **kwargs: Any
    ) -> dict[str, Any]:
        """Metrics on labelled data; every label must be known to the model."""
        found = zip(data.labels, data.lines)
        refuse_unknown(found, labels, what="label", where="the model", source=data.source, field=data.label_column)
        label2id = {label: i for i, label in enumerate(labels)}
        rows = self.predict(model, tokenizer, data.texts, **kwargs)
        refs = [label2id[label] for label in data.labels]
        preds = [label2id[row["label"]] for row in rows]
        return self.final_metrics(refs, preds, labels)

    # -- inference ---------------------------------------------------------------------------------
    def inference_options(self, record: dict[str, Any]) -> dict[str, Any]:
        extra = (record.get("config") or {}).get("extra") or {}
        options = ClassificationOptions.of(extra, strict=False)
        return {**{key: getattr(options, key) for key in INFERENCE_KEYS}, "fitted_temperature": run_temperature(record)}

    def results(self, rows: list[dict[str, Any]]) -> list[Any]:
        from ..apps import Prediction

        return warn_empty([Prediction(**row) for row in rows])

    def predict(
        self,
        model: Any,
        tokenizer: Any,
        inputs: Sequence[str],
        *,
        scores: str = "raw",
        fitted_temperature: float | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """One row per text; ``scores="calibrated"`` scales the probabilities by ``fitted_temperature`` (the run's,
        from :meth:`inference_options`)."""
        temperature = score_temperature(scores, fitted_temperature)
        scored = classify(model, tokenizer, inputs, temperature=temperature, **kwargs)
        id2label = model.config.id2label
        out = []
        for k, row in enumerate(scored.probs):
            best = int(row.argmax())
            result: dict[str, Any] = {
                "label": id2label[best],
                "score": float(row[best]),
                "scores": {id2label[i]: float(p) for i, p in enumerate(row)},
            }
            if scored.windows[k] > 1:
                result["windows"] = int(scored.windows[k])
            if scored.truncated[k]:
                result["truncated"] = True
            if not inputs[k].strip():
                result["empty"] = True
            out.append(result)
        return out


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> tuple[dict[str, list[list[int]]], int]:
    """Tokenize a batch of texts without padding; count those cut at ``max_length`` (reported, never silent)."""
    enc = tokenizer(list(texts), truncation=False, padding=False, verbose=False)
    long = [i for i, ids in enumerate(enc["input_ids"]) if len(ids) > max_length]
    if long:
        cut = tokenizer([texts[i] for i in long], truncation=True, max_length=max_length, padding=False)
        for key in enc.keys():
            for j, i in enumerate(long):
                enc[key][i] = cut[key][j]
    return dict(enc), len(long)


def classify(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int | None = None,
    device: Any = None,
    long_texts: str = "window",
    window_aggregation: str = "mean",
    window_stride: int | None = None,
    score: Callable[[list[list[int]]], np.ndarray] | None = None,
    temperature: float = 1.0,
) -> Scored:
    """Class probabilities for ``texts``; a text longer than ``max_length`` tokens is windowed or cut.

    The windows are built from token ids, then scored in one call of ``score`` (ids -> probabilities; default: the
    PyTorch model, batches sorted by length and padded per batch) and aggregated per text (``mean`` / ``max``).
    ``temperature``: every window's probabilities are scaled by it (calibrated scores, distillation targets).
    """
    limit = max_length or min(getattr(tokenizer, "model_max_length", 512) or 512, 512)
    wrap, specials = _special_tokens(tokenizer)
    bodies = (
        tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)["input_ids"] if texts else []
    )
    return score_long_texts(
        bodies,
        limit=limit,
        wrap=wrap,
        specials=specials,
        score=score or _torch_scorer(model, tokenizer, batch_size, device),
        n_labels=model.config.num_labels,
        long_texts=long_texts,
        window_aggregation=window_aggregation,
        window_stride=window_stride,
        temperature=temperature,
    )


def _special_tokens(tokenizer: Any) -> tuple[Callable[[list[int]], list[int]], int]:
    """How the tokenizer wraps one text's ids (``[CLS] ... [SEP]``), read off a probe text, and how many it adds."""
    probe = "a"
    body = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    start = next(i for i in range(len(full) - len(body) + 1) if full[i : i + len(body)] == body)
    prefix, suffix = list(full[:start]), list(full[start + len(body) :])
    return (lambda ids: prefix + ids + suffix), len(prefix) + len(suffix)


def _torch_scorer(model: Any, tokenizer: Any, batch_size: int, device: Any) -> Callable[[list[list[int]]], np.ndarray]:
    def score(ids: list[list[int]]) -> np.ndarray:
        import torch

        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        out = np.empty((len(ids), model.config.num_labels), dtype=np.float32)
        model.eval()
        with torch.inference_mode():
            batches = length_sorted_batches(
                ids, None, pad_id=pad_id, batch_size=batch_size, device=device or next(model.parameters()).device
            )
            for idx, _, batch in batches:
                out[idx] = torch.softmax(model(**batch).logits.float(), dim=-1).cpu().numpy()
        return out

    return score


def predict_proba(model: Any, tokenizer: Any, texts: Sequence[str], **kwargs: Any) -> np.ndarray:
    """Class probabilities for ``texts`` (:func:`classify` without the per-text window counts)."""
    return classify(model, tokenizer, texts, **kwargs).probs
