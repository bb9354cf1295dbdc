"""``train`` / ``compare`` / ``evaluate`` / ``predict`` for any token-classification app (named entities, slots, ...).

The commands are module-level functions taking the app's :class:`~tlsuite_core.apps.AppSpec` (and, for
pre-tokenized file formats it brings, writers that put predicted tags back into that format); a plugin calls
:func:`token_classification_commands` and adds the returned ``typer.Typer`` to the CLI. The training options come
from the declarations (:mod:`tlsuite_core.config`, and :class:`~tlsuite_core.tasks.token_classification.TokenClassificationOptions`
for the task's own); the views below word the data options for tagged words.
"""
# no `from __future__ import annotations`: Typer reads these annotations at runtime

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Mapping, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..apps import AppSpec
from ..config import TRAIN, TaskOptions
from ..errors import ConfigError
from ..tasks.token_classification import TokenClassificationOptions, _scheme
from . import common
from .common import UseBatchSizeOpt, UsedRun, View, compare, read_texts, with_default

__all__ = ["token_classification_commands"]

#: ``writer(rows, predicted_tags) -> text``: rows as the format's reader returned them
TaggedWriter = Callable[[list[dict[str, Any]], list[list[str]]], str]

SchemeOpt = Annotated[
    Optional[str],
    typer.Option(
        help="Tagging scheme of the files: auto, IOB1, IOB2, BIOES (default: auto-detect).", rich_help_panel="Data"
    ),
]
RepairOpt = Annotated[
    bool,
    typer.Option(
        "--repair-tags",
        help="Rewrite tag sequences that break the scheme (as conlleval reads them) instead of failing.",
        rich_help_panel="Data",
    ),
]
TokensColOpt = Annotated[
    Optional[str],
    typer.Option(
        help="Tokens (or raw text) column of JSONL/CSV data (default: auto: tokens, words / text).",
        rich_help_panel="Data",
    ),
]
TagColOpt = Annotated[
    Optional[str],
    typer.Option(
        help="Tag column: a CoNLL column number (1-based, negative from the end; default: last) or a JSONL key (default: auto: tags, ner_tags / entities).",
        rich_help_panel="Data",
    ),
]
StrideOpt = Annotated[
    Optional[int],
    typer.Option(
        help="Subwords shared by neighbouring windows of a long sentence (default: a quarter of --max-length)."
    ),
]
DecodeOpt = Annotated[
    Optional[str],
    typer.Option(
        help="viterbi | argmax: the best tag sequence the scheme allows, or each word's most probable tag (default: the run's)."
    ),
]
AggregationOpt = Annotated[str, typer.Option(help="A word's tag from its subwords: first | average | max.")]

EPILOGS = {
    "group": "Example: tlsuite {name} train --train train.txt --dev valid.txt",
    "train": "Examples: tlsuite {name} train --train train.txt --dev valid.txt   (CoNLL columns, tag in the last column)  |  "
    "tlsuite {name} train --train train.jsonl --dev dev.jsonl --scheme BIOES  |  "
    "tlsuite {name} train --config run.yaml --seed 2  |  tlsuite {name} train --resume runs/{name}/NAME",
    "compare": "Examples: tlsuite {name} compare --train train.txt --dev valid.txt   (full,frozen,partial,gradual,lora,ia3,prefix + baselines)  |  "
    "tlsuite {name} compare --train train.txt --dev valid.txt --test test.txt --strategies full,lora,houlsby --seed 2",
    "evaluate": "Example: tlsuite {name} evaluate --model runs/{name}/NAME --data test.txt --output metrics.json",
    "predict": 'Examples: tlsuite {name} predict "Angela Merkel visited Paris on Monday"  |  '
    "tlsuite {name} predict --input articles.txt --output entities.jsonl  |  cat notes.txt | tlsuite {name} predict  |  "
    "tlsuite {name} predict --input test.conll --output predicted.conll",
}


def views(spec: AppSpec, command: str) -> dict[str, View]:
    """How ``train`` / ``compare`` word the data options for tagged words."""
    columns = {
        "text_col": View(
            "Tokens (or raw text) column of JSONL/CSV data (default: auto: tokens, words / text).",
            flags=("--tokens-col",),
        ),
        "label_col": View(
            "Tag column: a CoNLL column number (1-based, negative from the end; default: last) or a JSONL key "
            "(default: auto: tags, ner_tags / entities).",
            flags=("--tag-col",),
        ),
    }
    labels = View(
        "Comma-separated tag order for the model head (default: O, then B-/I- (and E-/S-) of each type in the data)."
    )
    if command == TRAIN:
        data = (
            "Training data: CoNLL columns (.txt/.conll), JSONL of tokens + tags, or JSONL of text + character-offset entities."
            + (
                f" (default: {common.demo_data(spec)})"
                if spec.demo_train
                else f" Required: {spec.name} ships no demo data."
            )
        )
        return {
            "model": View(),
            "train": View(data, show_default=False),
            "dev": View(
                with_default("Dev data for evaluation, model selection and early stopping.", common.dev_default(spec))
            ),
            **columns,
            "format": View("Data format (conll, jsonl, csv, tsv) (default: by suffix; .txt is CoNLL)."),
            "labels": labels,
            "max_length": View("Subwords per window; longer sentences are split into overlapping windows, never cut."),
            "metric": View(
                "Dev metric for model selection and early stopping: f1, precision, recall, macro_f1, accuracy, loss, f1_<TYPE>."
            ),
        }
    return {
        **common.compare_views(spec),
        "train": View(
            "Training data (same formats as train)." + ("" if spec.demo_train else " Required."), show_default=False
        ),
        **columns,
        "format": View("Data format (default: by suffix)."),
        "labels": labels,
        "max_length": View("Subwords per window."),
    }


def evaluate(
    spec: AppSpec,
    data: Annotated[str, typer.Option(help="Tagged data to evaluate on (same formats as train).")],
    use: UsedRun = UsedRun(),
    output: common.MetricsOutOpt = None,
    tokens_col: TokensColOpt = None,
    tag_col: TagColOpt = None,
    format: Annotated[
        Optional[str], typer.Option("--format", help="Data format (default: by suffix; .txt is CoNLL).")
    ] = None,
    scheme: SchemeOpt = None,
    repair_tags: RepairOpt = False,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Drop bad sentences (counted in the output) instead of failing.")
    ] = False,
    aggregation: AggregationOpt = "first",
    decode: DecodeOpt = None,
    stride: StrideOpt = None,
    batch_size: UseBatchSizeOpt = 32,
) -> None:
    """Score a trained run on tagged data: seqeval entity P/R/F1 (micro, macro, per type) and confusions."""
    from ..tagging import load_tagged

    tagged = load_tagged(
        data,
        tokens_column=tokens_col,
        tags_column=tag_col,
        fmt=format,
        scheme=_scheme(scheme) if scheme else "auto",
        repair=repair_tags,
        skip_bad_rows=skip_bad_rows,
        adapters=common.data_adapters(),
    )
    trained = use.load(spec)
    metrics = trained.evaluate(tagged, batch_size=batch_size, **_inference(aggregation, decode, stride))
    common.write_result(output, metrics, trained, tagged)
    out = Console()
    table = Table(
        title=f"{spec.name} evaluation on {data} ({metrics['n']} sentences, {metrics['mode']} {metrics['scheme']})"
    )
    for col in ("type", "precision", "recall", "f1", "support"):
        table.add_column(col, justify="right" if col != "type" else "left")
    for kind, v in metrics["per_type"].items():
        table.add_row(kind, f"{v['precision']:.4f}", f"{v['recall']:.4f}", f"{v['f1']:.4f}", str(v["support"]))
    out.print(table)
    out.print(
        f"entity F1 {metrics['f1']:.4f}   precision {metrics['precision']:.4f}   recall {metrics['recall']:.4f}   "
        f"macro-F1 {metrics['macro_f1']:.4f}   word accuracy {metrics['accuracy']:.4f}"
    )
    if metrics["confusions"]:
        out.print(
            "most frequent confusions (words, true -> predicted): "
            + ", ".join(f"{c['true']} -> {c['predicted']} {c['words']}" for c in metrics["confusions"][:5])
        )
    if tagged.skipped:
        common.err.print(f"[yellow]{len(tagged.skipped)} bad sentences skipped[/]")
    if tagged.repaired:
        common.err.print(f"[yellow]{tagged.repaired} sentences had their tags repaired[/]")
    if output is not None:
        common.err.print(f"metrics written to {output}")


def _inference(aggregation: str, decode: Optional[str], stride: Optional[int]) -> dict[str, Any]:
    """Keyword arguments for the task's predict / evaluate (unset ones follow the run)."""
    options: dict[str, Any] = {"aggregation": aggregation}
    if decode is not None:
        options["decode"] = decode
    if stride is not None:
        options["stride"] = stride
    return options


def _word_options(formats: str) -> dict[str, Any]:
    """``predict``'s options that name the app's pre-tokenized word formats (``formats``)."""
    return {
        "input": Annotated[
            Optional[str],
            typer.Option(
                "--input",
                "-i",
                help=f"File: .txt (one text per line), JSONL/CSV/TSV (text column), or a pre-tokenized format ({formats}) whose tags are written back in that format; - for stdin.",
            ),
        ],
        "output_format": Annotated[
            Optional[str],
            typer.Option(
                "--output-format",
                help=f"jsonl | table | the input's word format ({formats}) (default: the input's word format, else by --output suffix, else jsonl).",
            ),
        ],
        "format": Annotated[
            Optional[str],
            typer.Option(
                "--format",
                help=f"Input format: txt, jsonl, csv, tsv, {formats} (default: by suffix; a .txt starting with -DOCSTART- is CoNLL).",
            ),
        ],
    }


#: the three as the function declares them (the group's factory names the app's own word formats)
InputOpt, OutputFormatOpt, FormatOpt = _word_options("conll").values()


def predict(
    spec: AppSpec,
    writers: Mapping[str, TaggedWriter],
    texts: Annotated[Optional[list[str]], typer.Argument(help="Texts to tag (or use --input, or stdin).")] = None,
    input: InputOpt = None,
    use: UsedRun = UsedRun(),
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write predictions to this file instead of stdout.")
    ] = None,
    output_format: OutputFormatOpt = None,
    format: FormatOpt = None,
    text_col: Annotated[
        Optional[str], typer.Option(help="Text column of a JSONL/CSV/TSV input (default: auto).")
    ] = None,
    aggregation: AggregationOpt = "first",
    decode: DecodeOpt = None,
    stride: StrideOpt = None,
    keep: common.KeepOpt = None,
    batch_size: UseBatchSizeOpt = 32,
) -> None:
    """Find entities: JSONL of {start, end, label, text, score} per text (character offsets into it), after the
    input's own columns (id, source...), or tags written back into a CoNLL input."""
    options = _inference(aggregation, decode, stride)
    word_format = _word_format(input, format, writers)
    if word_format is not None and texts:
        raise ConfigError("give texts as arguments or --input FILE, not both")
    kind = _output_kind(output_format, word_format, output, writers)
    if word_format is not None:
        trained = use.load(spec)
        _predict_words(trained, input, word_format, kind, writers, output, batch_size, options)
        return
    common.check_output_folder(output)
    tables: list = []
    items, _ = read_texts(
        texts or [], input, text_col, format if format != "txt" else None, strip=False, table_out=tables
    )
    passed = common.passed_columns(tables[0] if tables else None, keep)
    trained = use.load(spec)
    predictions = trained.predict(items, batch_size=batch_size, **options)
    if kind == "table":
        out = Table(show_lines=False)
        out.add_column("text", overflow="fold", ratio=3)
        out.add_column("entities", overflow="fold", ratio=2)
        for t, entities in zip(items, predictions):
            out.add_row(escape(t), escape(", ".join(f"{e.label}: {e.text} ({e.score:.2f})" for e in entities)) or "-")
        Console().print(out)
        return
    text = "".join(
        json.dumps(
            {**common.input_columns(passed, k, t, {"entities"}), "entities": [e.as_dict() for e in ents]},
            ensure_ascii=False,
            default=str,
        )
        + "\n"
        for k, (t, ents) in enumerate(zip(items, predictions))
    )
    common.emit(text, output, f"{len(items)} texts")


def _output_kind(
    output_format: Optional[str],
    word_format: Optional[str],
    output: Optional[Path],
    writers: Mapping[str, TaggedWriter],
) -> str:
    """What ``predict`` writes: jsonl, table or the input's word format (checked against what is possible)."""
    kind = output_format or (word_format if word_format else None)
    if kind is None:
        suffix = output.suffix.lower().lstrip(".") if output is not None else ""
        kind = suffix if suffix in ("jsonl", *writers) else "jsonl"
    allowed = ("jsonl", "table", *([word_format] if word_format else []))
    if kind not in allowed:
        raise ConfigError(f"--output-format {kind}: expected {', '.join(allowed)}")
    if kind == "table" and output is not None:
        raise ConfigError("--output needs a file format (--output-format jsonl or the input's format), not table")
    return kind


def _predict_words(
    trained: Any,
    input: Optional[str],
    word_format: str,
    kind: str,
    writers: Mapping[str, TaggedWriter],
    output: Optional[Path],
    batch_size: int,
    options: dict[str, Any],
) -> None:
    """``predict`` on a pre-tokenized file: tags written back in its format, as JSONL, or as a table."""
    from ..data import read_table

    table = read_table(
        _stdin_to_file(input, word_format) if input in (None, "-") else input, word_format, common.data_adapters()
    )
    rows = [row for row in table.rows if isinstance(row.get("tokens"), list)]
    if not rows:
        raise ConfigError(f"{input}: no sentences")
    docs = [row["_doc"] for row in rows] if all("_doc" in row for row in rows) else None
    tagged = trained.task.tag(
        trained.model,
        trained.tokenizer,
        [row["tokens"] for row in rows],
        docs=docs,
        **trained.inference_options(batch_size, options),
    )
    if kind == word_format:
        text = writers[word_format](rows, [t.tags for t in tagged])
    elif kind == "jsonl":
        text = "".join(
            json.dumps(
                {"tokens": r["tokens"], "tags": t.tags, "scores": [round(s, 6) for s in t.scores]}, ensure_ascii=False
            )
            + "\n"
            for r, t in zip(rows, tagged)
        )
    else:
        _print_tagged(rows, tagged)
        return
    common.emit(text, output, f"{len(rows)} sentences")


def token_classification_commands(
    spec: AppSpec,
    *,
    writers: Mapping[str, TaggedWriter] | None = None,
    task_options: type[TaskOptions] = TokenClassificationOptions,
    command: str | None = None,
) -> typer.Typer:
    """The train / compare / evaluate / predict command group for a token-classification app.

    :param writers: data-format name -> writer of predicted tags in that format (``predict`` on such a file
        writes the same format back, e.g. CoNLL with the predicted tag as a new last column).
    :param task_options: the options class of the app's task (a subclass of the token-classification task's own).
    :param command: the words after ``tlsuite`` that reach the group, for the help examples (default: the app's
        name; e.g. ``customer-service slots`` for a group a plugin mounts under its own).
    """
    writers = dict(writers or {})
    retype = _word_options(", ".join(sorted(writers)) or "none")
    return common.command_group(
        spec,
        epilogs=EPILOGS,
        views=views,
        training=(common.train, compare),
        using=((evaluate, {}), (predict, {"writers": writers, "retype": retype})),
        task_options=task_options,
        command=command,
    )


def _word_format(input_file: str | None, fmt: str | None, writers: Mapping[str, TaggedWriter]) -> str | None:
    """The pre-tokenized format of the input, when it has one (``--format``, a claimed suffix, or a CoNLL .txt)."""
    if input_file is None or input_file == "-":
        return fmt if fmt in writers else None
    if fmt is not None:
        return fmt if fmt in writers else None
    suffix = Path(input_file).suffix.lower()
    known = common.data_adapters()
    for format_name in writers:
        adapter = known.get(format_name)
        if adapter is not None and suffix in adapter.suffixes:
            return format_name
    if suffix == ".txt" and "conll" in writers and Path(input_file).is_file():
        with open(input_file, "rb") as fh:
            if fh.read(64).lstrip(b"\xef\xbb\xbf").lstrip().startswith(b"-DOCSTART-"):
                return "conll"
    return None


def _stdin_to_file(source: str | None, fmt: str) -> str:
    """Readers take paths: save piped pre-tokenized input to a temporary file (removed at exit)."""
    import atexit
    import os
    import tempfile

    fd, path = tempfile.mkstemp(suffix=f".{fmt}", prefix="tlsuite-stdin-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8"))
    atexit.register(lambda: os.path.exists(path) and os.remove(path))
    return path


def _print_tagged(rows: list[dict[str, Any]], tagged: list[Any]) -> None:
    out = Table(show_lines=False)
    out.add_column("sentence", overflow="fold")
    for row, t in zip(rows, tagged):
        out.add_row(escape(" ".join(w if tag == "O" else f"{w}/{tag}" for w, tag in zip(row["tokens"], t.tags))))
    Console().print(out)
