"""Reading curated data files into validated tables.

An adapter turns a file into a :class:`Table` (columns + rows, each row with its source line). Validation of a
labelled set happens once, here, so every app gets the same contract: a bad row is a :class:`DataError` naming the
file, the line and the field, unless the caller asked to skip bad rows, in which case each dropped row is listed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from .errors import DataError

__all__ = [
    "DataAdapter",
    "ExampleData",
    "Examples",
    "LABEL_COLUMNS",
    "LabelledData",
    "SkippedRow",
    "TEXT_COLUMNS",
    "Table",
    "decode",
    "fingerprint",
    "load_labelled",
    "pick_column",
    "read_bytes",
    "read_table",
    "refuse_or_skip",
    "refuse_unknown",
]


TEXT_COLUMNS = ("text", "sentence", "headline", "title", "content", "utterance")
LABEL_COLUMNS = ("label", "labels", "sentiment", "category", "class", "intent")


@dataclass
class Table:
    """Rows read from one source. ``lines[i]`` is the 1-based source line where ``rows[i]`` starts."""

    source: str
    columns: list[str]
    rows: list[dict[str, Any]]
    lines: list[int]
    format: str
    fingerprint: str


@dataclass(frozen=True)
class DataAdapter:
    """A reader for one file format.

    Args:
        name: the format name (``--format``).
        suffixes: file suffixes this adapter claims when no format is given.
        read: ``read(path) -> Table``; raises :class:`DataError` on unreadable content.
        description: one line for listings.
    """

    name: str
    suffixes: tuple[str, ...]
    read: Callable[[Path], Table]
    description: str = ""


@dataclass
class SkippedRow:
    line: int
    field: str | None
    reason: str


def refuse_or_skip(problem: SkippedRow, *, skip: bool, source: str, skipped: list[SkippedRow]) -> None:
    """A bad row of curated data: a ``DataError`` naming the file, line and field, or, with ``--skip-bad-rows``,
    listed in ``skipped`` (counted in the report)."""
    if not skip:
        raise DataError(
            f"{problem.reason} (use --skip-bad-rows to drop such rows and list them in the report)",
            path=source,
            line=problem.line,
            field=problem.field,
        )
    skipped.append(problem)


def refuse_unknown(
    found: Iterable[tuple[str, int]], known: Sequence[str], *, what: str, where: str, source: str, field: str | None
) -> None:
    """A ``DataError`` at the first ``(value, line)`` of ``found`` that is not in ``known`` (labels a model or
    ``--labels`` does not have), naming the file, line and field."""
    allowed = set(known)
    for value, line in found:
        if value not in allowed:
            raise DataError(
                f"{what} {value!r} is unknown to {where} (labels: {', '.join(known)})",
                path=source,
                line=line,
                field=field,
            )


@runtime_checkable
class ExampleData(Protocol):
    """What the engine needs of the data a task's ``load_data`` returns (labelled, tagged or paired rows)."""

    skipped: list[Any]

    def __len__(self) -> int: ...

    def subset(self, indices: Sequence[int]) -> Any: ...

    def concat(self, other: Any) -> Any: ...

    def describe(self) -> dict[str, Any]: ...


class Examples:
    """The one implementation of :class:`ExampleData` for the labelled, tagged and paired data classes.

    A subclass (a dataclass with ``source``, ``lines``, ``format``, ``fingerprint`` and ``skipped``) names its
    per-row fields in ``ROW_FIELDS`` (a field may be ``None`` when the format has no such data) and its own summary
    in :meth:`summary`; ``len``, ``subset``, ``concat`` and ``describe`` (the data fingerprint in run.json) come
    from here.
    """

    ROW_FIELDS: ClassVar[tuple[str, ...]] = ()
    source: str
    lines: list[int]
    format: str
    fingerprint: str
    skipped: list[Any]

    def __len__(self) -> int:
        return len(self.lines)

    def subset(self, indices: Sequence[int]) -> Any:
        """The rows at ``indices`` (in that order), e.g. a ``--max-train-samples`` sample."""
        pick = list(indices)
        rows = {name: getattr(self, name) for name in self.ROW_FIELDS}
        return replace(self, **{name: None if v is None else [v[i] for i in pick] for name, v in rows.items()})

    def concat(self, other: Any) -> Any:
        """These rows followed by ``other``'s (e.g. new data plus replayed old data)."""
        other = self._aligned(other)
        joined: dict[str, Any] = {}
        for name in self.ROW_FIELDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            joined[name] = None if mine is None or theirs is None else mine + theirs
        joined.update(self._joined_extra(other))
        return replace(
            self,
            source=f"{self.source} + {other.source}",
            fingerprint=fingerprint((self.fingerprint + other.fingerprint).encode()),
            skipped=self.skipped + other.skipped,
            **joined,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "rows": len(self),
            **self.summary(),
            "sha256": self.fingerprint,
            "skipped_rows": [s.__dict__ for s in self.skipped],
        }

    def summary(self) -> dict[str, Any]:
        """What :meth:`describe` reports besides the source, row count, fingerprint and skipped rows."""
        return {}

    def _aligned(self, other: Any) -> Any:
        """``other`` made compatible for :meth:`concat` (default: as it is)."""
        return other

    def _joined_extra(self, other: Any) -> dict[str, Any]:
        """Fields :meth:`concat` joins in a way of its own (default: none)."""
        return {}


@dataclass
class LabelledData(Examples):
    """Texts and labels from one file, validated."""

    ROW_FIELDS: ClassVar[tuple[str, ...]] = ("texts", "labels", "lines")

    source: str
    texts: list[str]
    labels: list[str]
    lines: list[int]
    text_column: str
    label_column: str
    format: str
    fingerprint: str
    skipped: list[SkippedRow] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for label in self.labels:
            counts[label] = counts.get(label, 0) + 1
        return {
            "text_column": self.text_column,
            "label_column": self.label_column,
            "label_counts": dict(sorted(counts.items())),
        }


# ------------------------------------------------------------------------------------------------------
# decoding
# ------------------------------------------------------------------------------------------------------


def read_bytes(path: Path) -> bytes:
    """The bytes of a data file; :class:`DataError` naming it when it is missing, a folder or empty."""
    if not path.exists():
        raise DataError("file not found", path=path)
    if path.is_dir():
        raise DataError("is a folder, expected a file", path=path)
    data = path.read_bytes()
    if not data.strip():
        raise DataError("file is empty", path=path)
    return data


def decode(data: bytes, path: Path, *, fallback: str | None = None) -> str:
    """UTF-8 text without a BOM; bad bytes are a :class:`DataError` naming the file, line and column (or are decoded
    with ``fallback`` when one is given)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if fallback is not None:
            return data.decode(fallback)
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            f"column {column}: bytes are not valid UTF-8 ({data[exc.start : exc.start + 4]!r}); re-save the file as UTF-8",
            path=path,
            line=line,
        ) from None
    return text.removeprefix("\ufeff")


def fingerprint(data: bytes) -> str:
    """The data fingerprint recorded in run.json (SHA-256 of the file's bytes); resume refuses changed data."""
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------------------
# built-in readers
# ------------------------------------------------------------------------------------------------------


def read_delimited(path: Path, delimiter: str = ",", fmt: str = "csv") -> Table:
    data = read_bytes(path)
    text = decode(data, path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise DataError(f"unreadable {fmt} header ({exc})", path=path, line=1) from None
    header = [h.strip() for h in header]
    if not any(header):
        raise DataError("the first line (header) is empty", path=path, line=1)
    if len(header) == 1 and delimiter != ";" and header[0].count(";") >= 1:
        raise DataError(
            f"the header is one column '{header[0][:60]}' holding ';': a semicolon-delimited file? "
            "read it with --delimiter ';'",
            path=path,
            line=1,
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"duplicate column name(s) in header: {', '.join(dupes)}", path=path, line=1)
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    start = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(f"malformed {fmt} row ({exc})", path=path, line=start) from None
        if values and any(v.strip() for v in values):
            if len(values) != len(header):
                raise DataError(
                    f"{len(values)} fields, the header has {len(header)} (an unquoted '{delimiter}' in a text?)",
                    path=path,
                    line=start,
                )
            rows.append(dict(zip(header, values)))
            lines.append(start)
        start = reader.line_num + 1
    return Table(str(path), header, rows, lines, fmt, fingerprint(data))


def read_csv(path: Path) -> Table:
    return read_delimited(path, ",", "csv")


def read_tsv(path: Path) -> Table:
    return read_delimited(path, "\t", "tsv")


def read_jsonl(path: Path) -> Table:
    data = read_bytes(path)
    text = decode(data, path)
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    columns: dict[str, None] = {}
    # split on \n only: str.splitlines() also breaks at U+2028/U+0085, which JSON strings may contain
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON ({exc.msg}, column {exc.colno})", path=path, line=number) from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", path=path, line=number)
        rows.append(obj)
        lines.append(number)
        columns.update(dict.fromkeys(obj))
    return Table(str(path), list(columns), rows, lines, "jsonl", fingerprint(data))


BUILTIN_ADAPTERS = (
    DataAdapter("csv", (".csv",), read_csv, "comma-separated values with a header row"),
    DataAdapter("tsv", (".tsv", ".tab"), read_tsv, "tab-separated values with a header row"),
    DataAdapter("jsonl", (".jsonl", ".ndjson", ".json"), read_jsonl, "one JSON object per line"),
)


# ------------------------------------------------------------------------------------------------------
# lookup and validation
# ------------------------------------------------------------------------------------------------------

HUB_DATASET = re.compile(r"^(hf:)?(?P<id>[A-Za-z0-9][\w.-]*(/[\w.-]+)?)(:(?P<split>[\w.\[\]%:-]+))?$")


def read_table(
    source: str | Path,
    fmt: str | None = None,
    adapters: Mapping[str, DataAdapter] | None = None,
    *,
    delimiter: str | None = None,
) -> Table:
    """Read ``source`` with the adapter named ``fmt``, or the one claiming its suffix, or the Hub when online.

    ``adapters``: the registered data adapters, name -> adapter (a task's ``adapters``); ``None``: the core's own
    csv, tsv and jsonl readers. ``delimiter``: read a delimited file (``fmt`` csv, tsv or none) with this one.
    """
    known = dict(adapters) if adapters is not None else {a.name: a for a in BUILTIN_ADAPTERS}
    path = Path(source).expanduser()
    if delimiter is not None and fmt in (None, "csv", "tsv") and path.is_file():
        return read_delimited(path, delimiter, fmt or ("tsv" if delimiter == "\t" else "csv"))
    if fmt is not None:
        if fmt == "hub":
            return read_hub(str(source))
        if fmt not in known:
            raise DataError(f"unknown data format '{fmt}' (known: {', '.join(sorted(known))}, hub)", path=source)
        return known[fmt].read(path)
    if not path.exists() and str(source).startswith("hf:"):
        return read_hub(str(source))
    suffix = path.suffix.lower()
    for adapter in known.values():
        if suffix in adapter.suffixes:
            return adapter.read(path)
    if not path.exists():
        if HUB_DATASET.match(str(source)) and "/" in str(source):
            return read_hub(str(source))
        raise DataError("file not found", path=source)
    raise DataError(
        f"cannot tell the format from the suffix '{suffix or '(none)'}'; pass --format ({', '.join(sorted(known))})",
        path=source,
    )


def read_hub(ref: str) -> Table:
    """A ``datasets`` Hub id, ``[hf:]org/name[:split]`` (default split: train). Needs internet."""
    match = HUB_DATASET.match(ref)
    if not match:
        raise DataError("not a hub dataset id (expected hf:org/name[:split])", path=ref)
    repo, split = match.group("id"), match.group("split") or "train"
    try:
        import datasets

        ds = datasets.load_dataset(repo, split=split)
    except Exception as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise DataError(
            f"cannot load this dataset from the Hugging Face Hub ({reason}). Offline? Export it to CSV/JSONL "
            "on a machine with internet and pass the file",
            path=ref,
        ) from None
    features = ds.features
    rows = []
    for row in ds:
        for key, feat in features.items():
            names = getattr(feat, "names", None)
            if names is not None and isinstance(row[key], int):
                row[key] = names[row[key]]
        rows.append(row)
    digest = getattr(ds, "_fingerprint", "") or hashlib.sha256(ref.encode()).hexdigest()
    return Table(ref, list(features), rows, list(range(1, len(rows) + 1)), "hub", digest)


def pick_column(
    table: Table, wanted: str | None, candidates: Sequence[str], role: str, option: str, *, required: bool = True
) -> str | None:
    """The column named ``wanted`` (an error naming the file when it has none), else the first of ``candidates``
    present (case-insensitive); none present is an error naming ``option``, or ``None`` when not ``required``."""
    if wanted is not None:
        if wanted not in table.columns:
            raise DataError(
                f"no column '{wanted}' (columns: {', '.join(table.columns) or 'none'})", path=table.source, field=wanted
            )
        return wanted
    lowered = {c.lower(): c for c in table.columns}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    if not required:
        return None
    raise DataError(
        f"no {role} column found (looked for {', '.join(candidates)}; columns: {', '.join(table.columns)}); "
        f"name it with {option}",
        path=table.source,
    )


def load_labelled(
    source: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    fmt: str | None = None,
    skip_bad_rows: bool = False,
    limit: int | None = None,
    adapters: Mapping[str, DataAdapter] | None = None,
    delimiter: str | None = None,
) -> LabelledData:
    """Read a labelled file and validate every row (non-empty text and label); ``adapters`` and ``delimiter`` as
    for :func:`read_table`."""
    table = read_table(source, fmt, adapters, delimiter=delimiter)
    if not table.rows:
        raise DataError("no data rows (only a header?)", path=table.source)
    text_col = pick_column(table, text_column, TEXT_COLUMNS, "text", "--text-col")
    label_col = pick_column(table, label_column, LABEL_COLUMNS, "label", "--label-col")
    texts: list[str] = []
    labels: list[str] = []
    lines: list[int] = []
    skipped: list[SkippedRow] = []
    for row, line in zip(table.rows, table.lines):
        problem = None
        text, label = row.get(text_col), row.get(label_col)
        if text is None or (isinstance(text, str) and not text.strip()):
            problem = SkippedRow(line, text_col, "empty text")
        elif not isinstance(text, str):
            problem = SkippedRow(line, text_col, f"expected text, got {type(text).__name__}")
        elif label is None or (isinstance(label, str) and not label.strip()):
            problem = SkippedRow(line, label_col, "empty label")
        elif isinstance(label, (list, dict, float)):
            problem = SkippedRow(line, label_col, f"expected a single label, got {json.dumps(label)[:40]}")
        if problem is not None:
            refuse_or_skip(problem, skip=skip_bad_rows, source=table.source, skipped=skipped)
            continue
        texts.append(text.strip())
        labels.append(str(label).strip())
        lines.append(line)
        if limit is not None and len(texts) >= limit:
            break
    if not texts:
        raise DataError("every row was bad; nothing left to use", path=table.source)
    return LabelledData(
        table.source, texts, labels, lines, text_col, label_col, table.format, table.fingerprint, skipped
    )


def check_label_sets(train: LabelledData, others: Iterable[LabelledData]) -> None:
    """A training set needs two classes; every label elsewhere must have been seen in training."""
    classes = set(train.labels)
    if len(classes) < 2:
        raise DataError(
            f"only one class ({next(iter(classes))!r}) in the training data; a classifier needs at least two",
            path=train.source,
            field=train.label_column,
        )
    for data in others:
        for label, line in zip(data.labels, data.lines):
            if label not in classes:
                raise DataError(
                    f"label {label!r} never occurs in the training data ({train.source}; labels: "
                    f"{', '.join(sorted(classes))})",
                    path=data.source,
                    line=line,
                    field=data.label_column,
                )
