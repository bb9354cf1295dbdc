"""``tlsuite pretrain``: domain-adaptive continued pretraining on unlabelled text (masked LM or causal LM)."""
# no `from __future__ import annotations`: Typer reads these annotations at runtime

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..apps import AppSpec
from ..config import PRETRAIN as COMMAND
from ..tasks.language_modeling import LanguageModelingOptions
from .common import RunOptions, View, bind, run_training, training_parameters

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
        "extra": {"objective": "auto", "mlm_probability": 0.15, "whole_word_mask": True},
    },
)

EPILOG = (
    "Examples: tlsuite pretrain --corpus news.txt --out models/news-minilm   (then --model models/news-minilm in any app's train)  |  "
    "tlsuite pretrain --corpus notes.jsonl --text-col body --epochs 5 --out models/notes"
)

#: how ``pretrain`` words the data options (pretraining adapts every weight: the options of labelled training,
#: strategies included, are not among its options; see ``Option.commands``)
VIEWS = {
    "model": View("Model alias, model/run folder or hub id to continue from."),
    "train": View(
        "Unlabelled text: .txt (one text per line) or CSV/TSV/JSONL with a text column.",
        flags=("--corpus",),
        required=True,
    ),
    "dev": View("Held-out text for perplexity (default: --dev-split of the corpus)."),
    "text_col": View("Text column of CSV/TSV/JSONL corpora (default: auto)."),
    "format": View("Corpus format (txt, csv, tsv, jsonl) (default: by suffix)."),
    "max_length": View("Tokens per text (longer texts are truncated and counted)."),
    "metric": View("Dev metric for model selection: loss | perplexity."),
}


OutOpt = Annotated[
    Optional[Path],
    typer.Option(
        help="Output run folder (default: runs/pretrain/<timestamp>); use it as --model of any app.",
        rich_help_panel="Output",
    ),
]


def pretrain(spec: AppSpec, options: RunOptions, out: OutOpt = None) -> None:
    """Continue pretraining a model on in-domain text; the output folder works as --model for every app."""
    if options.overrides.get("dev") is not None:
        options.overrides["dev_split"] = 0.0
    run_training(spec, options, task_options=LanguageModelingOptions, run_path=out)


def register(cli: typer.Typer) -> None:
    """Add ``tlsuite pretrain`` to the root CLI."""
    params = training_parameters(COMMAND, PRETRAIN, views=VIEWS, task_options=LanguageModelingOptions)
    cli.command(epilog=EPILOG)(bind(pretrain, params=params, spec=PRETRAIN))
