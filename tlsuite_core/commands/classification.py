"""``train`` / ``evaluate`` / ``predict`` for any text-classification app.

A plugin calls :func:`classification_commands` with its :class:`~tlsuite_core.apps.AppSpec` and adds the returned
``typer.Typer`` (plus any domain commands of its own) to the CLI.
"""


import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from ..apps import AppSpec
from ..errors import ConfigError, DataError

err = Console(stderr=True, highlight=False)


def _runs_dir(value: str | None) -> str:
    return value or os.environ.get("TLSUITE_RUNS_DIR") or "runs"


def _model_for_use(spec: AppSpec, model: str | None, runs_dir: str) -> str:
    from ..training.runs import default_run

    if model is not None:
        return model
    run = default_run(runs_dir, spec.name)
    err.print(f"[dim]using the latest completed {spec.name} run: {run}[/]")
    return str(run)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_texts(inputs: list[str], input_file: str | None, text_col: str | None, fmt: str | None) -> tuple[list[str], str]:
    """Texts to predict from arguments, a file (txt: one per line; csv/tsv/jsonl: a text column) or stdin."""
    from ..data import TEXT_COLUMNS, pick_column, read_table

    if inputs and input_file:
        raise ConfigError("give texts as arguments or --input FILE, not both")
    if inputs:
        return list(inputs), "arguments"
    if input_file is None:
        if sys.stdin.isatty():
            raise ConfigError("nothing to predict: give texts as arguments, --input FILE, or pipe texts on stdin")
        input_file = "-"
    if input_file == "-" or Path(input_file).suffix.lower() in (".txt", ""):
        if input_file == "-":
            raw, source = sys.stdin.read(), "stdin"
        else:
            path = Path(input_file)
            if not path.is_file():
                raise DataError("file not found", path=path)
            try:
                raw, source = path.read_bytes().decode("utf-8"), str(path)
            except UnicodeDecodeError as exc:
                raise DataError(f"bytes at offset {exc.start} are not valid UTF-8", path=path) from None
        texts = [line.strip() for line in raw.splitlines() if line.strip()]
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
        texts.append(value.strip())
    if not texts:
        raise DataError("no data rows", path=table.source)
    return texts, table.source


def classification_commands(spec: AppSpec) -> typer.Typer:
    """The train / evaluate / predict command group for a classification app."""
    app = typer.Typer(help=spec.description, epilog=f"Example: tlsuite {spec.name} train --train train.csv --dev dev.csv", no_args_is_help=True)
    name = spec.name

    @app.command(
        epilog=(
            f"Examples: tlsuite {name} train   (demo data, default model)  |  "
            f"tlsuite {name} train --train train.csv --dev dev.csv --epochs 4  |  "
            f"tlsuite {name} train --config run.yaml --seed 2  |  tlsuite {name} train --resume runs/{name}/NAME"
        )
    )
    def train(
        config: Annotated[Optional[str], typer.Option(help="YAML file of options; command-line options override it.", rich_help_panel="Config")] = None,
        resume: Annotated[Optional[str], typer.Option(help="Continue an interrupted run folder from its last checkpoint, exactly.", rich_help_panel="Config")] = None,
        model: Annotated[Optional[str], typer.Option(help=f"Model alias, model/run folder or hub id (default: {spec.default_model}).", rich_help_panel="Model")] = None,
        allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="Allow pickle (.bin) weights.", rich_help_panel="Model")] = False,
        train: Annotated[Optional[str], typer.Option(help="Training data: CSV/TSV/JSONL, PhraseBank .txt, or hf:org/name[:split]. Default: demo data.", rich_help_panel="Data")] = None,
        dev: Annotated[Optional[str], typer.Option(help="Dev data for evaluation, model selection and early stopping.", rich_help_panel="Data")] = None,
        text_col: Annotated[Optional[str], typer.Option(help="Text column (default: auto: text, sentence, headline...).", rich_help_panel="Data")] = None,
        label_col: Annotated[Optional[str], typer.Option(help="Label column (default: auto: label, sentiment...).", rich_help_panel="Data")] = None,
        format: Annotated[Optional[str], typer.Option("--format", help="Data format (csv, tsv, jsonl, phrasebank, hub) (default: by suffix).", rich_help_panel="Data")] = None,
        labels: Annotated[Optional[str], typer.Option(help="Comma-separated label order for the model head.", rich_help_panel="Data")] = None,
        max_train_samples: Annotated[Optional[int], typer.Option(help="Use a random subset of N training rows.", rich_help_panel="Data")] = None,
        skip_bad_rows: Annotated[bool, typer.Option("--skip-bad-rows", help="Drop bad rows (listed in report/skipped_rows.json) instead of failing.", rich_help_panel="Data")] = False,
        max_length: Annotated[Optional[int], typer.Option(help="Token limit per text (truncations are reported).", rich_help_panel="Data")] = None,
        epochs: Annotated[Optional[float], typer.Option(help="Training epochs.", rich_help_panel="Optimisation")] = None,
        batch_size: Annotated[Optional[int], typer.Option(help="Batch size per device.", rich_help_panel="Optimisation")] = None,
        learning_rate: Annotated[Optional[float], typer.Option("--learning-rate", "--lr", help="Peak learning rate.", rich_help_panel="Optimisation")] = None,
        warmup: Annotated[Optional[float], typer.Option(help="Warmup: ratio of steps (<1) or steps (>=1).", rich_help_panel="Optimisation")] = None,
        weight_decay: Annotated[Optional[float], typer.Option(help="AdamW weight decay.", rich_help_panel="Optimisation")] = None,
        scheduler: Annotated[Optional[str], typer.Option(help="LR schedule: linear, cosine, constant, ...", rich_help_panel="Optimisation")] = None,
        grad_accum: Annotated[Optional[int], typer.Option(help="Gradient accumulation steps.", rich_help_panel="Optimisation")] = None,
        layer_lr_decay: Annotated[Optional[float], typer.Option(help="Layer-wise LR decay: each layer below the top trains at this factor of the one above (1: off).", rich_help_panel="Optimisation")] = None,
        head_lr_scale: Annotated[Optional[float], typer.Option(help="Learning rate of the task head relative to --lr.", rich_help_panel="Optimisation")] = None,
        label_smoothing: Annotated[Optional[float], typer.Option(help="Label-smoothing factor of the loss.", rich_help_panel="Optimisation")] = None,
        seed: Annotated[Optional[int], typer.Option(help="Random seed (init, data order, dropout).", rich_help_panel="Optimisation")] = None,
        class_weights: Annotated[Optional[str], typer.Option(help="none | balanced (loss weighted by inverse class frequency).", rich_help_panel="Optimisation")] = None,
        early_stopping: Annotated[Optional[int], typer.Option(help="Stop after N evaluations without improvement of --metric (0: off).", rich_help_panel="Optimisation")] = None,
        metric: Annotated[Optional[str], typer.Option(help="Dev metric for model selection and early stopping (macro_f1, accuracy, loss, f1_<label>).", rich_help_panel="Optimisation")] = None,
        max_steps: Annotated[Optional[int], typer.Option(help="Stop after N optimiser steps (quick runs).", rich_help_panel="Optimisation")] = None,
        evals_per_epoch: Annotated[Optional[int], typer.Option(help="Evaluate and checkpoint N times per epoch.", rich_help_panel="Checkpoints")] = None,
        save_steps: Annotated[Optional[int], typer.Option(help="Checkpoint and evaluate every N steps (default: --evals-per-epoch times per epoch).", rich_help_panel="Checkpoints")] = None,
        eval_steps: Annotated[Optional[int], typer.Option(help="Evaluate every N steps (must divide --save-steps).", rich_help_panel="Checkpoints")] = None,
        keep_checkpoints: Annotated[bool, typer.Option("--keep-checkpoints", help="Keep checkpoints/ after the run completes.", rich_help_panel="Checkpoints")] = False,
        no_group_by_length: Annotated[bool, typer.Option("--no-group-by-length", help="Random batches instead of length-grouped ones.", rich_help_panel="Optimisation")] = False,
        device: Annotated[Optional[str], typer.Option(help="auto | cpu | cuda | cuda:N | mps.", rich_help_panel="Device")] = None,
        precision: Annotated[Optional[str], typer.Option(help="auto | fp32 | bf16 | fp16 (auto: bf16 on capable GPUs, fp32 on CPU).", rich_help_panel="Device")] = None,
        threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch.", rich_help_panel="Device")] = None,
        name: Annotated[Optional[str], typer.Option(help="Run name (folder under runs/<app>/) (default: timestamp).", rich_help_panel="Output")] = None,
        runs_dir: Annotated[Optional[str], typer.Option(help="Where run folders go (default: $TLSUITE_RUNS_DIR or ./runs).", rich_help_panel="Output")] = None,
    ) -> None:
        """Fine-tune a pretrained model on labelled texts; writes a run folder (model, metrics, report)."""
        from ..training.engine import resolve_training_config, train as run_training

        overrides: dict[str, Any] = dict(
            model=model, train=train, dev=dev, text_col=text_col, label_col=label_col, format=format,
            labels=labels, max_length=max_length, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
            warmup=warmup, weight_decay=weight_decay, scheduler=scheduler, grad_accum=grad_accum, seed=seed,
            layer_lr_decay=layer_lr_decay, head_lr_scale=head_lr_scale, label_smoothing=label_smoothing,
            class_weights=class_weights, early_stopping=early_stopping, metric=metric, max_steps=max_steps,
            max_train_samples=max_train_samples, evals_per_epoch=evals_per_epoch, save_steps=save_steps, eval_steps=eval_steps, device=device,
            precision=precision, threads=threads, name=name, runs_dir=runs_dir or os.environ.get("TLSUITE_RUNS_DIR"),
            allow_pickle=allow_pickle or None, skip_bad_rows=skip_bad_rows or None,
            keep_checkpoints=keep_checkpoints or None, group_by_length=False if no_group_by_length else None,
        )
        if resume is not None:
            overrides["runs_dir"] = runs_dir
        cfg, resume_run = resolve_training_config(spec, config_file=config, overrides=overrides, resume=resume)
        result = run_training(spec, cfg, resume_run=resume_run, console=err)
        err.print(f"[green]completed[/] {result.path}")
        typer.echo(str(result.path))

    @app.command(epilog=f"Example: tlsuite {name} evaluate --model runs/{name}/NAME --data test.csv --output metrics.json")
    def evaluate(
        data: Annotated[str, typer.Option(help="Labelled data to evaluate on (same formats as train).")],
        model: Annotated[Optional[str], typer.Option(help="Run folder (default: the app's latest completed run).")] = None,
        output: Annotated[Optional[Path], typer.Option(help="Write the metrics as JSON here.")] = None,
        text_col: Annotated[Optional[str], typer.Option(help="Text column (default: auto).")] = None,
        label_col: Annotated[Optional[str], typer.Option(help="Label column (default: auto).")] = None,
        format: Annotated[Optional[str], typer.Option("--format", help="Data format (default: by suffix).")] = None,
        skip_bad_rows: Annotated[bool, typer.Option("--skip-bad-rows", help="Drop bad rows (counted in the output) instead of failing.")] = False,
        batch_size: Annotated[int, typer.Option(help="Inference batch size.")] = 64,
        device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N | mps.")] = "auto",
        threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch.")] = None,
        runs_dir: Annotated[Optional[str], typer.Option(help="Where run folders are (default: ./runs).")] = None,
    ) -> None:
        """Score a trained run on labelled data: accuracy, macro-F1, per-class P/R/F1, confusion matrix."""
        from ..apps import load_app
        from ..data import load_labelled

        ref = _model_for_use(spec, model, _runs_dir(runs_dir))
        labelled = load_labelled(data, text_column=text_col, label_column=label_col, fmt=format, skip_bad_rows=skip_bad_rows)
        trained = load_app(ref, device=device, threads=threads)
        metrics = trained.evaluate(labelled, batch_size=batch_size)
        result = {
            **metrics,
            "model": str(trained.run_dir or trained.model_dir),
            "data": labelled.describe(),
        }
        if output is not None:
            _write_atomically(output, json.dumps(result, indent=2) + "\n")
        table = Table(title=f"{name} evaluation on {data} (n={metrics['n']})")
        for col in ("label", "precision", "recall", "f1", "support"):
            table.add_column(col, justify="right" if col != "label" else "left")
        for label, v in metrics["per_class"].items():
            table.add_row(label, f"{v['precision']:.4f}", f"{v['recall']:.4f}", f"{v['f1']:.4f}", str(v["support"]))
        out = Console()
        out.print(table)
        out.print(f"accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}   weighted-F1 {metrics['weighted_f1']:.4f}")
        cm = metrics["confusion_matrix"]
        out.print("confusion matrix (rows: true, columns: predicted): " + ", ".join(cm["labels"]))
        for label, row in zip(cm["labels"], cm["matrix"]):
            out.print(f"  {label:>12} " + " ".join(f"{x:>6}" for x in row))
        if labelled.skipped:
            err.print(f"[yellow]{len(labelled.skipped)} bad rows skipped[/]")
        if output is not None:
            err.print(f"metrics written to {output}")

    @app.command(
        epilog=(
            f'Examples: tlsuite {name} predict "Operating profit rose 20 % year on year"  |  '
            f"tlsuite {name} predict --input news.csv --output predictions.jsonl  |  cat headlines.txt | tlsuite {name} predict"
        )
    )
    def predict(
        texts: Annotated[Optional[list[str]], typer.Argument(help="Texts to classify (or use --input, or stdin).")] = None,
        input: Annotated[Optional[str], typer.Option("--input", "-i", help="File of texts: .txt (one per line), CSV/TSV/JSONL (text column), or - for stdin.")] = None,
        model: Annotated[Optional[str], typer.Option(help="Run folder (default: the app's latest completed run).")] = None,
        output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write predictions to this file (.csv or .jsonl) instead of stdout.")] = None,
        output_format: Annotated[Optional[str], typer.Option("--output-format", help="table | csv | jsonl (default: by --output suffix, else table).")] = None,
        text_col: Annotated[Optional[str], typer.Option(help="Text column of a CSV/TSV/JSONL input (default: auto).")] = None,
        format: Annotated[Optional[str], typer.Option("--format", help="Input data format (default: by suffix).")] = None,
        batch_size: Annotated[int, typer.Option(help="Inference batch size.")] = 64,
        device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N | mps.")] = "auto",
        threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch.")] = None,
        runs_dir: Annotated[Optional[str], typer.Option(help="Where run folders are (default: ./runs).")] = None,
    ) -> None:
        """Classify texts with a trained run: label and per-class probabilities, batched."""
        from ..apps import load_app

        kind = output_format or (output.suffix.lower().lstrip(".") if output is not None else "table")
        if kind not in ("table", "csv", "jsonl"):
            raise ConfigError(f"--output-format {kind}: expected table, csv or jsonl")
        if kind == "table" and output is not None:
            raise ConfigError("--output needs a .csv or .jsonl file (or --output-format csv|jsonl)")
        items, _ = read_texts(texts or [], input, text_col, format)
        ref = _model_for_use(spec, model, _runs_dir(runs_dir))
        trained = load_app(ref, device=device, threads=threads)
        predictions = trained.predict(items, batch_size=batch_size)
        labels = trained.labels
        if kind == "jsonl":
            text = "".join(json.dumps({"text": t, **p.as_dict()}, ensure_ascii=False) + "\n" for t, p in zip(items, predictions))
        elif kind == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(["text", "label", "score", *[f"p_{l}" for l in labels]])
            for t, p in zip(items, predictions):
                writer.writerow([t, p.label, f"{p.score:.6f}", *[f"{p.scores[l]:.6f}" for l in labels]])
            text = buf.getvalue()
        else:
            table = Table(show_lines=False)
            table.add_column("text", overflow="fold", ratio=3)
            table.add_column("label")
            for l in labels:
                table.add_column(f"p({l})", justify="right")
            for t, p in zip(items, predictions):
                table.add_row(t, p.label, *[f"{p.scores[l]:.3f}" for l in labels])
            Console().print(table)
            return
        if output is not None:
            _write_atomically(output, text)
            err.print(f"{len(items)} predictions written to {output}")
        else:
            sys.stdout.write(text)

    return app
