"""Tag sequences for token classification: tagging schemes, words of raw text, and validated tagged data.

Schemes (the label set comes from the data, prefixes say where entities start and end):

- ``IOB1``: ``I-X`` inside an entity; ``B-X`` only where an entity directly follows another of the same type.
- ``IOB2``: every entity starts with ``B-X`` and continues with ``I-X`` (CoNLL-2003 as usually distributed).
- ``BIOES``: ``B-X`` begin, ``I-X`` inside, ``E-X`` end, ``S-X`` single-token entity (also called IOBES).

Data is trained in ``BIOES`` when the training file uses it and in ``IOB2`` otherwise (``IOB1`` is converted).
Decoding tags into spans uses seqeval's ``get_entities`` (the CoNLL ``conlleval`` reading of a sequence); a sequence
that breaks its scheme is either an error naming the file, line and field, or repaired with ``repair=True``
(rewritten to the spans conlleval reads from it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

from .data import Examples
from .errors import DataError

__all__ = ["SCHEMES", "TaggedData", "convert", "detect_scheme", "load_tagged", "scheme_of_labels", "spans"]


SCHEMES = ("IOB1", "IOB2", "BIOES")
PREFIXES = {"IOB1": "BI", "IOB2": "BI", "BIOES": "BIES"}

TOKENS_COLUMNS = ("tokens", "words")
TAGS_COLUMNS = ("tags", "ner_tags", "labels", "ner", "label")
TEXT_COLUMNS = ("text", "sentence", "content")
SPANS_COLUMNS = ("entities", "spans", "labels", "label")

#: words of raw text: runs of letters/digits (joined by - . ' inside, so 1996-08-22, U.S, don't stay one word),
#: or any other single non-space character. Offsets index the original string, so slicing always round-trips.
WORD = re.compile(r"\w+(?:[-.'\u2019]\w+)*|[^\w\s]", re.UNICODE)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """``text`` -> ``[(word, start, end)]`` with ``text[start:end] == word``."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def split_tag(tag: str) -> tuple[str, str | None]:
    """``'B-PER'`` -> ``('B', 'PER')``; ``'O'`` -> ``('O', None)``."""
    if tag == "O":
        return "O", None
    prefix, sep, kind = tag.partition("-")
    if not sep or len(prefix) != 1 or not kind:
        return "?", None
    return prefix, kind


def entity_type(tag: str) -> str | None:
    return split_tag(tag)[1]


def tag_problem(tag: str, scheme: str | None = None) -> str | None:
    """Why ``tag`` is not a tag of ``scheme`` (any scheme when ``None``), or ``None``."""
    prefix, kind = split_tag(tag)
    if prefix == "O":
        return None
    allowed = PREFIXES[scheme] if scheme else "BIES"
    if prefix == "?" or prefix not in allowed:
        expected = "O or " + "/".join(f"{p}-TYPE" for p in allowed)
        return f"tag {tag!r} is not a tag of the {scheme or 'IOB/BIOES'} scheme (expected {expected})"
    return None


def detect_scheme(sequences: Sequence[Sequence[str]]) -> str:
    """The scheme a file's tags follow: BIOES when E-/S- occur; IOB2 when some entity starts with B-;
    IOB1 when entities start with I- and B- only separates neighbours of one type; IOB2 when nothing tells."""
    starts_with_b = starts_with_i = False
    for tags in sequences:
        previous = "O"
        for tag in tags:
            prefix, kind = split_tag(tag)
            if prefix in ("E", "S"):
                return "BIOES"
            prev_kind = entity_type(previous)
            if prefix == "B" and prev_kind != kind:
                starts_with_b = True
            elif prefix == "I" and prev_kind != kind:
                starts_with_i = True
            previous = tag
    if starts_with_i and not starts_with_b:
        return "IOB1"
    return "IOB2"


def first_violation(tags: Sequence[str], scheme: str) -> tuple[int, str] | None:
    """``(index, reason)`` of the first tag that breaks ``scheme``, or ``None``."""
    n = len(tags)
    for i, tag in enumerate(tags):
        problem = tag_problem(tag, scheme)
        if problem:
            return i, problem
        prefix, kind = split_tag(tag)
        prev_prefix, prev_kind = split_tag(tags[i - 1]) if i else ("O", None)
        next_prefix, next_kind = split_tag(tags[i + 1]) if i + 1 < n else ("O", None)
        inside_prev = prev_kind == kind and prev_prefix in ("B", "I")
        if scheme == "IOB2" and prefix == "I" and not inside_prev:
            return (
                i,
                f"{tag} follows {tags[i - 1] if i else 'the sentence start'} (IOB2 starts every entity with B-{kind})",
            )
        if scheme == "IOB1" and prefix == "B" and prev_kind != kind:
            return (
                i,
                f"{tag} follows {tags[i - 1] if i else 'the sentence start'} (IOB1 uses B-{kind} only right after another {kind})",
            )
        if scheme == "BIOES":
            if prefix in ("I", "E") and not inside_prev:
                return (
                    i,
                    f"{tag} follows {tags[i - 1] if i else 'the sentence start'} (BIOES: it must continue B-{kind} or I-{kind})",
                )
            if prefix in ("B", "I") and not (next_kind == kind and next_prefix in ("I", "E")):
                following = tags[i + 1] if i + 1 < n else "the sentence end"
                return (
                    i,
                    f"{tag} is followed by {following} (BIOES: an entity ends with E-{kind}, a single token is S-{kind})",
                )
    return None


def spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities ``(type, first, last)`` (inclusive word indices) as conlleval reads them (seqeval)."""
    from seqeval.metrics.sequence_labeling import get_entities

    return [(kind, start, end) for kind, start, end in get_entities(list(tags))]


def encode_spans(entities: Sequence[tuple[str, int, int]], n: int, scheme: str) -> list[str]:
    """Tags for ``n`` words holding ``entities`` (type, first, last) in ``scheme`` (IOB2 or BIOES)."""
    tags = ["O"] * n
    for kind, start, end in entities:
        if scheme == "BIOES" and start == end:
            tags[start] = f"S-{kind}"
            continue
        tags[start] = f"B-{kind}"
        for i in range(start + 1, end + 1):
            tags[i] = f"I-{kind}"
        if scheme == "BIOES":
            tags[end] = f"E-{kind}"
    return tags


def convert(tags: Sequence[str], target: str) -> list[str]:
    """Re-encode a tag sequence (any scheme) in ``target`` (IOB2 or BIOES)."""
    return encode_spans(spans(tags), len(tags), target)


def label_set(types: Sequence[str], scheme: str) -> list[str]:
    """``O`` then every prefix of every type: the head of a model for these entity types."""
    prefixes = "BIES" if scheme == "BIOES" else "BI"
    return ["O"] + [f"{p}-{t}" for t in sorted(types) for p in prefixes]


def scheme_of_labels(labels: Sequence[str]) -> str:
    return "BIOES" if any(split_tag(label)[0] in ("E", "S") for label in labels) else "IOB2"


def transition_masks(labels: Sequence[str]) -> tuple[Any, Any, Any]:
    """Which tag sequences the labels' scheme allows: (start[L], transition[L, L], end[L]) boolean arrays.

    IOB2: ``I-X`` only after ``B-X`` or ``I-X``. BIOES: ``I-X``/``E-X`` only after ``B-X``/``I-X``; after ``E``,
    ``S`` or ``O`` comes ``O``, ``B`` or ``S``; a sequence starts and ends outside an open entity.
    """
    import numpy as np

    parts = [split_tag(label) for label in labels]
    n = len(labels)
    start = np.ones(n, dtype=bool)
    end = np.ones(n, dtype=bool)
    trans = np.ones((n, n), dtype=bool)
    bioes = scheme_of_labels(labels) == "BIOES"
    for j, (pj, tj) in enumerate(parts):
        continues = pj in ("I", "E") if bioes else pj == "I"
        if continues:
            start[j] = False
        if bioes and pj in ("B", "I"):
            end[j] = False
        for i, (pi, ti) in enumerate(parts):
            open_entity = pi in ("B", "I") if bioes else pi in ("B", "I")
            if continues:
                trans[i, j] = open_entity and ti == tj
            elif bioes and pi in ("B", "I"):
                trans[i, j] = False  # an open BIOES entity must continue with I-/E- of its type
    return start, trans, end


def viterbi(log_probs: Any, start: Any, trans: Any, end: Any) -> list[int]:
    """The most probable tag sequence that the scheme allows (per-word log-probabilities ``[T, L]``)."""
    import numpy as np

    steps, _ = log_probs.shape
    if steps == 0:
        return []
    neg = -1e9
    score = np.where(start, log_probs[0], neg)
    allowed = np.where(trans, 0.0, neg)
    back = np.zeros((steps, log_probs.shape[1]), dtype=np.int64)
    for t in range(1, steps):
        total = score[:, None] + allowed
        back[t] = total.argmax(0)
        score = total.max(0) + log_probs[t]
    score = np.where(end, score, score + neg)
    best = [int(score.argmax())]
    for t in range(steps - 1, 0, -1):
        best.append(int(back[t, best[-1]]))
    return best[::-1]


# ------------------------------------------------------------------------------------------------------
# tagged data
# ------------------------------------------------------------------------------------------------------


@dataclass
class SkippedSentence:
    line: int
    field: str | None
    reason: str


@dataclass
class TaggedData(Examples):
    """Sentences (word lists) with one tag per word, from one file, validated and in one scheme.

    ``lines[i]`` is the source line where sentence ``i`` starts; ``token_lines[i][j]`` the line of word ``j`` where
    the format has one (CoNLL), else the sentence's line. ``texts``/``offsets`` keep raw text and each word's
    character span when the data came as text + character spans.
    """

    ROW_FIELDS: ClassVar[tuple[str, ...]] = ("tokens", "tags", "lines", "token_lines", "texts", "offsets", "docs")

    source: str
    tokens: list[list[str]]
    tags: list[list[str]]
    lines: list[int]
    token_lines: list[list[int]]
    scheme: str
    source_scheme: str
    tokens_column: str
    tags_column: str
    format: str
    fingerprint: str
    skipped: list[SkippedSentence] = field(default_factory=list)
    repaired: int = 0
    texts: list[str] | None = None
    offsets: list[list[tuple[int, int]]] | None = None
    #: the document of each sentence, where the format marks documents (CoNLL ``-DOCSTART-``)
    docs: list[int] | None = None

    def _aligned(self, other: TaggedData) -> TaggedData:
        return other.converted(self.scheme)  # the other data's sentences in this data's scheme

    def _joined_extra(self, other: TaggedData) -> dict[str, Any]:
        # documents of the other data are numbered after this data's, so none merge across files
        docs = None
        if self.docs is not None and other.docs is not None:
            docs = self.docs + [d + max(self.docs, default=0) + 1 for d in other.docs]
        return {"repaired": self.repaired + other.repaired, "docs": docs}

    def types(self) -> set[str]:
        return {k for tags in self.tags for k in (entity_type(t) for t in tags) if k}

    def converted(self, target: str) -> "TaggedData":
        if target == self.scheme:
            return self
        return replace(self, tags=[convert(t, target) for t in self.tags], scheme=target)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for tags in self.tags:
            for kind, _, _ in spans(tags):
                counts[kind] = counts.get(kind, 0) + 1
        return {
            "words": sum(len(t) for t in self.tokens),
            "tokens_column": self.tokens_column,
            "tags_column": self.tags_column,
            "scheme": self.scheme,
            "source_scheme": self.source_scheme,
            "repaired_sentences": self.repaired,
            "entity_counts": dict(sorted(counts.items())),
        }


def _conll_column(table: Any, wanted: str | None) -> str | None:
    """CoNLL tag columns are numbered from 1 (the token); negative numbers count from the last column."""
    if wanted is None or not re.fullmatch(r"-?\d+", wanted.strip()):
        return wanted
    numbered = [c for c in table.columns if c.isdigit()]
    n = int(wanted)
    index = len(numbered) + 1 + n if n < 0 else n
    if not 2 <= index <= len(numbered):
        raise DataError(
            f"--tag-col {wanted}: the file has {len(numbered)} columns (column 1 holds the tokens)",
            path=table.source,
            field=wanted,
        )
    return str(index)


def load_tagged(
    source: str | Path,
    *,
    tokens_column: str | None = None,
    tags_column: str | None = None,
    fmt: str | None = None,
    scheme: str = "auto",
    repair: bool = False,
    skip_bad_rows: bool = False,
    limit: int | None = None,
    require_tags: bool = True,
    adapters: Mapping[str, Any] | None = None,
) -> TaggedData:
    """Read a token-classification file and validate every sentence.

    Row shapes: ``tokens`` + ``tags`` lists (CoNLL files, JSONL), or ``text`` + ``entities``
    (``[{"start", "end", "label"}]`` character offsets; the text is split into words with :func:`split_words`, and
    words are cut at span boundaries, so every span maps to whole words). ``.txt`` files are read as CoNLL columns.
    ``adapters`` as for :func:`tlsuite_core.data.read_table` (the ``conll`` reader is the ner plugin's).
    """
    from .data import read_table

    if scheme not in ("auto", *SCHEMES):
        raise DataError(f"unknown tagging scheme '{scheme}' (auto, {', '.join(SCHEMES)})", path=source)
    if fmt is None and Path(str(source)).suffix.lower() == ".txt" and "conll" in (adapters or {}):
        fmt = "conll"
    table = read_table(source, fmt, adapters)
    if not table.rows:
        raise DataError("no sentences", path=table.source)
    if table.format == "conll":
        tags_column = _conll_column(table, tags_column)
    tok_col, text_col, tag_col = _tagged_columns(table, tokens_column, tags_column, require_tags)
    data = _read_sentences(table, tok_col, text_col, tag_col, skip_bad_rows, limit)
    if tag_col is not None and text_col is None:  # tags given per word (spans give valid IOB2 by construction)
        _settle_scheme(data, scheme, repair)
    return data


def _tagged_columns(
    table: Any, tokens_column: str | None, tags_column: str | None, require_tags: bool
) -> tuple[str | None, str | None, str | None]:
    """(tokens column, text column, tags-or-entities column): a row shape is tokens + tags, or text + entities."""
    from .data import pick_column

    tok_col = pick_column(table, tokens_column, TOKENS_COLUMNS, "tokens", "--tokens-col", required=False)
    text_col = None
    if tok_col is not None and isinstance(table.rows[0].get(tok_col), str):
        text_col, tok_col = tok_col, None
    if tok_col is None and text_col is None:
        text_col = pick_column(table, None, TEXT_COLUMNS, "text", "--tokens-col", required=False)
    if tok_col is None and text_col is None:
        raise DataError(
            f"no tokens column ({', '.join(TOKENS_COLUMNS)}) or text column ({', '.join(TEXT_COLUMNS)}) "
            f"(columns: {', '.join(table.columns)}); name it with --tokens-col",
            path=table.source,
        )
    wanted = TAGS_COLUMNS if tok_col else SPANS_COLUMNS
    tag_col = pick_column(table, tags_column, wanted, "tags", "--tag-col", required=False)
    if tag_col is None and require_tags:
        raise DataError(
            f"no {'tags' if tok_col else 'entities'} column ({', '.join(wanted)}; columns: {', '.join(table.columns)}); "
            "name it with --tag-col",
            path=table.source,
        )
    return tok_col, text_col, tag_col


def _read_sentences(
    table: Any, tok_col: str | None, text_col: str | None, tag_col: str | None, skip_bad_rows: bool, limit: int | None
) -> TaggedData:
    """Every row as a sentence (words, tags, source lines); a bad row fails, or is listed when skipping."""
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    lines: list[int] = []
    token_lines: list[list[int]] = []
    texts: list[str] | None = [] if text_col else None
    offsets: list[list[tuple[int, int]]] | None = [] if text_col else None
    skipped: list[SkippedSentence] = []
    docs: list[int] | None = [] if "_doc" in table.rows[0] else None
    for row, line in zip(table.rows, table.lines):
        try:
            if tok_col:
                words, word_tags, where = _token_row(row, tok_col, tag_col, line, table.source)
                spans_at = None
            else:
                words, word_tags, spans_at, text = _span_row(row, text_col, tag_col, line, table.source)
                where = [line] * len(words)
        except DataError as exc:
            if not skip_bad_rows:
                raise DataError(
                    exc.reason + " (use --skip-bad-rows to drop such sentences and list them in the report)",
                    path=exc.path,
                    line=exc.line,
                    field=exc.field,
                ) from None
            skipped.append(SkippedSentence(exc.line or line, exc.field, exc.reason))
            continue
        tokens.append(words)
        tags.append(word_tags)
        lines.append(line)
        token_lines.append(where)
        if docs is not None:
            docs.append(int(row["_doc"]))
        if texts is not None and offsets is not None:
            texts.append(text)
            offsets.append(spans_at or [])
        if limit is not None and len(tokens) >= limit:
            break
    if not tokens:
        raise DataError("every sentence was bad; nothing left to use", path=table.source)
    return TaggedData(
        table.source,
        tokens,
        tags,
        lines,
        token_lines,
        "IOB2",
        "IOB2",
        tok_col or text_col or "",
        tag_col or "",
        table.format,
        table.fingerprint,
        skipped,
        texts=texts,
        offsets=offsets,
        docs=docs,
    )


def _settle_scheme(data: TaggedData, scheme: str, repair: bool) -> None:
    """Detect (or take) the file's tagging scheme, check every sentence against it, and convert the tags to IOB2
    (BIOES stays BIOES); ``repair`` rewrites invalid sequences as conlleval reads them instead of failing."""
    tags = data.tags
    found = detect_scheme(tags) if scheme == "auto" else scheme
    target = "BIOES" if found == "BIOES" else "IOB2"
    repaired = 0
    for i, word_tags in enumerate(tags):
        problem = first_violation(word_tags, found)
        if problem is None:
            if found != target:
                tags[i] = convert(word_tags, target)
            continue
        index, reason = problem
        if not repair or split_tag(word_tags[index])[0] == "?" or tag_problem(word_tags[index], found):
            hint = (
                ""
                if tag_problem(word_tags[index], found)
                else "; --repair-tags rewrites such sequences as conlleval reads them"
            )
            raise DataError(
                f"word {index + 1} ({data.tokens[i][index]!r}): {reason}{hint}",
                path=data.source,
                line=data.token_lines[i][index],
                field=data.tags_column,
            )
        tags[i] = convert(word_tags, target)
        repaired += 1
    data.scheme, data.source_scheme, data.repaired = target, found, repaired


def _token_row(
    row: dict[str, Any], tok_col: str, tag_col: str | None, line: int, source: str
) -> tuple[list[str], list[str], list[int]]:
    words = row.get(tok_col)
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise DataError(
            f"expected a list of strings, got {type(words).__name__}", path=source, line=line, field=tok_col
        )
    where = row.get("_token_lines") or [line] * len(words)
    if not words:
        raise DataError("empty sentence (no tokens)", path=source, line=line, field=tok_col)
    for j, word in enumerate(words):
        if not word.strip():
            raise DataError(f"token {j + 1} is empty", path=source, line=where[j], field=tok_col)
    if tag_col is None:
        return list(words), ["O"] * len(words), list(where)
    word_tags = row.get(tag_col)
    if not isinstance(word_tags, list) or not all(isinstance(t, str) for t in word_tags):
        raise DataError(
            f"expected a list of tag strings, got {type(word_tags).__name__}", path=source, line=line, field=tag_col
        )
    if len(word_tags) != len(words):
        raise DataError(f"{len(word_tags)} tags for {len(words)} tokens", path=source, line=line, field=tag_col)
    word_tags = [t.strip() for t in word_tags]
    for j, tag in enumerate(word_tags):
        problem = tag_problem(tag)
        if problem:
            raise DataError(f"word {j + 1} ({words[j]!r}): {problem}", path=source, line=where[j], field=tag_col)
    return list(words), word_tags, list(where)


def _span_row(
    row: dict[str, Any], text_col: str, span_col: str | None, line: int, source: str
) -> tuple[list[str], list[str], list[tuple[int, int]], str]:
    text = row.get(text_col)
    if not isinstance(text, str) or not text.strip():
        raise DataError("empty text", path=source, line=line, field=text_col)
    raw = row.get(span_col, []) if span_col else []
    if not isinstance(raw, list):
        raise DataError(
            f"expected a list of entities, got {type(raw).__name__}", path=source, line=line, field=span_col
        )
    entities: list[tuple[int, int, str]] = []
    for k, item in enumerate(raw):
        if isinstance(item, dict):
            start, end, label = item.get("start"), item.get("end"), item.get("label", item.get("type"))
        elif isinstance(item, (list, tuple)) and len(item) == 3:
            start, end, label = item
        else:
            raise DataError(
                f"entity {k + 1}: expected {{start, end, label}} or [start, end, label]",
                path=source,
                line=line,
                field=span_col,
            )
        if not (
            isinstance(start, int) and isinstance(end, int) and not isinstance(start, bool)
        ) or not 0 <= start < end <= len(text):
            raise DataError(
                f"entity {k + 1}: offsets {start}..{end} are not inside the text (length {len(text)})",
                path=source,
                line=line,
                field=span_col,
            )
        if not isinstance(label, str) or not label.strip() or re.match(r"[BIES]-", label):
            raise DataError(
                f"entity {k + 1}: label {label!r} must be an entity type such as PER (no B-/I- prefix)",
                path=source,
                line=line,
                field=span_col,
            )
        if not text[start:end].strip():
            raise DataError(
                f"entity {k + 1}: span {start}..{end} holds only whitespace", path=source, line=line, field=span_col
            )
        entities.append((start, end, label.strip()))
    entities.sort()
    for (s1, e1, l1), (s2, e2, l2) in zip(entities, entities[1:]):
        if s2 < e1:
            raise DataError(
                f"entities {s1}..{e1} ({l1}) and {s2}..{e2} ({l2}) overlap", path=source, line=line, field=span_col
            )
    cuts = sorted({p for s, e, _ in entities for p in (s, e)})
    words: list[str] = []
    where: list[tuple[int, int]] = []
    for _, start, end in split_words(text):
        inner = [c for c in cuts if start < c < end]
        for a, b in zip([start, *inner], [*inner, end]):
            words.append(text[a:b])
            where.append((a, b))
    word_entities = []
    for start, end, label in entities:
        covered = [i for i, (a, b) in enumerate(where) if a >= start and b <= end]
        if not covered:
            raise DataError(f"entity {start}..{end} ({label}) covers no word", path=source, line=line, field=span_col)
        word_entities.append((label, covered[0], covered[-1]))
    return words, encode_spans(word_entities, len(words), "IOB2"), where, text
