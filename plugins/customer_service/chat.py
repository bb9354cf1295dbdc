"""``tlsuite customer-service chat``: a terminal conversation (rich output), one ``Bot.respond`` per line, so a
conversation here and the same messages through ``respond`` give the same replies."""

from __future__ import annotations

import uuid

from rich.console import Console
from rich.markup import escape


def run_chat(model: str, session: str | None, db: str, threads: int | None) -> None:
    from .bot import Bot
    from .store import Store

    console = Console(highlight=False)
    session = session or uuid.uuid4().hex[:12]
    with console.status("loading the model..."):
        bot = Bot(model, None, threads=threads)  # the model first: a bad --model creates no database
    store = bot.store = Store(db)
    try:
        console.print(f"[bold]customer-service[/] session [cyan]{session}[/]; /quit or Ctrl-D to end")
        while True:
            try:
                message = console.input("[bold green]you>[/] ").strip()
            except (EOFError, KeyboardInterrupt):
                console.print()
                break
            if message in ("/quit", "/exit"):
                break
            if not message:
                continue
            reply = bot.respond(session, message)
            console.print(f"[bold blue]bot>[/] {escape(reply.reply)}")
            detail = f"intent {reply.intent} ({reply.confidence:.2f})"
            if reply.slots:
                detail += "  slots " + ", ".join(f"{k}={v}" for k, v in sorted(reply.slots.items()))
            if reply.escalation:
                detail += f"  [red]escalated: {reply.escalation['reason']}[/]"
            console.print(f"[dim]     {escape(detail) if not reply.escalation else detail}[/]")
    finally:
        store.close()
