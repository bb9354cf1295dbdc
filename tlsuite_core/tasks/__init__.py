"""Task shapes: how rows become model inputs and model outputs become predictions.

A task knows model shapes, not domains. Apps (plugins) pick a task and bring their data and commands; the engine
(``tlsuite_core.training``) drives any task through the same Trainer-based loop.
"""

from __future__ import annotations

from .base import Task
from .classification import SequenceClassification
from .token_classification import TokenClassification

__all__ = ["SequenceClassification", "Task", "TokenClassification"]
