"""Training configuration: typed dataclasses in which every option is declared once, loaded from YAML, overridden
from the command line, saved with the run.

Precedence: built-in defaults < the app's defaults < ``--config FILE`` < options given on the command line.
The resolved configuration is written to ``<run>/config.yaml``; ``--config <run>/config.yaml`` re-runs it.

**Declaring an option.** An option is one dataclass field made with :func:`option`: the annotation is its type, the
call gives its default, help text, help panel, choices or bounds, the commands that take it (``train``,
``compare``, ``pretrain``) and, where it is not ``--<key>``, its command-line spelling. Everything else is derived
from that field: the options of every app's train / compare / pretrain command
(:mod:`tlsuite_core.commands.common`), the merge of layers (``None``: not given), type checks (real types, through
``typing.get_type_hints``), bounds and choices, the YAML keys, and ``docs/options.md`` (:func:`options_markdown`).
Where the options live:

* engine options: fields of :class:`TrainConfig`;
* strategy settings: one class per strategy (family), a field of :class:`TrainConfig` each (:class:`LoraSettings`
  ``config.lora.r``, :class:`AdapterSettings` ``config.adapter.reduction``, ...);
* task options: one :class:`TaskOptions` subclass per task (``Task.options_class``, e.g.
  ``TokenClassificationOptions``), read by the task as ``TokenClassificationOptions.of(config.extra)``.

**Saved layout** (``config.yaml``, ``run.json`` -> ``config``), the same as before the options were typed, so old
runs load, predict and resume: flat keys, every TrainConfig field by name, strategy settings by their flat key
(``lora_r: 8``, ``virtual_tokens: 20``, ``adapter_reduction: 16``), and under ``extra`` the task options that were
set (by the app, a config file or the command line).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence, TypeVar, Union

import yaml

from .errors import ConfigError
from .files import read_yaml_mapping

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")
CLASS_WEIGHTS = ("none", "balanced")
CHECKPOINT_CHOICES = ("best", "last")
AVERAGING_CHOICES = ("none", "last-k", "swa")  # training/averaging.py AVERAGING_MODES

#: the commands that take options (``Option.commands``)
TRAIN, COMPARE, PRETRAIN = "train", "compare", "pretrain"
ALL = (TRAIN, COMPARE, PRETRAIN)
LABELLED = (TRAIN, COMPARE)  # labelled training; not continued pretraining
#: the order ``--help`` shows its panels in
PANELS = (
    "Compare",
    "Model",
    "Data",
    "Objective",
    "Generation",
    "Optimisation",
    "Config",
    "Strategy",
    "Regularisation",
    "Continual",
    "Search",
    "Checkpoints",
    "Device",
    "Output",
)


# -- declarations ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """What an option declares besides its type and default (see :func:`option`)."""

    help: str
    panel: str | None = None
    commands: tuple[str, ...] | None = None
    flags: tuple[str, ...] | None = None
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    hint: str | None = None
    unset: str | None = None
    show_default: bool = True
    per_task: bool = False
    scaled: bool = False
    invert: bool = False
    env: str | None = None
    normalise: Callable[[Any], Any] | None = None


def option(
    default: Any = None,
    *,
    help: str,
    panel: str | None = None,
    commands: Sequence[str] | None = None,
    flags: Sequence[str] | None = None,
    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    hint: str | None = None,
    unset: str | None = None,
    show_default: bool = True,
    per_task: bool = False,
    scaled: bool = False,
    env: str | None = None,
    normalise: Callable[[Any], Any] | None = None,
) -> Any:
    """A dataclass field that declares an option.

    :param help: the ``--help`` text (the shown default is added to it); also the docs' description.
    :param panel: the ``--help`` panel (:data:`PANELS`); default: the owning class's ``panel``.
    :param commands: the commands whose options include it (``train``, ``compare``, ``pretrain``); empty: YAML only;
        default: the owning class's ``commands`` (none: YAML only).
    :param flags: command-line spelling when it is not ``--<key>`` (``("--learning-rate", "--lr")``); ``()``: none;
        a ``--no-...`` flag turns a ``True`` default off (``--no-group-by-length``).
    :param choices: the allowed values (or a function returning them).
    :param ge / gt / le / lt: bounds of a number; ``hint`` is added to the message when one is broken.
    :param unset: what leaving an option at ``None`` means, shown as its default (``"all rows"``).
    :param show_default: ``False`` for options that name an action or a file (no default to show).
    :param per_task: each task's commands show it in their own words and spelling (data options: ``--tokens-col``).
    :param scaled: the strategies change its default (the learning rates), so help lists the default per strategy.
    :param env: the environment variable the command line reads when the option is not given.
    :param normalise: turns a given value into its canonical form (``iobes`` -> ``BIOES``); raises ``ConfigError``.
    """
    meta = Option(
        help=help,
        panel=panel,
        commands=None if commands is None else tuple(commands),
        flags=None if flags is None else tuple(flags),
        choices=tuple(choices) if isinstance(choices, (list, tuple)) else choices,
        ge=ge,
        gt=gt,
        le=le,
        lt=lt,
        hint=hint,
        unset=unset,
        show_default=show_default,
        per_task=per_task,
        scaled=scaled,
        invert=bool(flags) and all(f.startswith("--no-") for f in flags),
        env=env,
        normalise=normalise,
    )
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"option": meta})
    return field(default=default, metadata={"option": meta})


class Settings:
    """Base of the option groups (strategy settings, task options): dataclasses whose fields are options.

    ``prefix`` turns a field name into its flat key (``LoraSettings.r`` is ``lora_r``); ``strategies`` names the
    strategies that read a strategy's settings; ``panel`` and ``commands`` are what its options declare when they
    do not say (most of a group's options share them).
    """

    prefix: ClassVar[str] = ""
    strategies: ClassVar[tuple[str, ...]] = ()
    panel: ClassVar[str | None] = None
    commands: ClassVar[tuple[str, ...]] = ()


@dataclass(frozen=True)
class ConfigOption:
    """One declared option, resolved: its flat key, where it lives, its real type, default and declaration."""

    key: str
    path: tuple[str, ...]
    kind: Any
    default: Any
    meta: Option
    owner: type

    @property
    def flags(self) -> tuple[str, ...]:
        return self.meta.flags if self.meta.flags is not None else ("--" + self.key.replace("_", "-"),)

    @property
    def param(self) -> str:
        """The command function's parameter name (from the first flag: ``--fgm`` -> ``fgm``)."""
        return self.flags[0].lstrip("-").replace("-", "_") if self.flags else self.key

    @property
    def choices(self) -> tuple[str, ...] | None:
        choices = self.meta.choices
        return tuple(choices()) if callable(choices) else choices

    @property
    def scalar(self) -> Any:
        """The type without ``| None``."""
        return _inner(self.kind)

    @property
    def is_flag(self) -> bool:
        return self.scalar is bool

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.scalar) is list

    def coerce(self, value: Any, source: str | None = None) -> Any:
        """``value`` as this option's type (YAML gives ints for floats, strings for numbers); a ``ConfigError`` naming
        the option (and ``source``) when it is not one."""
        if value is None:
            return None
        try:
            value = _coerce(value, self.kind)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{_at(source)}invalid value for {self.key}: {value!r} (expected {type_name(self.kind)})"
            ) from None
        return self.meta.normalise(value) if self.meta.normalise is not None else value

    def problem(self, value: Any) -> str | None:
        """What is wrong with a value of the right type (bounds, choices), or ``None``."""
        m = self.meta
        if value is None:
            return None
        choices = self.choices
        if choices is not None and value not in choices:
            return f"{self.key} must be one of {', '.join(choices)}"
        low = (m.ge, "[") if m.ge is not None else (m.gt, "(") if m.gt is not None else None
        high = (m.le, "]") if m.le is not None else (m.lt, ")") if m.lt is not None else None
        broken = (low is not None and (value < low[0] if low[1] == "[" else value <= low[0])) or (
            high is not None and (value > high[0] if high[1] == "]" else value >= high[0])
        )
        if not broken:
            return None
        if low is not None and high is not None:
            text = f"{self.key} must be in {low[1]}{_num(low[0])}, {_num(high[0])}{high[1]}"
        elif low is not None:
            text = f"{self.key} must be {'>=' if low[1] == '[' else '>'} {_num(low[0])}"
        else:
            text = f"{self.key} must be {'<=' if high[1] == ']' else '<'} {_num(high[0])}"  # type: ignore[index]
        return f"{text} ({m.hint})" if m.hint else text


def _num(x: float) -> str:
    return f"{x:g}"


def _at(source: str | None) -> str:
    return f"{source}: " if source else ""


def _inner(kind: Any) -> Any:
    """``T`` of ``T | None``."""
    if typing.get_origin(kind) in (Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return args[0] if len(args) == 1 else kind
    return kind


def type_name(kind: Any) -> str:
    kind = _inner(kind)
    if typing.get_origin(kind) is list:
        return f"a list of {type_name(typing.get_args(kind)[0])} (or comma-separated)"
    if typing.get_origin(kind) is dict or kind is dict:
        return "a mapping"
    return getattr(kind, "__name__", str(kind))


def _coerce(value: Any, kind: Any) -> Any:
    kind = _inner(kind)
    origin = typing.get_origin(kind)
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError
        return value
    if kind is int:
        if (
            isinstance(value, bool)
            or (isinstance(value, float) and not value.is_integer())
            or isinstance(value, (list, dict))
        ):
            raise TypeError
        return int(value)
    if kind is float:
        if isinstance(value, (bool, list, dict)):
            raise TypeError
        return float(value)
    if kind is str:
        if isinstance(value, (list, dict)):
            raise TypeError
        return str(value)
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise TypeError
        item = typing.get_args(kind)[0]
        return [_coerce(v, item) for v in value]
    if origin is dict or kind is dict:
        if not isinstance(value, Mapping):
            raise TypeError
        return dict(value)
    if kind is Any:
        return value
    raise TypeError(f"no coercion for {kind!r}")


@cache
def options_of(cls: type) -> dict[str, ConfigOption]:
    """Every option ``cls`` declares, nested settings included, by flat key (in declaration order)."""
    hints = typing.get_type_hints(cls)
    found: dict[str, ConfigOption] = {}
    prefix = cls.prefix if issubclass(cls, Settings) else ""
    for f in fields(cls):
        kind = hints[f.name]
        if isinstance(kind, type) and issubclass(kind, Settings) and dataclasses.is_dataclass(kind):
            for key, inner in options_of(kind).items():
                found[key] = dataclasses.replace(inner, path=(f.name, *inner.path))
            continue
        meta = f.metadata.get("option")
        if meta is None:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        meta = dataclasses.replace(
            meta,
            panel=meta.panel if meta.panel is not None else getattr(cls, "panel", None),
            commands=meta.commands if meta.commands is not None else getattr(cls, "commands", ()),
        )
        key = prefix + f.name
        found[key] = ConfigOption(key=key, path=(f.name,), kind=kind, default=default, meta=meta, owner=cls)
    return found


def unknown_key(key: str, known: Sequence[str], what: str = "option", source: str | None = None) -> ConfigError:
    """The error for a key nothing declares, with the nearest known one."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(known))})"
    return ConfigError(f"{_at(source)}unknown {what} '{key}'{hint}")


# -- strategy settings ---------------------------------------------------------------------------------------------------


def _strategy_names() -> tuple[str, ...]:
    from .training.strategies import STRATEGIES

    return tuple(STRATEGIES)


@dataclass
class FrozenSettings(Settings):
    """``frozen``: feature extraction."""

    strategies: ClassVar[tuple[str, ...]] = ("frozen",)
    cache_features: bool = option(
        False,
        flags=("--cache-features",),
        panel="Strategy",
        commands=(TRAIN, PRETRAIN),
        help="frozen: compute the backbone's features once, then train the head on them (fast epochs; no dropout inside the backbone).",
    )


@dataclass
class PartialSettings(Settings):
    """``partial``: the embeddings and the bottom layers stay frozen."""

    strategies: ClassVar[tuple[str, ...]] = ("partial",)
    freeze_layers: int | None = option(
        None,
        panel="Strategy",
        commands=LABELLED,
        ge=0,
        help="partial: freeze the embeddings and this many bottom layers (default: half).",
    )


@dataclass
class GradualSettings(Settings):
    """``gradual``: unfreezing from the top, one layer group at a time."""

    strategies: ClassVar[tuple[str, ...]] = ("gradual",)
    unfreeze_every: int | None = option(
        None,
        panel="Strategy",
        commands=LABELLED,
        ge=1,
        help="gradual: optimiser steps between unfreezing layer groups (default: one epoch).",
    )


@dataclass
class LoraSettings(Settings):
    """``lora`` / ``adalora`` (peft ``LoraConfig`` / ``AdaLoraConfig``)."""

    prefix: ClassVar[str] = "lora_"
    strategies: ClassVar[tuple[str, ...]] = ("lora", "adalora")
    panel: ClassVar[str | None] = "Strategy"
    commands: ClassVar[tuple[str, ...]] = LABELLED
    r: int = option(8, ge=1, help="lora/adalora: rank (adalora: average target rank).")
    alpha: float = option(16.0, gt=0, help="lora/adalora: scaling alpha.")
    dropout: float = option(
        0.0,
        ge=0,
        lt=1,
        help="lora/adalora: dropout on the low-rank path (above 0 it costs a second copy of each adapted input).",
    )


@dataclass
class PeftSettings(Settings):
    """What the weight-adapting peft methods (``lora``, ``adalora``, ``ia3``) adapt."""

    strategies: ClassVar[tuple[str, ...]] = ("lora", "adalora", "ia3")
    target_modules: list[str] | None = option(
        None,
        panel="Strategy",
        commands=LABELLED,
        help="PEFT: comma-separated module names to adapt, or all-linear (default: peft's choice for the architecture, e.g. query,value for BERT LoRA).",
    )


@dataclass
class PromptLearningSettings(Settings):
    """``prefix`` / ``prompt`` (peft's prompt-learning family: ``PrefixTuningConfig``, ``PromptTuningConfig``)."""

    strategies: ClassVar[tuple[str, ...]] = ("prefix", "prompt")
    virtual_tokens: int = option(
        20, panel="Strategy", commands=LABELLED, ge=1, help="prefix/prompt: number of virtual tokens."
    )


@dataclass
class AdapterSettings(Settings):
    """``houlsby`` / ``pfeiffer`` bottleneck adapters."""

    prefix: ClassVar[str] = "adapter_"
    strategies: ClassVar[tuple[str, ...]] = ("houlsby", "pfeiffer")
    reduction: int = option(
        16, panel="Strategy", commands=LABELLED, ge=1, help="houlsby/pfeiffer: bottleneck = hidden size / this."
    )


# -- the training configuration --------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """Everything that defines a training run. Each field's ``option(help=...)`` documents it; ``docs/options.md``
    lists them all. ``extra`` holds the task options that were set (typed by the app's task:
    ``Task.options_class``). An option no ``commands=`` names is taken by every command (``ALL``)."""

    commands: ClassVar[tuple[str, ...]] = ALL

    # data, model and the metric: every task's commands show these in their own words (per_task)
    model: str = option("minilm", per_task=True, panel="Model", help="Model alias, model/run folder or hub id.")
    train: str | None = option(
        None, per_task=True, panel="Data", help="Training data (file or hub id).", unset="the app's demo data"
    )
    dev: str | None = option(
        None,
        per_task=True,
        panel="Data",
        help="Dev data for evaluation, model selection and early stopping.",
        unset="the demo dev set with the demo data, else none",
    )
    text_col: str | None = option(None, per_task=True, panel="Data", help="Text (tokens, source) column.", unset="auto")
    label_col: str | None = option(
        None, per_task=True, panel="Data", commands=LABELLED, help="Label (tags, target) column.", unset="auto"
    )
    format: str | None = option(
        None, per_task=True, panel="Data", flags=("--format",), help="Data format.", unset="by suffix"
    )
    delimiter: str | None = option(
        None,
        per_task=True,
        panel="Data",
        commands=LABELLED,
        normalise=lambda value: delimiter_character(value),
        help="Field delimiter of delimited files: ';' (or semicolon), tab, '|'...",
        unset="',' for .csv, tab for .tsv",
    )
    labels: list[str] | None = option(
        None,
        per_task=True,
        panel="Data",
        commands=LABELLED,
        help="Comma-separated label order for the model head.",
        unset="the app's order when the data's labels fit it, else sorted",
    )
    max_length: int = option(
        128, per_task=True, panel="Data", ge=1, help="Token limit per text (truncations are reported)."
    )
    # optimisation
    epochs: float = option(3.0, panel="Optimisation", gt=0, help="Training epochs.")
    batch_size: int = option(32, panel="Optimisation", ge=1, help="Batch size per device.")
    eval_batch_size: int = option(128, ge=1, commands=(), help="Batch size of evaluation.")
    learning_rate: float = option(
        5e-5, flags=("--learning-rate", "--lr"), panel="Optimisation", gt=0, scaled=True, help="Peak learning rate."
    )
    warmup: float = option(
        0.1,
        panel="Optimisation",
        ge=0,
        hint="a ratio below 1, or a number of steps",
        help="Warmup: ratio of steps (<1) or steps (>=1).",
    )
    weight_decay: float = option(0.01, panel="Optimisation", help="AdamW weight decay.")
    scheduler: str = option(
        "linear", panel="Optimisation", choices=SCHEDULERS, help="LR schedule: linear, cosine, constant, ..."
    )
    grad_accum: int = option(1, panel="Optimisation", ge=1, help="Gradient accumulation steps.")
    max_grad_norm: float = option(1.0, commands=(), help="Gradient clipping norm.")
    layer_lr_decay: float = option(
        1.0,
        panel="Optimisation",
        gt=0,
        le=1,
        scaled=True,
        help="Layer-wise LR decay: each layer below the top trains at this factor of the one above (1: off).",
    )
    head_lr_scale: float = option(
        1.0,
        panel="Optimisation",
        commands=LABELLED,
        gt=0,
        scaled=True,
        help="Learning rate of the task head relative to --lr.",
    )
    label_smoothing: float = option(
        0.0, panel="Optimisation", commands=LABELLED, ge=0, lt=1, help="Label-smoothing factor of the loss."
    )
    seed: int = option(42, panel="Optimisation", help="Random seed (init, data order, dropout).")
    early_stopping: int = option(
        0, panel="Optimisation", ge=0, help="Stop after N evaluations without improvement of --metric (0: off)."
    )
    metric: str = option(
        "macro_f1", per_task=True, panel="Optimisation", help="Dev metric for model selection and early stopping."
    )
    class_weights: str = option(
        "none",
        panel="Optimisation",
        commands=LABELLED,
        choices=CLASS_WEIGHTS,
        help="none | balanced (loss weighted by inverse class frequency).",
    )
    max_steps: int | None = option(
        None,
        panel="Optimisation",
        ge=1,
        unset="none, --epochs decides",
        help="Stop after N optimiser steps (quick runs).",
    )
    min_steps: int = option(
        0,
        panel="Optimisation",
        ge=0,
        help="Train at least N optimiser steps: a training set too small for them in --epochs gets more epochs "
        "(0: off; --max-steps overrides it; an app's floor gives way to an --epochs you give).",
    )
    max_train_samples: int | None = option(
        None, panel="Data", ge=1, unset="all rows", help="Use a random subset of N training rows."
    )
    # checkpoints, device, output
    evals_per_epoch: int = option(1, panel="Checkpoints", ge=1, help="Evaluate and checkpoint N times per epoch.")
    save_steps: int | None = option(
        None,
        panel="Checkpoints",
        ge=1,
        help="Checkpoint and evaluate every N steps (default: --evals-per-epoch times per epoch).",
    )
    eval_steps: int | None = option(
        None,
        panel="Checkpoints",
        ge=1,
        unset="at every checkpoint",
        help="Evaluate every N steps (must divide --save-steps).",
    )
    save_total_limit: int = option(2, ge=1, commands=(), help="Checkpoints kept on disk during a run.")
    select_checkpoint: str = option(
        "best",
        panel="Checkpoints",
        choices=CHECKPOINT_CHOICES,
        help="The model a run keeps: best (by --metric on dev: that dev score is then optimistic) or last (a fixed "
        "schedule, e.g. the epochs cross-validation chose; the dev set is only scored).",
    )
    average_checkpoints: str = option(
        "none",
        panel="Checkpoints",
        choices=AVERAGING_CHOICES,
        help="The model a run keeps is the mean of checkpoint weights: last-k (the last --average-k) or swa (every "
        "checkpoint of the second half of training); replaces --select-checkpoint.",
    )
    average_k: int = option(2, panel="Checkpoints", ge=1, help="Checkpoints --average-checkpoints last-k averages.")
    group_by_length: bool = option(
        True,
        flags=("--no-group-by-length",),
        panel="Optimisation",
        help="Random batches instead of length-grouped ones.",
    )
    device: str = option("auto", panel="Device", help="auto | cpu | cuda | cuda:N | mps.")
    precision: str = option(
        "auto",
        panel="Device",
        choices=PRECISIONS,
        help="auto | fp32 | bf16 | fp16 (auto: bf16 on capable GPUs, fp32 on CPU).",
    )
    threads: int | None = option(None, panel="Device", ge=1, unset="torch's default", help="CPU threads for torch.")
    allow_pickle: bool = option(False, flags=("--allow-pickle",), panel="Model", help="Allow pickle (.bin) weights.")
    skip_bad_rows: bool = option(
        False,
        flags=("--skip-bad-rows",),
        panel="Data",
        help="Drop bad rows (listed in report/skipped_rows.json) instead of failing.",
    )
    name: str | None = option(None, panel="Output", help="Run name (folder under runs/<app>/) (default: timestamp).")
    runs_dir: str = option(
        "runs",
        panel="Output",
        env="TLSUITE_RUNS_DIR",
        help="Where run folders go (default: $TLSUITE_RUNS_DIR or ./runs).",
    )
    keep_checkpoints: bool = option(
        False, flags=("--keep-checkpoints",), panel="Checkpoints", help="Keep checkpoints/ after the run completes."
    )
    logging_steps: int = option(20, ge=1, commands=(), help="Log the training loss every N optimiser steps.")
    # strategies
    strategy: str = option(
        "full",
        panel="Strategy",
        commands=(TRAIN,),
        choices=_strategy_names,
        help="full | frozen | partial | gradual | lora | adalora | ia3 | prefix | prompt | houlsby | pfeiffer.",
    )
    partial: PartialSettings = field(default_factory=PartialSettings)
    gradual: GradualSettings = field(default_factory=GradualSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    peft: PeftSettings = field(default_factory=PeftSettings)
    prompt_learning: PromptLearningSettings = field(default_factory=PromptLearningSettings)
    adapter: AdapterSettings = field(default_factory=AdapterSettings)
    export_merged: bool = option(
        True,
        flags=("--no-merged",),
        panel="Strategy",
        commands=LABELLED,
        help="Do not export merged/ (plain-transformers weights) for a mergeable adapter.",
    )
    export_onnx: bool = option(
        True,
        flags=("--no-export-onnx",),
        panel="Output",
        commands=(TRAIN,),
        help="Do not export onnx/ (sequence classification: the model for ONNX Runtime, so predict starts without PyTorch).",
    )
    # regularisation, continual updates
    dropout: float | None = option(
        None,
        panel="Regularisation",
        ge=0,
        lt=1,
        unset="the model's own",
        help="Set every dropout probability of the model.",
    )
    fgm_epsilon: float = option(
        0.0,
        flags=("--fgm",),
        panel="Regularisation",
        commands=LABELLED,
        ge=0,
        help="Adversarial training (FGM) on the embeddings with this perturbation norm (e.g. 1.0).",
    )
    rdrop_alpha: float = option(
        0.0,
        flags=("--rdrop",),
        panel="Regularisation",
        commands=LABELLED,
        ge=0,
        help="R-Drop: two dropout passes per batch, plus this weight x their symmetric KL divergence (e.g. 1.0).",
    )
    reinit_layers: int = option(
        0,
        panel="Regularisation",
        commands=LABELLED,
        ge=0,
        help="Re-initialise the top N transformer layers (and the pooler) before fine-tuning, with --strategy full, "
        "partial or gradual; an app's default is not applied from a trained run (--model RUN, --init-from) or to a "
        "strategy that keeps the top layers frozen.",
    )
    distill_from: list[str] | None = option(
        None,
        panel="Regularisation",
        commands=LABELLED,
        help="Knowledge distillation: comma-separated completed runs of the app (e.g. the seeds of an ensemble) whose "
        "mean class probabilities at --distill-temperature the model also learns; under --cv a cross-validation "
        "folder kept with --cv-keep-models (each fold learns from its own fold's runs).",
        unset="none",
    )
    distill_alpha: float = option(
        0.5,
        panel="Regularisation",
        commands=LABELLED,
        ge=0,
        le=1,
        help="--distill-from: the loss is (1 - alpha) x the labels' cross-entropy + alpha x T^2 x KL(teachers || model).",
    )
    distill_temperature: float = option(
        2.0,
        panel="Regularisation",
        commands=LABELLED,
        gt=0,
        help="--distill-from: softmax temperature T of both sides.",
    )
    frozen: FrozenSettings = field(default_factory=FrozenSettings)
    oversample: bool = option(
        False,
        flags=("--oversample",),
        panel="Regularisation",
        commands=LABELLED,
        help="Repeat examples of rare classes until classes are balanced.",
    )
    init_from: str | None = option(
        None,
        panel="Continual",
        commands=(TRAIN,),
        help="Continual update: start from this completed run of the app (same labels).",
    )
    replay: float = option(
        0.0,
        panel="Continual",
        commands=(TRAIN,),
        ge=0,
        le=1,
        help="With --init-from: add this share of the old run's training data; reports forgetting on its dev set.",
    )
    final_fit: bool = option(
        False,
        flags=("--final-fit",),
        panel="Data",
        commands=(TRAIN,),
        help="Train on the training and dev data together, on a fixed schedule (nothing is evaluated on dev); "
        "choose the schedule by cross-validation first (--cv).",
    )
    dev_split: float = option(
        0.0,
        panel="Data",
        ge=0,
        lt=1,
        help="Without --dev: hold out this share of the training rows as the dev set (seeded).",
    )
    from_scratch: bool = option(
        False,
        flags=("--from-scratch",),
        panel="Model",
        commands=(TRAIN, PRETRAIN),
        help="Random weights in the model's architecture (the no-transfer baseline).",
    )
    max_train_minutes: float | None = option(
        None,
        panel="Optimisation",
        gt=0,
        unset="none",
        help="Stop after N minutes of training steps (evaluation not counted): equal-budget comparisons.",
    )
    extra: dict[str, Any] = option(
        {},
        commands=(),
        help="Task options that were set (the app's task declares them: docs/options.md, task options).",
    )

    # -- the flat layout ---------------------------------------------------------------------------------------------------
    def get(self, key: str) -> Any:
        """The value of option ``key`` (flat key: ``lora_r`` is ``config.lora.r``)."""
        value: Any = self
        for name in options_of(TrainConfig)[key].path:
            value = getattr(value, name)
        return value

    def set(self, key: str, value: Any) -> None:
        """Set option ``key`` (flat key)."""
        *parents, last = options_of(TrainConfig)[key].path
        target: Any = self
        for name in parents:
            target = getattr(target, name)
        setattr(target, last, value)

    def to_dict(self) -> dict[str, Any]:
        """The saved layout: flat keys in declaration order, ``extra`` holding the task options that were set."""
        return {key: copy.deepcopy(self.get(key)) for key in options_of(TrainConfig)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, strict: bool = True) -> "TrainConfig":
        """A config from flat keys (a saved ``config.yaml`` or ``run.json`` config); ``strict=False`` ignores keys
        it does not know (a run saved by a newer version). Values are coerced, not validated (see :meth:`validate`)."""
        declared = options_of(cls)
        config = cls()
        for key, value in values.items():
            if key not in declared:
                if strict:
                    raise unknown_key(key, list(declared))
                continue
            config.set(key, declared[key].coerce(value))
        return config

    def updated(self, **values: Any) -> "TrainConfig":
        """A copy with options (flat keys) replaced: ``config.updated(lora_r=16, name="trial-1")``."""
        return TrainConfig.from_dict({**self.to_dict(), **values})

    def validate(self) -> "TrainConfig":
        problems = [p for key, o in options_of(TrainConfig).items() if (p := o.problem(self.get(key))) is not None]
        if self.save_steps and self.eval_steps and self.save_steps % self.eval_steps:
            problems.append("save_steps must be a multiple of eval_steps")
        if self.frozen.cache_features and self.strategy != "frozen":
            problems.append("cache_features needs strategy frozen (only a frozen backbone has fixed features)")
        if self.frozen.cache_features and self.distill_from:
            problems.append("cache_features does not combine with distill_from (the loss needs the teachers' targets)")
        if self.frozen.cache_features and self.fgm_epsilon:
            problems.append("cache_features does not combine with fgm (the perturbed embeddings change the features)")
        if self.final_fit and self.early_stopping:
            problems.append("final_fit trains on the dev set too: early_stopping has nothing to stop on")
        if self.replay and not self.init_from:
            problems.append("replay needs init_from (the run whose training data is replayed)")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            problems.append("labels must be distinct")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return self


def delimiter_character(value: Any) -> str:
    """``;``, ``semicolon``, ``tab`` or ``\\t``, ``|``...: one character (``ConfigError`` otherwise)."""
    text = str(value)
    named = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}.get(text.lower(), text)
    if len(named) != 1 or named in '"\r\n':
        raise ConfigError(f"delimiter {value!r}: one character such as ';', ',', '|' or tab")
    return named


# -- task options ------------------------------------------------------------------------------------------------------------

T = TypeVar("T", bound="TaskOptions")


@dataclass
class TaskOptions(Settings):
    """Base of a task's own options (``Task.options_class``): subclass it with :func:`option` fields.

    In a configuration they are saved under ``extra``, only those that were set (by the app's defaults, a config
    file or the command line), so a run keeps following the task's defaults for the rest.
    """

    task: ClassVar[str] = ""

    @classmethod
    def of(cls: type[T], extra: Mapping[str, Any] | None, *, source: str | None = None, strict: bool = True) -> T:
        """The typed options from a configuration's ``extra``: types checked and coerced, bounds and choices checked,
        unknown keys refused (``strict``) with the nearest known one. Errors name ``source`` (a config file)."""
        declared = options_of(cls)
        values: dict[str, Any] = {}
        for key, value in (extra or {}).items():
            if key not in declared:
                if strict:
                    what = f"task option of {cls.task}" if cls.task else "task option"
                    raise (
                        unknown_key(key, list(declared), what, source)
                        if declared
                        else ConfigError(f"{_at(source)}unknown {what} '{key}' (the task takes no options)")
                    )
                continue
            value = declared[key].coerce(value, source)
            problem = declared[key].problem(value)
            if problem is not None:
                raise ConfigError(f"{_at(source)}invalid configuration: {problem}")
            if value is not None:
                values[declared[key].path[0]] = value
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """Every option by key (what registered metric functions receive as ``options``)."""
        return {key: copy.deepcopy(getattr(self, o.path[0])) for key, o in options_of(type(self)).items()}


# -- layers ---------------------------------------------------------------------------------------------------------------------


class ConfigLayer(dict):
    """One layer of options by flat key, remembering where it came from (a config file) for error messages."""

    def __init__(self, values: Mapping[str, Any], source: str | None = None) -> None:
        super().__init__(values)
        self.source = source


def load_config_file(path: str | Path, *, task_options: type[TaskOptions] | None = None) -> ConfigLayer:
    """A YAML config file as a layer: keys known, values of the declared types (errors name the file and the key);
    ``task_options``: also check the task options under ``extra``."""
    path = Path(path)
    data = read_yaml_mapping(path, "config file", "a mapping of option: value at the top level")
    data.pop("app", None)
    data.pop("task", None)
    layer = _checked(data, str(path))
    if task_options is not None:
        task_options.of(layer.get("extra"), source=str(path))
    return layer


def _checked(values: Mapping[str, Any], source: str | None) -> ConfigLayer:
    """``values`` with known keys and coerced values (``None`` stays: not given)."""
    declared = options_of(TrainConfig)
    out = ConfigLayer({}, source)
    for key, value in values.items():
        if key not in declared:
            raise unknown_key(str(key), list(declared), source=source)
        out[key] = declared[key].coerce(value, source)
    return out


def build_config(*layers: Mapping[str, Any] | None) -> TrainConfig:
    """Merge layers (later wins; ``None`` values in a layer mean "not given") into a validated config. Task options
    (``extra``) merge key by key across layers (app defaults < config file < command line)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if not layer:
            continue
        for key, value in _checked(layer, layer.source if isinstance(layer, ConfigLayer) else None).items():
            if value is None:
                continue
            if key == "extra":
                value = {**merged.get("extra", {}), **{k: v for k, v in value.items() if v is not None}}
            merged[key] = value
    return TrainConfig.from_dict(merged).validate()


def save_config(config: TrainConfig, path: Path, header: str) -> None:
    data = config.to_dict()
    text = "\n".join(f"# {line}" for line in header.splitlines()) + "\n" + yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")


# -- docs --------------------------------------------------------------------------------------------------------------------


def options_markdown(task_options: Sequence[type[TaskOptions]] = ()) -> str:
    """``docs/options.md``: every option of :class:`TrainConfig` and of each task's options class, by panel.

    Regenerate with ``python docs/generate_options.py`` (tests/core/test_options_doc.py fails when the file is stale).
    """

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    def rows(declared: Mapping[str, ConfigOption]) -> list[str]:
        out = []
        for key, o in declared.items():
            flags = ", ".join(f"`{f}`" for f in o.flags) if o.meta.commands or o.meta.per_task else "YAML only"
            if o.meta.per_task:
                flags += " (worded per task)"
            default = (
                o.meta.unset
                if o.default is None and o.meta.unset
                else ""
                if o.default is None
                else f"`{_shown(o.default)}`"
            )
            commands = ", ".join(o.meta.commands) or "-"
            listed = o.choices is None or all(c in o.meta.help for c in o.choices)
            choices = "" if listed else f" Choices: {', '.join(o.choices)}."
            owner = (
                f" ({o.owner.__name__})"
                if issubclass(o.owner, Settings) and not issubclass(o.owner, TaskOptions)
                else ""
            )
            out.append(
                f"| `{key}`{owner} | {flags} | {cell(type_name(o.kind))} | {cell(default)} | {commands} | {cell(o.meta.help + choices)} |"
            )
        return out

    header = "| YAML key | command line | type | default | commands | meaning |\n|---|---|---|---|---|---|"
    lines = [
        "# Options",
        "",
        "<!-- generated by `python docs/generate_options.py` from the declarations in tlsuite_core/config.py and the",
        "task options classes; tests/core/test_options_doc.py fails when it is stale -->",
        "",
        "Every training option, as declared once in `tlsuite_core/config.py` (engine options and strategy settings) or",
        "in its task's options class (task options, saved under `extra`). The same key works in a `--config` YAML file;",
        "the command line wins over the file, the file over the app's defaults (`tlsuite <app> train --help` shows each",
        "app's defaults). Options marked *worded per task* are spelled and described by each app's commands in their",
        "own terms (`--tokens-col` for ner, `--source-col` for generation apps).",
        "",
    ]
    by_panel: dict[str, dict[str, ConfigOption]] = {}
    for key, o in options_of(TrainConfig).items():
        by_panel.setdefault(o.meta.panel or "YAML only", {})[key] = o
    for panel in [*PANELS, "YAML only"]:
        if panel in by_panel:
            lines += [f"## {panel}", "", header, *rows(by_panel[panel]), ""]
    for cls in task_options:
        lines += [
            f"## Task options: {cls.task} (`{cls.__name__}`, under `extra`)",
            "",
            header,
            *rows(options_of(cls)),
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "[]"
    if isinstance(value, dict):
        return "{}" if not value else str(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def core_task_options() -> list[type[TaskOptions]]:
    """The core tasks' options classes (for the docs)."""
    from .tasks.classification import ClassificationOptions
    from .tasks.generation import GenerationOptions
    from .tasks.language_modeling import LanguageModelingOptions
    from .tasks.ranking import RankingOptions
    from .tasks.token_classification import TokenClassificationOptions

    return [
        ClassificationOptions,
        TokenClassificationOptions,
        GenerationOptions,
        LanguageModelingOptions,
        RankingOptions,
    ]
