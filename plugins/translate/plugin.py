"""Hook implementations of the translate plugin (entry point ``translate`` in group ``tlsuite``).

No ``tlsuite_register_commands`` hook yet: the command group comes from the core's generation commands
(``tlsuite_core.commands.generation``), which the lead wires up once they exist.
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


# --------------------------------------------------------------------------------------------------
# register_commands_later: NOT REGISTERED YET. The lead adds the commands hook once the core's generation command
# group (tlsuite_core.commands.generation) exists, along the lines of the ner / finance-monitor plugins:
#
#     @hookimpl
#     def tlsuite_register_commands(cli: Any) -> None:
#         from tlsuite_core.commands.generation import generation_commands
#
#         cli.add_typer(generation_commands(APP), name=APP.name, help=APP.description)
#
# Options such as --src-lang / --tgt-lang should go through tlsuite_translate.metrics.check_language.
# --------------------------------------------------------------------------------------------------
