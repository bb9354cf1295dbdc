"""Long texts over windows, for any backend: windows are built from token ids, scored in one call of a scorer
(token ids in, class probabilities out) and aggregated per text. Light on purpose (numpy only): the ONNX Runtime
path uses it without importing the tasks or PyTorch."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .errors import ConfigError

__all__ = [
    "INFERENCE_KEYS",
    "LONG_TEXTS",
    "WINDOW_AGGREGATIONS",
    "Scored",
    "score_long_texts",
    "warn_empty",
    "window_token_ids",
]

LONG_TEXTS = ("window", "truncate")
WINDOW_AGGREGATIONS = ("mean", "max")
#: the classification task options that decide how a run reads long texts (saved under a run's ``extra``)
INFERENCE_KEYS = ("long_texts", "window_aggregation", "window_stride")


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
) -> Scored:
    """Class probabilities per text from its token ids (``bodies``, without special tokens): a text longer than
    ``limit`` is windowed (``long_texts="window"``) or cut and flagged (``"truncate"``); every window of every text
    goes to ``score`` in one call; a text's probabilities are its windows' mean or (``max``) their per-class max,
    renormalised."""
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
    probs = score(windows)
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
