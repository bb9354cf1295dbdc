"""summarize: abstractive summarization on the core generation task, a first-party tlsuite plugin.

Data: CSV / TSV / JSONL with a source and a summary column; DialogSum's ``dialogue`` / ``summary`` columns and the
numbered ``summary1``..``summary3`` of its test split are detected by :func:`tlsuite_core.pairs.load_pairs` (see
:mod:`tlsuite_summarize.data`). Scored with ROUGE-1/2/L/Lsum (:mod:`tlsuite_summarize.metrics`). Demo data: ~60
invented customer-service and office dialogues with one-sentence summaries, in DialogSum's ``#Person1#:`` style.
"""

from __future__ import annotations

from pathlib import Path

from tlsuite_core.apps import AppSpec

DEMO = Path(__file__).parent / "demo"

APP = AppSpec(
    name="summarize",
    task="generation",
    description="Summarization (dialogues, articles): train, evaluate (ROUGE) and summarize text with an encoder-decoder.",
    default_model="minilm",
    default_labels=None,  # generation: no label set
    demo_train=DEMO / "train.jsonl",
    demo_dev=DEMO / "dev.jsonl",
    # Starting points, not tuned: a warm-started encoder-decoder on CPU; sources up to 512 subwords (most DialogSum
    # dialogues fit whole). Selection on rougeL (the usual headline number).
    # max_new_tokens is set explicitly because the transformers default (max_length 20 tokens) silently truncates
    # summaries and deflates ROUGE; 96 new tokens covers DialogSum-length summaries (~20-30 words) with room to spare.
    # min_new_tokens stops empty outputs, no_repeat_ngram_size 3 stops the loops small decoders fall into.
    defaults={
        "learning_rate": 5e-5,
        "epochs": 5.0,
        "batch_size": 8,
        "eval_batch_size": 16,
        "warmup": 0.1,
        "weight_decay": 0.01,
        "label_smoothing": 0.1,
        "max_length": 512,
        "metric": "rougeL",
        "evals_per_epoch": 1,
        "extra": {
            "metrics": "summarization",
            "max_new_tokens": 96,
            "min_new_tokens": 5,
            "num_beams": 4,
            "length_penalty": 1.0,
            "no_repeat_ngram_size": 3,
        },
    },
)
