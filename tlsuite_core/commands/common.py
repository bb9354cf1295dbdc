"""What every app's train / evaluate / predict commands share: the engine's options, running a training, finding
the run to use, reading texts to predict, and writing output files.

The engine's options are defined once here as ``Annotated`` types; a command group declares a parameter with one
of them (``epochs: EpochsOpt = None``) and passes the values to :func:`engine_overrides`. Task-specific options
(data columns, label handling) stay with each command group.
"""
# no `from __future__ import annotations`: Typer reads these annotations at runtime

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional, get_args

import typer
from rich.console import Console

from ..apps import AppSpec
from ..errors import ConfigError, DataError
from ..plugins import get_host

err = Console(stderr=True, highlight=False)

# -- engine options (one definition, shared by every app's train command) ---------------------------------------
ConfigOpt = Annotated[Optional[str], typer.Option(help="YAML file of options; command-line options override it.", rich_help_panel="Config")]
ResumeOpt = Annotated[Optional[str], typer.Option(help="Continue an interrupted run folder from its last checkpoint, exactly.", rich_help_panel="Config")]
AllowPickleOpt = Annotated[bool, typer.Option("--allow-pickle", help="Allow pickle (.bin) weights.", rich_help_panel="Model")]
MaxTrainSamplesOpt = Annotated[Optional[int], typer.Option(help="Use a random subset of N training rows.", rich_help_panel="Data")]
SkipBadRowsOpt = Annotated[bool, typer.Option("--skip-bad-rows", help="Drop bad rows (listed in report/skipped_rows.json) instead of failing.", rich_help_panel="Data")]
EpochsOpt = Annotated[Optional[float], typer.Option(help="Training epochs.", rich_help_panel="Optimisation")]
BatchSizeOpt = Annotated[Optional[int], typer.Option(help="Batch size per device.", rich_help_panel="Optimisation")]
LearningRateOpt = Annotated[Optional[float], typer.Option("--learning-rate", "--lr", help="Peak learning rate.", rich_help_panel="Optimisation")]
WarmupOpt = Annotated[Optional[float], typer.Option(help="Warmup: ratio of steps (<1) or steps (>=1).", rich_help_panel="Optimisation")]
WeightDecayOpt = Annotated[Optional[float], typer.Option(help="AdamW weight decay.", rich_help_panel="Optimisation")]
SchedulerOpt = Annotated[Optional[str], typer.Option(help="LR schedule: linear, cosine, constant, ...", rich_help_panel="Optimisation")]
GradAccumOpt = Annotated[Optional[int], typer.Option(help="Gradient accumulation steps.", rich_help_panel="Optimisation")]
LayerLrDecayOpt = Annotated[Optional[float], typer.Option(help="Layer-wise LR decay: each layer below the top trains at this factor of the one above (1: off).", rich_help_panel="Optimisation")]
HeadLrScaleOpt = Annotated[Optional[float], typer.Option(help="Learning rate of the task head relative to --lr.", rich_help_panel="Optimisation")]
LabelSmoothingOpt = Annotated[Optional[float], typer.Option(help="Label-smoothing factor of the loss.", rich_help_panel="Optimisation")]
SeedOpt = Annotated[Optional[int], typer.Option(help="Random seed (init, data order, dropout).", rich_help_panel="Optimisation")]
ClassWeightsOpt = Annotated[Optional[str], typer.Option(help="none | balanced (loss weighted by inverse class frequency).", rich_help_panel="Optimisation")]
EarlyStoppingOpt = Annotated[Optional[int], typer.Option(help="Stop after N evaluations without improvement of --metric (0: off).", rich_help_panel="Optimisation")]
MaxStepsOpt = Annotated[Optional[int], typer.Option(help="Stop after N optimiser steps (quick runs).", rich_help_panel="Optimisation")]
EvalsPerEpochOpt = Annotated[Optional[int], typer.Option(help="Evaluate and checkpoint N times per epoch.", rich_help_panel="Checkpoints")]
SaveStepsOpt = Annotated[Optional[int], typer.Option(help="Checkpoint and evaluate every N steps (default: --evals-per-epoch times per epoch).", rich_help_panel="Checkpoints")]
EvalStepsOpt = Annotated[Optional[int], typer.Option(help="Evaluate every N steps (must divide --save-steps).", rich_help_panel="Checkpoints")]
KeepCheckpointsOpt = Annotated[bool, typer.Option("--keep-checkpoints", help="Keep checkpoints/ after the run completes.", rich_help_panel="Checkpoints")]
NoGroupByLengthOpt = Annotated[bool, typer.Option("--no-group-by-length", help="Random batches instead of length-grouped ones.", rich_help_panel="Optimisation")]
DeviceOpt = Annotated[Optional[str], typer.Option(help="auto | cpu | cuda | cuda:N | mps.", rich_help_panel="Device")]
PrecisionOpt = Annotated[Optional[str], typer.Option(help="auto | fp32 | bf16 | fp16 (auto: bf16 on capable GPUs, fp32 on CPU).", rich_help_panel="Device")]
ThreadsOpt = Annotated[Optional[int], typer.Option(help="CPU threads for torch.", rich_help_panel="Device")]
NameOpt = Annotated[Optional[str], typer.Option(help="Run name (folder under runs/<app>/) (default: timestamp).", rich_help_panel="Output")]
RunsDirOpt = Annotated[Optional[str], typer.Option(help="Where run folders go (default: $TLSUITE_RUNS_DIR or ./runs).", rich_help_panel="Output")]

# -- options of the commands that use a trained run ---------------------------------------------------------------
UseModelOpt = Annotated[Optional[str], typer.Option(help="Run folder (default: the app's latest completed run).")]
UseDeviceOpt = Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N | mps.")]
UseThreadsOpt = Annotated[Optional[int], typer.Option(help="CPU threads for torch.")]
UseRunsDirOpt = Annotated[Optional[str], typer.Option(help="Where run folders are (default: ./runs).")]
UseBatchSizeOpt = Annotated[int, typer.Option(help="Inference batch size.")]


# -- strategies, regularisation, continual updates, search ----------------------------------------------------
StrategyOpt = Annotated[Optional[str], typer.Option(help="full | frozen | partial | gradual | lora | adalora | ia3 | prefix | prompt | houlsby | pfeiffer.", rich_help_panel="Strategy")]
FreezeLayersOpt = Annotated[Optional[int], typer.Option(help="partial: freeze the embeddings and this many bottom layers (default: half).", rich_help_panel="Strategy")]
UnfreezeEveryOpt = Annotated[Optional[int], typer.Option(help="gradual: optimiser steps between unfreezing layer groups (default: one epoch).", rich_help_panel="Strategy")]
LoraROpt = Annotated[Optional[int], typer.Option(help="lora/adalora: rank (adalora: average target rank).", rich_help_panel="Strategy")]
LoraAlphaOpt = Annotated[Optional[float], typer.Option(help="lora/adalora: scaling alpha.", rich_help_panel="Strategy")]
LoraDropoutOpt = Annotated[Optional[float], typer.Option(help="lora/adalora: dropout on the low-rank path (above 0 it costs a second copy of each adapted input).", rich_help_panel="Strategy")]
TargetModulesOpt = Annotated[Optional[str], typer.Option(help="PEFT: comma-separated module names to adapt, or all-linear (default: peft's choice for the architecture, e.g. query,value for BERT LoRA).", rich_help_panel="Strategy")]
CacheFeaturesOpt = Annotated[bool, typer.Option("--cache-features", help="frozen: compute the backbone's features once, then train the head on them (fast epochs; no dropout inside the backbone).", rich_help_panel="Strategy")]
VirtualTokensOpt = Annotated[Optional[int], typer.Option(help="prefix/prompt: number of virtual tokens.", rich_help_panel="Strategy")]
AdapterReductionOpt = Annotated[Optional[int], typer.Option(help="houlsby/pfeiffer: bottleneck = hidden size / this.", rich_help_panel="Strategy")]
NoMergedOpt = Annotated[bool, typer.Option("--no-merged", help="Do not export merged/ (plain-transformers weights) for a mergeable adapter.", rich_help_panel="Strategy")]
DropoutOpt = Annotated[Optional[float], typer.Option(help="Set every dropout probability of the model.", rich_help_panel="Regularisation")]
FgmOpt = Annotated[Optional[float], typer.Option("--fgm", help="Adversarial training (FGM) on the embeddings with this perturbation norm (e.g. 1.0).", rich_help_panel="Regularisation")]
OversampleOpt = Annotated[bool, typer.Option("--oversample", help="Repeat examples of rare classes until classes are balanced.", rich_help_panel="Regularisation")]
InitFromOpt = Annotated[Optional[str], typer.Option(help="Continual update: start from this completed run of the app (same labels).", rich_help_panel="Continual")]
ReplayOpt = Annotated[Optional[float], typer.Option(help="With --init-from: add this share of the old run's training data; reports forgetting on its dev set.", rich_help_panel="Continual")]
MaxTrainMinutesOpt = Annotated[Optional[float], typer.Option(help="Stop after N minutes of training steps (evaluation not counted): equal-budget comparisons.", rich_help_panel="Optimisation")]
FromScratchOpt = Annotated[bool, typer.Option("--from-scratch", help="Random weights in the model's architecture (the no-transfer baseline).", rich_help_panel="Model")]
DevSplitOpt = Annotated[Optional[float], typer.Option(help="Without --dev: hold out this share of the training rows as the dev set (seeded).", rich_help_panel="Data")]
SearchOpt = Annotated[Optional[int], typer.Option(help="Hyperparameter search: N Optuna trials on the dev metric, then the table and the best config.", rich_help_panel="Search")]

#: the engine options every app's ``train`` shares: (parameter, type, default)
ENGINE_OPTIONS: list[tuple[str, Any, Any]] = [
    ("config", ConfigOpt, None), ("resume", ResumeOpt, None), ("allow_pickle", AllowPickleOpt, False),
    ("from_scratch", FromScratchOpt, False),
    ("max_train_samples", MaxTrainSamplesOpt, None), ("dev_split", DevSplitOpt, None), ("skip_bad_rows", SkipBadRowsOpt, False),
    ("strategy", StrategyOpt, None), ("freeze_layers", FreezeLayersOpt, None), ("unfreeze_every", UnfreezeEveryOpt, None),
    ("lora_r", LoraROpt, None), ("lora_alpha", LoraAlphaOpt, None), ("lora_dropout", LoraDropoutOpt, None),
    ("target_modules", TargetModulesOpt, None), ("virtual_tokens", VirtualTokensOpt, None),
    ("adapter_reduction", AdapterReductionOpt, None), ("no_merged", NoMergedOpt, False), ("cache_features", CacheFeaturesOpt, False),
    ("epochs", EpochsOpt, None), ("batch_size", BatchSizeOpt, None), ("learning_rate", LearningRateOpt, None),
    ("warmup", WarmupOpt, None), ("weight_decay", WeightDecayOpt, None), ("scheduler", SchedulerOpt, None),
    ("grad_accum", GradAccumOpt, None), ("layer_lr_decay", LayerLrDecayOpt, None), ("head_lr_scale", HeadLrScaleOpt, None),
    ("seed", SeedOpt, None), ("early_stopping", EarlyStoppingOpt, None), ("max_steps", MaxStepsOpt, None), ("max_train_minutes", MaxTrainMinutesOpt, None),
    ("no_group_by_length", NoGroupByLengthOpt, False),
    ("label_smoothing", LabelSmoothingOpt, None), ("dropout", DropoutOpt, None), ("fgm", FgmOpt, None),
    ("class_weights", ClassWeightsOpt, None), ("oversample", OversampleOpt, False),
    ("init_from", InitFromOpt, None), ("replay", ReplayOpt, None), ("search", SearchOpt, None),
    ("evals_per_epoch", EvalsPerEpochOpt, None), ("save_steps", SaveStepsOpt, None), ("eval_steps", EvalStepsOpt, None),
    ("keep_checkpoints", KeepCheckpointsOpt, False),
    ("device", DeviceOpt, None), ("precision", PrecisionOpt, None), ("threads", ThreadsOpt, None),
    ("name", NameOpt, None), ("runs_dir", RunsDirOpt, None),
]


# -- defaults shown in --help ------------------------------------------------------------------------------------
# Every engine option defaults to None ("not given": the app's defaults, then --config, decide; see
# config.build_config), so Typer has no default to show. Help shows the effective one instead: TrainConfig's
# default overridden by the app's (AppSpec.defaults), written into the help text.

#: engine option -> TrainConfig field, where the names differ
OPTION_FIELDS = {"fgm": "fgm_epsilon"}
#: options that name an action or a file, not a setting: no default to show
NO_DEFAULT = frozenset({"config", "resume", "search", "init_from"})
#: what leaving an option unset means, where its config default is None
UNSET = {
    "max_train_samples": "all rows",
    "max_steps": "none, --epochs decides",
    "max_train_minutes": "none",
    "eval_steps": "at every checkpoint",
    "threads": "torch's default",
    "dropout": "the model's own",
}


def app_defaults(spec: AppSpec | None) -> dict[str, Any]:
    """The value of every config field when neither ``--config`` nor the command line sets it: TrainConfig's
    defaults, overridden by the app's (``extra``: the app's task options, merged key by key)."""
    from ..config import TrainConfig

    values = TrainConfig().to_dict()
    if spec is not None:
        values["model"] = spec.default_model
        for key, value in spec.defaults.items():
            values[key] = {**values.get("extra", {}), **value} if key == "extra" else value
    return values


def show(value: Any) -> str:
    """A default as help prints it: ``5``, ``0.0001``, ``2e-05``, ``auto``, ``a,b``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}".replace("e-0", "e-")
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def with_default(text: str, default: str) -> str:
    """``text`` with ``(default: ...)`` at its end."""
    text = text.rstrip()
    dot = "." if text.endswith(".") and not text.endswith("..") else ""
    return f"{text[:-1] if dot else text} (default: {default}){dot}"


def defaulted(annotated: Any, default: str) -> Any:
    """The same ``Annotated[type, typer.Option(...)]`` with ``(default: ...)`` added to its help."""
    import copy

    base, info = get_args(annotated)[:2]
    info = copy.copy(info)
    info.help = with_default(info.help or "", default)
    return Annotated[base, info]


def _strategy_note(key: str, app_value: float) -> str:
    """How the strategies change an app default the user did not set (learning rate, head rate, layer decay)."""
    from ..training.strategies import STRATEGIES

    groups: dict[str, list[str]] = {}
    for strategy in STRATEGIES.values():
        if key == "learning_rate":
            value = app_value * strategy.lr_scale
        else:
            value = strategy.defaults.get(key, app_value)
        groups.setdefault(show(float(value)), []).append(strategy.name)
    if len(groups) == 1:
        return show(float(app_value))
    return "; ".join(f"{value} with {', '.join(names)}" for value, names in groups.items())


def engine_default(name: str, defaults: dict[str, Any], *, strategies: bool = True) -> str | None:
    """The default to show for engine option ``name`` (None: show none, e.g. flags and actions)."""
    if name in NO_DEFAULT:
        return None
    field = OPTION_FIELDS.get(name, name)
    if field not in defaults:
        return None
    value = defaults[field]
    if value is None:
        return UNSET.get(name)
    if strategies and field in ("learning_rate", "head_lr_scale", "layer_lr_decay"):
        return _strategy_note(field, value)
    return show(value)


def with_engine_options(func: Any = None, *, exclude: tuple[str, ...] = (), spec: AppSpec | None = None) -> Any:
    """Give a Typer ``train`` command every engine option of :data:`ENGINE_OPTIONS` (less ``exclude``), after its own.

    The command declares its app-specific options (model, data, metric...) and one parameter ``engine``; it
    receives the engine options' values as a dict there (pass it to :func:`engine_overrides`). Each option's help
    ends with its effective default for ``spec`` (the app's, else TrainConfig's); the value stays ``None`` when
    not given.
    """
    import functools
    import inspect

    if func is None:
        return lambda f: with_engine_options(f, exclude=exclude, spec=spec)
    defaults = app_defaults(spec)
    strategies = "lora_r" in {o[0] for o in ENGINE_OPTIONS if o[0] not in exclude}
    options = []
    for name, annotated, default in ENGINE_OPTIONS:
        if name in exclude:
            continue
        kind, info = get_args(annotated)[:2]
        shown = None if kind is bool else engine_default(name, defaults, strategies=strategies)  # a flag: off unless given
        if shown is not None and "default" not in (info.help or ""):
            annotated = defaulted(annotated, shown)
        options.append((name, annotated, default))
    signature = inspect.signature(func)
    own = [p for p in signature.parameters.values() if p.name != "engine"]
    added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a) for n, a, d in options]

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        engine = {n: kwargs.pop(n) for n, _, _ in options}
        return func(engine=engine, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**{p.name: p.annotation for p in own}, **{n: a for n, a, _ in options}}
    del wrapper.__wrapped__  # Typer must read the new signature, not the wrapped one's
    return wrapper


def engine_overrides(engine: dict[str, Any], **app_options: Any) -> dict[str, Any]:
    """Config overrides from the engine options and the command's own (``None``: not given, so lower layers
    decide). ``config``, ``resume`` and ``search`` are not config fields and are left out."""
    e = dict(engine)
    overrides: dict[str, Any] = {
        k: e.get(k)
        for k in (
            "max_train_samples", "strategy", "freeze_layers", "unfreeze_every", "lora_r", "lora_alpha", "lora_dropout",
            "virtual_tokens", "adapter_reduction", "epochs", "batch_size", "learning_rate", "warmup", "weight_decay",
            "scheduler", "grad_accum", "layer_lr_decay", "head_lr_scale", "seed", "early_stopping", "max_steps",
            "label_smoothing", "dropout", "class_weights", "init_from", "replay", "evals_per_epoch", "save_steps",
            "eval_steps", "device", "precision", "threads", "name", "dev_split", "max_train_minutes",
        )
    }
    overrides.update(
        runs_dir=e.get("runs_dir") or os.environ.get("TLSUITE_RUNS_DIR"),
        allow_pickle=e.get("allow_pickle") or None,
        skip_bad_rows=e.get("skip_bad_rows") or None,
        keep_checkpoints=e.get("keep_checkpoints") or None,
        group_by_length=False if e.get("no_group_by_length") else None,
        export_merged=False if e.get("no_merged") else None,
        oversample=e.get("oversample") or None,
        cache_features=e.get("cache_features") or None,
        from_scratch=e.get("from_scratch") or None,
        fgm_epsilon=e.get("fgm"),
        target_modules=[m.strip() for m in e["target_modules"].split(",") if m.strip()] if e.get("target_modules") else None,
    )
    overrides.update(app_options)
    return overrides


def run_training(spec: AppSpec, engine: dict[str, Any], overrides: dict[str, Any], *, run_path: Path | None = None) -> None:
    """Resolve the configuration (or the resumed run's), train (or search), and print the run folder on stdout."""
    from ..training.engine import resolve_training_config, train as engine_train

    config, resume, search = engine.get("config"), engine.get("resume"), engine.get("search")
    if resume is not None:
        overrides["runs_dir"] = engine.get("runs_dir")
    if search is not None:
        if resume is not None:
            raise ConfigError("--search starts new trials; it cannot --resume a run")
        from ..training.search import run_search

        result = run_search(spec, trials=search, config_file=config, overrides=overrides, console=err, registry=get_host().registry)
        err.print(f"[green]search completed[/] {result}")
        typer.echo(str(result))
        return
    cfg, resume_run = resolve_training_config(spec, config_file=config, overrides=overrides, resume=resume)
    result = engine_train(
        spec, cfg, registry=get_host().registry, resume_run=resume_run, console=err, run_path=run_path if resume is None else None
    )
    err.print(f"[green]completed[/] {result.path}")
    typer.echo(str(result.path))


def run_comparison(spec: AppSpec, engine: dict[str, Any], overrides: dict[str, Any], strategies: str | None, test: str | None) -> None:
    """``<app> compare``: train each strategy and the baselines; print the report folder on stdout."""
    from ..training.compare import parse_strategies, run_compare

    folder = run_compare(
        spec, strategies=parse_strategies(strategies), config_file=engine.get("config"), overrides=overrides, test=test,
        console=err, registry=get_host().registry,
    )
    err.print((folder / "compare.md").read_text(encoding="utf-8"))
    err.print(f"[green]report written[/] {folder}/compare.md, compare.csv, compare.json, compare.png")
    typer.echo(str(folder))


#: engine options that make no sense for ``compare`` (it sets the strategy and the baselines itself)
NOT_FOR_COMPARE = ("strategy", "search", "resume", "init_from", "replay", "from_scratch", "cache_features")
StrategiesOpt = Annotated[Optional[str], typer.Option(help="Comma-separated strategies to compare (default: full,frozen,partial,gradual,lora,ia3,prefix); the majority and from-scratch baselines are always added.", rich_help_panel="Compare")]
TestOpt = Annotated[Optional[str], typer.Option(help="Also score every strategy on this labelled test file.", rich_help_panel="Compare")]


def runs_dir_of(value: str | None) -> str:
    return value or os.environ.get("TLSUITE_RUNS_DIR") or "runs"


def model_for_use(spec: AppSpec, model: str | None, runs_dir: str) -> str:
    from ..training.runs import default_run

    if model is not None:
        return model
    run = default_run(runs_dir, spec.name)
    err.print(f"[dim]using the latest completed {spec.name} run: {run}[/]")
    return str(run)


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_plain_text(input_file: str) -> tuple[str, str]:
    """The whole text of a UTF-8 file, or of stdin for ``-``."""
    if input_file == "-":
        return sys.stdin.read(), "stdin"
    path = Path(input_file)
    if not path.is_file():
        raise DataError("file not found", path=path)
    try:
        return path.read_bytes().decode("utf-8"), str(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"bytes at offset {exc.start} are not valid UTF-8", path=path) from None


def read_texts(inputs: list[str], input_file: str | None, text_col: str | None, fmt: str | None, *, strip: bool = True) -> tuple[list[str], str]:
    """Texts to predict from arguments, a file (txt: one per line; csv/tsv/jsonl: a text column) or stdin.

    ``strip=False`` keeps each text exactly as given (needed where results point into the text by offsets).
    """
    from ..data import TEXT_COLUMNS, pick_column, read_table

    clean = (lambda t: t.strip()) if strip else (lambda t: t)
    if inputs and input_file:
        raise ConfigError("give texts as arguments or --input FILE, not both")
    if inputs:
        return list(inputs), "arguments"
    if input_file is None:
        if sys.stdin.isatty():
            raise ConfigError("nothing to predict: give texts as arguments, --input FILE, or pipe texts on stdin")
        input_file = "-"
    if input_file == "-" or (fmt in (None, "txt") and Path(input_file).suffix.lower() in (".txt", "")):
        raw, source = read_plain_text(input_file)
        texts = [clean(line.rstrip("\r")) for line in raw.split("\n") if line.strip()]
        if not texts:
            raise DataError("no texts (every line is empty)", path=source)
        return texts, source
    table = read_table(input_file, fmt)
    column = pick_column(table, text_col, TEXT_COLUMNS, "text", "--text-col")
    texts = []
    for row, line in zip(table.rows, table.lines):
        value = row.get(column)
        if not isinstance(value, str) or not value.strip():
            raise DataError("empty text", path=table.source, line=line, field=column)
        texts.append(clean(value))
    if not texts:
        raise DataError("no data rows", path=table.source)
    return texts, table.source
