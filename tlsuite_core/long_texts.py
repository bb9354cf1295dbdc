"""Long texts over windows, for any backend: windows are built from token ids, scored in one call of a scorer
(token ids in, class probabilities out), optionally temperature-scaled, and aggregated per text. Light on purpose
(numpy only): the ONNX Runtime path uses it without importing the tasks or PyTorch."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .errors import ConfigError

__all__ = [
    "INFERENCE_KEYS",
    "LONG_TEXTS",
    "SCORES",
    "WINDOW_AGGREGATIONS",
    "Scored",
    "run_temperature",
    "score_long_texts",
    "score_temperature",
    "tempered",
    "warn_empty",
    "window_token_ids",
]

LONG_TEXTS = ("window", "truncate")
WINDOW_AGGREGATIONS = ("mean", "max")
SCORES = ("raw", "calibrated", "auto")
#: the classification task options that decide how a run reads long texts and which probabilities it returns (saved
#: under a run's ``extra``; ``predict`` / ``evaluate`` can override each)
INFERENCE_KEYS = ("long_texts", "window_aggregation", "window_stride", "scores")


def run_temperature(record: dict[str, Any]) -> float | None:
    """The temperature a run fitted on its dev set at the end of training (``run.json`` -> ``metrics``), or None."""
    value = (record.get("metrics") or {}).get("temperature")
    return float(value) if value else None


def score_temperature(scores: str, fitted: float | None) -> float:
    """The temperature predicted probabilities are scaled with: 1 for ``raw`` scores; for ``calibrated`` ones the
    run's temperature fitted on dev (``ConfigError`` when the run has none: it was trained without a dev set);
    ``auto``: the fitted temperature when the run has one, else 1 (the run's ``metrics.temperature`` says which)."""
    if scores not in SCORES:
        raise ConfigError(f"scores {scores!r}: expected {', '.join(SCORES[:-1])} or {SCORES[-1]}")
    if scores == "raw" or (scores == "auto" and not fitted):
        return 1.0
    if not fitted:
        raise ConfigError(
            "--scores calibrated: this run has no temperature fitted on dev (it was trained without --dev); "
            "use --scores raw or auto, or train with --dev"
        )
    return float(fitted)


def tempered(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities scaled by ``temperature``: softmax(logits / T), computed from softmax(logits) as p^(1/T)
    renormalised (the same numbers, for any backend that returns probabilities)."""
    if temperature == 1.0:
        return probs
    with np.errstate(divide="ignore"):
        logs = np.log(np.asarray(probs, dtype=np.float64)) / temperature
    logs -= logs.max(axis=-1, keepdims=True)
    out = np.exp(logs)
    return (out / out.sum(axis=-1, keepdims=True)).astype(np.float32)


@dataclass
class Scored:
    """Per text: class probabilities, the number of windows it was scored over, whether it was cut."""

    probs: np.ndarray
    windows: np.ndarray
    truncated: np.ndarray


def window_token_ids(
    body: Sequence[int], limit: int, stride: int | None, wrap: Callable[[list[int]], list[int]], specials: int
) -> list[list[int]]:
    """Overlapping windows over a text's token ids (without special tokens), each wrapped (``[CLS] ... [SEP]``) to at
    most ``limit`` ids; neighbours share ``stride`` tokens (default a quarter of the window), the last one ends with
    the text. Works on ids alone, so any backend can score the windows."""
    width = max(1, limit - specials)
    if len(body) <= width:
        return [wrap(list(body))]
    overlap = width // 4 if stride is None else min(stride, width - 1)
    step = width - overlap
    starts = list(range(0, len(body) - width, step)) + [len(body) - width]
    return [wrap(list(body[s : s + width])) for s in starts]


def score_long_texts(
    bodies: Sequence[Sequence[int]],
    *,
    limit: int,
    wrap: Callable[[list[int]], list[int]],
    specials: int,
    score: Callable[[list[list[int]]], np.ndarray],
    n_labels: int,
    long_texts: str = "window",
    window_aggregation: str = "mean",
    window_stride: int | None = None,
    temperature: float = 1.0,
) -> Scored:
    """Class probabilities per text from its token ids (``bodies``, without special tokens): a text longer than
    ``limit`` is windowed (``long_texts="window"``) or cut and flagged (``"truncate"``); every window of every text
    goes to ``score`` in one call, its probabilities scaled by ``temperature`` (:func:`tempered`); a text's
    probabilities are its windows' mean or (``max``) their per-class max, renormalised."""
    if long_texts not in LONG_TEXTS:
        raise ConfigError(f"long_texts {long_texts!r}: expected {' or '.join(LONG_TEXTS)}")
    if window_aggregation not in WINDOW_AGGREGATIONS:
        raise ConfigError(f"window_aggregation {window_aggregation!r}: expected {' or '.join(WINDOW_AGGREGATIONS)}")
    if not bodies:
        empty = np.zeros(0, dtype=np.int64)
        return Scored(np.zeros((0, n_labels), dtype=np.float32), empty, empty.astype(bool))
    windows, owner = [], []
    truncated = np.zeros(len(bodies), dtype=bool)
    for k, body in enumerate(bodies):
        if long_texts == "truncate" and len(body) + specials > limit:
            truncated[k] = True
            body = body[: max(1, limit - specials)]
        found = window_token_ids(body, limit, window_stride, wrap, specials)
        windows += found
        owner += [k] * len(found)
    probs = tempered(score(windows), temperature)
    owner_ids = np.asarray(owner)
    counts = np.bincount(owner_ids, minlength=len(bodies))
    out = np.zeros((len(bodies), n_labels), dtype=np.float64)
    if window_aggregation == "mean":
        np.add.at(out, owner_ids, probs)
        out /= counts[:, None]
    else:
        np.maximum.at(out, owner_ids, probs)
        out /= out.sum(axis=1, keepdims=True)
    return Scored(out.astype(np.float32), counts, truncated)


def warn_empty(predictions: list[Any]) -> list[Any]:
    """Warn (``UserWarning``) when predictions of empty texts are among ``predictions`` (each flagged ``empty``)."""
    empty = sum(1 for p in predictions if p.empty)
    if empty:
        warnings.warn(
            f"{empty} of {len(predictions)} texts are empty: their predictions say nothing about a text and are "
            "flagged empty=True",
            UserWarning,
            stacklevel=4,
        )
    return predictions
