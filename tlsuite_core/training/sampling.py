"""Which examples a run trains and evaluates on: seeded subsets, a held-out dev share, oversampling of rare classes.

Each is a pure function of the data and the seed, so a resumed run sees exactly the examples of the first attempt.
"""

from __future__ import annotations

import random
from typing import Any, Sequence

from ..errors import ConfigError


def subsample(data: Any, n: int | None, seed: int) -> Any:
    """A seeded random sample of ``n`` examples, in file order (the data object's ``subset``)."""
    if n is None or n >= len(data):
        return data
    return data.subset(sorted(random.Random(seed).sample(range(len(data)), n)))


def split(data: Any, share: float, seed: int) -> tuple[Any, Any]:
    """A seeded random split of ``data`` into (rest, held-out share), each in file order (``--dev-split``)."""
    n = len(data)
    held = max(1, round(n * share))
    if held >= n:
        raise ConfigError(f"--dev-split {share}: {n} rows leave nothing to train on")
    picked = set(random.Random(seed).sample(range(n), held))
    return data.subset([i for i in range(n) if i not in picked]), data.subset(sorted(picked))


def oversample(task: Any, dataset: Any, labels: Sequence[str], seed: int) -> tuple[Any, int]:
    """``--oversample``: repeat randomly drawn encoded examples of each class until it is as frequent as the most
    common class; returns the dataset and the number of repeats added."""
    classes = task.example_classes(dataset, labels)
    by_class: dict[int, list[int]] = {}
    for i, c in enumerate(classes):
        by_class.setdefault(c, []).append(i)
    target = max(len(v) for v in by_class.values())
    rng = random.Random(seed)
    extra = [i for c in sorted(by_class) for i in rng.choices(by_class[c], k=target - len(by_class[c]))]
    return (dataset.select(list(range(len(dataset))) + extra), len(extra)) if extra else (dataset, 0)
