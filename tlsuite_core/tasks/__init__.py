"""Task shapes: how rows become model inputs and model outputs become predictions.

A task knows model shapes, not domains. Apps (plugins) pick a task and bring their data and commands; the engine
(``tlsuite_core.training``) drives any task through the same Trainer-based loop.
"""

from __future__ import annotations

from ..config import TaskOptions, option
from .base import Task
from .classification import SequenceClassification
from .token_classification import TokenClassification

# TaskOptions and option: a plugin declares its own options for a task's commands (customer-service train
# --generator) the way the core declares its tasks' options
__all__ = ["SequenceClassification", "Task", "TaskOptions", "TokenClassification", "option"]
