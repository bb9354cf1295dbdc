"""The ner plugin's registered metric: seqeval entity-level scores over tag sequences."""

from __future__ import annotations

from typing import Any, Sequence

from tlsuite_core.metrics import Metric
from tlsuite_core.tagging import scheme_of_labels
from tlsuite_core.tasks.token_classification import entity_metrics


def seqeval_entities(references: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]], label_names: Sequence[str]) -> dict[str, Any]:
    """Entity-level P/R/F1 (micro, macro, per type) of tag sequences; strict when the labels are BIOES."""
    return entity_metrics(references, predictions, scheme_of_labels(label_names))


ENTITY_METRICS = Metric("seqeval-entities", seqeval_entities, "entity-level P/R/F1 (seqeval; strict for BIOES), per type, confusions")
