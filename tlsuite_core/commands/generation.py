"""``train`` / ``compare`` / ``evaluate`` / ``run`` for any generation app (translation, summarization, replies).

The commands are module-level functions taking the app's :class:`~tlsuite_core.apps.AppSpec`; a plugin calls
:func:`generation_commands` with its spec and adds the returned ``typer.Typer`` to the CLI. The app's defaults
(``extra``) name its metric and generation settings; the training options come from the declarations
(:mod:`tlsuite_core.config`, and :class:`~tlsuite_core.tasks.generation.GenerationOptions` for the task's own).
"""
# no `from __future__ import annotations`: Typer reads these annotations at runtime

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from ..apps import AppSpec
from ..config import TRAIN, TaskOptions
from ..tasks.generation import GenerationOptions
from . import common
from .common import RunOptions, UseBatchSizeOpt, UsedRun, View, read_texts, with_default

__all__ = ["GenerationExamples", "generation_commands"]

#: validates (and may normalise) the task options given on the command line, e.g. the translate app's language
#: codes; raises ``ConfigError``
OptionsCheck = Callable[[dict], None]


@dataclass(frozen=True)
class GenerationExamples:
    """What an app's help examples show: its own kind of data and texts (a summarizer's examples name dialogues, a
    translator's parallel files).

    Args:
        data: ``train`` options naming training and dev data, then optionally a note after three spaces.
        pairs: a JSONL/CSV file of pairs for ``compare`` and ``evaluate``.
        text: one source text for ``run``, quoted for the shell.
        input_file / output_file: files for ``run --input`` / ``--output``.
    """

    data: str = "--train pairs.jsonl --dev dev.jsonl   (source and target columns)"
    pairs: str = "test.jsonl"
    text: str = '"The quarterly report is due on Friday."'
    input_file: str = "sources.txt"
    output_file: str = "outputs.jsonl"


def views(spec: AppSpec, command: str) -> dict[str, View]:
    """How ``train`` / ``compare`` word the data options for source -> target pairs."""
    data, on_train = common.demo_data(spec) if spec.demo_train else "required", command == TRAIN
    return {
        "model": View(
            "Seq2seq or decoder-only model: alias, folder or hub id; an encoder (BERT family) is warm-started as an encoder-decoder."
        ),
        "train": View(
            with_default(
                "Training pairs: CSV/TSV/JSONL, or parallel text (PREFIX with --src-lang/--tgt-lang, or SRC,TGT)."
                if on_train
                else "Training pairs.",
                data,
            )
        ),
        "dev": View(
            with_default(
                "Dev pairs: generated and scored at each evaluation." if on_train else "Dev pairs.",
                common.dev_default(spec),
            )
        ),
        "text_col": View(
            "Source column of CSV/TSV/JSONL data (default: auto: source, text, document, dialogue...).",
            flags=("--source-col",),
        ),
        "label_col": View(
            "Target column(s), comma-separated for several references (default: auto: target, summary, summary1..N...).",
            flags=("--target-col",),
        ),
        "format": View(
            "Data format (csv, tsv, jsonl, parallel) (default: by suffix; PREFIX with --src-lang/--tgt-lang or SRC,TGT is parallel text)."
        ),
        "max_length": View(
            "Source tokens kept (longer sources are cut and counted)." if on_train else "Source tokens kept."
        ),
        "metric": View(
            "Dev metric for model selection (e.g. chrf, bleu, rougeL, loss)."
            if on_train
            else "Dev metric the report compares."
        ),
    }


def _checked(options: RunOptions, check: Optional[OptionsCheck]) -> RunOptions:
    extra = options.overrides.get("extra")
    if extra and check is not None:
        check(extra)
    return options


def train(spec: AppSpec, task_options: type[TaskOptions], check: Optional[OptionsCheck], options: RunOptions) -> None:
    """Fine-tune a generation model on source -> target pairs; writes a run folder (model, metrics, report)."""
    common.run_training(spec, _checked(options, check), task_options=task_options)


def compare(spec: AppSpec, task_options: type[TaskOptions], check: Optional[OptionsCheck], options: RunOptions) -> None:
    """Train several strategies and two baselines on the same pairs and seed; write a table and a chart."""
    common.run_comparison(spec, _checked(options, check), task_options=task_options)


def evaluate(
    spec: AppSpec,
    data: Annotated[str, typer.Option(help="Pairs to score (same formats as train).")],
    use: UsedRun = UsedRun(),
    output: common.MetricsOutOpt = None,
    predictions: Annotated[
        Optional[Path], typer.Option(help="Also write every source, output and references as JSONL here.")
    ] = None,
    source_col: Annotated[Optional[str], typer.Option(help="Source column (default: auto).")] = None,
    target_col: Annotated[Optional[str], typer.Option(help="Target column(s) (default: auto).")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="Data format (default: by suffix).")] = None,
    src_lang: Annotated[Optional[str], typer.Option(help="Source language (parallel files).")] = None,
    tgt_lang: Annotated[Optional[str], typer.Option(help="Target language (parallel files).")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option(help="Override the saved generation setting.")] = None,
    num_beams: Annotated[Optional[int], typer.Option(help="Override the saved beam width.")] = None,
    batch_size: UseBatchSizeOpt = 16,
) -> None:
    """Generate for labelled pairs with a trained run and score the outputs (the app's metric)."""
    from ..pairs import load_pairs

    trained = use.load(spec)
    saved = trained.task.options
    pairs = load_pairs(
        data,
        source_column=source_col,
        target_column=target_col,
        fmt=format,
        src_lang=src_lang or saved.src_lang,
        tgt_lang=tgt_lang or saved.tgt_lang,
        adapters=common.data_adapters(),
    )
    outputs = trained.predict(
        pairs.sources, batch_size=batch_size, **_given(max_new_tokens=max_new_tokens, num_beams=num_beams)
    )
    metrics = trained.task.score(pairs.targets, outputs)
    common.write_result(output, metrics, trained, pairs)
    if predictions is not None:
        common.emit(_jsonl(pairs.sources, outputs, pairs.targets), predictions, f"{len(outputs)} outputs")
    for key, value in metrics.items():
        if isinstance(value, (int, float)):
            typer.echo(f"{key:>24}  {value:.4f}" if isinstance(value, float) else f"{key:>24}  {value}")
    for key, value in (metrics.get("signatures") or {}).items():
        typer.echo(f"{key:>24}  {value}")
    _warn_truncated(metrics.get("generation_truncated", 0), len(outputs), max_new_tokens or saved.max_new_tokens)
    _warn_cut_sources(outputs, trained.max_length)


def run(
    spec: AppSpec,
    texts: Annotated[Optional[list[str]], typer.Argument(help="Source texts (or --input, or stdin).")] = None,
    input: Annotated[
        Optional[str],
        typer.Option(
            "--input", "-i", help="File of sources: .txt (one per line), CSV/TSV/JSONL (source column), or - for stdin."
        ),
    ] = None,
    use: UsedRun = UsedRun(),
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="Write outputs here (.txt: one per line; .jsonl: with sources and flags)."),
    ] = None,
    source_col: Annotated[
        Optional[str], typer.Option(help="Source column of a CSV/TSV/JSONL input (default: auto).")
    ] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="Input format (default: by suffix).")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option(help="Override the saved generation setting.")] = None,
    num_beams: Annotated[Optional[int], typer.Option(help="Override the saved beam width.")] = None,
    keep: common.KeepOpt = None,
    batch_size: UseBatchSizeOpt = 16,
) -> None:
    """Generate with a trained run for texts, a file or stdin (batched, sorted by length); a .jsonl output keeps the
    input's own columns (id...) before each source and output."""
    common.check_output_folder(output)
    tables: list = []
    items = _sources(texts or [], input, source_col, format, tables)
    passed = common.passed_columns(tables[0] if tables else None, keep)
    trained = use.load(spec)
    outputs = trained.predict(
        items, batch_size=batch_size, **_given(max_new_tokens=max_new_tokens, num_beams=num_beams)
    )
    jsonl = output is not None and output.suffix.lower() == ".jsonl"
    text = (
        _jsonl(items, outputs, passed=passed) if jsonl else "".join(o.text.replace("\n", " ") + "\n" for o in outputs)
    )
    common.emit(text, output, f"{len(outputs)} outputs")
    _warn_truncated(
        sum(o.truncated for o in outputs), len(outputs), max_new_tokens or trained.task.options.max_new_tokens
    )
    _warn_cut_sources(outputs, trained.max_length)


def _jsonl(
    sources: list[str], outputs: list[Any], references: Optional[list[Any]] = None, passed: Optional[list] = None
) -> str:
    """One JSON object per source: the kept input columns, the source, the output, whether it stopped at
    max_new_tokens or its source was cut (and the references)."""
    fields = {"output", "truncated", "source_truncated", "references"}
    rows = (
        {
            **common.input_columns(passed or [], i, s, fields, text_field="source"),
            "output": o.text,
            "truncated": o.truncated,
            "source_truncated": o.source_truncated,
            **({"references": references[i]} if references else {}),
        }
        for i, (s, o) in enumerate(zip(sources, outputs))
    )
    return "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows)


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def generation_commands(
    spec: AppSpec,
    *,
    check_options: Optional[OptionsCheck] = None,
    examples: Optional[GenerationExamples] = None,
    task_options: type[TaskOptions] = GenerationOptions,
) -> typer.Typer:
    """The train / compare / evaluate / run command group for a generation app.

    :param check_options: validates (and may normalise) the task options given on the command line, e.g. the
        translate app's language codes; raises ``ConfigError``.
    :param examples: the data and texts the help examples show (default: generic JSONL pairs).
    :param task_options: the options class of the app's task (a subclass of the generation task's own).
    """
    ex = examples or GenerationExamples()
    name, data = spec.name, ex.data.split("   ")[0]
    epilogs = {
        "train": f"Examples: tlsuite {name} train   (demo data, warm-started encoder-decoder)  |  tlsuite {name} train {ex.data}  |  "
        f"tlsuite {name} train --model google-t5/t5-small {data}   (with internet)  |  "
        f"tlsuite {name} train --model smollm2-135m --strategy lora {data}",
        "compare": f"Example: tlsuite {name} compare --encoder minilm {data} --strategies full,partial",
        "evaluate": f"Example: tlsuite {name} evaluate --model runs/{name}/NAME --data {ex.pairs} --output metrics.json",
        "run": f"Examples: tlsuite {name} run {ex.text}  |  tlsuite {name} run --input {ex.input_file} --output {ex.output_file}  |  "
        f"cat sources.txt | tlsuite {name} run   (one source per line)",
    }
    return common.command_group(
        spec,
        epilogs={"group": f"Example: tlsuite {name} train {data}", **epilogs},
        views=views,
        training=(train, compare),
        using=((evaluate, {}), (run, {})),
        task_options=task_options,
        check=check_options,
    )


def _sources(
    texts: list[str], input_file: Optional[str], source_col: Optional[str], fmt: Optional[str], tables: list
) -> list[str]:
    """The sources; from a table file, ``tables`` receives ``(table, source column)`` (its columns pass through)."""
    if (
        input_file is not None
        and Path(input_file).suffix.lower() in (".csv", ".tsv", ".jsonl", ".json")
        or fmt in ("csv", "tsv", "jsonl")
    ):
        from ..data import read_table
        from ..pairs import load_pairs

        pairs = load_pairs(
            input_file, source_column=source_col, fmt=fmt, require_targets=False, adapters=common.data_adapters()
        )
        tables.append((read_table(input_file, fmt, common.data_adapters()), pairs.source_column))
        return pairs.sources
    items, _ = read_texts(texts, input_file, None, None)
    return items


def _warn_cut_sources(outputs: list[Any], limit: int) -> None:
    """Sources longer than the run's --max-length were read up to it: counted here, flagged in JSONL outputs."""
    count = sum(o.source_truncated for o in outputs)
    if count:
        common.err.print(
            f"[yellow]warning:[/] {count} of {len(outputs)} sources were longer than --max-length ({limit} tokens) and "
            "only their start was read (flagged source_truncated in .jsonl output)"
        )


def _warn_truncated(count: int, total: int, limit: Any) -> None:
    if count:
        common.err.print(
            f"[yellow]warning:[/] {count} of {total} outputs stopped at max_new_tokens ({limit}) without an end token; "
            "raise --max-new-tokens if they look cut"
        )
