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
    # Tuned on CoNLL-2003 (dev) for the 6-layer default model on 2 CPU cores (docs/ner.md, bench/results/ner.json):
    # each sentence is read with the rest of its document as context (FLERT-style, no extra compute: documents go
    # through the same 256-subword windows), tags are decoded as the best valid IOB2 sequence (Viterbi),
    # layer-wise learning-rate decay 0.85 with the head at 5x, batches of 8 windows, 5 epochs.
    defaults={
        "learning_rate": 2e-4,
        "epochs": 5.0,
        "batch_size": 8,
        "warmup": 0.1,
        "weight_decay": 0.01,
        "layer_lr_decay": 0.85,
        "head_lr_scale": 5.0,
        "max_length": 256,
        "metric": "f1",
        "evals_per_epoch": 1,
        "extra": {"context": "document", "decode": "viterbi"},
    },
)
