"""translate: machine translation on the core generation task, a first-party tlsuite plugin.

Data: line-aligned parallel text (``PREFIX`` with ``--src-lang``/``--tgt-lang`` reads ``PREFIX.<src>`` and
``PREFIX.<tgt>``, or ``SRC,TGT``), or CSV / TSV / JSONL with source and target columns; a target may hold several
references (see :mod:`tlsuite_core.pairs`). Scored with sacreBLEU: BLEU, lowercased BLEU, chrF2 and TER
(:mod:`tlsuite_translate.metrics`). Demo data: ~120 invented English -> German business-news sentence pairs.
The app is declared in ``app.yaml``.
"""

from __future__ import annotations

from pathlib import Path

from tlsuite_core.apps import AppSpec

APP = AppSpec.from_file(Path(__file__).parent / "app.yaml")
