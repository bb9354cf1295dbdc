"""``tlsuite pretrain``: domain-adaptive continued pretraining on unlabelled text (masked LM or causal LM)."""
# no `from __future__ import annotations`: Typer reads these annotations at runtime

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..apps import AppSpec
from .common import app_defaults, engine_overrides, run_training, show, with_default, with_engine_options

PRETRAIN = AppSpec(
    name="pretrain",
    task="language-modeling",
    description="Domain-adaptive continued pretraining: masked LM (whole-word masking) for encoders, causal LM for decoders.",
    defaults={
        "learning_rate": 5e-5,
        "epochs": 3.0,
        "batch_size": 32,
        "warmup": 0.06,
        "max_length": 128,
        "metric": "loss",
        "dev_split": 0.05,
    },
)

# pretraining adapts every weight; the options below concern labelled training only
NOT_FOR_PRETRAINING = (
    "strategy", "freeze_layers", "unfreeze_every", "lora_r", "lora_alpha", "lora_dropout", "target_modules",
    "virtual_tokens", "adapter_reduction", "no_merged", "label_smoothing", "fgm", "class_weights", "oversample",
    "init_from", "replay", "search", "head_lr_scale",
)


def register(cli: typer.Typer) -> None:
    defaults = app_defaults(PRETRAIN)

    @cli.command(
        epilog=(
            "Examples: tlsuite pretrain --corpus news.txt --out models/news-minilm   (then --model models/news-minilm in any app's train)  |  "
            "tlsuite pretrain --corpus notes.jsonl --text-col body --epochs 5 --out models/notes"
        ),
    )
    @with_engine_options(exclude=NOT_FOR_PRETRAINING, spec=PRETRAIN)
    def pretrain(
        engine: dict,
        corpus: Annotated[str, typer.Option(help="Unlabelled text: .txt (one text per line) or CSV/TSV/JSONL with a text column.", rich_help_panel="Data")],
        out: Annotated[Optional[Path], typer.Option(help="Output run folder (default: runs/pretrain/<timestamp>); use it as --model of any app.", rich_help_panel="Output")] = None,
        model: Annotated[Optional[str], typer.Option(help=with_default("Model alias, model/run folder or hub id to continue from.", PRETRAIN.default_model), rich_help_panel="Model")] = None,
        dev: Annotated[Optional[str], typer.Option(help="Held-out text for perplexity (default: --dev-split of the corpus).", rich_help_panel="Data")] = None,
        text_col: Annotated[Optional[str], typer.Option(help="Text column of CSV/TSV/JSONL corpora (default: auto).", rich_help_panel="Data")] = None,
        format: Annotated[Optional[str], typer.Option("--format", help="Corpus format (txt, csv, tsv, jsonl) (default: by suffix).", rich_help_panel="Data")] = None,
        max_length: Annotated[Optional[int], typer.Option(help=with_default("Tokens per text (longer texts are truncated and counted).", show(defaults["max_length"])), rich_help_panel="Data")] = None,
        objective: Annotated[str, typer.Option(help="auto | mlm | clm (auto: masked LM when the architecture has one).", rich_help_panel="Objective")] = "auto",
        mlm_probability: Annotated[float, typer.Option(help="Share of tokens (words, with whole-word masking) masked.", rich_help_panel="Objective")] = 0.15,
        no_whole_word_mask: Annotated[bool, typer.Option("--no-whole-word-mask", help="Mask subwords independently (BERT's original masking).", rich_help_panel="Objective")] = False,
        metric: Annotated[Optional[str], typer.Option(help=with_default("Dev metric for model selection: loss | perplexity.", defaults["metric"]), rich_help_panel="Optimisation")] = None,
    ) -> None:
        """Continue pretraining a model on in-domain text; the output folder works as --model for every app."""
        extra = {"objective": objective, "mlm_probability": mlm_probability, "whole_word_mask": not no_whole_word_mask}
        overrides = engine_overrides(
            engine, model=model, train=corpus, dev=dev, text_col=text_col, format=format, max_length=max_length,
            metric=metric, extra=extra,
        )
        if dev is not None:
            overrides["dev_split"] = 0.0
        run_training(PRETRAIN, engine, overrides, run_path=out)
