"""Slots from the conversation: a token-classification run (``slots/`` in the customer-service run, trained with
``tlsuite customer-service slots train``), and patterns from ``dialogue.yaml`` for structured values (order
numbers) that work without a slot model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

SLOTS = "slots"


class SlotExtractor:
    """Finds slot values in a message: the slot model's entities first, then each pattern's first match."""

    def __init__(self, run_dir: Path, patterns: Mapping[str, str], *, registry: Any = None) -> None:
        self.patterns = {kind: re.compile(pattern) for kind, pattern in patterns.items()}
        self.model: Any = None
        folder = run_dir / SLOTS
        if (folder / "run.json").is_file():
            from tlsuite_core.apps import load_app

            from . import SLOTS_APP

            self.model = load_app(folder, device="cpu", registry=registry, app=SLOTS_APP.name)

    def extract(self, message: str, only: str | None = None) -> dict[str, str]:
        """Slot type -> value found in ``message``; ``only``: the slot type the bot asked for (a bare reply such as
        ``"12345"`` or ``"John Smith"`` then fills it when nothing else does)."""
        found: dict[str, str] = {}
        if self.model is not None:
            for entity in self.model.predict([message])[0]:
                found.setdefault(entity.label, entity.text)
        for kind, pattern in self.patterns.items():
            if kind not in found and (match := pattern.search(message)):
                found[kind] = match.group(match.lastindex or 0)
        if only is not None and only not in found and message.strip() and len(message.split()) <= 4:
            found[only] = message.strip().rstrip(".!?")
        return found
