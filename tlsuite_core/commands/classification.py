"""``train`` / ``compare`` / ``evaluate`` / ``predict`` for any text-classification app.

The commands are module-level functions taking the app's :class:`~tlsuite_core.apps.AppSpec`; a plugin calls
:func:`classification_commands` with its spec and adds the returned ``typer.Typer`` (plus any domain commands of its
own) to the CLI. The training options come from the declarations (:mod:`tlsuite_core.config`); the views below only
word the data options for labelled texts.
"""
# no `from __future__ import annotations`: Typer reads these annotations at runtime

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from ..apps import AppSpec
from ..config import TRAIN, TaskOptions, delimiter_character
from ..errors import ConfigError, first_line
from ..tasks.classification import ClassificationOptions
from . import common
from .common import RunOptions, UseBatchSizeOpt, UsedRun, View, compare, err, read_texts, with_default

__all__ = ["classification_commands", "read_texts"]

EPILOGS = {
    "group": "Example: tlsuite {name} train --train train.csv --dev dev.csv",
    "train": "Examples: tlsuite {name} train   (demo data, default model)  |  "
    "tlsuite {name} train --train train.csv --dev dev.csv --epochs 4  |  "
    "tlsuite {name} train --config run.yaml --seed 2  |  tlsuite {name} train --strategy lora  |  "
    "tlsuite {name} train --search 20  |  tlsuite {name} train --resume runs/{name}/NAME",
    "compare": "Examples: tlsuite {name} compare --train train.csv --dev dev.csv   (full,frozen,partial,gradual,lora,ia3,prefix + baselines)  |  "
    "tlsuite {name} compare --train train.csv --dev dev.csv --test test.csv --strategies full,lora,houlsby --seed 2",
    "evaluate": "Example: tlsuite {name} evaluate --model runs/{name}/NAME --data test.csv --output metrics.json",
    "predict": 'Examples: tlsuite {name} predict "Operating profit rose 20 % year on year"  |  '
    "tlsuite {name} predict --input news.csv --output predictions.jsonl   (every input column kept)  |  "
    "tlsuite {name} predict --input news.tsv --keep id,source --output scored.parquet  |  "
    "tlsuite {name} predict --input reports.jsonl --long-texts window --window-aggregation max  |  "
    "cat headlines.txt | tlsuite {name} predict",
}


DelimiterOpt = Annotated[
    Optional[str],
    typer.Option(help="Field delimiter of a delimited input: ';' (or semicolon), tab, '|'... (default: by format)."),
]


def views(spec: AppSpec, command: str) -> dict[str, View]:
    """How ``train`` / ``compare`` word the data options for labelled texts."""
    label_order = (
        f"{','.join(spec.default_labels)} when the data's labels fit it, else sorted"
        if spec.default_labels
        else "sorted"
    )
    labels = View(with_default("Comma-separated label order for the model head.", label_order))
    if command == TRAIN:
        return {
            "model": View(),
            "train": View(
                "Training data: CSV/TSV/JSONL, PhraseBank .txt, or hf:org/name[:split]. "
                f"Default: {common.demo_data(spec)}."
            ),
            "dev": View(
                with_default("Dev data for evaluation, model selection and early stopping.", common.dev_default(spec))
            ),
            "text_col": View("Text column (default: auto: text, sentence, headline...)."),
            "label_col": View("Label column (default: auto: label, sentiment...)."),
            "format": View("Data format (csv, tsv, jsonl, phrasebank, hub) (default: by suffix)."),
            "delimiter": View(),
            "labels": labels,
            "max_length": View(),
            "metric": View("Dev metric for model selection and early stopping: macro_f1, accuracy, loss, f1_<label>."),
        }
    return {
        **common.compare_views(spec),
        "train": View(f"Training data (same formats as train). Default: {common.demo_data(spec)}."),
        "text_col": View("Text column (default: auto)."),
        "label_col": View("Label column (default: auto)."),
        "format": View("Data format (default: by suffix)."),
        "delimiter": View(),
        "labels": labels,
        "max_length": View("Token limit per text."),
    }


def evaluate(
    spec: AppSpec,
    data: Annotated[str, typer.Option(help="Labelled data to evaluate on (same formats as train).")],
    use: UsedRun = UsedRun(),
    output: common.MetricsOutOpt = None,
    text_col: Annotated[Optional[str], typer.Option(help="Text column (default: auto).")] = None,
    label_col: Annotated[Optional[str], typer.Option(help="Label column (default: auto).")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="Data format (default: by suffix).")] = None,
    delimiter: DelimiterOpt = None,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Drop bad rows (counted in the output) instead of failing.")
    ] = False,
    batch_size: UseBatchSizeOpt = 64,
    options: Optional[RunOptions] = None,
) -> None:
    """Score a trained run on labelled data: accuracy, macro-F1, per-class P/R/F1, confusion matrix."""
    from ..data import load_labelled

    common.check_output_folder(output)
    labelled = load_labelled(
        data,
        text_column=text_col,
        label_column=label_col,
        fmt=format,
        skip_bad_rows=skip_bad_rows,
        adapters=common.data_adapters(),
        delimiter=delimiter_character(delimiter) if delimiter is not None else None,
    )
    trained = use.load(spec)
    metrics = trained.evaluate(labelled, batch_size=batch_size, **_given(options))
    common.write_result(output, metrics, trained, labelled)
    table = Table(title=f"{spec.name} evaluation on {data} (n={metrics['n']})")
    for col in ("label", "precision", "recall", "f1", "support"):
        table.add_column(col, justify="right" if col != "label" else "left")
    for label, v in metrics["per_class"].items():
        table.add_row(label, f"{v['precision']:.4f}", f"{v['recall']:.4f}", f"{v['f1']:.4f}", str(v["support"]))
    out = Console()
    out.print(table)
    out.print(
        f"accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}   weighted-F1 {metrics['weighted_f1']:.4f}"
    )
    cm = metrics["confusion_matrix"]
    out.print("confusion matrix (rows: true, columns: predicted): " + ", ".join(cm["labels"]))
    for label, row in zip(cm["labels"], cm["matrix"]):
        out.print(f"  {label:>12} " + " ".join(f"{x:>6}" for x in row))
    if labelled.skipped:
        err.print(f"[yellow]{len(labelled.skipped)} bad rows skipped[/]")
    if output is not None:
        err.print(f"metrics written to {output}")


TextsArg = Annotated[Optional[list[str]], typer.Argument(help="Texts to classify (or use --input, or stdin).")]
InputOpt = Annotated[
    Optional[str],
    typer.Option(
        "--input", "-i", help="File of texts: .txt (one per line), CSV/TSV/JSONL (text column), or - for stdin."
    ),
]


def predict(
    spec: AppSpec,
    texts: TextsArg = None,
    input: InputOpt = None,
    use: UsedRun = UsedRun(),
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output", "-o", help="Write predictions to this file (.csv, .tsv, .jsonl or .parquet) instead of stdout."
        ),
    ] = None,
    output_format: Annotated[
        Optional[str],
        typer.Option(
            "--output-format", help="table | csv | tsv | jsonl | parquet (default: by --output suffix, else table)."
        ),
    ] = None,
    keep: common.KeepOpt = None,
    text_col: Annotated[
        Optional[str], typer.Option(help="Text column of a CSV/TSV/JSONL input (default: auto).")
    ] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="Input data format (default: by suffix).")] = None,
    delimiter: DelimiterOpt = None,
    batch_size: UseBatchSizeOpt = 64,
    options: Optional[RunOptions] = None,
) -> None:
    """Classify texts with a trained run: label and per-class probabilities, batched. A text longer than the run's
    --max-length is scored over overlapping windows (or cut and flagged with --long-texts truncate)."""
    kind = output_format or (output.suffix.lower().lstrip(".") if output is not None else "table")
    if kind not in OUTPUT_KINDS:
        raise ConfigError(f"--output-format {kind}: expected {', '.join(OUTPUT_KINDS)}")
    if kind == "table" and output is not None:
        raise ConfigError("--output needs a .csv, .tsv, .jsonl or .parquet file (or --output-format)")
    if kind == "parquet" and output is None:
        raise ConfigError("--output-format parquet needs --output FILE.parquet")
    common.check_output_folder(output)
    tables: list = []
    sep = delimiter_character(delimiter) if delimiter is not None else None
    items, _ = read_texts(texts or [], input, text_col, format, table_out=tables, delimiter=sep)
    passed = common.passed_columns(tables[0] if tables else None, keep)
    trained = use.load(spec)
    predictions = trained.predict(items, batch_size=batch_size, **_given(options))
    _count_flags(predictions)
    if kind == "table":
        _print_table(items, predictions, trained.labels)
        return
    records = _records(items, predictions, trained.labels, passed, nested=kind == "jsonl")
    if kind == "parquet":
        _write_parquet(output, records, len(items))
        return
    probabilities = {"score", *(f"p_{label}" for label in trained.labels)}
    text = _jsonl(records) if kind == "jsonl" else _delimited(records, "\t" if kind == "tsv" else ",", probabilities)
    common.emit(text, output, f"{len(items)} predictions")


OUTPUT_KINDS = ("table", "csv", "tsv", "jsonl", "parquet")


def _given(options: Optional[RunOptions]) -> dict:
    """The task options given on the command line (``--long-texts``...): they override the run's own."""
    return dict((options.overrides.get("extra") if options is not None else None) or {})


def _count_flags(predictions: list) -> None:
    windowed = sum(1 for p in predictions if p.windows > 1)
    cut = sum(1 for p in predictions if p.truncated)
    if windowed:
        err.print(f"{windowed} of {len(predictions)} texts were longer than --max-length: scored over windows")
    if cut:
        err.print(
            f"[yellow]{cut} of {len(predictions)} texts were truncated to --max-length[/] (flagged 'truncated'; "
            "--long-texts window scores the whole text)"
        )


def _records(items: list[str], predictions: list, labels: list[str], passed: list, *, nested: bool) -> list[dict]:
    """One output record per text: the passed-through input columns (``input_<name>`` where a name is an output
    field), the text unless its column is among them, then the prediction."""
    scores = ["scores"] if nested else [f"p_{label}" for label in labels]
    fields = {"label", "score", "windows", "truncated", "empty", *scores}
    out = []
    for k, (text, p) in enumerate(zip(items, predictions)):
        record = common.input_columns(passed, k, text, fields)
        record.update(label=p.label, score=p.score)
        if nested:
            record["scores"] = p.scores
        else:
            record.update({f"p_{label}": p.scores[label] for label in labels})
        record.update(windows=p.windows, truncated=p.truncated)
        if p.empty:
            record["empty"] = True
        out.append(record)
    return out


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)


def _delimited(records: list[dict], delimiter: str, probabilities: set[str]) -> str:
    """CSV / TSV: the probabilities with 6 decimals, input values as they came (lists and objects as JSON)."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter)
    names = list(records[0]) if records else []
    writer.writerow(names)
    for r in records:
        writer.writerow(f"{r[n]:.6f}" if n in probabilities else _cell(r.get(n)) for n in names)
    return buf.getvalue()


def _cell(value: object) -> object:
    return "" if value is None else json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


def _write_parquet(output: Path, records: list[dict], n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..files import write_atomically

    buf = pa.BufferOutputStream()
    try:
        table = pa.Table.from_pylist(records)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # an input column mixing types (7 and "x") across rows
        raise ConfigError(
            f"--output {output}: Parquet needs one type per column ({first_line(exc)}); write .jsonl or .csv, "
            "or --keep other columns"
        ) from None
    pq.write_table(table, buf)
    write_atomically(output, buf.getvalue().to_pybytes())
    err.print(f"{n} predictions written to {output}")


def _print_table(items: list[str], predictions: list, labels: list[str]) -> None:
    table = Table(show_lines=False)
    table.add_column("text", overflow="fold", ratio=3)
    table.add_column("label")
    for label in labels:
        table.add_column(f"p({label})", justify="right")
    for t, p in zip(items, predictions):
        table.add_row(t, p.label, *[f"{p.scores[label]:.3f}" for label in labels])
    Console().print(table)


def classification_commands(spec: AppSpec, *, task_options: type[TaskOptions] = ClassificationOptions) -> typer.Typer:
    """The train / compare / evaluate / predict command group for a classification app.

    :param task_options: the options class of the app's task, when it has its own (``Task.options_class``): each of
        its options becomes a ``train`` / ``compare`` option.
    """
    return common.command_group(
        spec,
        epilogs=EPILOGS,
        views=views,
        training=(common.train, compare),
        using=((evaluate, {}), (predict, {})),
        task_options=task_options,
    )
