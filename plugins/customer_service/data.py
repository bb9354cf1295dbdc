"""Customer-support data: the Bitext layout, its deterministic split, slot spans and answer placeholders.

Bitext's CSV (``instruction``, ``intent``, ``category``, ``response`` with ``{{placeholders}}``, and on some rows one
``entity_type`` / ``entity_value`` with ``start_offset`` / ``end_offset``) is read by the ``bitext`` data adapter
as ``text`` + ``label`` rows carrying the other fields. Banking77's ``text,category`` CSV needs no adapter (the core
CSV reader finds both columns).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tlsuite_core.data import DataAdapter, Table, decode, fingerprint, read_bytes
from tlsuite_core.errors import DataError

BITEXT_COLUMNS = ("instruction", "intent", "response")
BITEXT_FIELDS = ("category", "entity_type", "entity_value", "start_offset", "end_offset")
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
SPLITS = ("train", "dev", "test")


def read_bitext(path: Path) -> Table:
    """The Bitext customer-support CSV as ``text`` (the instruction), ``label`` (the intent), ``response`` and the
    entity fields; every row needs an instruction and an intent."""
    data = read_bytes(path)
    reader = csv.DictReader(io.StringIO(decode(data, path), newline=""))
    missing = [c for c in BITEXT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(f"not a Bitext file: missing column(s) {', '.join(missing)}", path=path, line=1)
    rows, lines = [], []
    for row in reader:
        line = reader.line_num
        for column in ("instruction", "intent"):
            if not (row.get(column) or "").strip():
                raise DataError("empty value", path=path, line=line, field=column)
        record = {"text": row["instruction"].strip(), "label": row["intent"].strip(), "response": row["response"]}
        record.update({name: (row.get(name) or "").strip() for name in BITEXT_FIELDS})
        rows.append(record)
        lines.append(line)
    columns = ["text", "label", "response", *BITEXT_FIELDS]
    return Table(str(path), columns, rows, lines, "bitext", fingerprint(data))


BITEXT = DataAdapter(
    "bitext", (), read_bitext, "Bitext customer-support CSV (instruction, intent, response, entity offsets)"
)


def split_of(text: str, seed: int = 13) -> str:
    """The shared files' rule: ``int(sha256(f"{seed}:{text}")) % 10``: <= 7 train, 8 dev, 9 test."""
    key = int(hashlib.sha256(f"{seed}:{text.strip()}".encode("utf-8")).hexdigest(), 16) % 10
    return "train" if key <= 7 else ("dev" if key == 8 else "test")


@dataclass(frozen=True)
class Span:
    """A slot in an utterance: character offsets, type and how the span was found (``how``: ``offsets`` when the
    file's offsets cover the value, ``offsets-case`` when they cover it in another letter case (``Gold`` for
    ``gold``), ``value`` when the value was found elsewhere in the text (grown to whole alphanumeric runs: an order
    number whose leading zeros the value drops), ``offsets-only`` when the value is not in the text but the
    offsets point at a token)."""

    start: int
    end: int
    label: str
    how: str


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow a span to whole alphanumeric runs (a value cut inside an order number becomes the whole number)."""
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum() and text[end - 1].isalnum():
        end += 1
    return start, end


def slot_span(text: str, entity_type: str, value: str, start: str, end: str) -> Span | None:
    """The slot of one Bitext row, or ``None`` when the row has none or its value and offsets point nowhere."""
    if not entity_type or not value:
        return None
    try:
        s, e = int(start), int(end)
    except ValueError:
        s, e = -1, -1
    if 0 <= s < e <= len(text) and text[s:e] == value:
        return Span(s, e, entity_type, "offsets")
    if 0 <= s < e <= len(text) and text[s:e].lower() == value.lower():
        return Span(s, e, entity_type, "offsets-case")
    hits = [m.start() for m in re.finditer(re.escape(value), text)]
    if hits:
        at = min(hits, key=lambda h: abs(h - s))
        return Span(*_widen(text, at, at + len(value)), entity_type, "value")
    if 0 <= s < e <= len(text) and text[s:e].strip():
        return Span(*_widen(text, s, e), entity_type, "offsets-only")
    return None


def placeholders(response: str) -> list[str]:
    """The ``{{placeholder}}`` names of an answer, in order, without repeats."""
    return list(dict.fromkeys(PLACEHOLDER.findall(response)))


def slot_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Token-classification rows (``text`` + character-offset ``entities``) from Bitext rows, and counts of how each
    span was found (``offsets``, ``value``, ``offsets-only``, ``none``)."""
    out, counts = [], {"offsets": 0, "offsets-case": 0, "value": 0, "offsets-only": 0, "none": 0, "no-entity": 0}
    for row in rows:
        if not row.get("entity_type"):
            counts["no-entity"] += 1
            span = None
        else:
            span = slot_span(
                row["text"], row["entity_type"], row["entity_value"], row["start_offset"], row["end_offset"]
            )
            counts[span.how if span else "none"] += 1
        entities = [] if span is None else [{"start": span.start, "end": span.end, "label": span.label}]
        out.append({"text": row["text"], "entities": entities})
    return out, counts
