"""Financial PhraseBank files: one ``sentence@label`` per line (Malo et al. 2014), ISO-8859-1 or UTF-8."""

from __future__ import annotations

from pathlib import Path

from tlsuite_core.data import DataAdapter, Table, fingerprint, read_bytes
from tlsuite_core.errors import DataError


def read_phrasebank(path: Path) -> Table:
    data = read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # the 50/66/75Agree releases are ISO-8859-1
    rows, lines = [], []
    # split on \n only: latin-1 byte 0x85 decodes to U+0085, which str.splitlines() would treat as a line break
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        sentence, sep, label = line.rpartition("@")
        if not sep:
            raise DataError("expected 'sentence@label' (no '@' on this line)", path=path, line=number)
        rows.append({"sentence": sentence.strip(), "label": label.strip()})
        lines.append(number)
    return Table(str(path), ["sentence", "label"], rows, lines, "phrasebank", fingerprint(data))


PHRASEBANK = DataAdapter(
    "phrasebank", (".txt",), read_phrasebank, "Financial PhraseBank 'sentence@label' lines (latin-1 tolerant)"
)
