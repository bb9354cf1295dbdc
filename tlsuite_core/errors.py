"""Errors raised by tlsuite, written for the person at the terminal.

Exception tree::

    TlsuiteError              base; the CLI prints its message on one line and exits with code 2
     +-- DataError            a curated input (training/evaluation file) is unusable; names file, row, field
     +-- ConfigError          a configuration value or combination is invalid
     +-- ModelError           a model reference cannot be resolved or loaded safely
     +-- PluginError          a plugin failed to load or clashes with another plugin

    KeyboardInterrupt
     +-- RunInterrupted       Ctrl-C (or SIGTERM) stopped a training run; says how to go on (exit code 130)

Only the CLI turns these into exit codes; library callers catch them like any exception.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ConfigError", "DataError", "ModelError", "PluginError", "RunInterrupted", "TlsuiteError", "first_line"]


class TlsuiteError(Exception):
    """Base class of every error tlsuite raises on purpose."""

    exit_code = 2


class DataError(TlsuiteError):
    """A data file cannot be used. The message names the file, the row (line) and the field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        where = []
        if self.path is not None:
            where.append(self.path if line is None else f"{self.path}:{line}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class ConfigError(TlsuiteError):
    """A configuration problem (bad option value, bad config file, impossible combination)."""


class ModelError(TlsuiteError):
    """A model reference cannot be resolved, or its weights cannot be loaded safely."""


class PluginError(TlsuiteError):
    """A plugin failed to import or register, or clashes with another plugin."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a training run, after its folder was recorded as ``interrupted``.

    Still a :class:`KeyboardInterrupt` (code that stops on Ctrl-C keeps stopping); its message says how to go on:
    the ``--resume`` command when a checkpoint exists, else that the run can start again under the same name.
    """

    def __init__(self, message: str, *, run: str | Path, checkpoint: str | Path | None = None) -> None:
        super().__init__(message)
        self.run = Path(run)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of a third-party exception's message (its type name when empty), for a one-line error."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]
