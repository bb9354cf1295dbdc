"""Topic assignment: from the item, from a rule file, by zero-shot similarity, or by a second trained classifier.

Rule file (YAML)::

    default_topic: other            # items no method places (omit or null: they get no topic)
    topics:
      banking:
        description: Banks, lending, deposits, interest rates and credit   # used by zero-shot
        companies: [JPMorgan, Goldman Sachs]       # case-insensitive whole words in the text
        tickers: [JPM, GS]                         # the item's ticker field, or $JPM / JPM in the text (case-sensitive)
        sectors: [banking, bank, lender]           # case-insensitive whole words
        keywords: [loan loss, deposit]             # case-insensitive whole words or phrases
    zero_shot:                      # optional: cosine similarity of mean-pooled embeddings (the run's base encoder)
      threshold: 0.35
      max_topics: 2
      mode: fallback                # fallback: only items the rules did not place; always: add to rule topics
      encoder: null                 # default: the base model the classifier run was fine-tuned from
    classifier:                     # optional: a topic classifier trained with tlsuite (its labels are topics)
      model: runs/topic-classifier/NAME
      threshold: 0.5

Topics given by the item (``topic``/``topics``) are used as they are; an item's tickers map through the rules.
An item may carry several topics.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tlsuite_core.errors import ConfigError

from .records import NewsItem

TopicHit = tuple[str, str, float | None]  # (topic, method, score)


@dataclass
class TopicRule:
    name: str
    description: str = ""
    companies: list[str] = field(default_factory=list)
    tickers: list[str] = field(default_factory=list)
    sectors: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)


@dataclass
class ZeroShotConfig:
    threshold: float = 0.35
    max_topics: int = 2
    mode: str = "fallback"
    encoder: str | None = None


@dataclass
class ClassifierConfig:
    model: str
    threshold: float = 0.5


def _words(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return [str(v).strip() for v in value if str(v).strip()]


def _pattern(words: Sequence[str], *, ignore_case: bool) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = sorted({re.escape(w) for w in words}, key=len, reverse=True)
    return re.compile(r"(?<![\w$])\$?(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE if ignore_case else 0)


class TopicAssigner:
    """Assigns topics to items: item topics, else rules (and/or zero-shot, classifier), else ``default_topic``."""

    def __init__(
        self,
        rules: Sequence[TopicRule] = (),
        *,
        default_topic: str | None = "other",
        zero_shot: ZeroShotConfig | None = None,
        classifier: ClassifierConfig | None = None,
        source: str = "topic rules",
    ) -> None:
        self.rules = list(rules)
        self.default_topic = default_topic
        self.zero_shot = zero_shot
        self.classifier = classifier
        self.source = source
        self._word_patterns = [
            (
                r.name,
                _pattern(r.companies + r.sectors + r.keywords, ignore_case=True),
                _pattern(r.tickers, ignore_case=False),
            )
            for r in self.rules
        ]
        self._ticker_topics: dict[str, list[str]] = {}
        for r in self.rules:
            for t in r.tickers:
                self._ticker_topics.setdefault(t.upper(), []).append(r.name)
        self._embed: Callable[[list[str]], np.ndarray] | None = None
        self._topic_vectors: np.ndarray | None = None
        self._classifier_app: Any = None
        if zero_shot is not None:
            missing = [r.name for r in self.rules if not r.description]
            if missing:
                raise ConfigError(
                    f"{source}: zero_shot needs a description for every topic (missing: {', '.join(missing)})"
                )

    @property
    def needs_encoder(self) -> bool:
        return self.zero_shot is not None and self._embed is None

    def set_encoder(self, embed: Callable[[list[str]], np.ndarray]) -> None:
        """Give zero-shot its sentence encoder: texts -> L2-normalised vectors (one row per text)."""
        self._embed = embed
        self._topic_vectors = embed([f"{r.name}: {r.description}" for r in self.rules])

    def set_classifier(self, app: Any) -> None:
        self._classifier_app = app

    def assign(self, batch: Sequence[NewsItem]) -> list[list[TopicHit]]:
        """Topics of each item, in order; every item gets at least ``default_topic`` when that is set."""
        out: list[list[TopicHit]] = []
        for item in batch:
            hits: dict[str, TopicHit] = {}
            for topic in item.topics:
                hits.setdefault(topic, (topic, "item", None))
            if not hits:
                for ticker in item.tickers:
                    for topic in self._ticker_topics.get(ticker.upper(), []):
                        hits.setdefault(topic, (topic, "rule", None))
                    if not self._ticker_topics.get(ticker.upper()) and not self.rules:
                        hits.setdefault(ticker, (ticker, "item", None))
                for name, words, tickers in self._word_patterns:
                    if name in hits:
                        continue
                    if (words is not None and words.search(item.text)) or (
                        tickers is not None and tickers.search(item.text)
                    ):
                        hits[name] = (name, "rule", None)
            out.append(list(hits.values()))
        from_item = [any(method == "item" for _, method, _ in hits) for hits in out]
        if self.zero_shot is not None:
            want = [
                i for i, hits in enumerate(out) if not from_item[i] and (self.zero_shot.mode == "always" or not hits)
            ]
            if want:
                if self._embed is None or self._topic_vectors is None:
                    raise ConfigError(f"{self.source}: zero_shot is configured but no encoder was loaded")
                vectors = self._embed([batch[i].text for i in want])
                sims = vectors @ self._topic_vectors.T
                for row, i in enumerate(want):
                    order = np.argsort(-sims[row])[: self.zero_shot.max_topics]
                    for j in order:
                        if sims[row, j] >= self.zero_shot.threshold:
                            name = self.rules[j].name
                            if all(t != name for t, _, _ in out[i]):
                                out[i].append((name, "zero-shot", float(sims[row, j])))
        if self._classifier_app is not None and self.classifier is not None:
            want = [i for i, hits in enumerate(out) if not from_item[i] and not hits]
            if want:
                for i, p in zip(want, self._classifier_app.predict([batch[i].text for i in want])):
                    if p.score >= self.classifier.threshold:
                        out[i].append((p.label, "classifier", float(p.score)))
        if self.default_topic:
            for hits in out:
                if not hits:
                    hits.append((self.default_topic, "default", None))
        return out


def load_topic_rules(path: str | Path | None) -> TopicAssigner:
    """Read a topic rule file (see the module doc); ``None`` gives item topics + ``other`` only."""
    if path is None:
        return TopicAssigner()
    from tlsuite_core.files import read_yaml_mapping

    path = Path(path)
    data = read_yaml_mapping(path, "topic rule file", "a mapping with a 'topics' key")
    unknown = set(data) - {"topics", "default_topic", "zero_shot", "classifier"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))} (known: topics, default_topic, zero_shot, classifier)"
        )
    topics = data.get("topics") or {}
    if not isinstance(topics, dict):
        raise ConfigError(f"{path}: 'topics' must map topic names to rules")
    rules = []
    for name, spec in topics.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise ConfigError(
                f"{path}: topic '{name}' must be a mapping (companies, tickers, sectors, keywords, description)"
            )
        bad = set(spec) - {"companies", "tickers", "sectors", "keywords", "description"}
        if bad:
            raise ConfigError(f"{path}: topic '{name}': unknown key(s) {', '.join(sorted(bad))}")
        rules.append(
            TopicRule(
                name=str(name),
                description=str(spec.get("description") or ""),
                companies=_words(spec.get("companies"), f"{path}: topic '{name}' companies"),
                tickers=_words(spec.get("tickers"), f"{path}: topic '{name}' tickers"),
                sectors=_words(spec.get("sectors"), f"{path}: topic '{name}' sectors"),
                keywords=_words(spec.get("keywords"), f"{path}: topic '{name}' keywords"),
            )
        )
    zero_shot = None
    if data.get("zero_shot") is not None:
        z = data["zero_shot"]
        if not isinstance(z, dict):
            raise ConfigError(f"{path}: 'zero_shot' must be a mapping (threshold, max_topics, mode, encoder)")
        try:
            zero_shot = ZeroShotConfig(
                threshold=float(z.get("threshold", 0.35)),
                max_topics=int(z.get("max_topics", 2)),
                mode=str(z.get("mode", "fallback")),
                encoder=z.get("encoder"),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: zero_shot: {exc}") from None
        if zero_shot.mode not in ("fallback", "always"):
            raise ConfigError(f"{path}: zero_shot.mode must be fallback or always, not {zero_shot.mode!r}")
        if not rules:
            raise ConfigError(f"{path}: zero_shot needs topics with descriptions")
    classifier = None
    if data.get("classifier") is not None:
        c = data["classifier"]
        if not isinstance(c, dict) or not c.get("model"):
            raise ConfigError(f"{path}: 'classifier' needs 'model' (a run folder of a topic classifier)")
        classifier = ClassifierConfig(model=str(c["model"]), threshold=float(c.get("threshold", 0.5)))
    default = data.get("default_topic", "other")
    return TopicAssigner(
        rules,
        default_topic=str(default) if default else None,
        zero_shot=zero_shot,
        classifier=classifier,
        source=str(path),
    )


class MeanPoolEncoder:
    """Sentence vectors from a pretrained encoder: mean of the last hidden states over real tokens, L2-normalised.

    This is how all-MiniLM-L6-v2 (the default ``minilm``) was trained to embed sentences, so cosine similarity to a
    topic description is a usable zero-shot topic score.
    """

    def __init__(self, ref: str, *, device: str = "cpu", max_length: int = 256, batch_size: int = 64) -> None:
        from transformers import AutoModel

        from tlsuite_core.models import load_model, load_tokenizer, resolve_model

        resolved = resolve_model(ref)
        self.tokenizer = load_tokenizer(resolved)
        self.model = load_model(resolved, AutoModel)
        self.model.to(device)
        self.model.eval()
        self.device = device
        self.max_length = max_length
        self.batch_size = batch_size

    def __call__(self, texts: list[str]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(
                    texts[start : start + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                enc = {k: v.to(self.device) for k, v in enc.items()}
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out.append(pooled.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 1), dtype=np.float32)


def base_encoder_ref(classifier: Any) -> str:
    """The pretrained model a classifier run was fine-tuned from (its ``config.model``), else the model folder."""
    record = getattr(classifier, "record", None) or {}
    ref = (record.get("config") or {}).get("model")
    if ref:
        return str(ref)
    model_dir = getattr(classifier, "model_dir", None)
    if model_dir is None:
        raise ConfigError(
            "zero_shot: cannot tell the classifier's base encoder; set zero_shot.encoder in the topic rules"
        )
    return str(model_dir)
