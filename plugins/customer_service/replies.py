"""Reply figures of ``evaluate``: each message of labelled data with reference replies goes through the bot as the
first message of its own session (in a throw-away store), and what the bot does is counted: answered, asked for a
missing slot, not understood (out of scope), handed over (the escalation rate). The answered messages' replies are
scored with chrF (sacrebleu) against the reference replies: the template replies (the retrieved answer, its
placeholders filled), and, when the run has a generator, the generated replies of the first ``generated_limit``
answered messages beside the template replies of the same messages. Each reference's placeholders are filled with
the values the reply's were, so a placeholder counts the same on both sides.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from .answers import Answer
from .generator import ReplyExample, reply_chrf, reply_prompt


def reply_figures(
    run: str | Path,
    examples: Sequence[ReplyExample],
    *,
    threads: int | None = None,
    generated_limit: int = 200,
) -> dict[str, Any]:
    """Outcome counts, the escalation rate and chrF of template (and generated) replies for ``examples``."""
    from .bot import Bot
    from .intents import OUT_OF_SCOPE
    from .store import Store

    with tempfile.TemporaryDirectory() as folder:
        bot = Bot(run, Store(f"sqlite:///{Path(folder) / 'evaluate.db'}"), threads=threads)
        bot.use_generator = False
        outcomes: Counter[str] = Counter()
        answered: list[tuple[ReplyExample, Any]] = []
        try:
            for i, example in enumerate(examples):
                reply = bot.respond(f"evaluate-{i}", example.message)
                outcome = (
                    "escalated"
                    if reply.escalation is not None
                    else "asked_for_slot"
                    if reply.pending
                    else "not_understood"
                    if reply.intent == OUT_OF_SCOPE or reply.answer_id is None
                    else "answered"
                )
                outcomes[outcome] += 1
                if outcome == "answered":
                    answered.append((example, reply))
        finally:
            bot.store.close()
        bot.use_generator = True
        references = [bot.answers.render(Answer("ref", e.intent, e.reply), r.slots)[0] for e, r in answered]
        n = len(examples)
        figures: dict[str, Any] = {
            "n": n,
            "outcomes": {k: outcomes.get(k, 0) for k in ("answered", "asked_for_slot", "not_understood", "escalated")},
            "escalation_rate": outcomes.get("escalated", 0) / n if n else 0.0,
            "template": reply_chrf(references, [r.reply for _, r in answered]),
        }
        generator = bot.generator()
        if generator is not None and answered:
            figures["generated"] = _generated(bot, generator, answered[:generated_limit], references, generated_limit)
    return figures


def _generated(bot: Any, generator: Any, rows: list, references: list[str], limit: int) -> dict[str, Any]:
    """chrF of generated replies and of the template replies of the same messages."""
    start = time.perf_counter()
    prompts = [reply_prompt(e.message, r.slots, bot.answers.answers[r.answer_id].text) for e, r in rows]
    texts = generator.replies(prompts)
    seconds = time.perf_counter() - start
    filled = [bot.answers.render(Answer("gen", e.intent, t), r.slots)[0] for (e, r), t in zip(rows, texts)]
    refs = references[: len(rows)]
    return {
        "limit": limit,
        "n": len(rows),
        "chrf": reply_chrf(refs, filled)["chrf"],
        "template_chrf_same_messages": reply_chrf(refs, [r.reply for _, r in rows])["chrf"],
        "mean_words": sum(len(t.split()) for t in filled) / max(len(filled), 1),
        "empty": sum(1 for t in texts if not t.strip()),
        "seconds": round(seconds, 1),
        "examples": [{"message": e.message, "reply": t} for (e, _), t in list(zip(rows, filled))[:3]],
    }
