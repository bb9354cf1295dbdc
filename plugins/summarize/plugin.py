"""Hook implementations of the summarize plugin (entry point ``summarize`` in group ``tlsuite``): the app, the
``summarization`` metric (ROUGE), the ``dialogsum`` data adapter, and the core's generation command group
(train / compare / evaluate / run) with summarization examples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tlsuite_core import hookimpl

from . import APP
from .metrics import SUMMARIZATION


@hookimpl
def tlsuite_register_apps(register: Callable[[Any], None]) -> None:
    register(APP)


@hookimpl
def tlsuite_register_metrics(register: Callable[[Any], None]) -> None:
    register(SUMMARIZATION)


@hookimpl
def tlsuite_register_commands(cli: Any) -> None:
    from tlsuite_core.commands.generation import GenerationExamples, generation_commands

    examples = GenerationExamples(
        data="--train dialogsum.train.jsonl --dev dialogsum.dev.jsonl   (dialogue and summary columns)",
        pairs="dialogsum.test.jsonl",
        text='"#Person1#: My order has not arrived. #Person2#: I will send a new one today."',
        input_file="dialogues.jsonl",
        output_file="summaries.jsonl",
    )
    cli.add_typer(generation_commands(APP, examples=examples), name=APP.name, help=APP.description)


@hookimpl
def tlsuite_register_data_adapters(register: Callable[[Any], None]) -> None:
    from .data import DIALOGSUM

    register(DIALOGSUM)
