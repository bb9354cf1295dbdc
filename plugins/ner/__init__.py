"""ner: named-entity recognition on the core token-classification task, a first-party tlsuite plugin.

Data: CoNLL column files (``.txt``/``.conll``; ``-DOCSTART-`` handled, tag column selectable), JSONL with
``tokens`` + ``tags``, or JSONL with raw ``text`` + character-offset ``entities``. Tagging schemes IOB1, IOB2 and
BIOES are detected and converted; the label set comes from the training data. The app is declared in ``app.yaml``.
"""

from __future__ import annotations

from pathlib import Path

from tlsuite_core.apps import AppSpec

APP = AppSpec.from_file(Path(__file__).parent / "app.yaml")
