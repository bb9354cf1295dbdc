"""Language modelling on unlabelled text: domain-adaptive continued pretraining (``tlsuite pretrain``).

Encoders train a masked-LM objective (BERT-style 80/10/10 masking of 15 % of tokens; whole-word masking by
default: every subword of a chosen word is masked together), decoders a causal-LM objective. The output run
folder's ``model/`` is a plain ``transformers`` folder that every app takes as ``--model``; the task head an app
needs is added (and the language-model head dropped) when it loads.

Corpus formats: ``.txt`` (one text per line; blank lines separate nothing and are counted, not read), or CSV/TSV/JSONL
with a text column. Every text is one training example (length-grouped, padded per batch); longer texts are
truncated at ``--max-length`` and counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

from ..config import PRETRAIN, TaskOptions, option
from ..data import TEXT_COLUMNS, Examples, fingerprint, pick_column, read_table
from ..errors import ConfigError, DataError
from .base import Task


@dataclass
class Corpus(Examples):
    """Unlabelled texts from one file, with their line numbers."""

    ROW_FIELDS: ClassVar[tuple[str, ...]] = ("texts", "lines")

    source: str
    texts: list[str]
    lines: list[int]
    fingerprint: str
    blank_lines: int = 0
    skipped: list[Any] = field(default_factory=list)
    format: str = "txt"

    def summary(self) -> dict[str, Any]:
        return {"blank_lines": self.blank_lines, "characters": sum(len(t) for t in self.texts)}

    def _joined_extra(self, other: Corpus) -> dict[str, Any]:
        return {"blank_lines": self.blank_lines + other.blank_lines}


def read_corpus(source: str, text_column: str | None = None, fmt: str | None = None, adapters: Any = None) -> Corpus:
    """Read a corpus file; fail (file and line) on undecodable bytes or a row without text. ``adapters`` as for
    :func:`tlsuite_core.data.read_table`."""
    path = Path(source)
    if (fmt in (None, "txt")) and path.suffix.lower() in (".txt", ".text", ""):
        if not path.is_file():
            raise DataError("file not found", path=path)
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise DataError(f"bytes at offset {exc.start} are not valid UTF-8", path=path, line=line) from None
        texts, lines, blank = [], [], 0
        for number, line_text in enumerate(text.split("\n"), start=1):
            stripped = line_text.strip()
            if stripped:
                texts.append(stripped)
                lines.append(number)
            elif number < text.count("\n") + 1:
                blank += 1
        if not texts:
            raise DataError("no text (every line is empty)", path=path)
        return Corpus(str(path), texts, lines, fingerprint(raw), blank)
    table = read_table(source, fmt, adapters)
    column = pick_column(table, text_column, TEXT_COLUMNS, "text", "--text-col")
    texts, lines = [], []
    for row, line in zip(table.rows, table.lines):
        value = row.get(column)
        if not isinstance(value, str) or not value.strip():
            raise DataError("empty text", path=table.source, line=line, field=column)
        texts.append(value.strip())
        lines.append(line)
    if not texts:
        raise DataError("no data rows", path=table.source)
    return Corpus(table.source, texts, lines, table.fingerprint, format=table.format)


def _collator_class() -> Any:
    from transformers import DataCollatorForLanguageModeling

    class WholeWordMaskCollator(DataCollatorForLanguageModeling):
        """``DataCollatorForLanguageModeling`` whose whole-word masking gets its word boundaries from the
        tokenizer's character offsets, padded per batch here (the parent pads every other field)."""

        def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
            import torch

            if "labels" in examples[0]:  # masked once already (the dev set): pad only
                labels = [e.pop("labels") for e in examples]
                for e in examples:
                    e.pop("offset_mapping", None)
                    e.pop("special_tokens_mask", None)
                batch = self.tokenizer.pad(examples, return_tensors="pt", pad_to_multiple_of=self.pad_to_multiple_of)
                width = batch["input_ids"].shape[1]
                batch["labels"] = torch.full((len(labels), width), -100, dtype=torch.long)
                for i, row in enumerate(labels):
                    batch["labels"][i, : len(row)] = torch.tensor(row, dtype=torch.long)
                return batch
            offsets = [e.pop("offset_mapping") for e in examples] if "offset_mapping" in examples[0] else None
            batch = self.tokenizer.pad(examples, return_tensors="pt", pad_to_multiple_of=self.pad_to_multiple_of)
            special = batch.pop("special_tokens_mask", None)
            padded = None
            if offsets is not None:
                width = batch["input_ids"].shape[1]
                padded = torch.zeros((len(offsets), width, 2), dtype=torch.long)
                for i, row in enumerate(offsets):
                    padded[i, : len(row)] = torch.tensor(row, dtype=torch.long).view(-1, 2)
            batch["input_ids"], batch["labels"] = self.torch_mask_tokens(
                batch["input_ids"], special_tokens_mask=special, offset_mapping=padded
            )
            return batch

    return WholeWordMaskCollator


@dataclass
class LanguageModelingOptions(TaskOptions):
    """The language-modeling task's options (``tlsuite pretrain``; ``extra`` in a configuration)."""

    task: ClassVar[str] = "language-modeling"
    panel: ClassVar[str | None] = "Objective"
    commands: ClassVar[tuple[str, ...]] = (PRETRAIN,)
    objective: str = option(
        "auto", choices=("auto", "mlm", "clm"), help="auto | mlm | clm (auto: masked LM when the architecture has one)."
    )
    mlm_probability: float = option(0.15, gt=0, lt=1, help="Share of tokens (words, with whole-word masking) masked.")
    whole_word_mask: bool = option(
        True, flags=("--no-whole-word-mask",), help="Mask subwords independently (BERT's original masking)."
    )


class LanguageModeling(Task):
    """Unlabelled texts -> a language model of the same architecture (masked LM or causal LM).

    Options: :class:`LanguageModelingOptions` (the objective, the masking share, whole-word masking).
    """

    name: ClassVar[str] = "language-modeling"
    auto_class: ClassVar[str] = "AutoModelForMaskedLM"
    loss_only_evaluation: ClassVar[bool] = True
    collator_reads_all_columns: ClassVar[bool] = True
    options_class: ClassVar[type[TaskOptions]] = LanguageModelingOptions
    options: LanguageModelingOptions

    def use(self, options: LanguageModelingOptions) -> None:
        """Take ``options`` (read as the task's attributes: ``self.objective``...)."""
        self.objective, self.mlm_probability, self.whole_word_mask = (
            options.objective,
            options.mlm_probability,
            options.whole_word_mask,
        )

    def resolve_objective(self, model_path: Path) -> str:
        if self.objective != "auto":
            return self.objective
        from transformers import AutoConfig
        from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

        config = AutoConfig.from_pretrained(str(model_path))
        return (
            "mlm"
            if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False)
            else "clm"
        )

    def model_class(self) -> Any:
        import transformers

        return transformers.AutoModelForCausalLM if self.objective == "clm" else transformers.AutoModelForMaskedLM

    # -- data --------------------------------------------------------------------------------------
    def load_data(self, source: str, config: Any, *, limit: int | None = None) -> Corpus:
        return read_corpus(source, config.text_col, config.format, self.adapters)

    def label_names(self, train: Any, others: Sequence[Any], config: Any, default: Sequence[str] | None) -> list[str]:
        return []

    def load_model(self, model: Any, labels: Sequence[str], *, from_scratch: bool = False) -> Any:
        from ..models import load_model, random_model

        self.objective = self.resolve_objective(model.path)
        if from_scratch:
            self.load_notes = []
            return random_model(model, self.model_class())
        loaded, info = load_model(model, self.model_class(), trainable_start=True, output_loading_info=True)
        new = sorted(info.get("missing_keys", []))
        self.load_notes = (
            [
                f"{len(new)} weights of the {self.objective.upper()} head are not in the checkpoint and start random: "
                + ", ".join(new[:4])
                + (" ..." if len(new) > 4 else "")
            ]
            if new
            else []
        )
        return loaded

    def encode(self, data: Corpus, tokenizer: Any, labels: Sequence[str], max_length: int) -> Any:
        import datasets

        if self.objective == "mlm" and tokenizer.mask_token is None:
            raise ConfigError("this tokenizer has no mask token: a masked-LM objective needs one (use --objective clm)")
        wwm = self.objective == "mlm" and self.whole_word_mask
        enc = tokenizer(
            data.texts,
            truncation=True,
            max_length=max_length,
            return_special_tokens_mask=True,
            return_offsets_mapping=wwm,
        )
        full = tokenizer(data.texts, truncation=False, add_special_tokens=True)["input_ids"]
        truncated = sum(1 for ids in full if len(ids) > max_length)
        columns = {
            k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask") if k in enc
        }
        if wwm:
            columns["offset_mapping"] = [[list(pair) for pair in row] for row in enc["offset_mapping"]]
        return datasets.Dataset.from_dict(columns), truncated

    def collator(self, tokenizer: Any) -> Any:
        if self.objective == "clm":
            from transformers import DataCollatorForLanguageModeling

            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            return DataCollatorForLanguageModeling(tokenizer, mlm=False)
        return _collator_class()(
            tokenizer,
            mlm=True,
            mlm_probability=self.mlm_probability,
            whole_word_mask=self.whole_word_mask,
            mask_replace_prob=1.0 if self.whole_word_mask else 0.8,
            random_replace_prob=0.0 if self.whole_word_mask else 0.1,
        )

    def prepare_evaluation(self, dataset: Any, tokenizer: Any, seed: int) -> Any:
        """Mask the dev set once with a seeded generator: every evaluation (and the best-checkpoint choice) then
        compares the same masked inputs, and evaluation draws nothing from the training random state."""
        if self.objective == "clm":
            return dataset
        import datasets
        import torch

        collator = self.collator(tokenizer)
        collator.generator = torch.Generator().manual_seed(seed)
        columns: dict[str, list[Any]] = {}
        for example in dataset:
            batch = collator.torch_call([dict(example)])
            for key, value in batch.items():
                columns.setdefault(key, []).append(value[0].tolist())
        return datasets.Dataset.from_dict(columns)

    # -- evaluation --------------------------------------------------------------------------------
    def metric_names(self, labels: Sequence[str]) -> set[str]:
        return {"loss", "perplexity"}

    def compute_metrics(self, labels: Sequence[str], dataset: Any = None) -> Any:
        return None

    def evaluate_output(self, output: Any, labels: Sequence[str], dataset: Any = None) -> dict[str, Any]:
        loss = float(output.metrics.get("test_loss", float("nan")))
        return {
            "loss": loss,
            "perplexity": math.exp(loss) if loss < 50 else float("inf"),
            "n": len(dataset) if dataset is not None else None,
        }

    def summary(self, metrics: dict[str, Any]) -> str:
        return f"loss {metrics['loss']:.4f}  perplexity {metrics['perplexity']:.2f}"

    def example_classes(self, dataset: Any, labels: Sequence[str]) -> list[int]:
        raise ConfigError("--oversample needs labelled data")
