"""CoNLL column files: one token per line, columns separated by spaces or tabs, a blank line between sentences.

Column 1 is the token; the tag column is chosen with ``--tag-col N`` (1-based, negative counts from the end;
default: the last column). ``-DOCSTART-`` lines mark document boundaries and are not sentences. Every token line
must have as many columns as the first one (a wrong count is an error naming the line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tlsuite_core.data import DataAdapter, Table, decode, fingerprint, read_bytes
from tlsuite_core.errors import DataError

DOCSTART = "-DOCSTART-"


def read_conll(path: Path) -> Table:
    data = read_bytes(path)
    text = decode(data, path)
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    width: int | None = None
    width_line = 0
    current: list[list[str]] = []
    current_lines: list[int] = []
    doc = [0]

    def close() -> None:
        if current:
            columns = list(zip(*current))
            row: dict[str, Any] = {str(i + 1): list(col) for i, col in enumerate(columns)}
            row["tokens"] = list(columns[0])
            if len(columns) > 1:
                row["tags"] = list(columns[-1])
            row["_token_lines"] = list(current_lines)
            row["_doc"] = doc[0]
            rows.append(row)
            lines.append(current_lines[0])
            current.clear()
            current_lines.clear()

    # split on \n only: str.splitlines() also breaks at U+2028/U+0085, which may sit inside a token
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            close()
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        if fields[0] == DOCSTART:
            close()
            doc[0] += 1
            continue
        if width is None:
            width, width_line = len(fields), number
        elif len(fields) != width:
            raise DataError(
                f"{len(fields)} columns, but line {width_line} (the first token line) has {width}",
                path=path,
                line=number,
            )
        if any(not f for f in fields):
            raise DataError("empty column (two tabs in a row?)", path=path, line=number)
        current.append(fields)
        current_lines.append(number)
    close()
    columns = ["tokens", *(["tags"] if width and width > 1 else []), *[str(i + 1) for i in range(width or 0)]]
    return Table(str(path), columns, rows, lines, "conll", fingerprint(data))


CONLL = DataAdapter(
    "conll",
    (".conll", ".iob", ".iob2", ".bio", ".bioes"),
    read_conll,
    "CoNLL columns: a token per line (tag in the last or --tag-col column), blank lines between sentences",
)


def write_conll(rows: list[dict[str, Any]], predicted: list[list[str]]) -> str:
    """CoNLL text of ``rows`` (as :func:`read_conll` returns them) with the predicted tag as a new last column."""
    out: list[str] = []
    for row, tags in zip(rows, predicted):
        numbered = sorted((k for k in row if k.isdigit()), key=int)
        for j, tag in enumerate(tags):
            out.append(" ".join([*(row[k][j] for k in numbered), tag]))
        out.append("")
    return "\n".join(out) + ("\n" if out else "")
