"""Structured logs: one JSON object per line on stderr, PII masked in every message, never a key or a text.

The access log (logger ``tlsuite.serve.access``) writes one line per request: time, request id, method, route,
path, status, latency, the key's id (the first 8 hex digits of its SHA-256, never the key), app, run and the number
of texts. Service messages (``tlsuite.serve``) and uvicorn's own (``uvicorn.error``) go through the same formatter.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Callable

__all__ = ["ACCESS_LOGGER", "SERVICE_LOGGER", "JsonFormatter", "configure_logging"]

ACCESS_LOGGER = "tlsuite.serve.access"
SERVICE_LOGGER = "tlsuite.serve"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", **fields}``; ``mask`` is applied to the message (PII)."""

    def __init__(self, mask: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.mask = mask

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        if self.mask is not None:
            message = self.mask(message)
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        out.update(getattr(record, "fields", {}))
        return json.dumps(out, ensure_ascii=False)


def configure_logging(mask: Callable[[str], str] | None, *, stream: Any = None) -> logging.Handler:
    """One JSON handler on stderr for the service's, the access log's and uvicorn's loggers (returned, so a caller
    that serves in-process can remove it)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(mask))
    for name in (SERVICE_LOGGER, ACCESS_LOGGER, "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if not getattr(h, "_tlsuite", False)]
        handler._tlsuite = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return handler
