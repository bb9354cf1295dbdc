"""PII masking (desensitisation): e-mail addresses, phone numbers, IBANs, payment-card numbers, bank account and
routing numbers, and person names found by a NER run.

Checksums keep ordinary numbers unmasked: a card number must pass the Luhn check, an IBAN its country's length and
the ISO 13616 mod-97 check, a US routing number the ABA check; phone numbers must be valid numbers of a configured
region (or an international ``+CC`` number) according to ``phonenumbers`` (Google's libphonenumber metadata);
account numbers need a keyword before them (``account no.``, ``acct``, ``a/c``, ``账号``), as they carry no
checksum. ``presidio-analyzer`` was tried first: its recognizers pull in spaCy (5 s to import) and its e-mail
recognizer fetches the public-suffix list over the network, so the few recognizers it would give are here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

__all__ = ["PII_TYPES", "MaskedText", "PiiMasker", "PiiSpan", "iban_valid", "luhn_valid", "routing_valid"]

#: span types, in the order overlapping spans are resolved (an IBAN is not also a phone number)
PII_TYPES = ("EMAIL", "IBAN", "CARD", "ROUTING", "ACCOUNT", "PERSON", "PHONE")

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}\d{2})((?: ?[A-Z0-9]){10,30})")
_ACCOUNT = re.compile(
    r"(?i)(?:\baccount|\bacct|\ba/c|账号|账户|帐号)(?:\s*(?:no\.?|number|num\.?|#))?\s*[:：#]?\s*(\d(?:[ -]?\d){5,19})(?![\w-])"
)
_ROUTING = re.compile(r"(?i)(?:\brouting|\baba)(?:\s*(?:no\.?|number|#))?\s*[:#]?\s*(\d{9})(?!\d)")

#: IBAN lengths by country (the SWIFT IBAN registry)
IBAN_LENGTHS = dict(
    (code[:2], int(code[2:]))
    for code in (
        "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DK18 DO28 EE20 EG29 ES24 "
        "FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 "
        "LI21 LT20 LU20 LV21 MC27 MD24 ME22 MK19 MR27 MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 RO24 RS22 SA24 "
        "SC31 SE24 SI19 SK24 SM27 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20"
    ).split()
)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of payment-card numbers."""
    if not digits.isdigit() or len(set(digits)) == 1:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616: the country's length and ``int(rearranged) % 97 == 1``."""
    iban = iban.replace(" ", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def routing_valid(digits: str) -> bool:
    """The ABA check of US routing numbers: 3-7-1 weights, sum divisible by 10."""
    if len(digits) != 9 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(digits, weights)) % 10 == 0


@dataclass(frozen=True)
class PiiSpan:
    """``text[start:end]`` is PII of ``type`` (one of :data:`PII_TYPES`)."""

    start: int
    end: int
    type: str

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "type": self.type}


@dataclass(frozen=True)
class MaskedText:
    """A text with each span replaced by ``[TYPE]``; spans are positions in the original text."""

    text: str
    spans: tuple[PiiSpan, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "spans": [s.as_dict() for s in self.spans]}


def _iban_spans(text: str) -> Iterable[PiiSpan]:
    for m in _IBAN.finditer(text):
        length = IBAN_LENGTHS.get(m.group(1)[:2])
        if length is None:
            continue
        # take exactly the country's length of characters (the pattern may run into a following word)
        need, end = length - 4, m.start(2)
        while need and end < m.end(2):
            need -= text[end] != " "
            end += 1
        if need == 0 and (end == len(text) or not text[end].isalnum()) and iban_valid(text[m.start() : end]):
            yield PiiSpan(m.start(), end, "IBAN")


def _digits(text: str) -> str:
    return re.sub(r"[ -]", "", text)


def pattern_spans(text: str, regions: Sequence[str] = ("US", "GB", "DE", "FR", "CN")) -> list[PiiSpan]:
    """Every span the pattern recognizers find (possibly overlapping)."""
    spans = [PiiSpan(m.start(), m.end(), "EMAIL") for m in _EMAIL.finditer(text)]
    spans += _iban_spans(text)
    spans += [PiiSpan(m.start(), m.end(), "CARD") for m in _CARD.finditer(text) if luhn_valid(_digits(m.group()))]
    spans += [PiiSpan(m.start(1), m.end(1), "ROUTING") for m in _ROUTING.finditer(text) if routing_valid(m.group(1))]
    spans += [PiiSpan(m.start(1), m.end(1), "ACCOUNT") for m in _ACCOUNT.finditer(text)]
    if any(ch.isdigit() for ch in text):
        spans += _phone_spans(text, regions)
    return spans


def _phone_spans(text: str, regions: Sequence[str]) -> list[PiiSpan]:
    """International ``+CC`` numbers that are valid numbers; national ones grouped as their region writes them,
    with at least 7 digits and no dots (dates and decimal figures such as ``16.9.2008``, ``168.8`` stay)."""
    import phonenumbers

    found = {
        PiiSpan(m.start, m.end, "PHONE")
        for m in phonenumbers.PhoneNumberMatcher(text, "ZZ", leniency=phonenumbers.Leniency.VALID)
    }
    for region in regions:
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.STRICT_GROUPING):
            raw = m.raw_string
            if raw.startswith("+") or ("." not in raw and sum(ch.isdigit() for ch in raw) >= 7):
                found.add(PiiSpan(m.start, m.end, "PHONE"))
    return sorted(found, key=lambda s: (s.start, s.end))


def resolve(spans: Iterable[PiiSpan]) -> tuple[PiiSpan, ...]:
    """Non-overlapping spans: by type priority (:data:`PII_TYPES`), then the longer first; in text order."""
    kept: list[PiiSpan] = []
    for span in sorted(spans, key=lambda s: (PII_TYPES.index(s.type), s.start - s.end, s.start)):
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return tuple(sorted(kept, key=lambda s: s.start))


def apply(text: str, spans: Sequence[PiiSpan]) -> str:
    out, at = [], 0
    for span in spans:
        out += [text[at : span.start], f"[{span.type}]"]
        at = span.end
    return "".join(out) + text[at:]


#: ``texts -> per text, (start, end) of each person name`` (the served NER run's entities of person labels)
PersonFinder = Callable[[list[str]], list[list[tuple[int, int]]]]


class PiiMasker:
    """Finds and masks PII in texts.

    :param regions: regions whose national phone formats count (international ``+CC`` numbers always do).
    :param person_finder: finds person names (a NER run); ``None``: names are not masked.
    """

    def __init__(
        self, regions: Sequence[str] = ("US", "GB", "DE", "FR", "CN"), person_finder: PersonFinder | None = None
    ):
        self.regions = tuple(r.upper() for r in regions)
        self.person_finder = person_finder

    def spans(
        self, texts: Sequence[str], persons: Sequence[Sequence[tuple[int, int]]] | None = None
    ) -> list[tuple[PiiSpan, ...]]:
        """The PII spans of each text; ``persons``: person-name offsets already found (else ``person_finder``'s)."""
        texts = list(texts)
        if persons is None and self.person_finder is not None and texts:
            persons = self.person_finder(texts)
        out = []
        for i, text in enumerate(texts):
            found = pattern_spans(text, self.regions)
            found += [PiiSpan(s, e, "PERSON") for s, e in (persons[i] if persons is not None else ())]
            out.append(resolve(found))
        return out

    def mask(
        self, texts: Sequence[str], persons: Sequence[Sequence[tuple[int, int]]] | None = None
    ) -> list[MaskedText]:
        return [MaskedText(apply(t, s), s) for t, s in zip(texts, self.spans(texts, persons))]

    def mask_text(self, text: str) -> str:
        """One text with pattern PII masked (no NER): what the logs use."""
        return apply(text, resolve(pattern_spans(text, self.regions)))
