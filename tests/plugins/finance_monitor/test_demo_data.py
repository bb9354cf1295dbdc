"""The shipped demo data: enough rows, all three classes well represented, a dev split, clean rows."""

from __future__ import annotations

import csv
import re
from collections import Counter

import pytest

from tests.conftest import SHARED_DATA
from tlsuite_core.data import check_label_sets, load_labelled
from tlsuite_core.plugins import get_host


def test_demo_data_is_large_balanced_and_valid():
    app = get_host().app("finance-monitor")
    train = load_labelled(app.demo_train)
    dev = load_labelled(app.demo_dev)
    assert len(train) + len(dev) >= 400
    check_label_sets(train, [dev])
    for data, minimum in ((train, 150), (dev, 30)):
        counts = Counter(data.labels)
        assert set(counts) == {"positive", "neutral", "negative"}
        assert min(counts.values()) >= minimum, counts
    assert not set(train.texts) & set(dev.texts), "dev must not repeat training texts"
    assert len(set(train.texts)) == len(train.texts)


def _shingles(text: str) -> set[tuple[str, ...]]:
    """Word trigrams of a sentence, lower-cased, numbers as one token, punctuation dropped."""
    words = ["0" if re.fullmatch(r"[\d.,]+", w) else w for w in re.findall(r"[a-z]+|[\d][\d.,]*", text.lower())]
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def near_copies(texts: list[str], reference: list[str], threshold: float = 0.7) -> list[tuple[str, str, float]]:
    """Pairs whose word-trigram sets have a Jaccard similarity of at least `threshold`.

    Numbers count as one token, so a copied sentence with new figures is still found (about 0.9). Stock phrases
    of a few words ("operating profit rose to EUR 5 mn from EUR 4 mn") in an otherwise own sentence stay below
    (the demo data's closest pair is 0.67: a short reference sentence that is only that phrase).
    """
    index: dict[tuple[str, ...], list[int]] = {}
    ref_sets = [_shingles(t) for t in reference]
    for i, grams in enumerate(ref_sets):
        for gram in grams:
            index.setdefault(gram, []).append(i)
    found = []
    for text in texts:
        grams = _shingles(text)
        counts = Counter(i for gram in grams for i in index.get(gram, ()))
        for i, shared in counts.items():
            score = shared / len(grams | ref_sets[i])
            if score >= threshold:
                found.append((text, reference[i], round(score, 2)))
    return found


def test_near_copy_check_finds_an_edited_copy():
    reference = ["Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007 ."]
    edited = "Operating profit rose to EUR 9.9 mn from EUR 4.2 mn in the corresponding period in 2009"
    assert near_copies([edited], reference)
    assert not near_copies(["Arvela Bank's net sales doubled in 2019, the company said"], reference)


@pytest.mark.skipif(not (SHARED_DATA / "financial_phrasebank").is_dir(), reason="../shared/data not present")
def test_demo_data_has_no_near_copy_of_a_phrasebank_sentence():
    app = get_host().app("finance-monitor")
    ours = load_labelled(app.demo_train).texts + load_labelled(app.demo_dev).texts
    reference = []
    for path in sorted((SHARED_DATA / "financial_phrasebank").glob("50agree_*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            reference += [row["sentence"] for row in csv.DictReader(fh)]
    found = near_copies(ours, reference)
    assert not found, found[:5]
