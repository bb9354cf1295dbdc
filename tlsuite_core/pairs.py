"""Source -> target pairs for generation tasks (translation, summarization, replies), validated.

Formats:

* CSV / TSV / JSONL with a source and a target column (``--source-col`` / ``--target-col``, detected when named
  source/src/text/document/dialogue and target/tgt/summary/reference...). A target may hold several references:
  a JSON list in JSONL, or numbered columns (``summary1``, ``summary2``... as in DialogSum's test split), which are
  collected in order. Training uses the first reference; metrics score against all of them.
* Line-aligned parallel files: ``PREFIX`` with ``src_lang``/``tgt_lang`` reads ``PREFIX.<src>`` and
  ``PREFIX.<tgt>`` (the Moses/fairseq convention, e.g. ``train.en`` + ``train.de``), or two paths joined by a
  comma (``src.txt,tgt.txt``). Both files must have the same number of lines (the error names both counts).

Empty sources or targets fail with file, line and field (or are skipped and listed with ``skip_bad_rows``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

from .data import Examples, SkippedRow, decode, pick_column, read_bytes, read_table, refuse_or_skip
from .errors import DataError

__all__ = ["PairedData", "load_pairs"]


SOURCE_COLUMNS = ("source", "src", "text", "document", "dialogue", "article", "input", "prompt", "question")
TARGET_COLUMNS = (
    "target",
    "tgt",
    "summary",
    "reference",
    "references",
    "highlights",
    "output",
    "response",
    "answer",
    "translation",
)


@dataclass
class PairedData(Examples):
    """Sources and their reference targets (one or more per source) from one file or file pair."""

    ROW_FIELDS: ClassVar[tuple[str, ...]] = ("sources", "targets", "lines")

    source: str
    sources: list[str]
    targets: list[list[str]]
    lines: list[int]
    source_column: str
    target_column: str
    format: str
    fingerprint: str
    skipped: list[SkippedRow] = field(default_factory=list)

    @property
    def first_targets(self) -> list[str]:
        return [t[0] for t in self.targets]

    def summary(self) -> dict[str, Any]:
        return {
            "source_column": self.source_column,
            "target_column": self.target_column,
            "references_per_row": max((len(t) for t in self.targets), default=0),
        }


def parallel_paths(spec: str, src_lang: str | None, tgt_lang: str | None) -> tuple[Path, Path] | None:
    """The two files of a parallel-text spec, or ``None`` when ``spec`` is not one."""
    if "," in spec:
        a, b = (Path(p.strip()) for p in spec.split(",", 1))
        return a, b
    if src_lang and tgt_lang:
        a, b = Path(f"{spec}.{src_lang}"), Path(f"{spec}.{tgt_lang}")
        if a.exists() or b.exists() or not Path(spec).exists():
            return a, b
    return None


def load_pairs(
    spec: str | Path,
    *,
    source_column: str | None = None,
    target_column: str | None = None,
    fmt: str | None = None,
    src_lang: str | None = None,
    tgt_lang: str | None = None,
    skip_bad_rows: bool = False,
    require_targets: bool = True,
    adapters: Mapping[str, Any] | None = None,
) -> PairedData:
    """Read and validate pairs (see the module docstring for formats); ``adapters`` as for
    :func:`tlsuite_core.data.read_table`."""
    spec = str(spec)
    files = parallel_paths(spec, src_lang, tgt_lang) if fmt in (None, "parallel") else None
    if files is not None:
        return _load_parallel(*files, skip_bad_rows=skip_bad_rows)
    table = read_table(spec, fmt, adapters)
    if not table.rows:
        raise DataError("no data rows (only a header?)", path=table.source)
    src_col = pick_column(table, source_column, SOURCE_COLUMNS, "source", "--source-col")
    tgt_cols = _target_columns(table, target_column, require_targets)
    sources: list[str] = []
    targets: list[list[str]] = []
    lines: list[int] = []
    skipped: list[SkippedRow] = []
    for row, line in zip(table.rows, table.lines):
        problem = None
        text = row.get(src_col)
        refs: list[str] = []
        if not isinstance(text, str) or not text.strip():
            problem = SkippedRow(
                line, src_col, "empty source" if not isinstance(text, (list, dict)) else "source is not text"
            )
        else:
            for index, col in enumerate(tgt_cols):
                value = row.get(col)
                good = [
                    v.strip()
                    for v in (value if isinstance(value, list) else [value])
                    if isinstance(v, str) and v.strip()
                ]
                if index == 0 and not good:  # the first reference is required, further ones are optional
                    problem = SkippedRow(line, col, "empty target")
                    break
                refs += good
        if problem is not None:
            refuse_or_skip(problem, skip=skip_bad_rows, source=table.source, skipped=skipped)
            continue
        sources.append(text.strip())
        targets.append(refs)
        lines.append(line)
    if not sources:
        raise DataError("every row was bad; nothing left to use", path=table.source)
    return PairedData(
        table.source, sources, targets, lines, src_col, ",".join(tgt_cols), table.format, table.fingerprint, skipped
    )


def _target_columns(table: Any, wanted: str | None, required: bool) -> list[str]:
    if wanted is not None:
        return [pick_column(table, c.strip(), (), "target", "--target-col") for c in wanted.split(",")]
    lowered = {c.lower(): c for c in table.columns}
    for name in TARGET_COLUMNS:
        if name in lowered:
            return [lowered[name]]
        numbered = sorted(
            (c for c in table.columns if re.fullmatch(rf"{name}_?\d+", c.lower())),
            key=lambda c: int(re.sub(r"\D", "", c)),
        )
        if numbered:
            return numbered
    if not required:
        return []
    raise DataError(
        f"no target column found (looked for {', '.join(TARGET_COLUMNS)}, also numbered like summary1; "
        f"columns: {', '.join(table.columns)}); name it with --target-col",
        path=table.source,
    )


def _read_lines(path: Path) -> tuple[list[str], str]:
    data = read_bytes(path)
    text = decode(data, path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines], hashlib.sha256(data).hexdigest()


def _load_parallel(src: Path, tgt: Path, *, skip_bad_rows: bool) -> PairedData:
    for path in (src, tgt):
        if not path.is_file():
            raise DataError("file not found (parallel text: PREFIX with --src-lang/--tgt-lang, or SRC,TGT)", path=path)
    a, ha = _read_lines(src)
    b, hb = _read_lines(tgt)
    if len(a) != len(b):
        raise DataError(f"{len(a)} lines, but {tgt} has {len(b)}: parallel files must be line-aligned", path=src)
    sources, targets, lines, skipped = [], [], [], []
    for number, (s, t) in enumerate(zip(a, b), start=1):
        bad = (
            (src, "source", "empty source line")
            if not s.strip()
            else (tgt, "target", "empty target line")
            if not t.strip()
            else None
        )
        if bad is not None:
            if not skip_bad_rows:
                raise DataError(f"{bad[2]} (use --skip-bad-rows to drop such pairs)", path=bad[0], line=number)
            skipped.append(SkippedRow(number, bad[1], bad[2]))
            continue
        sources.append(s.strip())
        targets.append([t.strip()])
        lines.append(number)
    if not sources:
        raise DataError("every line pair was bad; nothing left to use", path=src)
    return PairedData(
        f"{src},{tgt}",
        sources,
        targets,
        lines,
        src.suffix.lstrip(".") or "source",
        tgt.suffix.lstrip(".") or "target",
        "parallel",
        hashlib.sha256((ha + hb).encode()).hexdigest(),
        skipped,
    )
