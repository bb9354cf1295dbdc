"""Hook implementations of the summarize plugin (entry point ``summarize`` in group ``tlsuite``).

No ``tlsuite_register_commands`` hook yet: the command group comes from the core's generation commands
(``tlsuite_core.commands.generation``), which the lead wires up once they exist.
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
# tlsuite_summarize.data.DIALOGSUM (a DataAdapter, format "dialogsum") is not registered either; registering it
# needs a tlsuite_register_data_adapters hook here (see the ner plugin).
# --------------------------------------------------------------------------------------------------
