"""Ranking: score (query, candidate) text pairs by relevance with a cross-encoder, and train it on groups.

A row is one pair: a query (a user's history, a question...), a candidate (an item, a passage...), a relevance
label (0 = not relevant; larger = more relevant) and the group it is ranked in (the query's id). Training builds,
for every relevant row of a group, one list of ``list_size`` pairs (that row first, then the group's other rows,
less relevant ones cycled in a fixed order) and scores the whole list in one batch, so the loss can compare its
members: ``pointwise`` (binary cross-entropy on each pair), ``pairwise`` (RankNet: every more-relevant /
less-relevant pair of the list) or ``listwise`` (ListNet: softmax cross-entropy against the labels).

The model is a plain ``AutoModelForSequenceClassification`` with one output (the relevance logit, ``id2label``
``{0: "relevance"}``), so the engine's strategies (full, frozen, LoRA, adapters...) apply and the run's ``model/``
loads with plain transformers. The loss is computed by a wrapper of the model's ``forward`` (installed by
:meth:`Ranking.load_model`, never saved): it needs the list structure, which the Trainer's loss does not know.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from ..config import TRAIN, TaskOptions, option
from ..data import Examples, SkippedRow, pick_column, read_table
from ..errors import ConfigError, DataError
from .base import Task
from .batching import length_sorted_batches

__all__ = [
    "LOSSES",
    "Ranking",
    "RankingData",
    "RankingOptions",
    "group_metrics",
    "ranking_loss",
    "score_pairs",
    "train_ranker",
]

#: the training losses (see the module docstring)
LOSSES = ("pointwise", "pairwise", "listwise")
_LOSS_HELP = "Ranking loss: pointwise (binary cross-entropy per pair), pairwise (RankNet) or listwise (ListNet)."
#: the one output of the model
RELEVANCE = "relevance"


@dataclass
class RankingOptions(TaskOptions):
    """The ranking task's options (``extra`` in a configuration)."""

    task: ClassVar[str] = "ranking"
    loss: str = option("listwise", panel="Optimisation", commands=(TRAIN,), choices=LOSSES, help=_LOSS_HELP)
    list_size: int = option(
        8,
        panel="Data",
        commands=(TRAIN,),
        ge=2,
        help="Pairs per training list: one relevant candidate and LIST_SIZE-1 others of its group.",
    )
    query_column: str = option("query", panel="Data", help="Column of the query text.")
    candidate_column: str = option("candidate", panel="Data", help="Column of the candidate text.")
    relevance_column: str = option("label", panel="Data", help="Column of the relevance label (0 = not relevant).")
    group_column: str = option("group", panel="Data", help="Column naming the group (query id) a row is ranked in.")


@dataclass
class RankingData(Examples):
    """(query, candidate, relevance, group) rows from one file, validated."""

    ROW_FIELDS: ClassVar[tuple[str, ...]] = ("queries", "candidates", "relevance", "groups", "lines")

    source: str
    queries: list[str]
    candidates: list[str]
    relevance: list[float]
    groups: list[str]
    lines: list[int]
    format: str
    fingerprint: str
    skipped: list[SkippedRow] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"groups": len(set(self.groups)), "relevant_rows": sum(1 for r in self.relevance if r > 0)}

    def lists(self, size: int) -> list[tuple[list[int], list[float]]]:
        """Training lists: for every relevant row, (row indices, labels) of ``size`` rows of its group, that row
        first, then less relevant rows of the group in turn (repeated when the group has fewer)."""
        members: dict[str, list[int]] = {}
        for i, group in enumerate(self.groups):
            members.setdefault(group, []).append(i)
        out = []
        for rows in members.values():
            for k, first in enumerate(r for r in rows if self.relevance[r] > 0):
                lower = [r for r in rows if self.relevance[r] < self.relevance[first]]
                if not lower:
                    continue
                picked = [lower[(k * (size - 1) + j) % len(lower)] for j in range(size - 1)]
                idx = [first, *picked]
                out.append((idx, [float(self.relevance[i]) for i in idx]))
        return out


def load_ranking(source: str, options: RankingOptions, *, fmt: str | None = None, adapters: Any = None) -> RankingData:
    """Read and validate a ranking file; a bad row fails with its file, line and field."""
    table = read_table(source, fmt, adapters)
    cols = [
        pick_column(table, name, (), role, f"extra.{key}")
        for name, role, key in (
            (options.query_column, "query", "query_column"),
            (options.candidate_column, "candidate", "candidate_column"),
            (options.relevance_column, "relevance", "relevance_column"),
            (options.group_column, "group", "group_column"),
        )
    ]
    query_col, cand_col, rel_col, group_col = cols
    out: dict[str, list[Any]] = {"queries": [], "candidates": [], "relevance": [], "groups": []}
    for row, line in zip(table.rows, table.lines):
        for col in (query_col, cand_col, group_col):
            if not str(row.get(col) or "").strip():
                raise DataError("empty value", path=table.source, line=line, field=col)
        try:
            rel = float(row.get(rel_col))
        except (TypeError, ValueError):
            raise DataError(
                f"relevance must be a number >= 0, got {row.get(rel_col)!r}",
                path=table.source,
                line=line,
                field=rel_col,
            ) from None
        if not rel >= 0:
            raise DataError(f"relevance must be a number >= 0, got {rel}", path=table.source, line=line, field=rel_col)
        out["queries"].append(str(row[query_col]))
        out["candidates"].append(str(row[cand_col]))
        out["relevance"].append(rel)
        out["groups"].append(str(row[group_col]))
    if not any(r > 0 for r in out["relevance"]):
        raise DataError(f"no relevant row (every '{rel_col}' is 0)", path=table.source, field=rel_col)
    return RankingData(
        source=table.source, lines=list(table.lines), format=table.format, fingerprint=table.fingerprint, **out
    )


def ranking_loss(scores: Any, labels: Any, loss: str) -> Any:
    """The mean loss of lists of scores (``(lists, size)`` tensors) against their relevance labels."""
    import torch
    import torch.nn.functional as F

    if loss == "pointwise":
        return F.binary_cross_entropy_with_logits(scores, (labels > 0).to(scores.dtype))
    if loss == "pairwise":
        more = labels.unsqueeze(2) > labels.unsqueeze(1)  # [l, i, j]: i more relevant than j
        diff = scores.unsqueeze(2) - scores.unsqueeze(1)
        return -F.logsigmoid(diff[more]).mean() if bool(more.any()) else scores.sum() * 0.0
    if loss == "listwise":
        target = labels.clamp(min=0)
        target = target / target.sum(dim=1, keepdim=True).clamp(min=1e-12)
        return -(target * torch.log_softmax(scores, dim=1)).sum(dim=1).mean()
    raise ConfigError(f"unknown ranking loss '{loss}' (choose from {', '.join(LOSSES)})")


def with_ranking_loss(model: Any, loss: str) -> Any:
    """``model`` whose ``forward`` computes ``loss`` over lists when given ``labels`` of shape ``(lists, size)``
    (its inputs are the lists' pairs, flattened) and returns the scores as ``(lists, size)`` logits. Only this
    instance changes; nothing of it is saved."""
    from transformers.modeling_outputs import SequenceClassifierOutput

    original = model.forward

    def forward(*args: Any, labels: Any = None, num_items_in_batch: Any = None, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        if labels is None:
            return out
        scores = out.logits.float().reshape(labels.shape)  # one row per list: evaluation gathers whole lists
        return SequenceClassifierOutput(
            loss=ranking_loss(scores, labels.to(scores.device).float(), loss), logits=scores
        )

    model.forward = forward
    return model


def group_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """MRR, NDCG and hit@1 of lists (rows of ``scores`` / ``labels``), ties broken by position in the list."""
    scores = np.asarray(scores, dtype=np.float64).reshape(labels.shape)
    order = np.lexsort((np.broadcast_to(np.arange(labels.shape[1]), labels.shape), -scores), axis=1)
    ranked = np.take_along_axis(labels, order, axis=1)
    relevant = ranked > 0
    first = np.where(relevant.any(axis=1), relevant.argmax(axis=1), labels.shape[1])
    mrr = np.where(first < labels.shape[1], 1.0 / (first + 1), 0.0)
    discounts = 1.0 / np.log2(np.arange(labels.shape[1]) + 2)
    dcg = ((2.0**ranked - 1) * discounts).sum(axis=1)
    ideal = ((2.0 ** -np.sort(-labels, axis=1) - 1) * discounts).sum(axis=1)
    ndcg = np.where(ideal > 0, dcg / np.where(ideal > 0, ideal, 1), 0.0)
    return {"mrr": float(mrr.mean()), "ndcg": float(ndcg.mean()), "hit_at_1": float((first == 0).mean())}


def score_pairs(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int = 64,
    max_length: int | None = None,
    device: Any = None,
) -> np.ndarray:
    """Relevance logits of (query, candidate) pairs: one tokenizer call (queries truncated first), batches sorted
    by length and padded to their own longest pair."""
    import torch

    if not pairs:
        return np.zeros(0, dtype=np.float32)
    limit = max_length or min(getattr(tokenizer, "model_max_length", 512) or 512, 512)
    enc = tokenizer(
        [q for q, _ in pairs], [c for _, c in pairs], truncation="longest_first", max_length=limit, padding=False
    )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = device or next(model.parameters()).device
    out = np.empty(len(pairs), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        batches = length_sorted_batches(
            enc["input_ids"], enc.get("token_type_ids"), pad_id=pad_id, batch_size=batch_size, device=device
        )
        for idx, _, batch in batches:
            out[idx] = model(**batch).logits.float()[:, 0].cpu().numpy()
    return out


class ListCollator:
    """Pads the pairs of a batch of lists (flattened, lists in order) and stacks their labels ``(lists, size)``."""

    def __init__(self, tokenizer: Any) -> None:
        from transformers import DataCollatorWithPadding

        self.pad = DataCollatorWithPadding(tokenizer)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in features[0]]
        flat = [{k: f[k][j] for k in keys} for f in features for j in range(len(f["input_ids"]))]
        batch = dict(self.pad(flat))
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.float)
        return batch


class Ranking(Task):
    """(query, candidate) pairs -> a relevance score each, trained on lists. Model: a one-output
    ``AutoModelForSequenceClassification`` (a cross-encoder)."""

    name: ClassVar[str] = "ranking"
    auto_class: ClassVar[str] = "AutoModelForSequenceClassification"
    peft_task_type: ClassVar[str | None] = "SEQ_CLS"
    collator_reads_all_columns: ClassVar[bool] = True  # the collator reads the lists' labels
    options_class: ClassVar[type[TaskOptions]] = RankingOptions
    options: RankingOptions
    ordered_evaluation: ClassVar[bool] = True

    # -- data --------------------------------------------------------------------------------------
    def load_data(self, source: str, config: Any, *, limit: int | None = None) -> RankingData:
        data = load_ranking(source, self.options, fmt=config.format, adapters=self.adapters)
        return data if limit is None else data.subset(range(min(limit, len(data))))

    def label_names(self, train: Any, others: Sequence[Any], config: Any, default: Sequence[str] | None) -> list[str]:
        for data in (train, *others):
            if not data.lists(self.options.list_size):
                raise DataError(
                    "no group has both a relevant row and a less relevant one to rank it against",
                    path=data.source,
                    field=self.options.group_column,
                )
        return [RELEVANCE]

    # -- model -------------------------------------------------------------------------------------
    def load_model(self, model: Any, labels: Sequence[str], *, from_scratch: bool = False) -> Any:
        return with_ranking_loss(super().load_model(model, [RELEVANCE], from_scratch=from_scratch), self.options.loss)

    def encode(self, data: RankingData, tokenizer: Any, labels: Sequence[str], max_length: int) -> Any:
        """One example per training list: its pairs tokenized without padding (queries truncated first), its
        labels. Returns (dataset, number of truncated pairs)."""
        import datasets

        lists = data.lists(self.options.list_size)
        flat = [i for idx, _ in lists for i in idx]
        full = tokenizer([data.queries[i] for i in flat], [data.candidates[i] for i in flat], padding=False)
        truncated = sum(len(ids) > max_length for ids in full["input_ids"])
        enc = tokenizer(
            [data.queries[i] for i in flat],
            [data.candidates[i] for i in flat],
            truncation="longest_first",
            max_length=max_length,
            padding=False,
        )
        size = self.options.list_size
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
        columns = {k: [enc[k][n * size : (n + 1) * size] for n in range(len(lists))] for k in keys}
        columns["labels"] = [labs for _, labs in lists]
        return datasets.Dataset.from_dict(columns), truncated

    def collator(self, tokenizer: Any) -> Any:
        return ListCollator(tokenizer)

    def majority_baseline(self, train: Any, data: RankingData, labels: Sequence[str]) -> dict[str, Any]:
        """Metrics of a random order of each list (seed 0): the no-model baseline."""
        lists = data.lists(self.options.list_size)
        rel = np.array([labs for _, labs in lists])
        return group_metrics(np.random.default_rng(0).random(rel.shape), rel)

    def example_classes(self, dataset: Any, labels: Sequence[str]) -> list[int]:
        raise ConfigError("--oversample repeats examples of rare classes; a ranking task has no classes")

    def class_weights(self, dataset: Any, labels: Sequence[str]) -> Any:
        raise ConfigError("--class-weights weighs classes; a ranking task has none (its loss is --loss)")

    # -- evaluation --------------------------------------------------------------------------------
    def metric_names(self, labels: Sequence[str]) -> set[str]:
        return {"loss", "mrr", "ndcg", "hit_at_1"}

    def lower_is_better(self, metric: str) -> bool:
        return metric == "loss"

    def compute_metrics(self, labels: Sequence[str], dataset: Any = None) -> Any:
        def compute(eval_pred: Any) -> dict[str, float]:
            logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
            return group_metrics(np.asarray(logits), np.asarray(eval_pred.label_ids))

        return compute

    def evaluate_output(self, output: Any, labels: Sequence[str], dataset: Any = None) -> dict[str, Any]:
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        metrics: dict[str, Any] = group_metrics(np.asarray(logits), np.asarray(output.label_ids))
        metrics["loss"] = float(output.metrics.get("test_loss", float("nan")))
        metrics["n"] = int(np.asarray(output.label_ids).shape[0])
        return metrics

    def final_metrics(self, references: Any, predictions: Any, labels: Sequence[str]) -> dict[str, Any]:
        return group_metrics(np.asarray(predictions), np.asarray(references))

    def summary(self, metrics: dict[str, Any]) -> str:
        return f"MRR {metrics['mrr']:.4f}  NDCG {metrics['ndcg']:.4f}  hit@1 {metrics['hit_at_1']:.4f}"

    def write_report(self, folder: Path, metrics: dict[str, Any], labels: Sequence[str]) -> list[str]:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ranking_report.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        return ["ranking_report.json"]

    def evaluate(
        self, model: Any, tokenizer: Any, data: RankingData, labels: Sequence[str], **kwargs: Any
    ) -> dict[str, Any]:
        """MRR / NDCG / hit@1 of each group's rows ranked by the model (a group without a relevant row counts 0)."""
        scores = score_pairs(model, tokenizer, list(zip(data.queries, data.candidates)), **kwargs)
        values: dict[str, list[float]] = {"mrr": [], "ndcg": [], "hit_at_1": []}
        members: dict[str, list[int]] = {}
        for i, group in enumerate(data.groups):
            members.setdefault(group, []).append(i)
        for rows in members.values():
            found = group_metrics(scores[rows][None, :], np.array([[data.relevance[r] for r in rows]]))
            for key in values:
                values[key].append(found[key])
        return {**{k: float(np.mean(v)) for k, v in values.items()}, "groups": len(members), "n": len(data)}

    # -- inference ---------------------------------------------------------------------------------
    def predict(self, model: Any, tokenizer: Any, inputs: Sequence[Any], **kwargs: Any) -> list[float]:
        """One relevance logit per ``(query, candidate)`` pair."""
        return [float(s) for s in score_pairs(model, tokenizer, [tuple(p) for p in inputs], **kwargs)]


def train_ranker(
    app: Any,
    *,
    train: str,
    dev: str | None = None,
    overrides: dict[str, Any] | None = None,
    config_file: str | None = None,
    registry: Any = None,
    console: Any = None,
    run_path: Path | None = None,
) -> Path:
    """Train ``app``'s ranking task (an :class:`~tlsuite_core.apps.AppSpec` whose task is ``ranking``) on a ranking
    file through the engine and return the completed run folder: the Python entry for plugins that build the
    training lists themselves (a recommender writes (history, item) lists). ``overrides``: engine options by key
    (``max_steps``, ``strategy``, ``name``...; task options under ``extra``); ``registry``: default, the core's
    own registrations (the ranking task and its model aliases)."""
    from ..plugins import PluginHost
    from ..training.engine import resolve_training_config
    from ..training.engine import train as engine_train

    given = {"train": train, "dev": dev, **(overrides or {})}
    config, _ = resolve_training_config(app, config_file=config_file, overrides=given, resume=None)
    registry = registry if registry is not None else PluginHost(entry_points=[]).registry
    return engine_train(app, config, registry=registry, console=console, run_path=run_path).path
