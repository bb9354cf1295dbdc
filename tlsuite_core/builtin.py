"""The core's own registrations, loaded as the built-in plugin ``core``: task shapes, file formats, metrics, models."""

from __future__ import annotations

from typing import Any, Callable

from .data import BUILTIN_ADAPTERS
from .hookspecs import hookimpl
from .metrics import BUILTIN_METRICS
from .models import BUILTIN_ALIASES
from .tasks import SequenceClassification, TokenClassification
from .tasks.generation import Generation
from .tasks.language_modeling import LanguageModeling
from .tasks.ranking import Ranking


@hookimpl
def tlsuite_register_tasks(register: Callable[[Any], None]) -> None:
    register(SequenceClassification)
    register(TokenClassification)
    register(LanguageModeling)
    register(Generation)
    register(Ranking)


@hookimpl
def tlsuite_register_data_adapters(register: Callable[[Any], None]) -> None:
    for adapter in BUILTIN_ADAPTERS:
        register(adapter)


@hookimpl
def tlsuite_register_metrics(register: Callable[[Any], None]) -> None:
    for metric in BUILTIN_METRICS:
        register(metric)


@hookimpl
def tlsuite_register_models(register: Callable[[Any], None]) -> None:
    for alias in BUILTIN_ALIASES:
        register(alias)
