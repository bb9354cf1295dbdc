"""Request and response models of the generic routes (pydantic), and a run's results as JSON."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

__all__ = ["PredictRequest", "ScoreRequest", "ScoreResponse", "as_json", "predict_response_model"]


class PredictRequest(BaseModel):
    """``POST /v1/{app}/{run}/predict``."""

    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(min_length=1, description="Texts to run the model on (one result per text, in order).")
    mask_pii: bool = Field(
        False,
        description="Mask PII (e-mails, phone numbers, IBAN / card / account numbers, names with a NER run) before "
        "the model sees the texts; the masked texts and spans come back under `masked`.",
    )


class ScoreRequest(BaseModel):
    """``POST /v1/{app}/{run}/score`` (a ranking run: a cross-encoder)."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(description="The query (a question, a user's history...).")
    candidates: list[str] = Field(min_length=1, description="Texts to score against the query (one score each).")
    mask_pii: bool = Field(False, description="Mask PII in the query and the candidates first (as in `predict`).")


class ClassificationResult(BaseModel):
    label: str
    score: float
    scores: dict[str, float]
    windows: int = Field(1, description="Overlapping windows a text longer than the run's max_length was scored over.")
    truncated: bool = Field(False, description="Only the text's start was scored (the run's long_texts: truncate).")
    empty: bool = Field(False, description="The text was empty or blank: the label says nothing about it.")


class EntityResult(BaseModel):
    start: int
    end: int
    label: str
    text: str
    score: float


class GeneratedResult(BaseModel):
    text: str
    truncated: bool
    tokens: int
    source_truncated: bool = Field(False, description="The source was longer than max_length: only its start was read.")


class PiiSpanModel(BaseModel):
    start: int = Field(description="Offset in the original text.")
    end: int
    type: str = Field(description="EMAIL, PHONE, IBAN, CARD, ROUTING, ACCOUNT or PERSON.")


class MaskedTextModel(BaseModel):
    text: str = Field(description="The text as the model saw it, each span replaced by [TYPE].")
    spans: list[PiiSpanModel]


#: each core task's result, by task name (other tasks: any JSON)
RESULTS: dict[str, Any] = {
    "sequence-classification": ClassificationResult,
    "token-classification": list[EntityResult],
    "generation": GeneratedResult,
}


class ScoreResponse(BaseModel):
    app: str
    run: str
    task: Optional[str] = None
    scores: list[float] = Field(description="One relevance score per candidate, in order (higher: more relevant).")
    order: list[int] = Field(description="The candidates' indices, most relevant first.")
    masked: Optional[list[MaskedTextModel]] = Field(None, description="The query, then each candidate, as masked.")
    request_id: str


def predict_response_model(task: str | None) -> type[BaseModel]:
    """The response of a run's predict route: one result per text, of its task's shape."""
    result = RESULTS.get(task or "", Any)
    return create_model(
        f"PredictResponse_{(task or 'any').replace('-', '_')}",
        app=(str, ...),
        run=(str, ...),
        task=(Optional[str], None),
        results=(list[result], ...),
        masked=(Optional[list[MaskedTextModel]], None),
        request_id=(str, ...),
    )


def as_json(value: Any) -> Any:
    """A result (a :class:`~tlsuite_core.apps.Prediction`, entities, a generated text...) as JSON values."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value
