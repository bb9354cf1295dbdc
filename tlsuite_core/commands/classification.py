"""``train`` / ``evaluate`` / ``predict`` for any text-classification app.

A plugin calls :func:`classification_commands` with its :class:`~tlsuite_core.apps.AppSpec` and adds the returned
``typer.Typer`` (plus any domain commands of its own) to the CLI.
"""


import csv
import io
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from ..apps import AppSpec
from ..errors import ConfigError
from .common import (
    UseBatchSizeOpt, UseDeviceOpt, UseModelOpt, UseRunsDirOpt, UseThreadsOpt, app_defaults, engine_overrides, err,
    model_for_use, read_texts, run_comparison, run_training, runs_dir_of, show, with_default, with_engine_options,
    write_atomically, NOT_FOR_COMPARE, StrategiesOpt, TestOpt,
)

__all__ = ["classification_commands", "read_texts"]


def classification_commands(spec: AppSpec) -> typer.Typer:
    """The train / evaluate / predict command group for a classification app."""
    app = typer.Typer(help=spec.description, epilog=f"Example: tlsuite {spec.name} train --train train.csv --dev dev.csv", no_args_is_help=True)
    name = spec.name
    defaults = app_defaults(spec)
    label_order = (f"{','.join(spec.default_labels)} when the data's labels fit it, else sorted" if spec.default_labels
                   else "sorted")
    dev_default = "the demo dev set with the demo data, else none" if spec.demo_dev else "none"

    @app.command(
        epilog=(
            f"Examples: tlsuite {name} train   (demo data, default model)  |  "
            f"tlsuite {name} train --train train.csv --dev dev.csv --epochs 4  |  "
            f"tlsuite {name} train --config run.yaml --seed 2  |  tlsuite {name} train --strategy lora  |  "
            f"tlsuite {name} train --search 20  |  tlsuite {name} train --resume runs/{name}/NAME"
        )
    )
    @with_engine_options(spec=spec)
    def train(
        engine: dict,
        model: Annotated[Optional[str], typer.Option(help=f"Model alias, model/run folder or hub id (default: {spec.default_model}).", rich_help_panel="Model")] = None,
        train: Annotated[Optional[str], typer.Option(help="Training data: CSV/TSV/JSONL, PhraseBank .txt, or hf:org/name[:split]. Default: demo data.", rich_help_panel="Data")] = None,
        dev: Annotated[Optional[str], typer.Option(help=with_default("Dev data for evaluation, model selection and early stopping.", dev_default), rich_help_panel="Data")] = None,
        text_col: Annotated[Optional[str], typer.Option(help="Text column (default: auto: text, sentence, headline...).", rich_help_panel="Data")] = None,
        label_col: Annotated[Optional[str], typer.Option(help="Label column (default: auto: label, sentiment...).", rich_help_panel="Data")] = None,
        format: Annotated[Optional[str], typer.Option("--format", help="Data format (csv, tsv, jsonl, phrasebank, hub) (default: by suffix).", rich_help_panel="Data")] = None,
        labels: Annotated[Optional[str], typer.Option(help=with_default("Comma-separated label order for the model head.", label_order), rich_help_panel="Data")] = None,
        max_length: Annotated[Optional[int], typer.Option(help=with_default("Token limit per text (truncations are reported).", show(defaults["max_length"])), rich_help_panel="Data")] = None,
        metric: Annotated[Optional[str], typer.Option(help=with_default("Dev metric for model selection and early stopping: macro_f1, accuracy, loss, f1_<label>.", defaults["metric"]), rich_help_panel="Optimisation")] = None,
    ) -> None:
        """Fine-tune a pretrained model on labelled texts; writes a run folder (model, metrics, report)."""
        overrides = engine_overrides(
            engine, model=model, train=train, dev=dev, text_col=text_col, label_col=label_col, format=format,
            labels=labels, max_length=max_length, metric=metric,
        )
        run_training(spec, engine, overrides)

    @app.command(
        epilog=(
            f"Examples: tlsuite {name} compare --train train.csv --dev dev.csv   (full,frozen,partial,gradual,lora,ia3,prefix + baselines)  |  "
            f"tlsuite {name} compare --train train.csv --dev dev.csv --test test.csv --strategies full,lora,houlsby --seed 2"
        )
    )
    @with_engine_options(exclude=NOT_FOR_COMPARE, spec=spec)
    def compare(
        engine: dict,
        strategies: StrategiesOpt = None,
        test: TestOpt = None,
        model: Annotated[Optional[str], typer.Option(help=f"Model alias, model/run folder or hub id (default: {spec.default_model}).", rich_help_panel="Model")] = None,
        train: Annotated[Optional[str], typer.Option(help="Training data (same formats as train). Default: demo data.", rich_help_panel="Data")] = None,
        dev: Annotated[Optional[str], typer.Option(help=with_default("Dev data: every strategy is scored on it.", dev_default), rich_help_panel="Data")] = None,
        text_col: Annotated[Optional[str], typer.Option(help="Text column (default: auto).", rich_help_panel="Data")] = None,
        label_col: Annotated[Optional[str], typer.Option(help="Label column (default: auto).", rich_help_panel="Data")] = None,
        format: Annotated[Optional[str], typer.Option("--format", help="Data format (default: by suffix).", rich_help_panel="Data")] = None,
        labels: Annotated[Optional[str], typer.Option(help=with_default("Comma-separated label order for the model head.", label_order), rich_help_panel="Data")] = None,
        max_length: Annotated[Optional[int], typer.Option(help=with_default("Token limit per text.", show(defaults["max_length"])), rich_help_panel="Data")] = None,
        metric: Annotated[Optional[str], typer.Option(help=with_default("Dev metric the report compares.", defaults["metric"]), rich_help_panel="Optimisation")] = None,
    ) -> None:
        """Train several strategies and two baselines on the same data and seed; write a table and a chart."""
        overrides = engine_overrides(
            engine, model=model, train=train, dev=dev, text_col=text_col, label_col=label_col, format=format,
            labels=labels, max_length=max_length, metric=metric,
        )
        run_comparison(spec, engine, overrides, strategies, test)

    @app.command(epilog=f"Example: tlsuite {name} evaluate --model runs/{name}/NAME --data test.csv --output metrics.json")
    def evaluate(
        data: Annotated[str, typer.Option(help="Labelled data to evaluate on (same formats as train).")],
        model: UseModelOpt = None,
        output: Annotated[Optional[Path], typer.Option(help="Write the metrics as JSON here.")] = None,
        text_col: Annotated[Optional[str], typer.Option(help="Text column (default: auto).")] = None,
        label_col: Annotated[Optional[str], typer.Option(help="Label column (default: auto).")] = None,
        format: Annotated[Optional[str], typer.Option("--format", help="Data format (default: by suffix).")] = None,
        skip_bad_rows: Annotated[bool, typer.Option("--skip-bad-rows", help="Drop bad rows (counted in the output) instead of failing.")] = False,
        batch_size: UseBatchSizeOpt = 64,
        device: UseDeviceOpt = "auto",
        threads: UseThreadsOpt = None,
        runs_dir: UseRunsDirOpt = None,
    ) -> None:
        """Score a trained run on labelled data: accuracy, macro-F1, per-class P/R/F1, confusion matrix."""
        from ..apps import load_app
        from ..data import load_labelled

        ref = model_for_use(spec, model, runs_dir_of(runs_dir))
        labelled = load_labelled(data, text_column=text_col, label_column=label_col, fmt=format, skip_bad_rows=skip_bad_rows)
        trained = load_app(ref, device=device, threads=threads)
        metrics = trained.evaluate(labelled, batch_size=batch_size)
        result = {
            **metrics,
            "model": str(trained.run_dir or trained.model_dir),
            "data": labelled.describe(),
        }
        if output is not None:
            write_atomically(output, json.dumps(result, indent=2) + "\n")
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
        model: UseModelOpt = None,
        output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write predictions to this file (.csv or .jsonl) instead of stdout.")] = None,
        output_format: Annotated[Optional[str], typer.Option("--output-format", help="table | csv | jsonl (default: by --output suffix, else table).")] = None,
        text_col: Annotated[Optional[str], typer.Option(help="Text column of a CSV/TSV/JSONL input (default: auto).")] = None,
        format: Annotated[Optional[str], typer.Option("--format", help="Input data format (default: by suffix).")] = None,
        batch_size: UseBatchSizeOpt = 64,
        device: UseDeviceOpt = "auto",
        threads: UseThreadsOpt = None,
        runs_dir: UseRunsDirOpt = None,
    ) -> None:
        """Classify texts with a trained run: label and per-class probabilities, batched."""
        from ..apps import load_app

        kind = output_format or (output.suffix.lower().lstrip(".") if output is not None else "table")
        if kind not in ("table", "csv", "jsonl"):
            raise ConfigError(f"--output-format {kind}: expected table, csv or jsonl")
        if kind == "table" and output is not None:
            raise ConfigError("--output needs a .csv or .jsonl file (or --output-format csv|jsonl)")
        items, _ = read_texts(texts or [], input, text_col, format)
        ref = model_for_use(spec, model, runs_dir_of(runs_dir))
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
            write_atomically(output, text)
            err.print(f"{len(items)} predictions written to {output}")
        else:
            sys.stdout.write(text)

    return app
