"""ner: named-entity recognition on the core token-classification task, a first-party tlsuite plugin.

Data: CoNLL column files (``.txt``/``.conll``; ``-DOCSTART-`` handled, tag column selectable), JSONL with
``tokens`` + ``tags``, or JSONL with raw ``text`` + character-offset ``entities``. Tagging schemes IOB1, IOB2 and
BIOES are detected and converted; the label set comes from the training data.
"""

from __future__ import annotations

from tlsuite_core.apps import AppSpec

APP = AppSpec(
    name="ner",
    task="token-classification",
    description="Named-entity recognition: train, evaluate and predict entity spans (CoNLL / JSONL data).",
    default_model="minilm",
    default_labels=None,  # the label set comes from the data
    # Starting point for a 6-layer encoder on CoNLL-2003-sized data; not yet tuned on the benchmark (see
    # docs/ner.md). Windows of 256 subwords hold nearly every sentence whole; longer ones are windowed.
    defaults={
        "learning_rate": 1e-4,
        "epochs": 4.0,
        "batch_size": 32,
        "warmup": 0.1,
        "weight_decay": 0.01,
        "max_length": 256,
        "metric": "f1",
        "evals_per_epoch": 1,
    },
)
