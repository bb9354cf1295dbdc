"""PII recognizers: what is masked, the checksums that keep ordinary numbers unmasked, span offsets, and logs."""

from __future__ import annotations

import io
import json
import logging

import pytest

from tlsuite_core.serving import PiiMasker, iban_valid, luhn_valid, routing_valid

MASKER = PiiMasker()


def masked(text: str) -> str:
    return MASKER.mask([text])[0].text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("write to jane.doe+crm@bank.example.co.uk today", "write to [EMAIL] today"),
        ("call +44 20 7946 0958 or (415) 555-2671", "call [PHONE] or [PHONE]"),
        ("Berlin office 030 1234567, mobile 13812345678", "Berlin office [PHONE], mobile [PHONE]"),
        ("card 4111 1111 1111 1111 expires", "card [CARD] expires"),
        ("card 5500-0000-0000-0004", "card [CARD]"),
        ("IBAN GB82 WEST 1234 5698 7654 32 AND more", "IBAN [IBAN] AND more"),
        ("pay DE89370400440532013000 now", "pay [IBAN] now"),
        ("routing 021000021, account no. 12345678", "routing [ROUTING], account no. [ACCOUNT]"),
        ("账号：6222021234567890", "账号：[ACCOUNT]"),
    ],
)
def test_pii_is_masked(text, expected):
    assert masked(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in 2007, 7.7 % of net sales.",
        "Net sales 12345678 up 5% in 2024; EUR 1,234,567.89; 20,000 shares at 1.234",
        "order 4111111111111112 and 4111 1111 1111 1112 (fail the Luhn check)",
        "GB82 WEST 1234 5698 7654 33 (wrong IBAN check digits) and ISIN US0378331005",
        "STOCK EXCHANGE RELEASE 16.9.2008 AT 13.32; founded in 1649; down from EUR 168.8 mn",
        "Pre-tax profit 33.6 26.9 18.7 5.1 Net profit 25.1 25.4 14 4.0",
        "routing 123456789 fails the ABA check; 0000000000000000",
    ],
)
def test_ordinary_numbers_stay(text):
    assert masked(text) == text


def test_spans_are_offsets_in_the_original_text_with_their_type():
    text = "Mail a@b.example and call +1 617 801 6888"
    (result,) = MASKER.mask([text])
    assert [(text[s.start : s.end], s.type) for s in result.spans] == [
        ("a@b.example", "EMAIL"),
        ("+1 617 801 6888", "PHONE"),
    ]
    assert result.as_dict()["spans"][0] == {"start": 5, "end": 16, "type": "EMAIL"}


def test_names_come_from_the_person_finder_and_overlaps_keep_the_stronger_type():
    finder = lambda texts: [[(0, 10), (11, 30)] for _ in texts]  # noqa: E731 - a second "name" over an e-mail
    masker = PiiMasker(person_finder=finder)
    assert masker.mask(["John Smith jsmith@corp.example.com"])[0].text == "[PERSON] [EMAIL]"


def test_checksums():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765433")
    assert not iban_valid("GB82WEST1234569876543")  # one character short for GB
    assert routing_valid("021000021") and not routing_valid("123456789")


def test_log_messages_are_masked():
    from tlsuite_core.serving.logs import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(MASKER.mask_text))
    logger = logging.getLogger("tlsuite.serve.test-pii")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("could not read text of jane@corp.example, card 4111 1111 1111 1111")
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["message"] == "could not read text of [EMAIL], card [CARD]" and line["level"] == "warning"
