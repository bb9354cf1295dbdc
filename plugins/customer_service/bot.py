"""The bot: one message of one session in, one reply out (``respond``), with the state in the store.

Order of decisions for a message: an escalated session stays with the human; a request for a human hands over; a
pending question for a slot is answered by the message (its slot is extracted, the pending answer completed);
otherwise the intent is classified: out of scope counts a failure (``max_failures`` in a row hand over), a low
calibrated confidence or a sensitive intent (or mode ``escalate``) hands over, and an in-scope intent gets its
answer: the best retrieved answer of that intent (or the per-intent answer, or an acknowledgement offering a
human), its placeholders filled from the conversation's slots and the company profile; a missing slot makes the
bot ask for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .answers import ANSWERS, QUESTIONS, Answer, AnswerSet
from .generator import GENERATOR, Generator, reply_prompt
from .intents import OUT_OF_SCOPE, Intent, IntentModel
from .settings import DialogueSettings
from .slots import SlotExtractor
from .store import SessionState, Store


@dataclass
class Reply:
    reply: str
    intent: str
    confidence: float
    slots: dict[str, str]
    escalation: dict[str, str] | None
    pending: str | None = None
    answer_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "reply": self.reply,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "slots": self.slots,
            "escalation": self.escalation,
            "pending": self.pending,
            "answer_id": self.answer_id,
        }


class Bot:
    """A customer-service run ready to answer; ``store`` keeps the sessions (``Store(url)``)."""

    def __init__(
        self, run: str | Path, store: Store | None, *, threads: int | None = None, registry: Any = None
    ) -> None:
        self.intents = IntentModel.load(run, threads=threads, registry=registry)
        self.run_dir = self.intents.run_dir
        self.settings = DialogueSettings.load(self.run_dir)
        self.answers = AnswerSet.load(self.run_dir / ANSWERS)
        self.slots = SlotExtractor(self.run_dir, self.settings.slot_patterns, registry=registry)
        self.store = store
        self.registry = registry
        self._retrieval: Any = None
        self._generator: Any = None
        #: replies of intents in mode ``generated`` come from ``generator/`` (evaluation turns it off to batch them)
        self.use_generator = True

    # -- answers ---------------------------------------------------------------------------------------
    def encoder_ref(self) -> str:
        retriever = self.run_dir / "retriever"
        if (retriever / "modules.json").is_file() or (retriever / "config.json").is_file():
            return str(retriever)
        return str(self.intents.trained.record.get("config", {}).get("model") or "minilm")

    def retrieval(self) -> tuple[Any, Any]:
        """(encoder, answer index), the index rebuilt when the answers or the retriever changed."""
        if self._retrieval is None:
            from tlsuite_core.retrieval import Encoder

            from .retriever import answer_index

            aliases = self.registry.mapping("model") if self.registry is not None else None
            encoder = Encoder(self.encoder_ref(), device="cpu", aliases=aliases)
            texts = {a.id: a.text for a in self.answers.answers.values()}
            index, _ = answer_index(self.run_dir / ANSWERS, encoder, texts, self.encoder_ref())
            self._retrieval = (encoder, index)
        return self._retrieval

    def best_answer(self, message: str, intent: str) -> Answer | None:
        if self.answers is None:
            return None
        candidates = self.answers.by_intent(intent)
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        encoder, index = self.retrieval()
        ids, _ = index.search(encoder.encode([message]), k=len(index))
        allowed = {a.id for a in candidates}
        return self.answers.answers[next(i for i in ids[0] if i in allowed)]

    # -- one turn --------------------------------------------------------------------------------------
    def respond(self, session_id: str, message: str) -> Reply:
        state = self.store.load(session_id)
        reply, escalation = self._decide(state, message)
        if escalation is not None:
            escalation["message"] = message
            state.escalated = escalation["reason"]
        state.add_turn(message, reply.reply, reply.intent, self.settings.keep_turns)
        self.store.save(session_id, state, escalation)
        return reply

    def _decide(self, state: SessionState, message: str) -> tuple[Reply, dict[str, str] | None]:
        s = self.settings
        if state.escalated is not None:
            return self._escalate(state, s.escalated, "", 1.0, state.escalated, record=False)
        words = f" {message.lower()} "
        if any(f" {w} " in words or f" {w}?" in words or f" {w}." in words for w in s.handover_words):
            return self._escalate(state, s.handover, "", 1.0, "request")
        if state.pending is not None:
            pending = state.pending
            state.slots.update(self.slots.extract(message, only=pending["slot"]))
            if pending["slot"] in state.slots:
                state.pending = None
                answer = self.answers.answers[pending["answer_id"]] if self.answers else None
                if answer is not None:
                    asked = state.turns[-1]["user"] if state.turns else message  # the message the slot completes
                    return self._answer(state, answer, pending["intent"], pending["confidence"], asked), None
        found: Intent = self.intents.classify([message])[0]
        state.slots.update(self.slots.extract(message))
        if found.intent == OUT_OF_SCOPE:
            state.failures += 1
            if state.failures >= s.max_failures:
                return self._escalate(state, s.handover, OUT_OF_SCOPE, found.confidence, "repeated failure")
            return Reply(s.not_understood, OUT_OF_SCOPE, found.confidence, dict(state.slots), None), None
        state.failures = 0
        if found.confidence < s.escalate_below:
            return self._escalate(state, s.handover, found.intent, found.confidence, "low confidence")
        mode = s.mode(found.intent)
        if mode == "escalate":
            reason = "sensitive intent" if found.intent in s.sensitive else "intent configured to escalate"
            return self._escalate(state, s.handover, found.intent, found.confidence, reason)
        state.pending = None
        answer = self.best_answer(message, found.intent)
        if answer is None:
            text = (
                f"I understand you need help with {found.intent.replace('_', ' ')}. "
                "Would you like me to hand you over to an agent?"
            )
            return Reply(text, found.intent, found.confidence, dict(state.slots), None), None
        return self._answer(state, answer, found.intent, found.confidence, message), None

    def _answer(self, state: SessionState, answer: Answer, intent: str, confidence: float, message: str) -> Reply:
        generated = self.settings.mode(intent) == "generated"
        text, missing = self.answers.render(answer, state.slots)
        if missing:
            slot = missing[0]
            state.pending = {"slot": slot, "answer_id": answer.id, "intent": intent, "confidence": confidence}
            ask = f"Could you give me {QUESTIONS.get(slot, slot.replace('_', ' '))}?"
            return Reply(ask, intent, confidence, dict(state.slots), None, pending=slot, answer_id=answer.id)
        if generated:
            text = self.generate(answer, text, state, message)
        return Reply(text, intent, confidence, dict(state.slots), None, answer_id=answer.id)

    def generator(self) -> Any:
        """The run's reply generator (``generator/``), loaded on first use; ``None`` when the run has none or
        :attr:`use_generator` is off."""
        folder = self.run_dir / GENERATOR
        if not self.use_generator or not (folder / "run.json").is_file():
            return None
        if self._generator is None:
            self._generator = Generator(folder, registry=self.registry)
        return self._generator

    def generate(self, answer: Answer, filled: str, state: SessionState, message: str) -> str:
        """A reply generated from the message, the slots and the retrieved answer, its placeholders then filled as
        a template's are; the filled template when the run has no generator."""
        generator = self.generator()
        if generator is None:
            return filled
        text = generator.replies([reply_prompt(message, state.slots, answer.text)])[0]
        return self.answers.render(Answer(answer.id, answer.intent, text), state.slots)[0] if text else filled

    def _escalate(self, state, text, intent, confidence, reason, record=True):
        escalation = {"reason": reason}
        entry = {"reason": reason, "intent": intent or None, "message": ""} if record else None
        return Reply(text, intent or "handover", confidence, dict(state.slots), escalation), entry
