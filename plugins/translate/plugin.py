"""Hook implementations of the translate plugin (entry point ``translate`` in group ``tlsuite``): the app, the
``translation`` metric (sacreBLEU), and the core's generation command group (train / compare / evaluate / run)
with translation examples and a check of ``--src-lang`` / ``--tgt-lang``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tlsuite_core import hookimpl

from . import APP
from .metrics import TRANSLATION


@hookimpl
def tlsuite_register_apps(register: Callable[[Any], None]) -> None:
    register(APP)


@hookimpl
def tlsuite_register_metrics(register: Callable[[Any], None]) -> None:
    register(TRANSLATION)


def _check_languages(options: dict) -> None:
    from .metrics import check_language

    for key in ("src_lang", "tgt_lang"):
        if options.get(key):
            options[key] = check_language(options[key], "--" + key.replace("_", "-"))


@hookimpl
def tlsuite_register_commands(cli: Any) -> None:
    from tlsuite_core.commands.generation import GenerationExamples, generation_commands

    examples = GenerationExamples(
        data="--train train --dev val --src-lang en --tgt-lang de   (parallel files train.en/train.de, val.en/val.de)",
        pairs="test.jsonl",
        text='"The company opened a new office."',
        input_file="news.en.txt",
        output_file="news.de.txt",
    )
    cli.add_typer(
        generation_commands(APP, check_options=_check_languages, examples=examples), name=APP.name, help=APP.description
    )
