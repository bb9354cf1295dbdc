"""``POST /v1/customer-service/{run}/respond`` of ``tlsuite serve``: one message of a conversation in, the bot's
reply out (the JSON of ``tlsuite customer-service respond``). Imported only when the service starts.

The conversation store is ``$TLSUITE_CUSTOMER_SERVICE_DB`` (a SQLAlchemy URL; default
``sqlite:///customer-service.db`` in the service's working folder), shared by every served customer-service run.
Each run's bot answers one message at a time, in a worker thread (the event loop stays free).
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, Field

from tlsuite_core.serving import RouteHandler

DB_ENV = "TLSUITE_CUSTOMER_SERVICE_DB"


class RespondRequest(BaseModel):
    session: str = Field(min_length=1, max_length=200, description="Conversation id (the state is kept per id).")
    message: str = Field(min_length=1, max_length=10_000, description="The customer's message.")


class RespondResponse(BaseModel):
    session: str
    reply: str
    intent: str
    confidence: float
    slots: dict[str, str]
    escalation: Optional[dict[str, str]] = None
    pending: Optional[str] = None
    answer_id: Optional[str] = None
    request_id: str


class Bots:
    """One bot per served run, made on its first message; a lock per bot (its session store is not re-entrant)."""

    def __init__(self) -> None:
        self.bots: dict[Path, tuple[Any, threading.Lock]] = {}
        self.lock = threading.Lock()

    def get(self, run_dir: Path) -> tuple[Any, threading.Lock]:
        with self.lock:
            if run_dir not in self.bots:
                from .bot import Bot
                from .store import Store

                bot = Bot(run_dir, None)
                bot.store = Store(os.environ.get(DB_ENV) or "sqlite:///customer-service.db")
                self.bots[run_dir] = (bot, threading.Lock())
            return self.bots[run_dir]

    def respond(self, run_dir: Path, session: str, message: str) -> dict[str, Any]:
        bot, lock = self.get(run_dir)
        with lock:
            return bot.respond(session, message).as_dict()


def respond_handler() -> RouteHandler:
    bots = Bots()

    async def handle(request: RespondRequest, context: Any) -> RespondResponse:
        run_dir = Path(context.trained.run_dir)
        reply = await asyncio.to_thread(bots.respond, run_dir, request.session, request.message)
        return RespondResponse(session=request.session, request_id=context.request_id, **reply)

    return RouteHandler(RespondRequest, RespondResponse, handle)
