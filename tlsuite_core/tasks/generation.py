"""Text generation: source -> target pairs on encoder-decoder and decoder-only models (translation, summarization,
replies).

Model routes (chosen at load time from the model's config):

* **encoder-decoder** (``AutoModelForSeq2SeqLM``: T5, BART, Marian, mBART... folders or hub ids);
* **warm start** (``extra.encoder`` / ``extra.decoder``): an ``EncoderDecoderModel`` built from two encoder
  checkpoints (Rothe et al. 2020, bert2bert); the decoder gets causal masks and cross-attention (new weights), the
  special tokens are set so the decoder starts at ``[CLS]`` and stops at ``[SEP]``;
* **decoder-only** (``AutoModelForCausalLM``: Llama, SmolLM2, GPT-2...): supervised fine-tuning on prompt + target
  where the loss covers the target tokens only; the prompt goes through the tokenizer's chat template when it has
  one, else ``instruction + source + newline``.

Evaluation generates (batched, sorted by length, with the saved generation config) and scores with the app's
metric (``extra.metrics``: a registered metric such as ``translation`` or ``summarization``). Outputs that stop at
``max_new_tokens`` without an end token are counted and reported (``generation_truncated``): the transformers
default of 20 new tokens silently cuts summaries in many published runs, so tlsuite always sets it explicitly.
Inputs longer than ``max_length`` (targets: ``max_target_length``) are truncated and counted, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from ..config import LABELLED, TRAIN, TaskOptions, option
from ..errors import ConfigError, ModelError
from ..pairs import PairedData, load_pairs
from .base import Task

GENERATION_KEYS = (
    "max_new_tokens",
    "min_new_tokens",
    "num_beams",
    "length_penalty",
    "no_repeat_ngram_size",
    "do_sample",
    "temperature",
    "top_p",
    "repetition_penalty",
)


@dataclass
class GenerationOptions(TaskOptions):
    """The generation task's options (``extra`` in a configuration): the metric, languages, warm start, prompt,
    target length and decoding. ``max_new_tokens`` is always set: the transformers default (20 tokens) silently cuts
    summaries and translations."""

    task: ClassVar[str] = "generation"
    panel: ClassVar[str | None] = "Generation"
    commands: ClassVar[tuple[str, ...]] = (TRAIN,)
    metrics: str | None = option(
        None,
        unset="none (loss and output lengths only)",
        commands=(),
        help="Registered metric that scores the outputs (translation, summarization, exact_match).",
    )
    encoder: str | None = option(
        None,
        panel="Model",
        commands=LABELLED,
        unset="none, --model decides",
        help="Warm start: encoder checkpoint (alias, folder or hub id) of a new encoder-decoder.",
    )
    decoder: str | None = option(
        None, panel="Model", commands=LABELLED, help="Warm start: decoder checkpoint (default: the encoder's)."
    )
    instruction: str | None = option(
        None,
        panel="Model",
        unset="none; the chat template when the tokenizer has one",
        help="Decoder-only models: text put before each source in the prompt.",
    )
    src_lang: str | None = option(
        None,
        panel="Data",
        commands=LABELLED,
        unset="none",
        help="Source language code (parallel files PREFIX.<src>; models with language tokens).",
    )
    tgt_lang: str | None = option(None, panel="Data", commands=LABELLED, unset="none", help="Target language code.")
    max_target_length: int = option(
        128, panel="Data", ge=1, help="Target tokens kept for training (longer targets are cut and counted)."
    )
    max_new_tokens: int = option(
        128, ge=1, help="Generation: most new tokens per output (outputs that reach it are counted)."
    )
    min_new_tokens: int | None = option(None, ge=0, unset="none", help="Generation: fewest new tokens per output.")
    num_beams: int = option(4, ge=1, help="Generation: beam width (1: greedy).")
    length_penalty: float | None = option(
        None,
        unset="the model's generation config",
        help="Generation: beam length penalty (> 1 favours longer outputs).",
    )
    no_repeat_ngram_size: int | None = option(
        None, ge=0, unset="none", help="Generation: forbid repeating n-grams of this size."
    )
    do_sample: bool | None = option(
        None, commands=(), help="Generation: sample instead of searching.", unset="the model's generation config"
    )
    temperature: float | None = option(
        None, gt=0, commands=(), help="Generation: sampling temperature.", unset="the model's generation config"
    )
    top_p: float | None = option(
        None, gt=0, le=1, commands=(), help="Generation: nucleus sampling share.", unset="the model's generation config"
    )
    repetition_penalty: float | None = option(
        None, gt=0, commands=(), help="Generation: repetition penalty.", unset="the model's generation config"
    )
    eval_limit: int | None = option(
        None,
        ge=1,
        unset="all dev pairs",
        help="Score at most N dev pairs (loss and generated outputs) at the evaluations during training; the final "
        "evaluation of the selected model scores every dev pair (reusing a training-time evaluation of the same "
        "weights on all of them instead of generating again).",
    )
    tokenize: str | None = option(
        None, commands=(), help="translation metric: the sacreBLEU tokenizer.", unset="by target language"
    )
    lang: str | None = option(
        None, commands=(), help="summarization metric: the language of the texts (ROUGE stemming).", unset="tgt_lang"
    )


def weights_fingerprint(model: Any) -> str:
    """A digest of a model's weights (every parameter's sum and sum of squares, in float64): equal for the same
    weights, different after any training step or a checkpoint of other weights."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            t = tensor.detach().double()
            digest.update(f"{name}:{t.sum().item():.17g}:{(t * t).sum().item():.17g};".encode())
    return digest.hexdigest()


def _is_encoder(config: Any) -> bool:
    """A bidirectional encoder (BERT family): has a masked-LM head class and is not configured as a decoder."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return (
        config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES
        and not getattr(config, "is_decoder", False)
        and not getattr(config, "is_encoder_decoder", False)
    )


@dataclass
class Generated:
    """One generated output: the text, whether it stopped at ``max_new_tokens`` without an end token, and whether
    its source was longer than ``max_length`` tokens and only its start was read (``source_truncated``)."""

    text: str
    truncated: bool = False
    tokens: int = 0  # generated tokens (end and padding tokens not counted)
    source_truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "truncated": self.truncated, "tokens": self.tokens}
        if self.source_truncated:
            out["source_truncated"] = True
        return out


class Generation(Task):
    """Source texts -> generated target texts. Options: :class:`GenerationOptions` (the metric, languages, warm
    start, prompt, target length, decoding, ``eval_limit``)."""

    name: ClassVar[str] = "generation"
    auto_class: ClassVar[str] = "AutoModelForSeq2SeqLM"
    options_class: ClassVar[type[TaskOptions]] = GenerationOptions
    options: GenerationOptions
    new_head: ClassVar[bool] = False

    def __init__(self, registry: Any = None) -> None:
        super().__init__(registry)
        self.kind = "seq2seq"  # seq2seq | warm | causal
        self.peft_task_type = "SEQ_2_SEQ_LM"
        self.trainer: Any = None
        self.raw: dict[int, PairedData] = {}
        #: generation metrics already computed, by (weights fingerprint, pairs scored): the final evaluation of a
        #: checkpoint that an evaluation during training scored on the same pairs reuses them
        self.scored: dict[tuple[str, int], dict[str, float]] = {}
        self.generations = 0  # generation passes over dev pairs (a test counts them)
        self.truncated_targets = 0
        self.load_notes: list[str] = []
        self.config: Any = None

    @property
    def shifts_labels(self) -> bool:  # type: ignore[override]
        return self.kind == "causal"

    # -- configuration -------------------------------------------------------------------------------
    def configure(self, config: Any) -> None:
        super().configure(config)
        self.config = config

    def model_reference(self, config: Any) -> str:
        if self.options.encoder or self.options.decoder:
            return self.options.encoder or self.options.decoder
        return super().model_reference(config)

    def generation_kwargs(self, **overrides: Any) -> dict[str, Any]:
        out = {k: getattr(self.options, k) for k in GENERATION_KEYS if getattr(self.options, k) is not None}
        out.update({k: v for k, v in overrides.items() if v is not None})
        return out

    # -- data --------------------------------------------------------------------------------------
    def load_data(self, source: str, config: Any, *, limit: int | None = None) -> PairedData:
        columns = {"source_column": config.text_col, "target_column": config.label_col}
        languages = {"src_lang": self.options.src_lang, "tgt_lang": self.options.tgt_lang}
        return load_pairs(source, **columns, **languages, **self.reading(config))

    def label_names(self, train: Any, others: Sequence[Any], config: Any, default: Sequence[str] | None) -> list[str]:
        return []

    # -- model -------------------------------------------------------------------------------------
    def resolve_kind(self, model: Any) -> str:
        if self.options.encoder or self.options.decoder:
            return "warm"
        from transformers import AutoConfig
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        path = model.path
        if model.adapter is not None:
            import json

            base = json.loads((path / "tlsuite.json").read_text(encoding="utf-8"))
            return base.get("generation_kind", "seq2seq")
        config = AutoConfig.from_pretrained(str(path))
        if getattr(config, "is_encoder_decoder", False):
            return "seq2seq"
        if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not _is_encoder(config):
            return "causal"
        if _is_encoder(config):
            # an encoder checkpoint cannot generate alone: warm-start an encoder-decoder from it (bert2bert)
            self.options.encoder = model.ref
            self.load_notes = [
                f"{model.ref} is an encoder: warm-starting an encoder-decoder from it (--encoder/--decoder to choose)"
            ]
            return "warm"
        raise ModelError(
            f"{path}: a {config.model_type} model cannot generate; pick a seq2seq or decoder-only model, or warm-start "
            "an encoder-decoder with --encoder MODEL --decoder MODEL"
        )

    def model_class(self) -> Any:
        import transformers

        return {"causal": transformers.AutoModelForCausalLM, "warm": transformers.EncoderDecoderModel}.get(
            self.kind, transformers.AutoModelForSeq2SeqLM
        )

    def load_model(self, model: Any, labels: Sequence[str], *, from_scratch: bool = False) -> Any:
        from ..models import load_model, random_model

        self.kind = self.resolve_kind(model)
        self.peft_task_type = "CAUSAL_LM" if self.kind == "causal" else "SEQ_2_SEQ_LM"
        if self.kind == "warm":
            loaded = self._warm_start(from_scratch)
        elif from_scratch:
            loaded = random_model(model, self.model_class())
        else:
            loaded = load_model(model, self.model_class(), trainable_start=True)
        self._set_generation_config(loaded)
        return loaded

    def model_meta(self) -> dict[str, Any]:
        return {"generation_kind": "seq2seq" if self.kind == "warm" else self.kind}

    def load_trained(self, model: Any) -> Any:
        from ..models import load_model

        # a trained warm start is saved as an ordinary encoder-decoder folder: load it as one
        self.options.encoder = self.options.decoder = None
        self.kind = self.resolve_kind(model)
        self.peft_task_type = "CAUSAL_LM" if self.kind == "causal" else "SEQ_2_SEQ_LM"
        return load_model(model, self.model_class())

    def _warm_start(self, from_scratch: bool) -> Any:
        from transformers import AutoConfig, EncoderDecoderConfig, EncoderDecoderModel

        from ..models import quiet_transformers, resolve_model
        from ..training.strategies import get_strategy

        quiet_transformers()
        strategy = self.config.strategy if self.config is not None else "full"
        if get_strategy(strategy).kind != "weights":
            raise ConfigError(
                f"--strategy {strategy}: a warm-started encoder-decoder has new cross-attention weights; "
                "train it with full, partial or gradual (adapters need one pretrained base to refer to)"
            )
        enc = resolve_model(self.options.encoder or self.options.decoder, aliases=self.aliases)
        dec = resolve_model(self.options.decoder or self.options.encoder, aliases=self.aliases)
        self.warm_paths = (enc, dec)
        try:
            if from_scratch:
                config = EncoderDecoderConfig.from_encoder_decoder_configs(
                    AutoConfig.from_pretrained(str(enc.path)),
                    AutoConfig.from_pretrained(str(dec.path), is_decoder=True, add_cross_attention=True),
                )
                model = EncoderDecoderModel(config=config)
            else:
                model = EncoderDecoderModel.from_encoder_decoder_pretrained(str(enc.path), str(dec.path))
                self.load_notes = self.load_notes + [
                    "warm start: the decoder's cross-attention layers are new and start random (Rothe et al. 2020)"
                ]
        except Exception as exc:
            raise ModelError(
                f"cannot build an encoder-decoder from {enc.path} and {dec.path} ({str(exc).splitlines()[0][:200]})"
            ) from None
        return model

    def prepare_tokenizer(self, tokenizer: Any, model: Any) -> None:
        """Special tokens the route needs (called once the tokenizer and model are loaded)."""
        if self.kind == "warm":
            cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
            sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
            if cls_id is None or sep_id is None or tokenizer.pad_token_id is None:
                raise ModelError("warm start needs a tokenizer with start ([CLS]/<s>), end ([SEP]/</s>) and pad tokens")
            model.config.decoder_start_token_id = cls_id
            model.config.eos_token_id = sep_id
            model.config.pad_token_id = tokenizer.pad_token_id
            model.config.vocab_size = model.config.encoder.vocab_size
            self._set_generation_config(
                model, decoder_start_token_id=cls_id, eos_token_id=sep_id, pad_token_id=tokenizer.pad_token_id
            )
        elif self.kind == "seq2seq" and hasattr(tokenizer, "src_lang"):
            self._language_tokens(tokenizer, model)
        elif self.kind == "causal":
            if tokenizer.eos_token is None and tokenizer.sep_token is not None:
                tokenizer.eos_token = tokenizer.sep_token
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            model.config.pad_token_id = tokenizer.pad_token_id
            self._set_generation_config(model, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)

    def _language_tokens(self, tokenizer: Any, model: Any) -> None:
        """Multilingual seq2seq models with language tokens (mBART-50, M2M-100, NLLB): check the codes against the
        tokenizer, set its source/target languages, and force the target language token first in generation."""
        known = {str(t) for t in (getattr(tokenizer, "additional_special_tokens", None) or [])}
        known |= set(getattr(tokenizer, "lang_code_to_id", {}) or {})

        def token_of(code: str, option: str) -> str:
            for candidate in (code, f"__{code}__"):
                if candidate in known:
                    return candidate
            sample = ", ".join(sorted(known)[:12]) + (" ..." if len(known) > 12 else "")
            raise ConfigError(
                f"{option} {code}: this model's tokenizer has no such language code (it knows: {sample or 'none'})"
            )

        src, tgt = self.options.src_lang, self.options.tgt_lang
        if not known or not (src or tgt):
            return
        if src:
            tokenizer.src_lang = token_of(src, "--src-lang")
        if tgt:
            tgt_token = token_of(tgt, "--tgt-lang")
            if hasattr(tokenizer, "tgt_lang"):
                tokenizer.tgt_lang = tgt_token
            self._set_generation_config(model, forced_bos_token_id=tokenizer.convert_tokens_to_ids(tgt_token))

    def _set_generation_config(self, model: Any, **ids: Any) -> None:
        from transformers import GenerationConfig

        current = getattr(model, "generation_config", None)
        base = current.to_dict() if current is not None else {}
        base.update({k: v for k, v in ids.items() if v is not None})
        base.update(self.generation_kwargs())
        base.pop("transformers_version", None)
        model.generation_config = GenerationConfig(**{k: v for k, v in base.items() if not k.startswith("_")})

    # -- encoding ------------------------------------------------------------------------------------
    def prompt(self, tokenizer: Any, source: str) -> list[int]:
        """Token ids of the decoder-only prompt for ``source`` (chat template when the tokenizer has one)."""
        instruction = self.options.instruction or ""
        content = f"{instruction}{source}"
        if getattr(tokenizer, "chat_template", None):
            ids = tokenizer.apply_chat_template(
                [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=True
            )
            return list(ids["input_ids"] if isinstance(ids, Mapping) else ids)
        return tokenizer(content + "\n", add_special_tokens=True)["input_ids"]

    def encode(self, data: PairedData, tokenizer: Any, labels: Sequence[str], max_length: int) -> Any:
        import datasets

        target_limit = self.options.max_target_length
        if self.kind == "causal":
            columns: dict[str, list[Any]] = {"input_ids": [], "attention_mask": [], "labels": []}
            truncated = 0
            end = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
            eos = [end] if end is not None else []
            for source, target in zip(data.sources, data.first_targets):
                prompt = self.prompt(tokenizer, source)
                answer = tokenizer(target, add_special_tokens=False)["input_ids"][:target_limit] + eos
                if len(prompt) + len(answer) > max_length:
                    truncated += 1
                    prompt = prompt[: max(1, max_length - len(answer))]
                ids = prompt + answer
                columns["input_ids"].append(ids[:max_length])
                columns["attention_mask"].append([1] * len(ids[:max_length]))
                columns["labels"].append(([-100] * len(prompt) + answer)[:max_length])
        else:
            enc = tokenizer(data.sources, truncation=True, max_length=max_length)
            full = tokenizer(data.sources, truncation=False)["input_ids"]
            truncated = sum(1 for ids in full if len(ids) > max_length)
            target_ids = tokenizer(text_target=data.first_targets, truncation=False)["input_ids"]
            start = getattr(getattr(self, "_model_config", None), "decoder_start_token_id", None)
            cut: list[list[int]] = []
            for ids in target_ids:
                if (
                    self.kind == "warm"
                    and ids
                    and tokenizer.cls_token_id is not None
                    and ids[0] == tokenizer.cls_token_id
                ):
                    ids = ids[1:]  # the decoder starts at [CLS]: it predicts the words and [SEP], not [CLS] again
                if len(ids) > target_limit:
                    self.truncated_targets += 1
                    ids = ids[: target_limit - 1] + ids[-1:]
                cut.append(ids)
            del start
            columns = {k: enc[k] for k in ("input_ids", "attention_mask") if k in enc}
            columns["labels"] = cut
        dataset = datasets.Dataset.from_dict(columns)
        self.raw[id(dataset)] = data
        return dataset, truncated

    def collator(self, tokenizer: Any) -> Any:
        from transformers import DataCollatorForSeq2Seq

        return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)

    def attach(self, trainer: Any) -> None:
        self.trainer = trainer

    # -- generation ----------------------------------------------------------------------------------
    def generate(
        self,
        model: Any,
        tokenizer: Any,
        sources: Sequence[str],
        *,
        batch_size: int = 16,
        max_length: int = 512,
        device: Any = None,
        **overrides: Any,
    ) -> list[Generated]:
        """Generate for every source: batches sorted by length, padded per batch (left for decoder-only)."""
        import torch

        if not sources:
            return []
        device = device or next(model.parameters()).device
        kwargs = self.generation_kwargs(**overrides)
        if self.kind == "causal":
            prompts = [self.prompt(tokenizer, s) for s in sources]
            cut = [len(p) > max_length for p in prompts]
            encoded = [p[-max_length:] for p in prompts]
        else:
            encoded = tokenizer(list(sources), truncation=True, max_length=max_length)["input_ids"]
            full = tokenizer(list(sources), truncation=False, verbose=False)["input_ids"]
            cut = [len(f) > len(e) for f, e in zip(full, encoded)]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        out: list[Generated | None] = [None] * len(sources)
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                width = max(len(encoded[i]) for i in idx)
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    seq = torch.tensor(encoded[i], dtype=torch.long)
                    if self.kind == "causal":
                        ids[row, width - len(seq) :], mask[row, width - len(seq) :] = seq, 1
                    else:
                        ids[row, : len(seq)], mask[row, : len(seq)] = seq, 1
                result = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs)
                # decoder-only: the new tokens follow the prompt; encoder-decoder: after the decoder start token
                new = result[:, width:] if self.kind == "causal" else result[:, 1:]
                for row, i in enumerate(idx):
                    raw = new[row].tolist()
                    end = next((k for k, t in enumerate(raw) if t in eos_ids), None)
                    body = [t for t in (raw if end is None else raw[:end]) if t != pad]
                    # no end token: generation stopped at max_new_tokens (padding comes only after an end token)
                    text = tokenizer.decode(body, skip_special_tokens=True).strip()
                    out[i] = Generated(text, end is None, len(body), cut[i])
        return [g for g in out if g is not None]

    def _metric(self, *, required: bool = False) -> Any:
        """The registered :class:`~tlsuite_core.metrics.Metric` the ``metrics`` option names, or None."""
        from ..metrics import BUILTIN_METRICS

        name = self.options.metrics
        if not name:
            return None
        known = self.registry.mapping("metric") if self.registry is not None else {m.name: m for m in BUILTIN_METRICS}
        if name not in known and required:
            raise ConfigError(f"metrics {name!r}: no such metric is registered (is its plugin installed?)")
        return known.get(name)

    def score(self, references: Sequence[Sequence[str]], predictions: Sequence[Generated]) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        metric = self._metric(required=True)
        if metric is not None:
            metrics.update(metric.fn(list(references), [p.text for p in predictions], self.options.as_dict()))
        metrics["n"] = len(predictions)
        metrics["generation_truncated"] = sum(p.truncated for p in predictions)
        metrics["mean_generated_words"] = (
            float(np.mean([len(p.text.split()) for p in predictions])) if predictions else 0.0
        )
        return metrics

    # -- evaluation --------------------------------------------------------------------------------
    def lower_is_better(self, metric: str) -> bool:
        if metric == "generation_truncated" or super().lower_is_better(metric):
            return True
        registered = self._metric()
        return registered is not None and metric in registered.lower_is_better

    def metric_names(self, labels: Sequence[str]) -> set[str]:
        names = {"loss", "generation_truncated", "mean_generated_words"}
        metric = self._metric()
        return names | set(metric.keys if metric is not None else ())

    def training_evaluation(self, dataset: Any) -> Any:
        """``eval_limit``: evaluations during training score (loss and generation) the first N dev pairs only."""
        limit = self.options.eval_limit
        if not limit or limit >= len(dataset):
            return dataset
        return dataset.select(range(int(limit)))

    def compute_metrics(self, labels: Sequence[str], dataset: Any = None) -> Any:
        """Generation metrics on the dev pairs, computed with the model being trained (attached by the engine)."""
        data = self.raw.get(id(dataset)) if dataset is not None else None
        if data is None:
            return None

        def compute(eval_pred: Any) -> dict[str, float]:
            model = self.trainer.model
            # generate for the pairs this evaluation scored: the first N during training (training_evaluation)
            scored = len(eval_pred.label_ids)
            key = (weights_fingerprint(model), scored)
            if key in self.scored:  # the same weights on the same pairs: the final evaluation of a checkpoint
                return dict(self.scored[key])
            self.generations += 1
            pairs = data if scored >= len(data) else data.subset(range(scored))
            predictions = self.generate(
                model,
                self.trainer.processing_class,
                pairs.sources,
                batch_size=self.trainer.args.per_device_eval_batch_size,
                max_length=self.config.max_length,
            )
            metrics = self.score(pairs.targets, predictions)
            numbers = {
                k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
            self.scored[key] = numbers
            return dict(numbers)

        return compute

    def preprocess_logits_for_metrics(self, logits: Any, labels: Any) -> Any:
        """Evaluation keeps no logits (generation metrics regenerate): a vocabulary-sized tensor per token is large."""
        first = logits[0] if isinstance(logits, tuple) else logits
        return first.argmax(-1)

    def evaluate_output(self, output: Any, labels: Sequence[str], dataset: Any = None) -> dict[str, Any]:
        metrics = {k[len("test_") :]: v for k, v in output.metrics.items() if k.startswith("test_")}
        for key in ("runtime", "samples_per_second", "steps_per_second"):
            metrics.pop(key, None)
        metrics["truncated_targets"] = self.truncated_targets
        return metrics

    def summary(self, metrics: dict[str, Any]) -> str:
        shown = [
            f"{k} {v:.2f}"
            for k, v in metrics.items()
            if isinstance(v, float) and k not in ("loss", "mean_generated_words")
        ]
        text = "  ".join(shown[:6])
        if metrics.get("generation_truncated"):
            text += f"  [{int(metrics['generation_truncated'])} outputs stopped at max_new_tokens]"
        return text

    def example_classes(self, dataset: Any, labels: Sequence[str]) -> list[int]:
        raise ConfigError("--oversample needs labelled classes; generation pairs have none")

    def class_weights(self, dataset: Any, labels: Sequence[str]) -> Any:
        raise ConfigError("--class-weights needs labelled classes; generation pairs have none")

    def majority_baseline(self, train: Any, data: Any, labels: Sequence[str]) -> dict[str, Any]:
        """No model: every output is the most frequent training target (a floor for the metric)."""
        from collections import Counter

        top = Counter(train.first_targets).most_common(1)[0][0]
        return self.score(data.targets, [Generated(top)] * len(data))

    # -- inference ---------------------------------------------------------------------------------
    def inference_options(self, record: dict[str, Any]) -> dict[str, Any]:
        return {}

    def predict(self, model: Any, tokenizer: Any, inputs: Sequence[str], **kwargs: Any) -> list[Generated]:
        return self.generate(model, tokenizer, inputs, **kwargs)

    def evaluate(
        self, model: Any, tokenizer: Any, data: PairedData, labels: Sequence[str], **kwargs: Any
    ) -> dict[str, Any]:
        predictions = self.generate(model, tokenizer, data.sources, **kwargs)
        return self.score(data.targets, predictions)
