"""Fault injection for the monitor's crash-recovery tests, kept out of the shipped package.

``kill_at("before-commit:N")`` makes the process SIGKILL itself when the transaction of the N-th ingest batch is
about to commit (everything of that batch written, nothing committed); ``kill_at("after-commit:N")`` right after that
batch committed, before the ingester goes on. It patches :meth:`Ingestor.ingest_batch` to count batches and listens
to SQLAlchemy's ``commit`` event (fired before the database commits), so the package needs no hook of its own.
"""

from __future__ import annotations

import os
import signal
from typing import Any

STAGES = ("before-commit", "after-commit")


def kill_at(point: str) -> None:
    """Install the fault ``<stage>:<batch>`` in this process (see the module doc)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from tlsuite_finance_monitor.monitor.ingest import Ingestor

    stage, _, number = point.partition(":")
    if stage not in STAGES or not number.isdigit():
        raise ValueError(f"fault {point!r}: use before-commit:N or after-commit:N")
    target = int(number)
    state = {"batch": 0, "inside": False}
    original = Ingestor.ingest_batch

    def ingest_batch(self: Any, *args: Any, **kwargs: Any) -> Any:
        state["batch"] += 1
        state["inside"] = True
        try:
            stats = original(self, *args, **kwargs)
        finally:
            state["inside"] = False
        if stage == "after-commit" and state["batch"] == target:
            os.kill(os.getpid(), signal.SIGKILL)
        return stats

    def on_commit(_conn: Any) -> None:
        if stage == "before-commit" and state["inside"] and state["batch"] == target:
            os.kill(os.getpid(), signal.SIGKILL)

    Ingestor.ingest_batch = ingest_batch  # type: ignore[method-assign]
    event.listen(Engine, "commit", on_commit)
