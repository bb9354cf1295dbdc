"""customer-service: intents with out-of-scope detection, answer retrieval, slot-filled replies and multi-turn
dialogue with escalation, a first-party tlsuite plugin.

A customer-service run is an ordinary intent-classification run folder (``tlsuite customer-service train``) that
later steps complete in place: ``ood.json`` (the out-of-scope score, threshold and calibration, written by
``train`` when a dev set is given, or by ``calibrate``), ``answers/`` (the answer set, its placeholder map and the
answer index), ``retriever/`` (a fine-tuned sentence-transformers bi-encoder), ``slots/`` (a token-classification
run), ``generator/`` (a generation run: smollm2-135m with LoRA, trained with ``train --generator`` or
``train-generator``) and ``dialogue.yaml`` (per-intent reply modes, sensitive intents, thresholds). See
docs/customer-service.md.
"""

from __future__ import annotations

from tlsuite_core.apps import AppSpec

APP = AppSpec(
    name="customer-service",
    task="sequence-classification",
    description="Customer service: intents with out-of-scope detection, answers, slots, dialogue and escalation.",
    default_model="minilm",
    default_labels=None,  # the intents come from the data
    # Chosen on an inner split of Banking77's training file (docs/results/customer-service.md): intents are short
    # (max length 64 loses nothing), a 6-layer encoder with 77 classes wants a high peak rate, many epochs, a fast
    # fresh head, slower lower layers and label smoothing; the plain recipe (2e-5, 3 epochs) stays at 0.74.
    defaults={
        "learning_rate": 1e-4,
        "epochs": 5.0,
        "batch_size": 16,
        "warmup": 0.1,
        "weight_decay": 0.01,
        "layer_lr_decay": 0.9,
        "head_lr_scale": 10.0,
        "label_smoothing": 0.1,
        "max_length": 64,
        "metric": "accuracy",
    },
)

SLOTS_APP = AppSpec(
    name="customer-service-slots",
    task="token-classification",
    description="Customer-service slots (order numbers, account names, amounts ...) tagged in utterances.",
    default_model="minilm",
    default_labels=None,
    defaults={
        "learning_rate": 2e-4,
        "epochs": 8.0,
        "batch_size": 16,
        "warmup": 0.1,
        "layer_lr_decay": 0.9,
        "head_lr_scale": 5.0,
        "max_length": 64,
        "metric": "f1",
    },
)

GENERATOR_APP = AppSpec(
    name="customer-service-generator",
    task="generation",
    default_model="smollm2-135m",
    # LoRA on the 135M decoder, sized for a CPU: a prompt (chat template, message, slots, a retrieved answer cut to
    # ~80 tokens: about 140 tokens) plus a target of at most 112 tokens fits in 256; greedy decoding; chrF
    # (sacrebleu) scores the replies. The LoRA strategy scales the rate x8: the peak is 2.4e-3.
    defaults={
        "strategy": "lora",
        "learning_rate": 3e-4,
        "epochs": 1.0,
        "batch_size": 4,
        "eval_batch_size": 8,
        "warmup": 0.05,
        "max_length": 256,
        "evals_per_epoch": 1,
        "metric": "chrf",
        "extra": {"metrics": "reply-chrf", "max_target_length": 112, "max_new_tokens": 128, "num_beams": 1},
    },
    description="Customer-service replies generated from the customer's message, its slots and a retrieved answer.",
)
