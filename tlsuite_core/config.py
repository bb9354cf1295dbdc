"""Training configuration: one dataclass, loaded from YAML, overridden from the command line, saved with the run.

Precedence: built-in defaults < the app's defaults < ``--config FILE`` < options given on the command line.
The resolved configuration is written to ``<run>/config.yaml``; ``--config <run>/config.yaml`` re-runs it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")
CLASS_WEIGHTS = ("none", "balanced")


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    Args:
        model: model reference (alias, model or run folder, hub id).
        train: training data (file or hub id); ``None`` uses the app's demo data.
        dev: development data for evaluation, early stopping and model selection; ``None`` uses the demo dev split
            when training on demo data, otherwise none.
        text_col / label_col: column names; ``None`` detects common names.
        format: data format name (csv, tsv, jsonl, phrasebank, hub); ``None`` goes by suffix.
        labels: label order for the head; ``None`` uses the app's default order when it covers the data.
        max_length: token limit per text (longer texts are truncated and counted in run.json).
        epochs, batch_size, eval_batch_size, learning_rate, warmup (ratio of steps, or steps when >= 1),
        weight_decay, scheduler, grad_accum, max_grad_norm: optimisation.
        layer_lr_decay: each transformer layer below the top trains at this factor of the one above (1: off).
        head_lr_scale: the task head's learning rate relative to ``learning_rate``.
        label_smoothing: label-smoothing factor of the cross-entropy.
        seed: seed for weights init, data order and dropout.
        early_stopping: patience in evaluations (0 disables); metric: dev metric for selection and stopping.
        class_weights: ``balanced`` weighs the loss by inverse class frequency.
        max_steps / max_train_samples: cap a run for quick trials.
        evals_per_epoch: evaluate and checkpoint this many times per epoch (when ``save_steps`` is not set).
        save_steps: checkpoint (and evaluate) every N optimiser steps; ``None``: ``evals_per_epoch`` times per epoch.
        eval_steps: evaluate every N steps (must divide save_steps).
        group_by_length: batch texts of similar length (less padding).
        device, precision, threads: where and how to compute.
        allow_pickle: allow loading pickle (.bin) weights.
        skip_bad_rows: drop bad rows instead of failing (listed in the run report).
        name, runs_dir: the run folder is ``<runs_dir>/<app>/<name>``.
        keep_checkpoints: keep ``checkpoints/`` after a completed run.
        strategy: fine-tuning strategy (full, frozen, partial, gradual, lora, adalora, ia3, prefix, prompt,
            houlsby, pfeiffer; see ``tlsuite_core.training.strategies``).
        freeze_layers: ``partial``: embeddings and this many bottom layers stay frozen (default: half).
        unfreeze_every: ``gradual``: optimiser steps between unfreezing layer groups (default: one epoch).
        lora_r / lora_alpha / lora_dropout: LoRA and AdaLoRA (AdaLoRA's average target rank is ``lora_r``).
        target_modules: modules PEFT adapts (default: peft's per-architecture choice, attention query and value
            for LoRA/AdaLoRA, else every backbone linear layer; ``["all-linear"]``: every backbone linear layer).
        virtual_tokens: ``prefix`` / ``prompt``: number of virtual tokens.
        adapter_reduction: ``houlsby`` / ``pfeiffer``: bottleneck size is hidden size / this.
        cache_features: ``frozen``: compute the backbone's features once and train the head on the stored ones
            (the backbone runs without dropout; see ``tlsuite_core.training.feature_cache``).
        export_merged: save a merged plain-transformers copy (``merged/``) of a mergeable adapter run.
        dropout: set every dropout probability of the model to this value.
        fgm_epsilon: adversarial training (FGM) on the word embeddings with this perturbation norm (0: off).
        oversample: repeat examples of rare classes until every class is as frequent as the most common one.
        init_from: start from a completed run of the same app (continual update); its labels must cover the data.
        replay: with ``init_from``: add this share (of the new training set's size) of the old run's training
            data, and report forgetting on the old run's dev set.
        dev_split: without ``dev``: hold out this share of the training rows (seeded) as the dev set.
        from_scratch: the model's architecture with random weights instead of its pretrained ones (the
            no-transfer baseline of ``compare``).
        max_train_minutes: stop after this many minutes of training steps (evaluation not counted): equal-budget
            comparisons.
        extra: options of the app's task (token classification: ``scheme``, ``repair_tags``,
            ``label_all_subtokens``, ``stride``); merged key by key across layers.
    """

    model: str = "minilm"
    train: str | None = None
    dev: str | None = None
    text_col: str | None = None
    label_col: str | None = None
    format: str | None = None
    labels: list[str] | None = None
    max_length: int = 128
    epochs: float = 3.0
    batch_size: int = 32
    eval_batch_size: int = 128
    learning_rate: float = 5e-5
    warmup: float = 0.1
    weight_decay: float = 0.01
    scheduler: str = "linear"
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    layer_lr_decay: float = 1.0
    head_lr_scale: float = 1.0
    label_smoothing: float = 0.0
    seed: int = 42
    early_stopping: int = 0
    metric: str = "macro_f1"
    class_weights: str = "none"
    max_steps: int | None = None
    max_train_samples: int | None = None
    evals_per_epoch: int = 1
    save_steps: int | None = None
    eval_steps: int | None = None
    save_total_limit: int = 2
    group_by_length: bool = True
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    allow_pickle: bool = False
    skip_bad_rows: bool = False
    name: str | None = None
    runs_dir: str = "runs"
    keep_checkpoints: bool = False
    logging_steps: int = 20
    strategy: str = "full"
    freeze_layers: int | None = None
    unfreeze_every: int | None = None
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    target_modules: list[str] | None = None
    virtual_tokens: int = 20
    adapter_reduction: int = 16
    export_merged: bool = True
    dropout: float | None = None
    fgm_epsilon: float = 0.0
    cache_features: bool = False
    oversample: bool = False
    init_from: str | None = None
    replay: float = 0.0
    dev_split: float = 0.0
    from_scratch: bool = False
    max_train_minutes: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "TrainConfig":
        problems = []
        if self.epochs <= 0:
            problems.append("epochs must be > 0")
        for name in ("batch_size", "eval_batch_size", "grad_accum", "max_length", "save_total_limit", "logging_steps", "evals_per_epoch"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.learning_rate <= 0:
            problems.append("learning_rate must be > 0")
        if not 0 < self.layer_lr_decay <= 1:
            problems.append("layer_lr_decay must be in (0, 1]")
        if self.head_lr_scale <= 0:
            problems.append("head_lr_scale must be > 0")
        if not 0 <= self.label_smoothing < 1:
            problems.append("label_smoothing must be in [0, 1)")
        if self.warmup < 0:
            problems.append("warmup must be >= 0 (a ratio below 1, or a number of steps)")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.scheduler not in SCHEDULERS:
            problems.append(f"scheduler must be one of {', '.join(SCHEDULERS)}")
        if self.class_weights not in CLASS_WEIGHTS:
            problems.append(f"class_weights must be one of {', '.join(CLASS_WEIGHTS)}")
        for name in ("max_steps", "max_train_samples", "save_steps", "eval_steps", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{name} must be >= 1")
        if self.early_stopping < 0:
            problems.append("early_stopping must be >= 0")
        if self.save_steps and self.eval_steps and self.save_steps % self.eval_steps:
            problems.append("save_steps must be a multiple of eval_steps")
        from .training.strategies import STRATEGIES

        if self.strategy not in STRATEGIES:
            problems.append(f"strategy must be one of {', '.join(STRATEGIES)}")
        for name in ("lora_r", "virtual_tokens", "adapter_reduction", "unfreeze_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{name} must be >= 1")
        if self.freeze_layers is not None and self.freeze_layers < 0:
            problems.append("freeze_layers must be >= 0")
        if self.lora_alpha <= 0:
            problems.append("lora_alpha must be > 0")
        for name in ("lora_dropout", "dropout"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1:
                problems.append(f"{name} must be in [0, 1)")
        if self.fgm_epsilon < 0:
            problems.append("fgm_epsilon must be >= 0")
        if self.cache_features and self.strategy != "frozen":
            problems.append("cache_features needs strategy frozen (only a frozen backbone has fixed features)")
        if self.cache_features and self.fgm_epsilon:
            problems.append("cache_features does not combine with fgm (the perturbed embeddings change the features)")
        if self.max_train_minutes is not None and self.max_train_minutes <= 0:
            problems.append("max_train_minutes must be > 0")
        if not 0 <= self.dev_split < 1:
            problems.append("dev_split must be in [0, 1)")
        if not 0 <= self.replay <= 1:
            problems.append("replay must be in [0, 1]")
        if self.replay and not self.init_from:
            problems.append("replay needs init_from (the run whose training data is replayed)")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            problems.append("labels must be distinct")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _field_names() -> set[str]:
    return {f.name for f in fields(TrainConfig)}


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option: value at the top level")
    unknown = sorted(set(data) - _field_names() - {"app", "task"})
    if unknown:
        raise ConfigError(f"{path}: unknown option(s) {', '.join(unknown)} (known: {', '.join(sorted(_field_names()))})")
    data.pop("app", None)
    data.pop("task", None)
    return data


def build_config(
    *layers: Mapping[str, Any] | None,
) -> TrainConfig:
    """Merge layers (later wins; ``None`` values in a layer mean "not given") into a validated config."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if not layer:
            continue
        for key, value in layer.items():
            if value is None:
                continue
            if key not in _field_names():
                raise ConfigError(f"unknown option '{key}'")
            if key == "extra":
                if not isinstance(value, Mapping):
                    raise ConfigError(f"invalid value for extra: {value!r} (expected a mapping of task options)")
                # task options merge key by key across layers (app defaults < config file < command line)
                value = {**merged.get("extra", {}), **{k: v for k, v in value.items() if v is not None}}
            merged[key] = value
    try:
        config = TrainConfig(**merged)
    except TypeError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
    _coerce(config)
    return config.validate()


def _coerce(config: TrainConfig) -> None:
    """YAML may give ints for floats and strings for numbers; normalise types and name the bad ones."""
    for f in fields(TrainConfig):
        value = getattr(config, f.name)
        if value is None:
            continue
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        try:
            if kind.startswith("float"):
                setattr(config, f.name, float(value))
            elif kind.startswith("int"):
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError
                setattr(config, f.name, int(value))
            elif kind.startswith("bool"):
                if not isinstance(value, bool):
                    raise ValueError
            elif kind.startswith("str"):
                setattr(config, f.name, str(value))
            elif kind.startswith("list"):
                if isinstance(value, str):
                    value = [v.strip() for v in value.split(",") if v.strip()]
                setattr(config, f.name, [str(v) for v in value])
        except (TypeError, ValueError):
            raise ConfigError(f"invalid value for {f.name}: {value!r} (expected {kind})") from None


def save_config(config: TrainConfig, path: Path, header: str) -> None:
    data = config.to_dict()
    text = "\n".join(f"# {line}" for line in header.splitlines()) + "\n" + yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
