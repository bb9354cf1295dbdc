"""translate: machine translation on the core generation task, a first-party tlsuite plugin.

Data: line-aligned parallel text (``PREFIX`` with ``--src-lang``/``--tgt-lang`` reads ``PREFIX.<src>`` and
``PREFIX.<tgt>``, or ``SRC,TGT``), or CSV / TSV / JSONL with source and target columns; a target may hold several
references (see :mod:`tlsuite_core.pairs`). Scored with sacreBLEU: BLEU, lowercased BLEU, chrF2 and TER
(:mod:`tlsuite_translate.metrics`). Demo data: ~120 invented English -> German business-news sentence pairs.
"""

from __future__ import annotations

from pathlib import Path

from tlsuite_core.apps import AppSpec

DEMO = Path(__file__).parent / "demo"

APP = AppSpec(
    name="translate",
    task="generation",
    description="Machine translation: train, evaluate (BLEU, chrF, TER) and translate text with an encoder-decoder.",
    default_model="minilm",
    default_labels=None,  # generation: no label set
    # PREFIX paths: the core reads PREFIX.<src_lang> and PREFIX.<tgt_lang> (train.en + train.de)
    demo_train=DEMO / "train",
    demo_dev=DEMO / "dev",
    # Starting points, not tuned: a warm-started encoder-decoder (pretrained encoder and decoder, fresh
    # cross-attention) trained on CPU. A small peak rate keeps the pretrained weights intact while cross-attention
    # learns; label smoothing 0.1 is the usual MT setting; chrF is the selection metric because it is stabler than
    # BLEU on small dev sets. Decoding: beam search of 4 and room for 128 new tokens (the transformers default of
    # 20 tokens would cut translations short).
    defaults={
        "learning_rate": 5e-5,
        "epochs": 5.0,
        "batch_size": 16,
        "eval_batch_size": 32,
        "warmup": 0.1,
        "weight_decay": 0.01,
        "label_smoothing": 0.1,
        "max_length": 128,
        "metric": "chrf",
        "evals_per_epoch": 1,
        "extra": {
            "metrics": "translation",
            "max_new_tokens": 128,
            "num_beams": 4,
            "src_lang": "en",
            "tgt_lang": "de",
        },
    },
)
