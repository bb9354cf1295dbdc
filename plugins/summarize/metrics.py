"""The summarize plugin's registered metric: ROUGE-1/2/L/Lsum (Google's ``rouge-score``), with a sentence splitter.

Generation metrics take ``fn(references, predictions, options) -> dict``: ``references[i]`` lists item ``i``'s
reference summaries (one or more; the count may vary), ``predictions[i]`` is the model's summary.

rougeLsum (summary-level LCS) treats each line as a sentence: without line breaks it equals rougeL, which is how
many published numbers went wrong. Predictions and references are therefore split into one sentence per line
(:func:`split_sentences`, a small regex splitter: no nltk data download) before scoring. The split does not
change rouge1/rouge2/rougeL: their tokenizer drops line breaks with all other punctuation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tlsuite_core.errors import DataError
from tlsuite_core.metrics import Metric, matched_predictions

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")

# --------------------------------------------------------------------------------------------------
# Sentence splitting
# --------------------------------------------------------------------------------------------------

#: words that end with a period without ending a sentence (compared lowercased, without the period)
ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt vs etc inc ltd co corp bros dept est approx appt apt no nos vol fig figs ref
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    gen gov lt col capt sgt rev hon pres
    """.split()  # noqa: SIM905 (a word list reads better than quoted strings)
)

# a run of sentence-final punctuation (with closing quotes / brackets) followed by whitespace
_CANDIDATE = re.compile(r"""([.!?\u2026]+["'\u201d\u2019\u00bb)\]]*)\s+""")


def _abbreviation_before(text: str) -> bool:
    """Whether ``text`` (everything before a single period) ends with an abbreviation, an initial or an acronym."""
    word = text.rsplit(" ", 1)[-1].lstrip("\"'(\u201c\u2018[")
    if not word:
        return False
    if len(word) == 1 and word.isalpha():  # an initial: "J. Smith"
        return True
    if "." in word:  # dotted forms: "e.g.", "i.e.", "U.S.", "a.m."
        return True
    return word.lower() in ABBREVIATIONS


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences: after ``.``, ``!``, ``?`` or ``…`` (plus closing quotes) followed by space.

    Existing line breaks are sentence boundaries; whitespace inside a sentence is collapsed. A single period does
    not end a sentence after a known abbreviation (``Mr.``, ``Dr.``, ``Inc.``...), an initial (``J.``) or a dotted
    acronym (``e.g.``, ``U.S.``); numbers (``3.5``) have no space after the period and are never split. The price
    of a regex splitter: a sentence really ending in such a word ("... vitamin C. Then") stays joined.
    """
    sentences: list[str] = []
    for block in text.split("\n"):
        block = " ".join(block.split())
        if not block:
            continue
        start = 0
        for match in _CANDIDATE.finditer(block):
            punct = match.group(1).rstrip("\"'\u201d\u2019\u00bb)]")
            if punct == "." and _abbreviation_before(block[start : match.start(1)]):
                continue
            sentences.append(block[start : match.end(1)])
            start = match.end()
        if start < len(block):
            sentences.append(block[start:])
    return sentences


def sentence_lines(text: str) -> str:
    """``text`` with one sentence per line (what rougeLsum needs)."""
    return "\n".join(split_sentences(text))


# --------------------------------------------------------------------------------------------------
# The metric
# --------------------------------------------------------------------------------------------------

# kana and CJK ideographs score one character per token (no spaces between words)
_UNICODE_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+")


class UnicodeTokenizer:
    """rouge-score tokenizer for languages other than English: lowercased Unicode words, no stemming.

    The default rouge-score tokenizer keeps ``[a-z0-9]`` only: umlauts, accents and non-Latin scripts vanish
    (a Chinese summary scores 0 against anything), and its Porter stemmer is English-only.
    """

    def tokenize(self, text: str) -> list[str]:
        return _UNICODE_TOKEN.findall(text.lower())


def _language(options: Mapping[str, Any]) -> str | None:
    code = options.get("lang") or options.get("tgt_lang")
    return re.split(r"[-_]", str(code).strip().lower())[0] if code else None


def summarization_metrics(
    references: Sequence[Sequence[str]], predictions: Sequence[str], options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum of ``predictions`` against ``references``.

    A generation metric: ``references[i]`` lists item ``i``'s reference summaries (one or more, any count per
    item), ``predictions[i]`` is the model's summary, ``options`` the task options (``lang`` or ``tgt_lang``: a
    language other than English switches to :class:`UnicodeTokenizer` without stemming).

    Scoring: rouge-score's ``RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)`` on texts
    split one sentence per line; with several references, ``score_multi`` keeps, per ROUGE type, the reference
    with the best F-measure (precision and recall are that reference's). Per-item values are averaged over items
    (macro) and scaled to 0-100.

    Stable keys: ``rouge1``, ``rouge2``, ``rougeL``, ``rougeLsum`` (F-measures), ``<type>_precision``,
    ``<type>_recall``, ``n``, ``mean_prediction_words``, ``mean_reference_words`` (per item the mean over its
    references, then the mean over items; whitespace-separated words), ``stemmer``, ``notes``.
    """
    from rouge_score import rouge_scorer

    options = options or {}
    predictions = matched_predictions(references, predictions)
    cleaned: list[list[str]] = []
    for index, refs in enumerate(references):
        good = [r for r in ([refs] if isinstance(refs, str) else refs) if isinstance(r, str) and r.strip()]
        if not good:
            raise DataError(f"item {index}: no reference summary to score against")
        cleaned.append(good)

    lang = _language(options)
    notes: list[str] = []
    if lang is None or lang == "en":
        scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
        stemmer = True
    else:
        scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=False, tokenizer=UnicodeTokenizer())
        stemmer = False
        notes.append(
            f"language '{lang}': Unicode word tokens, no stemming (rouge-score's default keeps only a-z0-9 "
            "and stems English); not comparable with English ROUGE"
        )

    sums = {f"{t}{suffix}": 0.0 for t in ROUGE_TYPES for suffix in ("", "_precision", "_recall")}
    for refs, prediction in zip(cleaned, predictions):
        scores = scorer.score_multi([sentence_lines(r) for r in refs], sentence_lines(prediction))
        for rouge_type in ROUGE_TYPES:
            score = scores[rouge_type]
            sums[rouge_type] += score.fmeasure
            sums[f"{rouge_type}_precision"] += score.precision
            sums[f"{rouge_type}_recall"] += score.recall
    n = len(predictions)
    out: dict[str, Any] = {key: 100.0 * value / n for key, value in sums.items()}
    out["n"] = n
    out["mean_prediction_words"] = sum(len(p.split()) for p in predictions) / n
    out["mean_reference_words"] = sum(sum(len(r.split()) for r in refs) / len(refs) for refs in cleaned) / n
    out["stemmer"] = stemmer
    out["notes"] = notes
    return out


#: the scalar scores ``--metric`` may name
SUMMARIZATION_KEYS = tuple(f"{t}{suffix}" for t in ROUGE_TYPES for suffix in ("", "_precision", "_recall"))

SUMMARIZATION = Metric(
    "summarization",
    summarization_metrics,  # a generation metric: fn(references, predictions, options)
    "ROUGE-1/2/L/Lsum F (and P/R), stemmed, sentence-split for Lsum; best of several references per item",
    keys=SUMMARIZATION_KEYS,
)
