"""``tlsuite finance-monitor monitor | trends | alerts | report | quarantine``: live sentiment monitoring on a database.

One module per command; each holds the command function and its examples (``EPILOG``). The commands parse options
and print: the work is done by :class:`tlsuite_finance_monitor.monitor.Monitor`, which a Python user calls the same way.
Nothing heavy is imported until a command runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import typer

from . import alerts, monitor, quarantine, report, trends

#: (command name, module): the order ``--help`` lists them in
COMMANDS = (
    ("monitor", monitor),
    ("trends", trends),
    ("alerts", alerts),
    ("report", report),
    ("quarantine", quarantine),
)


def add_monitor_commands(app: typer.Typer) -> None:
    """Attach the monitoring commands to the finance-monitor command group."""
    for name, module in COMMANDS:
        app.command(name, epilog=module.EPILOG)(module.command)
