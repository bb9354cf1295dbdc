"""summarize: abstractive summarization on the core generation task, a first-party tlsuite plugin.

Data: CSV / TSV / JSONL with a source and a summary column; DialogSum's ``dialogue`` / ``summary`` columns and the
numbered ``summary1``..``summary3`` of its test split are detected by :func:`tlsuite_core.pairs.load_pairs` (see
:mod:`tlsuite_summarize.data`). Scored with ROUGE-1/2/L/Lsum (:mod:`tlsuite_summarize.metrics`). Demo data: ~60
invented customer-service and office dialogues with one-sentence summaries, in DialogSum's ``#Person1#:`` style.
The app is declared in ``app.yaml``.
"""

from __future__ import annotations

from pathlib import Path

from tlsuite_core.apps import AppSpec

APP = AppSpec.from_file(Path(__file__).parent / "app.yaml")
