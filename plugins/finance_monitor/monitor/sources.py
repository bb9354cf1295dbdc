"""Reading news items from JSONL/CSV files, folders and stdin, with byte offsets for exact resume.

A :class:`FileReader` starts at a cursor (byte offset, line number, CSV header) and yields :class:`Raw` records,
each with the byte offset just after it, so the ingester can store "read up to here" in the same transaction as
the items. With ``final=False`` (``--follow``) an incomplete last line, one without its newline yet, is left for
the next poll instead of being read half-written.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from tlsuite_core.errors import DataError

from .records import BadRecord, NewsItem

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}
HEAD_BYTES = 4096
MAX_RAW = 2000


@dataclass
class Raw:
    """One record as read: its fields, or the reason it could not be parsed."""

    line: int
    end_offset: int
    end_line: int
    fields: dict[str, Any] | None
    raw: str
    error: str | None = None


def source_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in ("jsonl", "csv"):
            raise DataError(f"unknown format {fmt!r} (jsonl or csv)", path=path)
        return fmt
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise DataError(
            f"cannot tell the format from the suffix {path.suffix!r}: use .jsonl or .csv, or --format", path=path
        )
    return found


def file_head(path: Path, upto: int) -> str:
    """Fingerprint of the file's first bytes (at most ``upto``, the bytes already read): a file replaced or
    truncated since its cursor was saved is read again from the beginning."""
    with path.open("rb") as fh:
        data = fh.read(min(HEAD_BYTES, upto))
    return hashlib.sha256(data).hexdigest()


def list_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
    )


def _clip(text: str) -> str:
    return text if len(text) <= MAX_RAW else text[:MAX_RAW] + "..."


class FileReader:
    """Records of one JSONL or CSV stream from a byte offset. ``fh`` is a binary file object positioned there."""

    def __init__(
        self,
        fh: BinaryIO,
        fmt: str,
        *,
        offset: int = 0,
        line: int = 0,
        header: list[str] | None = None,
        final: bool = True,
    ) -> None:
        self.fh = fh
        self.fmt = fmt
        self.offset = offset
        self.line = line
        self.header = header
        self.final = final

    def _lines(self) -> Iterator[tuple[bytes, int]]:
        """(line bytes, end offset) of complete lines; a last line without newline only when ``final``."""
        while True:
            start = self.fh.tell() if self.fh.seekable() else None
            data = self.fh.readline()
            if not data:
                return
            if not data.endswith(b"\n") and not self.final:
                if start is not None:
                    self.fh.seek(start)  # not complete yet: the next poll reads it whole
                self.pending = True
                return
            yield data, len(data)

    def records(self) -> Iterator[Raw]:
        self.pending = False
        if self.fmt == "jsonl":
            yield from self._jsonl()
        else:
            yield from self._csv()

    def _jsonl(self) -> Iterator[Raw]:
        for data, size in self._lines():
            self.offset += size
            self.line += 1
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield self._line_record(
                    data.decode("utf-8", "replace"), f"bytes at column {exc.start + 1} are not valid UTF-8"
                )
                continue
            text = text.removeprefix("\ufeff") if self.line == 1 else text
            if not text.strip():
                continue  # blank lines separate nothing and hold no record: not counted as read
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield self._line_record(text, f"invalid JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(value, dict):
                yield self._line_record(text, f"invalid record: a JSON {type(value).__name__}, not an object")
                continue
            yield self._line_record(text, fields=value)

    def _line_record(self, text: str, error: str | None = None, *, fields: dict[str, Any] | None = None) -> Raw:
        """The record of the JSONL line just read: its fields, or why it has none."""
        return Raw(self.line, self.offset, self.line, fields, _clip(text.rstrip("\r\n")), error)

    def _csv(self) -> Iterator[Raw]:
        lines = self._lines()
        consumed: list[tuple[int, int]] = []  # (size, count) of lines pulled by csv for the current record
        bad_utf8: list[int] = []

        def feed() -> Iterator[str]:
            for data, size in lines:
                consumed.append((size, 1))
                try:
                    yield data.decode("utf-8")
                except UnicodeDecodeError:
                    bad_utf8.append(self.line + len(consumed))
                    yield data.decode("utf-8", "replace")

        reader = csv.reader(feed(), strict=True)
        while True:
            consumed.clear()
            bad_utf8.clear()
            start_line = self.line + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if self.pending or (not self.final and not consumed):
                    return  # an unfinished quoted record at the end of a growing file: wait for the rest
                size = sum(s for s, _ in consumed)
                self.offset += size
                self.line += len(consumed)
                yield Raw(start_line, self.offset, self.line, None, "", f"invalid CSV row: {exc}")
                reader = csv.reader(feed(), strict=True)
                continue
            if self.pending and not self.final:
                return  # csv.reader saw the end mid-record; this row is incomplete
            size = sum(s for s, _ in consumed)
            self.offset += size
            self.line += len(consumed)
            raw = _clip(",".join(row))
            if start_line == 1 and row:
                row[0] = row[0].removeprefix("\ufeff")
            if bad_utf8:
                yield Raw(
                    start_line, self.offset, self.line, None, raw, f"bytes on line {bad_utf8[0]} are not valid UTF-8"
                )
                continue
            if not row or all(not cell.strip() for cell in row):
                continue  # blank line
            if self.header is None:
                header = [cell.strip() for cell in row]
                if len(set(header)) != len(header):
                    raise DataError("CSV header repeats a column name", line=start_line)
                self.header = header
                continue
            if len(row) != len(self.header):
                yield Raw(
                    start_line,
                    self.offset,
                    self.line,
                    None,
                    raw,
                    f"invalid CSV row: expected {len(self.header)} fields, got {len(row)}",
                )
                continue
            yield Raw(start_line, self.offset, self.line, dict(zip(self.header, row)), raw)


# --------------------------------------------------------------------------------------------------
# record -> NewsItem
# --------------------------------------------------------------------------------------------------


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 (``Z`` or an offset; naive means UTC) or Unix seconds/milliseconds -> naive UTC."""
    if isinstance(value, bool) or value is None:
        raise ValueError("missing")
    if isinstance(value, (int, float)):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError("not finite")
        if abs(seconds) > 1e11:  # milliseconds
            seconds /= 1000.0
        return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)
    text = str(value).strip()
    if not text:
        raise ValueError("empty")
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return parse_timestamp(number)
    parsed = datetime.fromisoformat(text.replace("z", "Z"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    if not 1900 <= parsed.year <= 2200:
        raise ValueError("year out of range")
    return parsed


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [part.strip() for part in str(value).replace(";", ",").split(",") if part.strip()]


def _text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise TypeError(f"field '{name}' is a {type(value).__name__}, not text")
    value = str(value).strip()
    return value or None


def to_item(fields: dict[str, Any], origin: str, position: str, raw: str) -> NewsItem | BadRecord:
    """Validate one record; a problem becomes a :class:`BadRecord` naming the field."""

    def bad(reason: str, item_id: str | None = None) -> BadRecord:
        return BadRecord(origin, position, reason, raw, item_id)

    raw_id = fields.get("id")
    if raw_id is None or isinstance(raw_id, (bool, dict, list)) or not str(raw_id).strip():
        return bad("missing id (field 'id')")
    item_id = str(raw_id).strip()
    if len(item_id) > 200:
        return bad("id longer than 200 characters (field 'id')", item_id[:200])
    if "published_at" not in fields or fields["published_at"] in (None, ""):
        return bad("missing timestamp (field 'published_at')", item_id)
    try:
        published = parse_timestamp(fields["published_at"])
    except (ValueError, TypeError, OverflowError, OSError):
        return bad(f"unparseable timestamp {str(fields['published_at'])[:60]!r} (field 'published_at')", item_id)
    try:
        text = _text(fields, "text")
        title = _text(fields, "title")
        body = _text(fields, "body")
        source = _text(fields, "source")
    except TypeError as exc:
        return bad(f"invalid record: {exc}", item_id)
    if text is None:
        parts = [p for p in (title, body) if p]
        if not parts:
            return bad("missing text (fields 'text' or 'title'/'body')", item_id)
        text = ". ".join(p.rstrip(". ") for p in parts) if len(parts) == 2 else parts[0]
    topics = _strings(fields.get("topics")) + _strings(fields.get("topic"))
    tickers = _strings(fields.get("tickers")) + _strings(fields.get("ticker"))
    return NewsItem(
        id=item_id,
        published_at=published,
        text=text,
        title=title,
        source=source[:200] if source else None,
        topics=list(dict.fromkeys(topics)),
        tickers=list(dict.fromkeys(tickers)),
        origin=origin,
        position=position,
    )
