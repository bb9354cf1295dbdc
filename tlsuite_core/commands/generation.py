"""``train`` / ``compare`` / ``evaluate`` / ``run`` for any generation app (translation, summarization, replies).

A plugin calls :func:`generation_commands` with its :class:`~tlsuite_core.apps.AppSpec` and adds the returned
``typer.Typer`` to the CLI. The app's defaults (``extra``) name its metric and generation settings.
"""
# no `from __future__ import annotations`: Typer reads these annotations at runtime

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from ..apps import AppSpec
from .common import (
    NOT_FOR_COMPARE, StrategiesOpt, TestOpt, UseBatchSizeOpt, UseDeviceOpt, UseModelOpt, UseRunsDirOpt, UseThreadsOpt,
    app_defaults, defaulted, engine_overrides, err, model_for_use, read_texts, run_comparison, run_training, runs_dir_of,
    show, with_default, with_engine_options, write_atomically,
)

__all__ = ["GenerationExamples", "generation_commands"]


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

SourceColOpt = Annotated[Optional[str], typer.Option(help="Source column of CSV/TSV/JSONL data (default: auto: source, text, document, dialogue...).", rich_help_panel="Data")]
TargetColOpt = Annotated[Optional[str], typer.Option(help="Target column(s), comma-separated for several references (default: auto: target, summary, summary1..N...).", rich_help_panel="Data")]
FormatOpt = Annotated[Optional[str], typer.Option("--format", help="Data format (csv, tsv, jsonl, parallel) (default: by suffix; PREFIX with --src-lang/--tgt-lang or SRC,TGT is parallel text).", rich_help_panel="Data")]
SrcLangOpt = Annotated[Optional[str], typer.Option(help="Source language code (parallel files PREFIX.<src>; models with language tokens).", rich_help_panel="Data")]
TgtLangOpt = Annotated[Optional[str], typer.Option(help="Target language code.", rich_help_panel="Data")]
EncoderOpt = Annotated[Optional[str], typer.Option(help="Warm start: encoder checkpoint (alias, folder or hub id) of a new encoder-decoder.", rich_help_panel="Model")]
DecoderOpt = Annotated[Optional[str], typer.Option(help="Warm start: decoder checkpoint (default: the encoder's).", rich_help_panel="Model")]
InstructionOpt = Annotated[Optional[str], typer.Option(help="Decoder-only models: text put before each source in the prompt.", rich_help_panel="Model")]
MaxTargetOpt = Annotated[Optional[int], typer.Option(help="Target tokens kept for training (longer targets are cut and counted).", rich_help_panel="Data")]
MaxNewOpt = Annotated[Optional[int], typer.Option(help="Generation: most new tokens per output (outputs that reach it are counted).", rich_help_panel="Generation")]
MinNewOpt = Annotated[Optional[int], typer.Option(help="Generation: fewest new tokens per output.", rich_help_panel="Generation")]
BeamsOpt = Annotated[Optional[int], typer.Option(help="Generation: beam width (1: greedy).", rich_help_panel="Generation")]
LengthPenaltyOpt = Annotated[Optional[float], typer.Option(help="Generation: beam length penalty (> 1 favours longer outputs).", rich_help_panel="Generation")]
NoRepeatOpt = Annotated[Optional[int], typer.Option(help="Generation: forbid repeating n-grams of this size.", rich_help_panel="Generation")]
EvalLimitOpt = Annotated[Optional[int], typer.Option(help="Score at most N dev pairs at evaluations during training (the final evaluation uses all).", rich_help_panel="Generation")]


def _extra(**values: Any) -> dict[str, Any] | None:
    extra = {k: v for k, v in values.items() if v is not None}
    return extra or None


def generation_commands(
    spec: AppSpec, *, check_options: Optional[Callable[[dict], None]] = None, examples: Optional[GenerationExamples] = None
) -> typer.Typer:
    """The train / compare / evaluate / run command group for a generation app.

    :param check_options: validates (and may normalise) the task options given on the command line, e.g. the
        translate app's language codes; raises ``ConfigError``.
    :param examples: the data and texts the help examples show (default: generic JSONL pairs).
    """
    from ..tasks.generation import DEFAULTS as TASK_DEFAULTS

    ex = examples or GenerationExamples()
    defaults = app_defaults(spec)
    options = {**TASK_DEFAULTS, **defaults["extra"]}

    def option_default(key: str, unset: str = "none") -> str:
        value = options.get(key)
        return unset if value is None else show(value)

    model_help = with_default("Seq2seq or decoder-only model: alias, folder or hub id; an encoder (BERT family) is warm-started as an encoder-decoder.", spec.default_model)
    dev_default = "the demo dev set with the demo data, else none" if spec.demo_dev else "none"
    AppSrcLangOpt = defaulted(SrcLangOpt, option_default("src_lang"))
    AppTgtLangOpt = defaulted(TgtLangOpt, option_default("tgt_lang"))

    def checked(extra: Optional[dict]) -> Optional[dict]:
        if extra and check_options is not None:
            check_options(extra)
        return extra

    app = typer.Typer(help=spec.description, epilog=f"Example: tlsuite {spec.name} train {ex.data.split('   ')[0]}", no_args_is_help=True)
    name = spec.name

    @app.command(
        epilog=(
            f"Examples: tlsuite {name} train   (demo data, warm-started encoder-decoder)  |  "
            f"tlsuite {name} train {ex.data}  |  "
            f"tlsuite {name} train --model google-t5/t5-small {ex.data.split('   ')[0]}   (with internet)  |  "
            f"tlsuite {name} train --model smollm2-135m --strategy lora {ex.data.split('   ')[0]}"
        )
    )
    @with_engine_options(spec=spec)
    def train(
        engine: dict,
        model: Annotated[Optional[str], typer.Option(help=model_help, rich_help_panel="Model")] = None,
        encoder: defaulted(EncoderOpt, "none, --model decides") = None,
        decoder: DecoderOpt = None,
        instruction: defaulted(InstructionOpt, "none; the chat template when the tokenizer has one") = None,
        train: Annotated[Optional[str], typer.Option(help=with_default("Training pairs: CSV/TSV/JSONL, or parallel text (PREFIX with --src-lang/--tgt-lang, or SRC,TGT).", "demo data" if spec.demo_train else "required"), rich_help_panel="Data")] = None,
        dev: Annotated[Optional[str], typer.Option(help=with_default("Dev pairs: generated and scored at each evaluation.", dev_default), rich_help_panel="Data")] = None,
        source_col: SourceColOpt = None,
        target_col: TargetColOpt = None,
        format: FormatOpt = None,
        src_lang: AppSrcLangOpt = None,
        tgt_lang: AppTgtLangOpt = None,
        max_length: Annotated[Optional[int], typer.Option(help=with_default("Source tokens kept (longer sources are cut and counted).", show(defaults["max_length"])), rich_help_panel="Data")] = None,
        max_target_length: defaulted(MaxTargetOpt, option_default("max_target_length")) = None,
        max_new_tokens: defaulted(MaxNewOpt, option_default("max_new_tokens")) = None,
        min_new_tokens: defaulted(MinNewOpt, option_default("min_new_tokens")) = None,
        num_beams: defaulted(BeamsOpt, option_default("num_beams")) = None,
        length_penalty: defaulted(LengthPenaltyOpt, option_default("length_penalty", "the model's generation config")) = None,
        no_repeat_ngram_size: defaulted(NoRepeatOpt, option_default("no_repeat_ngram_size")) = None,
        eval_limit: defaulted(EvalLimitOpt, option_default("eval_limit", "all dev pairs")) = None,
        metric: Annotated[Optional[str], typer.Option(help=with_default("Dev metric for model selection (e.g. chrf, bleu, rougeL, loss).", defaults["metric"]), rich_help_panel="Optimisation")] = None,
    ) -> None:
        """Fine-tune a generation model on source -> target pairs; writes a run folder (model, metrics, report)."""
        extra = _extra(encoder=encoder, decoder=decoder, instruction=instruction, src_lang=src_lang, tgt_lang=tgt_lang,
                       max_target_length=max_target_length, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                       num_beams=num_beams, length_penalty=length_penalty, no_repeat_ngram_size=no_repeat_ngram_size,
                       eval_limit=eval_limit)
        overrides = engine_overrides(engine, model=model, train=train, dev=dev, text_col=source_col, label_col=target_col,
                                     format=format, max_length=max_length, metric=metric, extra=checked(extra))
        run_training(spec, engine, overrides)

    @app.command(epilog=f"Example: tlsuite {name} compare --encoder minilm {ex.data.split('   ')[0]} --strategies full,partial")
    @with_engine_options(exclude=NOT_FOR_COMPARE, spec=spec)
    def compare(
        engine: dict,
        strategies: StrategiesOpt = None,
        test: TestOpt = None,
        model: Annotated[Optional[str], typer.Option(help=model_help, rich_help_panel="Model")] = None,
        encoder: defaulted(EncoderOpt, "none, --model decides") = None,
        decoder: DecoderOpt = None,
        train: Annotated[Optional[str], typer.Option(help=with_default("Training pairs.", "demo data" if spec.demo_train else "required"), rich_help_panel="Data")] = None,
        dev: Annotated[Optional[str], typer.Option(help=with_default("Dev pairs.", dev_default), rich_help_panel="Data")] = None,
        source_col: SourceColOpt = None,
        target_col: TargetColOpt = None,
        format: FormatOpt = None,
        src_lang: AppSrcLangOpt = None,
        tgt_lang: AppTgtLangOpt = None,
        max_length: Annotated[Optional[int], typer.Option(help=with_default("Source tokens kept.", show(defaults["max_length"])), rich_help_panel="Data")] = None,
        metric: Annotated[Optional[str], typer.Option(help=with_default("Dev metric the report compares.", defaults["metric"]), rich_help_panel="Optimisation")] = None,
    ) -> None:
        """Train several strategies and two baselines on the same pairs and seed; write a table and a chart."""
        overrides = engine_overrides(engine, model=model, train=train, dev=dev, text_col=source_col, label_col=target_col, format=format,
                                     max_length=max_length, metric=metric, extra=checked(_extra(encoder=encoder, decoder=decoder, src_lang=src_lang, tgt_lang=tgt_lang)))
        run_comparison(spec, engine, overrides, strategies, test)

    @app.command(epilog=f"Example: tlsuite {name} evaluate --model runs/{name}/NAME --data {ex.pairs} --output metrics.json")
    def evaluate(
        data: Annotated[str, typer.Option(help="Pairs to score (same formats as train).")],
        model: UseModelOpt = None,
        output: Annotated[Optional[Path], typer.Option(help="Write the metrics as JSON here.")] = None,
        predictions: Annotated[Optional[Path], typer.Option(help="Also write every source, output and references as JSONL here.")] = None,
        source_col: Annotated[Optional[str], typer.Option(help="Source column (default: auto).")] = None,
        target_col: Annotated[Optional[str], typer.Option(help="Target column(s) (default: auto).")] = None,
        format: Annotated[Optional[str], typer.Option("--format", help="Data format (default: by suffix).")] = None,
        src_lang: Annotated[Optional[str], typer.Option(help="Source language (parallel files).")] = None,
        tgt_lang: Annotated[Optional[str], typer.Option(help="Target language (parallel files).")] = None,
        max_new_tokens: Annotated[Optional[int], typer.Option(help="Override the saved generation setting.")] = None,
        num_beams: Annotated[Optional[int], typer.Option(help="Override the saved beam width.")] = None,
        batch_size: UseBatchSizeOpt = 16,
        device: UseDeviceOpt = "auto",
        threads: UseThreadsOpt = None,
        runs_dir: UseRunsDirOpt = None,
    ) -> None:
        """Generate for labelled pairs with a trained run and score the outputs (the app's metric)."""
        from ..apps import load_app
        from ..pairs import load_pairs

        trained = load_app(model_for_use(spec, model, runs_dir_of(runs_dir)), device=device, threads=threads)
        langs = trained.task.options
        pairs = load_pairs(data, source_column=source_col, target_column=target_col, fmt=format,
                           src_lang=src_lang or langs.get("src_lang"), tgt_lang=tgt_lang or langs.get("tgt_lang"))
        outputs = trained.predict(pairs.sources, batch_size=batch_size, **_extra(max_new_tokens=max_new_tokens, num_beams=num_beams) or {})
        metrics = trained.task.score(pairs.targets, outputs)
        result = {**metrics, "model": str(trained.run_dir or trained.model_dir), "data": pairs.describe()}
        if output is not None:
            write_atomically(output, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        if predictions is not None:
            write_atomically(predictions, "".join(json.dumps({"source": s, "output": o.text, "truncated": o.truncated, "references": r}, ensure_ascii=False) + "\n"
                                                  for s, o, r in zip(pairs.sources, outputs, pairs.targets)))
        for key, value in metrics.items():
            if isinstance(value, (int, float)):
                typer.echo(f"{key:>24}  {value:.4f}" if isinstance(value, float) else f"{key:>24}  {value}")
        for key, value in (metrics.get("signatures") or {}).items():
            typer.echo(f"{key:>24}  {value}")
        _warn_truncated(metrics.get("generation_truncated", 0), len(outputs), max_new_tokens or trained.task.options.get("max_new_tokens"))

    @app.command(
        epilog=(
            f"Examples: tlsuite {name} run {ex.text}  |  tlsuite {name} run --input {ex.input_file} --output {ex.output_file}  |  "
            f"cat sources.txt | tlsuite {name} run   (one source per line)"
        )
    )
    def run(
        texts: Annotated[Optional[list[str]], typer.Argument(help="Source texts (or --input, or stdin).")] = None,
        input: Annotated[Optional[str], typer.Option("--input", "-i", help="File of sources: .txt (one per line), CSV/TSV/JSONL (source column), or - for stdin.")] = None,
        model: UseModelOpt = None,
        output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write outputs here (.txt: one per line; .jsonl: with sources and flags).")] = None,
        source_col: Annotated[Optional[str], typer.Option(help="Source column of a CSV/TSV/JSONL input (default: auto).")] = None,
        format: Annotated[Optional[str], typer.Option("--format", help="Input format (default: by suffix).")] = None,
        max_new_tokens: Annotated[Optional[int], typer.Option(help="Override the saved generation setting.")] = None,
        num_beams: Annotated[Optional[int], typer.Option(help="Override the saved beam width.")] = None,
        batch_size: UseBatchSizeOpt = 16,
        device: UseDeviceOpt = "auto",
        threads: UseThreadsOpt = None,
        runs_dir: UseRunsDirOpt = None,
    ) -> None:
        """Generate with a trained run for texts, a file or stdin (batched, sorted by length)."""
        from ..apps import load_app

        items = _sources(texts or [], input, source_col, format)
        trained = load_app(model_for_use(spec, model, runs_dir_of(runs_dir)), device=device, threads=threads)
        outputs = trained.predict(items, batch_size=batch_size, **_extra(max_new_tokens=max_new_tokens, num_beams=num_beams) or {})
        if output is not None and output.suffix.lower() == ".jsonl":
            write_atomically(output, "".join(json.dumps({"source": s, "output": o.text, "truncated": o.truncated}, ensure_ascii=False) + "\n" for s, o in zip(items, outputs)))
        else:
            text = "".join(o.text.replace("\n", " ") + "\n" for o in outputs)
            if output is not None:
                write_atomically(output, text)
            else:
                sys.stdout.write(text)
        if output is not None:
            err.print(f"{len(outputs)} outputs written to {output}")
        _warn_truncated(sum(o.truncated for o in outputs), len(outputs), max_new_tokens or trained.task.options.get("max_new_tokens"))

    return app


def _sources(texts: list[str], input_file: Optional[str], source_col: Optional[str], fmt: Optional[str]) -> list[str]:
    if input_file is not None and Path(input_file).suffix.lower() in (".csv", ".tsv", ".jsonl", ".json") or fmt in ("csv", "tsv", "jsonl"):
        from ..pairs import load_pairs

        return load_pairs(input_file, source_column=source_col, fmt=fmt, require_targets=False).sources
    items, _ = read_texts(texts, input_file, None, None)
    return items


def _warn_truncated(count: int, total: int, limit: Any) -> None:
    if count:
        err.print(f"[yellow]warning:[/] {count} of {total} outputs stopped at max_new_tokens ({limit}) without an end token; "
                  "raise --max-new-tokens if they look cut")

