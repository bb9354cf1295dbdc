"""Token classification: one tag per word (named entities, part of speech, slot filling...).

Words are split into subwords by the model's fast tokenizer (``word_ids()`` maps each subword to its word).
Training labels the first subword of each word and masks the rest with -100 (``label_all_subtokens`` labels every
subword; continuation pieces of a ``B-X`` word get ``I-X``). A sentence longer than the model's window is cut into
overlapping windows (``stride`` subwords shared by neighbours), so nothing is truncated away; every word is owned
by the one window where it sits most central (farthest from a cut edge), and that window alone trains on it, is
scored on it and predicts it. Metrics are seqeval's entity-level precision/recall/F1 (conlleval semantics for IOB2,
seqeval's strict mode for BIOES).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from ..config import LABELLED, TRAIN, TaskOptions, option
from ..data import refuse_unknown
from ..errors import ConfigError, DataError
from ..tagging import (
    TaggedData,
    entity_type,
    label_set,
    load_tagged,
    scheme_of_labels,
    spans,
    split_tag,
    split_words,
    transition_masks,
    viterbi,
)
from .base import Task
from .batching import length_sorted_batches

__all__ = ["Entity", "TokenClassification", "TokenClassificationOptions", "entity_metrics"]


AGGREGATIONS = ("first", "average", "max")
BIG = 1 << 30


@dataclass
class Entity:
    """An entity found in a text: ``text[start:end] == entity.text``."""

    start: int
    end: int
    label: str
    text: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "label": self.label, "text": self.text, "score": self.score}


@dataclass
class TaggedWords:
    """Predicted tags of a word list, with each word's probability of its tag."""

    tags: list[str]
    scores: list[float]


@dataclass
class Window:
    """One model input: a slice of a document's subwords between the tokenizer's special tokens."""

    doc: int
    input_ids: list[int]
    token_type_ids: list[int] | None
    #: owned words: (word index, positions of its subwords in this window; the first is its first subword)
    owned: list[tuple[int, list[int]]]


def make_windows(tokenizer: Any, word_lists: Sequence[Sequence[str]], max_length: int, stride: int) -> list[Window]:
    """Tokenize word lists once (no truncation) and cut each into windows of at most ``max_length`` tokens.

    Neighbouring windows share ``stride`` subwords. Each word with at least one subword is owned by exactly one
    window: among the windows holding its first subword, the one where the word is farthest from a cut edge
    (a document's own start and end are not cuts). Words the tokenizer turns into nothing (zero-width characters,
    soft hyphens) belong to no window and are tagged ``O``.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("token classification needs a fast tokenizer (word_ids / offsets); this model has a slow one")
    if not word_lists:
        return []
    enc = tokenizer(
        [list(w) for w in word_lists], is_split_into_words=True, truncation=False, padding=False, verbose=False
    )
    all_types = enc.get("token_type_ids")
    out: list[Window] = []
    for d in range(len(word_lists)):
        ids = enc["input_ids"][d]
        wids = enc.word_ids(d)
        content = [i for i, w in enumerate(wids) if w is not None]
        if not content:
            continue
        first, last = content[0], content[-1]
        prefix, suffix = ids[:first], ids[last + 1 :]
        types = all_types[d] if all_types is not None else None
        body, body_words = ids[first : last + 1], wids[first : last + 1]
        room = max_length - len(prefix) - len(suffix)
        if room < 2:
            raise ConfigError(f"--max-length {max_length} leaves no room for words after the special tokens")
        overlap = max(0, min(stride, room // 2))
        step = room - overlap
        n = len(body)
        starts = [0]
        while starts[-1] + room < n:
            starts.append(starts[-1] + step)
        word_first: dict[int, int] = {}
        word_last: dict[int, int] = {}
        for j, w in enumerate(body_words):
            if w is None:
                continue
            word_first.setdefault(w, j)
            word_last[w] = j
        owned: list[list[tuple[int, list[int]]]] = [[] for _ in starts]
        for w, f in word_first.items():
            best, best_score = 0, -1
            k0 = max(0, (f - room) // step)
            for k in range(k0, len(starts)):
                a = starts[k]
                if a > f:
                    break
                b = min(a + room, n)
                if f >= b:
                    continue
                left = f - a if a > 0 else BIG
                right = (b - 1) - word_last[w] if b < n else BIG
                score = min(left, right)
                if score > best_score:
                    best, best_score = k, score
            a, b = starts[best], min(starts[best] + room, n)
            positions = [len(prefix) + j - a for j in range(f, min(word_last[w] + 1, b)) if body_words[j] == w]
            owned[best].append((w, positions))
        for k, a in enumerate(starts):
            b = min(a + room, n)
            window_types = None
            if types is not None:
                window_types = types[:first] + types[first + a : first + b] + types[last + 1 :]
            out.append(Window(d, prefix + body[a:b] + suffix, window_types, sorted(owned[k])))
    return out


def document_units(
    word_lists: Sequence[Sequence[str]], docs: Sequence[int] | None
) -> tuple[list[list[str]], list[list[int]]]:
    """Consecutive sentences of one document joined into one word list (``docs``: the document of each
    sentence; ``None``: every sentence stands alone). Returns the units and, per unit, its sentences' lengths."""
    units: list[list[str]] = []
    lengths: list[list[int]] = []
    for i, words in enumerate(word_lists):
        if units and docs is not None and docs[i] == docs[i - 1]:
            units[-1].extend(words)
            lengths[-1].append(len(words))
        else:
            units.append(list(words))
            lengths.append([len(words)])
    return units, lengths


def split_units(values: Sequence[Sequence[Any]], lengths: Sequence[Sequence[int]]) -> list[list[Any]]:
    """Undo :func:`document_units` on per-word values."""
    out: list[list[Any]] = []
    for unit, parts in zip(values, lengths):
        start = 0
        for n in parts:
            out.append(list(unit[start : start + n]))
            start += n
    return out


def forward_windows(
    model: Any, tokenizer: Any, windows: Sequence[Window], *, batch_size: int = 32, device: Any = None
) -> list[np.ndarray]:
    """Label probabilities ``[len, num_labels]`` of each window: batches sorted by length, padded per batch."""
    import torch

    out: list[np.ndarray] = [np.zeros((0, 0), dtype=np.float32)] * len(windows)
    if not windows:
        return out
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = device or next(model.parameters()).device
    types = [w.token_type_ids for w in windows] if windows[0].token_type_ids is not None else None
    model.eval()
    with torch.inference_mode():
        batches = length_sorted_batches(
            [w.input_ids for w in windows], types, pad_id=pad_id, batch_size=batch_size, device=device
        )
        for idx, lengths, batch in batches:
            probs = torch.softmax(model(**batch).logits.float(), dim=-1).cpu().numpy()
            for row, (i, n) in enumerate(zip(idx, lengths)):
                out[i] = probs[row, : int(n)]
    return out


def aggregate(probs: np.ndarray, positions: Sequence[int], how: str) -> np.ndarray:
    """A word's label distribution from its subwords' (``first`` / ``average`` / ``max``, as in transformers'
    token-classification pipeline: ``max`` takes the distribution of the subword with the highest score)."""
    if how == "first" or len(positions) == 1:
        return probs[positions[0]]
    rows = probs[list(positions)]
    if how == "average":
        return rows.mean(axis=0)
    return rows[int(rows.max(axis=1).argmax())]


def entity_metrics(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], scheme: str) -> dict[str, Any]:
    """seqeval entity-level metrics (strict for BIOES, conlleval otherwise) plus the most frequent confusions.

    Stable keys: ``precision``, ``recall``, ``f1`` (micro), ``macro_precision``, ``macro_recall``, ``macro_f1``,
    ``weighted_f1``, ``accuracy`` (per word), ``n`` (sentences), ``words``, ``per_type`` (type ->
    precision/recall/f1/support), ``confusions`` (most frequent word-level type mix-ups), ``confusion_matrix``.
    """
    from seqeval.metrics import accuracy_score, classification_report

    y_true = [list(t) for t in y_true]
    y_pred = [list(p) for p in y_pred]
    strict = scheme == "BIOES"
    kwargs: dict[str, Any] = {}
    if strict:
        from seqeval.scheme import IOBES

        kwargs = {"mode": "strict", "scheme": IOBES}
    has_entities = any(entity_type(t) for seq in (*y_true, *y_pred) for t in seq)
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0, **kwargs) if has_entities else {}
    zero = {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0}
    micro = report.pop("micro avg", zero)
    macro = report.pop("macro avg", zero)
    weighted = report.pop("weighted avg", zero)
    per_type = {
        kind: {
            "precision": float(v["precision"]),
            "recall": float(v["recall"]),
            "f1": float(v["f1-score"]),
            "support": int(v["support"]),
        }
        for kind, v in sorted(report.items())
    }
    types = sorted({k for seq in (*y_true, *y_pred) for k in map(entity_type, seq) if k} | set(per_type))
    names = [*types, "O"]
    index = {k: i for i, k in enumerate(names)}
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    for t_seq, p_seq in zip(y_true, y_pred):
        for t, p in zip(t_seq, p_seq):
            matrix[index[entity_type(t) or "O"], index[entity_type(p) or "O"]] += 1
    mixups = Counter(
        {
            (names[i], names[j]): int(matrix[i, j])
            for i in range(len(names))
            for j in range(len(names))
            if i != j and matrix[i, j]
        }
    )
    return {
        "n": len(y_true),
        "words": int(sum(len(t) for t in y_true)),
        "scheme": scheme,
        "mode": "strict" if strict else "conlleval",
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        "macro_precision": float(macro["precision"]),
        "macro_recall": float(macro["recall"]),
        "macro_f1": float(macro["f1-score"]),
        "weighted_f1": float(weighted["f1-score"]),
        "accuracy": float(accuracy_score(y_true, y_pred)) if y_true else 0.0,
        "per_type": per_type,
        "confusions": [{"true": t, "predicted": p, "words": c} for (t, p), c in mixups.most_common(10)],
        "confusion_matrix": {"labels": names, "matrix": matrix.tolist()},
    }


CONTEXTS = ("sentence", "document")
#: per-word argmax, or the most probable tag sequence the scheme allows (no I-X after O: constrained Viterbi)
DECODERS = ("viterbi", "argmax")


def decode_tags(scores: np.ndarray, labels: Sequence[str], how: str, masks: Any = None) -> list[int]:
    """Label ids of a word sequence from per-word scores ``[T, L]`` (probabilities or logits)."""
    if how == "argmax" or len(scores) == 0:
        return [int(x) for x in scores.argmax(-1)] if len(scores) else []
    masks = masks or transition_masks(labels)
    shifted = scores - scores.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return viterbi(log_probs, *masks)


def _scheme(value: Any) -> str:
    """A tagging scheme name as given (``iob2``, ``IOBES``) in its canonical form (``IOB2``, ``BIOES``, ``auto``)."""
    upper = str(value).upper()
    if upper == "IOBES":
        upper = "BIOES"
    if upper not in ("AUTO", "IOB1", "IOB2", "BIOES"):
        raise ConfigError(f"--scheme {value}: expected auto, IOB1, IOB2 or BIOES")
    return upper.lower() if upper == "AUTO" else upper


@dataclass
class TokenClassificationOptions(TaskOptions):
    """The token-classification task's options (``extra`` in a configuration)."""

    task: ClassVar[str] = "token-classification"
    panel: ClassVar[str | None] = "Data"
    commands: ClassVar[tuple[str, ...]] = LABELLED
    scheme: str = option(
        "auto", normalise=_scheme, help="Tagging scheme of the files: auto, IOB1, IOB2, BIOES (default: auto-detect)."
    )
    repair_tags: bool = option(
        False,
        flags=("--repair-tags",),
        help="Rewrite tag sequences that break the scheme (as conlleval reads them) instead of failing.",
    )
    label_all_subtokens: bool = option(
        False,
        flags=("--label-all-subtokens",),
        commands=(TRAIN,),
        help="Train on every subword of a word, not only the first.",
    )
    stride: int | None = option(
        None,
        commands=(TRAIN,),
        ge=0,
        help="Subwords shared by neighbouring windows of a sentence longer than --max-length (default: a quarter of it).",
    )
    context: str = option(
        "sentence",
        choices=CONTEXTS,
        help="sentence | document: read each sentence alone, or with the rest of its document (CoNLL -DOCSTART-) as context.",
    )
    decode: str = option(
        "viterbi",
        choices=DECODERS,
        commands=(),
        help="viterbi | argmax: the best tag sequence the scheme allows (no I-X after O), or each word's most probable tag.",
    )


class TokenClassification(Task):
    """Word lists -> one tag each. Model: ``AutoModelForTokenClassification``; data: tokens + tags, or text + spans.

    Options: :class:`TokenClassificationOptions` (the tagging scheme of the input files, tag repair, which subwords
    are trained, the window stride, sentence or document context, the decoder).
    """

    name: ClassVar[str] = "token-classification"
    auto_class: ClassVar[str] = "AutoModelForTokenClassification"
    ordered_evaluation: ClassVar[bool] = True
    windows_at_model_limit: ClassVar[bool] = True
    peft_task_type: ClassVar[str | None] = "TOKEN_CLS"
    options_class: ClassVar[type[TaskOptions]] = TokenClassificationOptions
    options: TokenClassificationOptions

    def use(self, options: TokenClassificationOptions) -> None:
        """Take ``options`` (the task reads them as its attributes: ``self.stride``, ``self.decode``...)."""
        self.scheme, self.repair_tags, self.label_all_subtokens = (
            options.scheme,
            options.repair_tags,
            options.label_all_subtokens,
        )
        self.stride, self.context, self.decode = options.stride, options.context, options.decode

    def _units(self, data: TaggedData) -> tuple[list[list[str]], list[list[str]], list[list[int]]]:
        """Word lists the model reads: sentences, or (``context: document``) whole documents, so each sentence is
        read with its neighbours as context (Schweter & Akbik 2020, FLERT) at no extra compute; tags and scores
        are split back into sentences afterwards."""
        docs = data.docs if self.context == "document" else None
        units, lengths = document_units(data.tokens, docs)
        tags, _ = document_units(data.tags, docs)
        return units, tags, lengths

    # -- data --------------------------------------------------------------------------------------
    def load_data(self, source: str, config: Any, *, limit: int | None = None) -> TaggedData:
        columns = {"tokens_column": config.text_col, "tags_column": config.label_col}
        return load_tagged(
            source, **columns, scheme=self.scheme, repair=self.repair_tags, limit=limit, **self.reading(config)
        )

    def label_names(
        self, train: TaggedData, others: Sequence[TaggedData], config: Any, default: Sequence[str] | None
    ) -> list[str]:
        types = train.types()
        if not types:
            raise DataError(
                "no entities in the training data (every tag is O)", path=train.source, field=train.tags_column
            )
        scheme = train.scheme
        for data in others:
            check_known_types(data, types, f"the training data ({train.source})")
        if config.labels:
            labels = list(config.labels)
            if "O" not in labels:
                raise ConfigError("--labels must include O")
            for data in (train, *others):
                check_known_tags(data.converted(scheme), labels, "--labels")
            return labels
        return label_set(types, scheme)

    # -- model -------------------------------------------------------------------------------------
    def _window_settings(self, tokenizer: Any, max_length: int, stride: int | None) -> tuple[int, int]:
        limit = getattr(tokenizer, "model_max_length", None)
        if isinstance(limit, int) and 0 < limit < 100_000:
            max_length = min(max_length, limit)
        return max_length, (max_length // 4 if stride is None else stride)

    def encode(self, data: TaggedData, tokenizer: Any, labels: Sequence[str], max_length: int) -> Any:
        """Windows with labels on owned words; returns (dataset, 0): long sentences are windowed, never cut.

        Besides the model inputs, the dataset keeps ``sentence``, ``window`` (its index in the sentence) and
        ``word_mask`` (1 where a word is scored), which the Trainer drops before batching and the metrics use to put
        words back into sentences. Windows are stored longest first, so in-order evaluation pads little.
        """
        import datasets

        scheme = scheme_of_labels(labels)
        data = data.converted(scheme)
        check_known_tags(data, labels, "the model's labels")
        label2id = {label: i for i, label in enumerate(labels)}
        inside = {
            i: label2id.get(f"I-{split_tag(label)[1]}", i)
            for i, label in enumerate(labels)
            if split_tag(label)[0] == "B"
        }
        max_length, stride = self._window_settings(tokenizer, max_length, self.stride)
        units, unit_tags, lengths = self._units(data)
        windows = make_windows(tokenizer, units, max_length, stride)
        index_in_doc: list[int] = []
        for i, window in enumerate(windows):
            index_in_doc.append(index_in_doc[-1] + 1 if i and windows[i - 1].doc == window.doc else 0)
        order = sorted(range(len(windows)), key=lambda i: -len(windows[i].input_ids))
        columns: dict[str, list[Any]] = {
            "input_ids": [],
            "attention_mask": [],
            "labels": [],
            "sentence": [],
            "window": [],
            "word_mask": [],
            "parts": [],
        }
        if windows and windows[0].token_type_ids is not None:
            columns["token_type_ids"] = []
        for i in order:
            window = windows[i]
            n = len(window.input_ids)
            target = [-100] * n
            mask = [0] * n
            tags = unit_tags[window.doc]
            for w, positions in window.owned:
                label = label2id[tags[w]]
                target[positions[0]] = label
                mask[positions[0]] = 1
                if self.label_all_subtokens:
                    for p in positions[1:]:
                        target[p] = inside.get(label, label)
            columns["input_ids"].append(window.input_ids)
            columns["attention_mask"].append([1] * n)
            columns["labels"].append(target)
            columns["sentence"].append(window.doc)
            columns["window"].append(index_in_doc[i])
            columns["word_mask"].append(mask)
            columns["parts"].append(lengths[window.doc])
            if "token_type_ids" in columns:
                columns["token_type_ids"].append(window.token_type_ids)
        return datasets.Dataset.from_dict(columns), 0

    def collator(self, tokenizer: Any) -> Any:
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer)

    def majority_baseline(self, train: TaggedData, data: TaggedData, labels: Sequence[str]) -> dict[str, Any]:
        """Every word tagged ``O`` (the most frequent tag): entity scores 0, token accuracy the ``O`` share."""
        data = data.converted(scheme_of_labels(labels))
        return self.final_metrics(data.tags, [["O"] * len(tags) for tags in data.tags], labels)

    def example_classes(self, dataset: Any, labels: Sequence[str]) -> list[int]:
        """A window's class is the rarest entity type it contains (``O``-only windows: the ``O`` class), so
        ``--oversample`` repeats windows with rare entity types."""
        types = [split_tag(label)[1] for label in labels]
        rows = [{types[x] for x in row if x != -100 and types[x]} for row in dataset["labels"]]
        freq = Counter(t for row in rows for t in row)
        ids = {t: i for i, t in enumerate(sorted(freq), start=1)}
        return [ids[min(row, key=lambda t: (freq[t], t))] if row else 0 for row in rows]

    def class_weights(self, dataset: Any, labels: Sequence[str]) -> Any:
        import torch

        flat = torch.tensor([x for row in dataset["labels"] for x in row if x != -100], dtype=torch.long)
        counts = torch.bincount(flat, minlength=len(labels)).float()
        return counts.sum() / (len(labels) * counts.clamp(min=1))

    # -- evaluation --------------------------------------------------------------------------------
    def metric_names(self, labels: Sequence[str]) -> set[str]:
        base = {
            "loss",
            "f1",
            "precision",
            "recall",
            "macro_f1",
            "macro_precision",
            "macro_recall",
            "weighted_f1",
            "accuracy",
        }
        return base | {f"f1_{kind}" for kind in {entity_type(label) for label in labels} if kind}

    def _sentences(
        self, logits: np.ndarray, label_ids: np.ndarray, dataset: Any, labels: Sequence[str]
    ) -> tuple[list[list[str]], list[list[str]]]:
        """Gold and predicted tags per sentence: windows put back together, units split into sentences, and each
        sentence decoded as a whole (:data:`DECODERS`)."""
        if dataset is None:
            raise ConfigError("token-classification metrics need the evaluated dataset")
        parts: dict[int, list[tuple[int, list[str], np.ndarray]]] = {}
        for i, (doc, k, mask) in enumerate(zip(dataset["sentence"], dataset["window"], dataset["word_mask"])):
            positions = np.flatnonzero(np.asarray(mask))
            gold = [labels[int(x)] for x in label_ids[i, positions]]
            parts.setdefault(doc, []).append((k, gold, np.asarray(logits[i, positions], dtype=np.float32)))
        units = sorted(parts)
        golds: list[list[str]] = []
        scores: list[np.ndarray] = []
        for doc in units:
            windows = sorted(parts[doc], key=lambda part: part[0])
            golds.append([tag for _, gold, _ in windows for tag in gold])
            scores.append(
                np.concatenate([s for _, _, s in windows]) if windows else np.zeros((0, len(labels)), dtype=np.float32)
            )
        if "parts" in dataset.column_names:  # units of several sentences: score sentence by sentence
            lengths = dict(zip(dataset["sentence"], dataset["parts"]))
            order = [lengths[doc] for doc in units]
            golds = split_units(golds, order)
            scores = [np.asarray(s).reshape(-1, len(labels)) for s in split_units(scores, order)]
        masks = transition_masks(labels)
        preds = [[labels[j] for j in decode_tags(np.asarray(s), labels, self.decode, masks)] for s in scores]
        return golds, preds

    def compute_metrics(self, labels: Sequence[str], dataset: Any = None) -> Any:
        scheme = scheme_of_labels(labels)

        def compute(eval_pred: Any) -> dict[str, float]:
            logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
            y_true, y_pred = self._sentences(logits, eval_pred.label_ids, dataset, labels)
            return flatten(entity_metrics(y_true, y_pred, scheme))

        return compute

    def evaluate_output(self, output: Any, labels: Sequence[str], dataset: Any = None) -> dict[str, Any]:
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        y_true, y_pred = self._sentences(logits, output.label_ids, dataset, labels)
        metrics = entity_metrics(y_true, y_pred, scheme_of_labels(labels))
        metrics["loss"] = float(output.metrics.get("test_loss", float("nan")))
        return metrics

    def final_metrics(self, references: Any, predictions: Any, labels: Sequence[str]) -> dict[str, Any]:
        """``references`` / ``predictions``: tag sequences (one list of tags per sentence)."""
        return entity_metrics(references, predictions, scheme_of_labels(labels))

    def summary(self, metrics: dict[str, Any]) -> str:
        return (
            f"entity F1 {metrics['f1']:.4f}  precision {metrics['precision']:.4f}  recall {metrics['recall']:.4f}  "
            f"macro-F1 {metrics['macro_f1']:.4f}  ({metrics['mode']}, n={metrics['n']} sentences)"
        )

    def write_report(self, folder: Path, metrics: dict[str, Any], labels: Sequence[str]) -> list[str]:
        from ..training.report import confusion_matrix_png

        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ner_report.txt").write_text(format_report(metrics), encoding="utf-8")
        (folder / "ner_report.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        confusion_matrix_png(folder / "confusion_matrix.png", metrics["confusion_matrix"])
        return ["ner_report.txt", "ner_report.json", "confusion_matrix.png"]

    def evaluate(
        self, model: Any, tokenizer: Any, data: TaggedData, labels: Sequence[str], **kwargs: Any
    ) -> dict[str, Any]:
        """Metrics of a trained model on tagged data (tags converted to the model's scheme)."""
        data = data.converted(scheme_of_labels(labels))
        check_known_tags(data, labels, "the model")
        predicted = self.tag(model, tokenizer, data.tokens, docs=data.docs, **kwargs)
        return self.final_metrics(data.tags, [p.tags for p in predicted], labels)

    # -- inference ---------------------------------------------------------------------------------
    def inference_options(self, record: dict[str, Any]) -> dict[str, Any]:
        extra = (record.get("config") or {}).get("extra") or {}
        options = TokenClassificationOptions.of(extra, strict=False)
        return {k: getattr(options, k) for k in ("stride", "context", "decode") if extra.get(k) is not None}

    def tag(
        self,
        model: Any,
        tokenizer: Any,
        word_lists: Sequence[Sequence[str]],
        *,
        batch_size: int = 32,
        max_length: int = 256,
        stride: int | None = None,
        aggregation: str = "first",
        device: Any = None,
        docs: Sequence[int] | None = None,
        context: str = "sentence",
        decode: str | None = None,
    ) -> list[TaggedWords]:
        """Tags for pre-split words (CoNLL input), each word's subwords aggregated ``first``/``average``/``max``.

        ``context="document"`` with ``docs`` (each sentence's document) reads consecutive sentences of a document
        together, as a run trained with that context did."""
        if aggregation not in AGGREGATIONS:
            raise ConfigError(f"aggregation {aggregation!r}: expected one of {', '.join(AGGREGATIONS)}")
        if context == "document" and docs is not None and len(docs) == len(word_lists):
            units, lengths = document_units(word_lists, docs)
            dists, seen = self._word_distributions(
                model,
                tokenizer,
                units,
                batch_size=batch_size,
                max_length=max_length,
                stride=stride,
                aggregation=aggregation,
                device=device,
            )
            n = int(model.config.num_labels)
            dists = [np.asarray(d).reshape(-1, n) for d in split_units(dists, lengths)]
            seen = [np.asarray(m, dtype=bool) for m in split_units(seen, lengths)]
            return self._decode_words(model, dists, seen, decode)
        dists, seen = self._word_distributions(
            model,
            tokenizer,
            word_lists,
            batch_size=batch_size,
            max_length=max_length,
            stride=stride,
            aggregation=aggregation,
            device=device,
        )
        return self._decode_words(model, dists, seen, decode)

    def _word_distributions(
        self,
        model: Any,
        tokenizer: Any,
        word_lists: Sequence[Sequence[str]],
        *,
        batch_size: int,
        max_length: int,
        stride: int | None,
        aggregation: str,
        device: Any,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each word's label distribution (``[words, labels]`` per list; words the tokenizer drops are one-hot O)."""
        max_length, stride = self._window_settings(tokenizer, max_length, stride)
        windows = make_windows(tokenizer, word_lists, max_length, stride)
        probs = forward_windows(model, tokenizer, windows, batch_size=batch_size, device=device)
        n_labels = int(model.config.num_labels)
        outside = [i for i, label in model.config.id2label.items() if label == "O"]
        dists = []
        for words in word_lists:
            d = np.zeros((len(words), n_labels), dtype=np.float32)
            if outside:
                d[:, outside[0]] = 1.0
            dists.append(d)
        seen = [np.zeros(len(words), dtype=bool) for words in word_lists]
        for window, p in zip(windows, probs):
            for w, positions in window.owned:
                dists[window.doc][w] = aggregate(p, positions, aggregation)
                seen[window.doc][w] = True
        return dists, seen

    def _decode_words(
        self, model: Any, dists: Sequence[np.ndarray], seen: Sequence[np.ndarray], decode: str | None
    ) -> list[TaggedWords]:
        id2label = model.config.id2label
        labels = [id2label[i] for i in range(len(id2label))]
        how = decode or self.decode
        masks = transition_masks(labels) if how == "viterbi" else None
        results = []
        for d, mask in zip(dists, seen):
            if how == "viterbi" and not mask.all():
                # a word the tokenizer drops says nothing: a (near) uniform row lets its neighbours decide: inside
                # an entity it continues it, elsewhere it is O (O comes first among equal scores)
                d = d.copy()
                row = np.full(d.shape[1], 1.0 / d.shape[1], dtype=d.dtype)
                row[[i for i, label in enumerate(labels) if label.startswith("I-")]] *= 1.001  # ties: continue
                d[~mask] = row
            ids = decode_tags(np.log(np.clip(d, 1e-12, None)), labels, how, masks)
            result = TaggedWords([labels[i] for i in ids], [float(d[w, i]) for w, i in enumerate(ids)])
            if how == "viterbi":
                for w in np.flatnonzero(~mask):
                    prev = next((j for j in range(w - 1, -1, -1) if mask[j]), None)
                    result.scores[w] = result.scores[prev] if prev is not None and result.tags[w] != "O" else 1.0
            else:
                _bridge_invisible_words(result, mask)
            results.append(result)
        return results

    def predict(self, model: Any, tokenizer: Any, inputs: Sequence[str], **kwargs: Any) -> list[list[Entity]]:
        """Entities of each raw text, with character offsets into it (``text[start:end] == entity.text``)."""
        words = [split_words(text) for text in inputs]
        tagged = self.tag(model, tokenizer, [[w for w, _, _ in ws] for ws in words], **kwargs)
        out: list[list[Entity]] = []
        for text, ws, result in zip(inputs, words, tagged):
            entities = []
            for kind, first, last in spans(result.tags):
                start, end = ws[first][1], ws[last][2]
                score = float(np.mean(result.scores[first : last + 1]))
                entities.append(Entity(start, end, kind, text[start:end], score))
            out.append(entities)
        return out


def _bridge_invisible_words(result: TaggedWords, seen: np.ndarray) -> None:
    """Words the tokenizer turns into nothing (zero-width characters) are invisible to the model: inside an entity
    (the next visible word continues the previous one's entity) they continue it, elsewhere they are ``O``."""
    n = len(result.tags)
    for i in np.flatnonzero(~seen):
        prev = next((j for j in range(i - 1, -1, -1) if seen[j]), None)
        nxt = next((j for j in range(i + 1, n) if seen[j]), None)
        if prev is None or nxt is None:
            continue
        (p_prefix, p_kind), (n_prefix, n_kind) = split_tag(result.tags[prev]), split_tag(result.tags[nxt])
        if p_kind is not None and p_kind == n_kind and p_prefix in ("B", "I") and n_prefix in ("I", "E"):
            result.tags[i] = f"I-{p_kind}"
            result.scores[i] = result.scores[prev]


def flatten(metrics: dict[str, Any]) -> dict[str, float]:
    """Scalars for the Trainer's logs and model selection: top-level numbers plus ``f1_<TYPE>``."""
    flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k not in ("n", "words")}
    for kind, values in metrics.get("per_type", {}).items():
        flat[f"f1_{kind}"] = values["f1"]
    return flat


def check_known_types(data: TaggedData, types: set[str], where: str) -> None:
    """Every entity type in ``data`` must occur in training."""
    for tags, lines in zip(data.tags, data.token_lines):
        for tag, line in zip(tags, lines):
            kind = entity_type(tag)
            if kind and kind not in types:
                raise DataError(
                    f"tag {tag!r}: entity type {kind!r} never occurs in {where}; types there: {', '.join(sorted(types))}",
                    path=data.source,
                    line=line,
                    field=data.tags_column,
                )


def check_known_tags(data: TaggedData, labels: Sequence[str], where: str) -> None:
    found = ((tag, line) for tags, lines in zip(data.tags, data.token_lines) for tag, line in zip(tags, lines))
    refuse_unknown(found, labels, what="tag", where=where, source=data.source, field=data.tags_column)


def format_report(metrics: dict[str, Any]) -> str:
    lines = [
        f"entity-level scores ({metrics['mode']}, {metrics['scheme']}; {metrics['n']} sentences, {metrics['words']} words)",
        "",
    ]
    lines.append(f"{'type':<24}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for kind, v in metrics["per_type"].items():
        lines.append(f"{kind:<24}{v['precision']:>10.4f}{v['recall']:>10.4f}{v['f1']:>10.4f}{v['support']:>10}")
    support = sum(v["support"] for v in metrics["per_type"].values())
    lines.append("")
    lines.append(
        f"{'micro avg':<24}{metrics['precision']:>10.4f}{metrics['recall']:>10.4f}{metrics['f1']:>10.4f}{support:>10}"
    )
    lines.append(
        f"{'macro avg':<24}{metrics['macro_precision']:>10.4f}{metrics['macro_recall']:>10.4f}{metrics['macro_f1']:>10.4f}{support:>10}"
    )
    lines.append(f"{'word accuracy':<24}{'':>20}{metrics['accuracy']:>10.4f}{metrics['words']:>10}")
    if metrics["confusions"]:
        lines += ["", "most frequent confusions (words; true -> predicted):"]
        lines += [f"  {c['true']:>12} -> {c['predicted']:<12}{c['words']:>8}" for c in metrics["confusions"]]
    return "\n".join(lines) + "\n"
