"""The dialogue settings of a run (``dialogue.yaml``, optional): reply mode per intent, sensitive intents,
escalation thresholds, slot patterns and the fixed phrases. Every key has a default."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tlsuite_core.errors import ConfigError
from tlsuite_core.files import read_yaml_mapping

DIALOGUE = "dialogue.yaml"
MODES = ("template", "generated", "escalate")
HANDOVER_WORDS = ("agent", "human", "representative", "real person", "operator", "someone real")


@dataclass
class DialogueSettings:
    """``modes``: intent -> template | generated | escalate (default ``template``); ``sensitive``: intents always
    handed over; ``escalate_below``: hand over when the calibrated confidence of an in-scope intent is below this;
    ``max_failures``: hand over after this many consecutive messages not understood; ``keep_turns``: turns kept
    per session; ``handover_words``: a message with one of these words asks for a human; ``slot_patterns``: slot
    type -> regular expression (group 1, or the match, is the value)."""

    modes: dict[str, str] = field(default_factory=dict)
    sensitive: list[str] = field(default_factory=list)
    escalate_below: float = 0.2
    max_failures: int = 2
    keep_turns: int = 10
    handover_words: list[str] = field(default_factory=lambda: list(HANDOVER_WORDS))
    slot_patterns: dict[str, str] = field(
        default_factory=lambda: {"order_id": r"\b(\d{5,})\b", "invoice_id": r"\b([A-Z]{2,}-?\d{4,})\b"}
    )
    not_understood: str = "Sorry, I did not understand that. Could you rephrase it?"
    handover: str = "I am handing you over to a human agent, who will continue this conversation."
    escalated: str = "A human agent has this conversation and will answer you shortly."

    def mode(self, intent: str) -> str:
        return "escalate" if intent in self.sensitive else self.modes.get(intent, "template")

    @classmethod
    def load(cls, run_dir: Path) -> DialogueSettings:
        path = run_dir / DIALOGUE
        return (
            cls.from_mapping(read_yaml_mapping(path, "dialogue settings", "a mapping"), str(path))
            if path.is_file()
            else cls()
        )

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str) -> DialogueSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        settings = cls(**data)
        bad = {k: v for k, v in settings.modes.items() if v not in MODES}
        if bad:
            intent, mode = next(iter(bad.items()))
            raise ConfigError(f"{source}: modes.{intent}: '{mode}' is not one of {', '.join(MODES)}")
        import re

        for kind, pattern in settings.slot_patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"{source}: slot_patterns.{kind}: invalid regular expression ({exc})") from None
        return settings
