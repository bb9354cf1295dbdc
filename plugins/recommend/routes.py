"""``tlsuite serve``'s recommend routes: ``POST /v1/recommend/{run}/rank`` (a user's best items, as ``tlsuite
recommend rank --json``) and ``POST /v1/recommend/{run}/explain`` (as ``tlsuite recommend explain``). Imported only
when the service starts.

A recommend run folder is not an engine run, so the plugin opens it itself (``open_run``: load every model, then
rank once, which loads the cross-encoder, before ``/readyz`` says ready). One request at a time per run, in a worker
thread: ranking is a few vectorised scorers and one cross-encoder forward over the re-ranked candidates, and the
event loop stays free. An unknown user or item is answered 422 with the reason.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, Field, model_validator

from tlsuite_core.serving import RouteHandler

MAX_ITEMS = 10_000  # ids in one request's history or candidates
ItemId = Field(min_length=1, max_length=200)


class ServedRecommender:
    """A loaded run and the lock its requests take (its item index grows in place when the catalogue does)."""

    def __init__(self, recommender: Any) -> None:
        self.recommender = recommender
        self.lock = threading.Lock()

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return getattr(self.recommender, method)(*args, **kwargs)


def open_run(folder: Path) -> ServedRecommender:
    """Load a recommend run and warm it up (the first ranking loads the cross-encoder)."""
    from .recommender import Recommender

    served = ServedRecommender(Recommender.load(folder))
    users = served.recommender.known.users
    if users:
        served.call("rank", users[0], k=1)
    return served


class _Who(BaseModel):
    user: Optional[str] = Field(None, min_length=1, max_length=200, description="A known user id.")
    history: Optional[list[str]] = Field(
        None, min_length=1, max_length=MAX_ITEMS, description="A new user's item ids, oldest first (instead of user)."
    )

    @model_validator(mode="after")
    def _one_of(self) -> _Who:
        if self.user is not None and self.history is not None:
            raise ValueError("give user or history, not both")
        if self.user is None and self.history is None:
            raise ValueError("give user (a known user's id) or history (a new user's item ids)")
        return self


class RankRequest(_Who):
    k: int = Field(10, ge=1, le=1000, description="How many items.")
    candidates: Optional[list[str]] = Field(
        None, min_length=1, max_length=MAX_ITEMS, description="Rank only these catalogue items (default: all)."
    )
    retrieve: Optional[int] = Field(
        None, ge=1, le=MAX_ITEMS, description="Rank only the N items nearest to the user in the two-tower index."
    )

    @model_validator(mode="after")
    def _one_pool(self) -> RankRequest:
        if self.candidates is not None and self.retrieve is not None:
            raise ValueError("give candidates or retrieve, not both")
        return self


class RankedItem(BaseModel):
    item: str
    title: str
    score: float


class RankResponse(BaseModel):
    run: str
    items: list[RankedItem]
    request_id: str


class ExplainRequest(_Who):
    item: str = Field(min_length=1, max_length=200, description="The item to explain.")
    top: int = Field(5, ge=1, le=100, description="How many of the history items it resembles most.")


class FeatureContribution(BaseModel):
    value: float
    contribution: float


class SimilarHistoryItem(BaseModel):
    item: str
    title: str
    two_tower_cosine: float
    itemknn_similarity: float


class ExplainResponse(BaseModel):
    run: str
    user: Optional[str]
    item: str
    title: str
    score: float
    features: dict[str, FeatureContribution]
    baseline: float
    history: list[SimilarHistoryItem]
    request_id: str


def _rank(served: ServedRecommender, request: RankRequest) -> list[dict[str, Any]]:
    pool = request.candidates
    if request.retrieve is not None:
        pool = served.call("retrieve", request.user, k=request.retrieve, history=request.history)
    found = served.call("rank", request.user, k=request.k, candidates=pool, history=request.history)
    return [r.as_dict() for r in found]


def rank_handler() -> RouteHandler:
    async def handle(request: RankRequest, context: Any) -> RankResponse:
        items = await asyncio.to_thread(_rank, context.trained, request)
        return RankResponse(run=context.run, items=items, request_id=context.request_id)

    return RouteHandler(RankRequest, RankResponse, handle)


def explain_handler() -> RouteHandler:
    async def handle(request: ExplainRequest, context: Any) -> ExplainResponse:
        why = await asyncio.to_thread(
            context.trained.call, "explain", request.user, request.item, history=request.history, top=request.top
        )
        return ExplainResponse(run=context.run, request_id=context.request_id, **why)

    return RouteHandler(ExplainRequest, ExplainResponse, handle)
