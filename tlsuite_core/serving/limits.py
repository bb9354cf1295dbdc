"""Request limits: the body size (an ASGI middleware that answers 413 with a proper response, having read the
oversize body rather than dropping the connection) and the number and length of texts (:func:`check_texts`, also
usable in-process)."""

from __future__ import annotations

import json
from typing import Any, Sequence

__all__ = ["BodyLimitMiddleware", "LimitExceeded", "check_texts", "error_body"]

#: how much of an oversize body is read (and dropped) so the client gets the 413 before the connection closes
DRAIN_FACTOR = 16


class LimitExceeded(ValueError):
    """Too many texts, or a text too long (HTTP 413)."""


def check_texts(texts: Sequence[str], *, max_texts: int, max_text_chars: int) -> None:
    """Raise :class:`LimitExceeded` naming the first text over the limit."""
    if len(texts) > max_texts:
        raise LimitExceeded(f"{len(texts)} texts in one request (limit {max_texts}); split them over requests")
    for i, text in enumerate(texts):
        if len(text) > max_text_chars:
            raise LimitExceeded(f"texts[{i}] has {len(text)} characters (limit {max_text_chars})")


def error_body(status: int, message: str, request_id: str | None) -> bytes:
    """The JSON of every error the service answers: ``{"error": {"status", "message"}, "request_id"}``."""
    return json.dumps({"error": {"status": status, "message": message}, "request_id": request_id}).encode()


class BodyLimitMiddleware:
    """Reads a request's body up to ``limit`` bytes and hands it on; over it, answers 413 (``Content-Length``
    over the limit is refused before reading)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send, int(declared), more=True)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send, size, more=message.get("more_body", False))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any, size: int, *, more: bool) -> None:
        drained = 0
        while more and drained <= self.limit * DRAIN_FACTOR:
            message = await receive()
            if message["type"] != "http.request":
                break
            drained += len(message.get("body", b""))
            more = message.get("more_body", False)
        state = scope.setdefault("state", {})
        state["refused"] = "(body over the limit)"
        request_id = state.get("request_id")
        text = f"request body of {size}{'+' if more else ''} bytes is over the limit of {self.limit} bytes"
        body = error_body(413, text, request_id)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if more:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
