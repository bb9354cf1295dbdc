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
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from ..apps import AppSpec
from ..errors import ConfigError, DataError

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


def engine_overrides(
    *,
    model: str | None,
    allow_pickle: bool,
    train: str | None,
    dev: str | None,
    max_train_samples: int | None,
    skip_bad_rows: bool,
    max_length: int | None,
    epochs: float | None,
    batch_size: int | None,
    learning_rate: float | None,
    warmup: float | None,
    weight_decay: float | None,
    scheduler: str | None,
    grad_accum: int | None,
    layer_lr_decay: float | None,
    head_lr_scale: float | None,
    label_smoothing: float | None,
    seed: int | None,
    class_weights: str | None,
    early_stopping: int | None,
    metric: str | None,
    max_steps: int | None,
    evals_per_epoch: int | None,
    save_steps: int | None,
    eval_steps: int | None,
    keep_checkpoints: bool,
    no_group_by_length: bool,
    device: str | None,
    precision: str | None,
    threads: int | None,
    name: str | None,
    runs_dir: str | None,
) -> dict[str, Any]:
    """The engine's options as config overrides (``None``: not given, so lower layers decide)."""
    return dict(
        model=model, train=train, dev=dev, max_length=max_length, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, warmup=warmup, weight_decay=weight_decay, scheduler=scheduler,
        grad_accum=grad_accum, seed=seed, layer_lr_decay=layer_lr_decay, head_lr_scale=head_lr_scale,
        label_smoothing=label_smoothing, class_weights=class_weights, early_stopping=early_stopping, metric=metric,
        max_steps=max_steps, max_train_samples=max_train_samples, evals_per_epoch=evals_per_epoch,
        save_steps=save_steps, eval_steps=eval_steps, device=device, precision=precision, threads=threads, name=name,
        runs_dir=runs_dir or os.environ.get("TLSUITE_RUNS_DIR"), allow_pickle=allow_pickle or None,
        skip_bad_rows=skip_bad_rows or None, keep_checkpoints=keep_checkpoints or None,
        group_by_length=False if no_group_by_length else None,
    )


def run_training(spec: AppSpec, *, config: str | None, resume: str | None, overrides: dict[str, Any], runs_dir: str | None) -> None:
    """Resolve the configuration (or the resumed run's), train, and print the run folder on stdout."""
    from ..training.engine import resolve_training_config, train as engine_train

    if resume is not None:
        overrides["runs_dir"] = runs_dir
    cfg, resume_run = resolve_training_config(spec, config_file=config, overrides=overrides, resume=resume)
    result = engine_train(spec, cfg, resume_run=resume_run, console=err)
    err.print(f"[green]completed[/] {result.path}")
    typer.echo(str(result.path))


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
