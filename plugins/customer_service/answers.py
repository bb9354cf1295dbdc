"""The answer set of a run (``answers/``): answers with their intent, the placeholder map and the company profile.

``answers/answers.jsonl``    one answer per line: ``id``, ``intent``, ``answer`` (``question`` when known)
``answers/placeholders.json`` placeholder -> ``{"slot": TYPE}`` (from the conversation; required) or
                              ``{"constant": KEY}`` (from the company profile)
``answers/profile.json``      constants: KEY -> text (a company's phone number, website name, ...)
``answers/index/``            the answer index (:mod:`tlsuite_core.retrieval`), rebuilt when the answers or the
                              retriever change (its fingerprint and model are checked at load)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from tlsuite_core.data import read_table
from tlsuite_core.errors import ConfigError, DataError
from tlsuite_core.files import read_yaml_mapping, write_atomically

from .data import PLACEHOLDER, placeholders

ANSWERS = "answers"
#: Bitext placeholders that stand for the customer's own details, by name pattern -> slot type
SLOT_PATTERNS = (
    (r"order (number|id)|purchase (number|id)|tracking number", "order_id"),
    (r"invoice (number|id)", "invoice_id"),
    (r"refund amount|amount", "refund_amount"),
    (r"account (type|category)|profile type", "account_type"),
    (r"^(customer |client )?(full )?name$|person name", "person_name"),
    (r"delivery city|^city$", "delivery_city"),
    (r"delivery country|^country$", "delivery_country"),
)
#: what the bot asks for a missing slot
QUESTIONS = {
    "order_id": "your order number",
    "invoice_id": "your invoice number",
    "refund_amount": "the amount of the refund",
    "account_type": "the type of account",
    "person_name": "your name",
    "delivery_city": "the delivery city",
    "delivery_country": "the delivery country",
}


def default_mapping(names: Iterable[str]) -> dict[str, dict[str, str]]:
    """Placeholders whose name says they are the customer's details become slots, the rest constants."""
    mapping = {}
    for name in sorted(set(names)):
        low = name.lower()
        slot = next((kind for pattern, kind in SLOT_PATTERNS if re.search(pattern, low)), None)
        mapping[name] = {"slot": slot} if slot else {"constant": name}
    return mapping


@dataclass
class Answer:
    id: str
    intent: str
    text: str
    question: str = ""

    @property
    def placeholders(self) -> list[str]:
        return placeholders(self.text)


@dataclass
class AnswerSet:
    """Answers by id, the placeholder map and the profile constants."""

    answers: dict[str, Answer]
    mapping: dict[str, dict[str, str]]
    profile: dict[str, str] = field(default_factory=dict)

    def by_intent(self, intent: str) -> list[Answer]:
        return [a for a in self.answers.values() if a.intent == intent]

    def required_slots(self, answer: Answer) -> list[str]:
        return [m["slot"] for p in answer.placeholders if "slot" in (m := self.mapping.get(p, {}))]

    def render(self, answer: Answer, slots: Mapping[str, str]) -> tuple[str, list[str]]:
        """The answer with its placeholders filled, and the slot types still missing (then the text is partial).
        A constant missing from the profile is written as its own name (listed by ``answers check``)."""
        missing: list[str] = []

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            spec = self.mapping.get(name, {"constant": name})
            if "slot" in spec:
                value = slots.get(spec["slot"])
                if value is None:
                    missing.append(spec["slot"])
                    return match.group(0)
                return value
            return self.profile.get(spec["constant"], spec["constant"])

        text = PLACEHOLDER.sub(fill, answer.text)
        return text, list(dict.fromkeys(missing))

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        lines = "".join(
            json.dumps({"id": a.id, "intent": a.intent, "answer": a.text, "question": a.question}, ensure_ascii=False)
            + "\n"
            for a in self.answers.values()
        )
        write_atomically(folder / "answers.jsonl", lines)
        write_atomically(folder / "placeholders.json", json.dumps(self.mapping, indent=2, ensure_ascii=False) + "\n")
        write_atomically(folder / "profile.json", json.dumps(self.profile, indent=2, ensure_ascii=False) + "\n")
        return folder

    @classmethod
    def load(cls, folder: Path) -> AnswerSet | None:
        if not (folder / "answers.jsonl").is_file():
            return None
        answers = {}
        for line in (folder / "answers.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            answers[row["id"]] = Answer(row["id"], row["intent"], row["answer"], row.get("question", ""))
        mapping = json.loads((folder / "placeholders.json").read_text(encoding="utf-8"))
        profile = json.loads((folder / "profile.json").read_text(encoding="utf-8"))
        return cls(answers, mapping, profile)


def read_answers(path: str, fmt: str | None = None, adapters: Mapping[str, Any] | None = None) -> list[Answer]:
    """Answers from a file: CSV/TSV/JSONL with ``intent`` (or ``label``) and ``answer`` (or ``response``), optional
    ``id`` and ``question`` (or ``text``/``instruction``); or a Bitext file (``--format bitext``). Every row needs an
    intent and an answer; ids must be unique (default: ``<intent>-<row>``)."""
    table = read_table(path, fmt, adapters)
    pick = {
        "intent": next((c for c in ("intent", "label") if c in table.columns), None),
        "answer": next((c for c in ("answer", "response") if c in table.columns), None),
    }
    for key, column in pick.items():
        if column is None:
            raise DataError(f"no {key} column (columns: {', '.join(table.columns)})", path=path, line=1)
    question = next((c for c in ("question", "text", "instruction") if c in table.columns), None)
    answers, seen = [], set()
    for number, (row, line) in enumerate(zip(table.rows, table.lines), start=1):
        intent, text = str(row.get(pick["intent"]) or "").strip(), str(row.get(pick["answer"]) or "").strip()
        for key, value in (("intent", intent), ("answer", text)):
            if not value:
                raise DataError("empty value", path=path, line=line, field=pick[key])
        answer_id = str(row.get("id") or f"{intent}-{number}")
        if answer_id in seen:
            raise DataError(f"duplicate answer id '{answer_id}'", path=path, line=line, field="id")
        seen.add(answer_id)
        answers.append(Answer(answer_id, intent, text, str(row.get(question) or "") if question else ""))
    if not answers:
        raise DataError("no answers", path=path)
    return answers


def build_answer_set(
    answers: list[Answer], placeholder_map: str | None = None, profile: str | None = None
) -> AnswerSet:
    """The answer set with the default placeholder mapping, overridden by a YAML map
    (``placeholder: {slot: TYPE}`` or ``{constant: KEY}``), and the profile constants from a YAML file."""
    mapping = default_mapping(p for a in answers for p in a.placeholders)
    if placeholder_map is not None:
        for name, spec in read_yaml_mapping(
            placeholder_map, "placeholder map", "placeholder: {slot|constant: ...}"
        ).items():
            if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in ("slot", "constant"):
                raise ConfigError(f"{placeholder_map}: '{name}': expected {{slot: TYPE}} or {{constant: KEY}}")
            mapping[str(name)] = {k: str(v) for k, v in spec.items()}
    constants = {}
    if profile is not None:
        constants = {str(k): str(v) for k, v in read_yaml_mapping(profile, "company profile", "KEY: text").items()}
    return AnswerSet({a.id: a for a in answers}, mapping, constants)
