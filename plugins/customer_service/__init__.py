"""customer-service: intents with out-of-scope detection, answer retrieval, slot-filled replies and multi-turn
dialogue with escalation, a first-party tlsuite plugin.

A customer-service run is an ordinary intent-classification run folder (``tlsuite customer-service train``) that
later steps complete in place: ``ood.json`` (the out-of-scope score, threshold and calibration, written by
``train`` when a dev set is given, or by ``calibrate``), ``answers/`` (the answer set, its placeholder map and the
answer index), ``retriever/`` (a fine-tuned sentence-transformers bi-encoder), ``slots/`` (a token-classification
run), ``generator/`` (a generation run: smollm2-135m with LoRA, trained with ``train --generator`` or
``train-generator``) and ``dialogue.yaml`` (per-intent reply modes, sensitive intents, thresholds). See
docs/customer-service.md.

The three apps a run is made of are declared in ``app.yaml`` (intents), ``slots.yaml`` and ``generator.yaml``.
"""

from __future__ import annotations

from pathlib import Path

from tlsuite_core.apps import AppSpec

HERE = Path(__file__).parent
APP = AppSpec.from_file(HERE / "app.yaml")
SLOTS_APP = AppSpec.from_file(HERE / "slots.yaml")
GENERATOR_APP = AppSpec.from_file(HERE / "generator.yaml")
