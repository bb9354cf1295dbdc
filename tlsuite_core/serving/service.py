"""The service's state and behaviour, independent of routing: who may call what (keys, scopes, rates), the
limits on texts, PII masking, batched prediction with a timeout and a bounded queue, readiness."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Sequence

from .batching import QueueFull
from .keys import KeyRing, RateLimiter
from .limits import LimitExceeded, check_texts
from .logs import ACCESS_LOGGER, SERVICE_LOGGER
from .metrics import ServiceMetrics
from .pii import MaskedText, PiiMasker
from .runs import FAILED, READY, ServedRun

if TYPE_CHECKING:
    from ..registry import Registry
    from .config import ServeConfig
    from .keys import ApiKey

__all__ = ["Refused", "Service"]


class Refused(Exception):
    """A request the service answers with an error status (and headers such as ``Retry-After``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class Service:
    """What ``create_app`` routes to. ``keys``: an empty ring means no authentication."""

    def __init__(self, config: ServeConfig, runs: Sequence[ServedRun], registry: Registry, keys: KeyRing) -> None:
        self.config = config
        self.runs = {run.key: run for run in runs}
        self.registry = registry
        self.keys = keys
        self.limiter = RateLimiter()
        self.metrics = ServiceMetrics()
        self.masker = PiiMasker(config.pii_regions)
        self.log = logging.getLogger(SERVICE_LOGGER)
        self.access = logging.getLogger(ACCESS_LOGGER)
        self.ner_run = self._ner_run()

    def _ner_run(self) -> ServedRun | None:
        name = self.config.pii_ner_run
        if name is not None:
            if name.strip("/") not in self.runs:
                from ..errors import ConfigError

                raise ConfigError(f"pii_ner_run {name!r} is not a served run (served: {', '.join(self.runs)})")
            return self.runs[name.strip("/")]
        return next((r for r in self.runs.values() if r.task == "token-classification"), None)

    # -- readiness ---------------------------------------------------------------------------------------------
    def readiness(self) -> tuple[bool, dict[str, Any]]:
        runs = {key: {"status": r.status, **({"error": r.error} if r.error else {})} for key, r in self.runs.items()}
        return all(r.status == READY for r in self.runs.values()), runs

    # -- who may call ------------------------------------------------------------------------------------------
    def authorize(self, token: str | None, app: str | None = None, run: str | None = None) -> ApiKey | None:
        """The caller's key (``None`` without authentication); :class:`Refused` 401 / 403 / 429."""
        if not self.keys:
            return None
        if not token:
            raise Refused(401, "missing API key: send Authorization: Bearer KEY", {"WWW-Authenticate": "Bearer"})
        key = self.keys.find(token)
        if key is None:
            raise Refused(401, "invalid API key", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if app is not None and not key.allows(app, run or ""):
            raise Refused(403, f"this key may not call {app}/{run} (scopes: {', '.join(key.scopes)})")
        wait = self.limiter.take(key)
        if wait:
            self.metrics.refused.labels(run=f"{app}/{run}" if app else "-", reason="rate_limit").inc()
            rate = f"{key.rate_per_minute:g}/min"
            raise Refused(429, f"rate limit of this key ({rate}) reached", {"Retry-After": str(int(wait))})
        return key

    # -- texts -------------------------------------------------------------------------------------------------
    def check(self, texts: Sequence[str]) -> None:
        try:
            check_texts(texts, max_texts=self.config.max_texts, max_text_chars=self.config.max_text_chars)
        except LimitExceeded as exc:
            raise Refused(413, str(exc)) from None

    async def mask(self, texts: Sequence[str]) -> list[MaskedText]:
        """Masked texts; person names through the NER run's person entities when one is served."""
        persons = None
        if self.ner_run is not None:
            if self.ner_run.status != READY:
                why = self.ner_run.error or "still loading"
                raise Refused(503, f"names cannot be masked: the NER run {self.ner_run.key} is not ready ({why})")
            labels = set(self.config.pii_person_labels)
            entities = await self.predict(self.ner_run, texts)
            persons = [[(e.start, e.end) for e in found if e.label in labels] for found in entities]
        return await asyncio.to_thread(self.masker.mask, list(texts), persons)

    # -- prediction --------------------------------------------------------------------------------------------
    def ready_run(self, run: ServedRun) -> ServedRun:
        if run.status == FAILED:
            raise Refused(503, f"{run.key} failed to load: {run.error}")
        if run.status != READY:
            raise Refused(503, f"{run.key} is still loading", {"Retry-After": "5"})
        return run

    async def predict(self, run: ServedRun, texts: Sequence[str]) -> list[Any]:
        """Results for ``texts`` through ``run``'s batcher: 503 + Retry-After when its queue is full, 504 past the
        request timeout."""
        batcher = self.ready_run(run).batcher
        if batcher is None:  # a run its plugin opened (open_run): it has no text prediction
            raise Refused(404, f"{run.key} predicts from no texts (see GET /v1/runs for its routes)")
        try:
            future = batcher.submit(texts)
        except QueueFull as exc:
            self.metrics.refused.labels(run=run.key, reason="queue_full").inc()
            raise Refused(503, f"{run.key} is overloaded: {exc}", {"Retry-After": str(exc.retry_after)}) from None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.config.request_timeout_s)
        except asyncio.TimeoutError:
            batcher.cancel(future)
            self.metrics.refused.labels(run=run.key, reason="timeout").inc()
            raise Refused(504, f"no answer from {run.key} within {self.config.request_timeout_s:g} s") from None

    async def close(self) -> None:
        """Let each batcher finish what it holds (the server has already finished in-flight requests)."""
        for run in self.runs.values():
            if run.batcher is not None:
                await asyncio.to_thread(run.batcher.close, self.config.graceful_timeout_s)
