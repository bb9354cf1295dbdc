"""DialogSum-style inputs: normalising dialogues into the source text the model reads.

Reading needs no new code: :func:`tlsuite_core.pairs.load_pairs` already takes DialogSum as distributed.

* JSONL / CSV with ``dialogue`` and ``summary`` columns (the train and validation splits, and the Hub copies with
  ``id`` / ``topic`` columns next to them): ``dialogue`` is among the detected source columns, ``summary`` among
  the target columns.
* The test split's numbered ``summary1``, ``summary2``, ``summary3`` columns (three annotators): detected as one
  multi-reference target, collected in order; training uses the first, the ``summarization`` metric scores
  against all of them (best reference per item). A JSON list in a ``summary`` field works the same way.

What DialogSum files do vary in is the dialogue's layout: turns are ``#Person1#: ...`` separated by newlines,
but copies differ in CRLF line ends, stray spaces (``#Person1# :``), several turns on one line, or turns wrapped
over several lines. :func:`format_dialogue` makes that one turn per line with the speaker tags kept; use
:func:`load_dialogsum` (``load_pairs`` + ``format_dialogue``) or the unregistered :data:`DIALOGSUM` adapter
(format ``dialogsum``; registering it needs a ``tlsuite_register_data_adapters`` hook in this plugin).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from tlsuite_core.data import DataAdapter, Table, read_table
from tlsuite_core.pairs import PairedData, load_pairs

# a speaker tag opening a turn: "#Person1#:", "# Person1 # :", "#Person2#:"; a tag without a colon is a mention
_TAG = re.compile(r"#\s*([A-Za-z][A-Za-z ]*?)\s*(\d*)\s*#\s*:")


def _canonical_tag(match: re.Match[str]) -> str:
    return f"#{match.group(1).replace(' ', '')}{match.group(2)}#:"


def format_dialogue(text: str) -> str:
    """A DialogSum dialogue as the model's source string: one ``#PersonN#: text`` turn per line.

    Speaker tags are kept (summaries refer to ``#Person1#``), spelled ``#Person1#:`` followed by one space;
    whitespace inside a turn is collapsed; blank lines are dropped; a turn that starts mid-line starts a new line,
    and a line without a speaker tag continues the turn before it. Dialogues without ``#...#:`` tags (``Amanda:
    hi`` in SAMSum) keep their lines, whitespace collapsed.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not _TAG.search(text):
        return "\n".join(" ".join(line.split()) for line in text.split("\n") if line.strip())
    text = _TAG.sub(lambda m: "\n" + _canonical_tag(m), text)  # every turn on its own line
    turns: list[str] = []
    for line in text.split("\n"):
        line = " ".join(line.split())
        if not line:
            continue
        tagged = _TAG.match(line)
        if tagged is not None:
            body = line[tagged.end() :].strip()
            turns.append(f"{_canonical_tag(tagged)} {body}".rstrip())
        elif turns:
            turns[-1] = f"{turns[-1]} {line}"
        else:  # text before the first tag (a title): keep it as its own line
            turns.append(line)
    return "\n".join(turns)


def load_dialogsum(spec: str | Path, **options: Any) -> PairedData:
    """:func:`tlsuite_core.pairs.load_pairs` with every source passed through :func:`format_dialogue`."""
    data = load_pairs(spec, **options)
    return replace(data, sources=[format_dialogue(s) for s in data.sources])


def read_dialogsum(path: Path) -> Table:
    """A DialogSum file (JSONL, CSV or TSV by suffix) with its ``dialogue`` column normalised by :func:`format_dialogue`.

    The reader of :data:`DIALOGSUM`; other columns pass through unchanged.
    """
    table = read_table(path)
    column = next((c for c in table.columns if c.lower() == "dialogue"), None)
    if column is None:
        return table
    rows = [
        {**row, column: format_dialogue(row[column])} if isinstance(row.get(column), str) else row for row in table.rows
    ]
    return replace(table, rows=rows, format="dialogsum")


#: format ``dialogsum``; claims no suffix (JSONL/CSV stay with their own readers). Not registered (see above).
DIALOGSUM = DataAdapter(
    "dialogsum", (), read_dialogsum, "DialogSum JSONL/CSV with #PersonN#: dialogues normalised one turn per line"
)
