"""Replay streams with injected negative episodes at known times, and scoring of the alerts they raise.

Write a stream::

    python -m tlsuite_finance_monitor.monitor.replay write --output replay/ --items 100000 --days 30 --topics 10 \\
        --episodes 6 --mode bench --phrasebank ../shared/data/financial_phrasebank/50agree_dev.csv

writes ``replay/stream.jsonl`` (items in time order, each with a ``ticker``), ``replay/truth.json`` (the episodes),
``replay/topics.yaml`` (ticker/company -> topic rules) and ``replay/alerts.yaml`` (6-hour rules). In ``test`` mode
texts come from built-in templates; in ``bench`` mode they are real Financial PhraseBank sentences drawn by label,
so the classifier's errors are real. Score the alerts a monitor raised on it::

    python -m tlsuite_finance_monitor.monitor.replay score --db sqlite:///replay.db --truth replay/truth.json

:class:`KeywordClassifier` is a deterministic stand-in classifier for the template texts (with a set error rate),
for tests and demos without a trained model.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from tlsuite_core.apps import Prediction

HERE = Path(__file__).parent
LABELS = ("positive", "neutral", "negative")
BASE_MIX = {"positive": 0.30, "neutral": 0.55, "negative": 0.15}
EPISODE_MIX = {"positive": 0.08, "neutral": 0.27, "negative": 0.65}


def _sectors() -> list[tuple[str, ...]]:
    with (HERE / "replay_sectors.csv").open(encoding="utf-8", newline="") as fh:
        return [tuple(row.values()) for row in csv.DictReader(fh)]


#: the replay's topics: (topic, company, ticker, description), the first --topics of them used
SECTORS = _sectors()
TEMPLATES = {
    "positive": [
        "{c} reports record quarterly profit as sales rise strongly",
        "{c} beats forecasts and raises full-year guidance",
        "Analysts upgrade {c} after strong growth in orders",
        "{c} wins a large contract and shares gain",
    ],
    "neutral": [
        "{c} to publish its annual report on the scheduled date",
        "{c} appoints a new member to its board",
        "{c} annual general meeting held at the head office",
        "{c} files its quarterly statement with the regulator",
    ],
    "negative": [
        "{c} swings to a loss as sales fall sharply",
        "{c} announces layoffs after weak demand",
        "Regulator fines {c} over reporting failures; shares fall",
        "{c} misses estimates and cuts outlook; rating downgrade follows",
    ],
}
CUES = {
    "negative": ("loss", "layoffs", "fines", "misses", "fall", "weak", "downgrade"),
    "positive": ("record", "beats", "upgrade", "wins", "gain", "growth", "raises"),
}


@dataclass
class Episode:
    topic: str
    start: datetime
    end: datetime

    def as_dict(self) -> dict[str, str]:
        return {"topic": self.topic, "start": self.start.isoformat() + "Z", "end": self.end.isoformat() + "Z"}


def _draw(rng: random.Random, mix: dict[str, float]) -> str:
    x = rng.random()
    acc = 0.0
    for label, p in mix.items():
        acc += p
        if x < acc:
            return label
    return "neutral"


def load_phrasebank(path: Path) -> dict[str, list[str]]:
    """Sentences by label from a Financial PhraseBank CSV (``sentence,label``)."""
    out: dict[str, list[str]] = {label: [] for label in LABELS}
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.DictReader(fh):
            label = (row.get("label") or "").strip()
            if label in out and (row.get("sentence") or "").strip():
                out[label].append(row["sentence"].strip())
    empty = [label for label, rows in out.items() if not rows]
    if empty:
        raise ValueError(f"{path}: no sentences labelled {', '.join(empty)}")
    return out


def plan_episodes(
    rng: random.Random, topics: Sequence[str], n: int, start: datetime, days: float, hours: tuple[float, float]
) -> list[Episode]:
    """``n`` episodes on distinct topics (round robin), after a 2-day warm-up, not overlapping within a topic."""
    episodes: list[Episode] = []
    usable_start = start + timedelta(days=min(2.0, days / 3))
    usable_end = start + timedelta(days=days) - timedelta(hours=hours[1] + 6)
    if usable_end <= usable_start:
        raise ValueError("too few days for episodes after a warm-up")
    order = list(topics)
    rng.shuffle(order)
    for k in range(n):
        topic = order[k % len(order)]
        for _ in range(1000):
            span = (usable_end - usable_start).total_seconds()
            begin = usable_start + timedelta(seconds=rng.uniform(0, span))
            begin = begin.replace(second=0, microsecond=0)
            end = begin + timedelta(hours=rng.uniform(*hours))
            clash = any(
                e.topic == topic and begin < e.end + timedelta(days=2) and e.start < end + timedelta(days=2)
                for e in episodes
            )
            if not clash:
                episodes.append(Episode(topic, begin, end))
                break
    return sorted(episodes, key=lambda e: e.start)


def generate(
    output: Path,
    *,
    items: int = 100_000,
    days: float = 30.0,
    topics: int = 10,
    episodes: int = 6,
    seed: int = 0,
    mode: str = "test",
    phrasebank: Path | None = None,
    start: datetime = datetime(2026, 1, 5),
    episode_hours: tuple[float, float] = (12.0, 24.0),
    surge: float = 0.5,
    text_mention_rate: float = 0.1,
) -> dict[str, Any]:
    """Write ``stream.jsonl``, ``truth.json``, ``topics.yaml`` and ``alerts.yaml`` into ``output``; returns the truth."""
    if not 1 <= topics <= len(SECTORS):
        raise ValueError(f"topics must be 1..{len(SECTORS)}")
    rng = random.Random(seed)
    sectors = SECTORS[:topics]
    names = [s[0] for s in sectors]
    sentences = None
    if mode == "bench":
        if phrasebank is None:
            raise ValueError("bench mode needs --phrasebank (a Financial PhraseBank CSV)")
        sentences = load_phrasebank(phrasebank)
    elif mode != "test":
        raise ValueError("mode is test or bench")
    plan = plan_episodes(rng, names, episodes, start, days, episode_hours)
    span = days * 86400.0
    # extra items inside episodes (a volume bump of `surge` x the topic's normal rate), the rest spread evenly
    per_topic_rate = items / (topics * span)
    extra = [int(per_topic_rate * (e.end - e.start).total_seconds() * surge) for e in plan]
    base = max(0, items - sum(extra))
    rows: list[tuple[datetime, int]] = [
        (start + timedelta(seconds=rng.uniform(0, span)), rng.randrange(topics)) for _ in range(base)
    ]
    for e, n in zip(plan, extra):
        k = names.index(e.topic)
        rows += [(e.start + timedelta(seconds=rng.uniform(0, (e.end - e.start).total_seconds())), k) for _ in range(n)]
    rows.sort()
    output.mkdir(parents=True, exist_ok=True)
    counts = {label: 0 for label in LABELS}
    with (output / "stream.jsonl").open("w", encoding="utf-8") as fh:
        for n, (when, k) in enumerate(rows, start=1):
            topic, company, ticker, _ = sectors[k]
            in_episode = any(e.topic == topic and e.start <= when < e.end for e in plan)
            label = _draw(rng, EPISODE_MIX if in_episode else BASE_MIX)
            counts[label] += 1
            if sentences is not None:
                text = rng.choice(sentences[label])
            else:
                text = rng.choice(TEMPLATES[label]).format(c=company)
            record: dict[str, Any] = {
                "id": f"r{seed}-{n:07d}",
                "published_at": when.replace(microsecond=0).isoformat() + "Z",
                "text": text,
                "source": rng.choice(["wire", "news", "blog", "social"]),
            }
            # a share of template items carry no ticker: their topic comes from the company name in the text (rules)
            if sentences is not None or rng.random() >= text_mention_rate:
                record["ticker"] = ticker
            fh.write(json.dumps(record) + "\n")
    truth = {
        "mode": mode,
        "seed": seed,
        "items": len(rows),
        "days": days,
        "start": start.isoformat() + "Z",
        "topics": names,
        "episodes": [e.as_dict() for e in plan],
        "labels": counts,
    }
    (output / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    lines = ["# written by tlsuite_finance_monitor.monitor.replay", "default_topic: other", "topics:"]
    for topic, company, ticker, description in sectors:
        lines += [
            f"  {topic}:",
            f"    description: {description}",
            f"    companies: [{company}]",
            f"    tickers: [{ticker}]",
        ]
    (output / "topics.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (output / "alerts.yaml").write_text((HERE / "replay_alerts.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return truth


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)


def score(alerts: Sequence[Any], truth: dict[str, Any], bucket: Any) -> dict[str, Any]:
    """Detection of the injected episodes: an episode is detected by an alert on its topic whose bucket starts
    within one bucket of the episode's start bucket; a false alert is one outside every episode of its topic
    (and the neighbouring bucket on either side)."""
    from .trends import parse_bucket

    b = parse_bucket(bucket)
    episodes = [(e["topic"], _iso(e["start"]), _iso(e["end"])) for e in truth["episodes"]]
    results = []
    for topic, start, _end in episodes:
        first = b.floor(start)
        hits = [a for a in alerts if a.topic == topic and first - b.size <= a.bucket_start <= first + b.size]
        delay = min(((a.bucket_start - first) / b.size for a in hits), default=None)
        results.append(
            {
                "topic": topic,
                "start": start.isoformat() + "Z",
                "detected": bool(hits),
                "delay_buckets": delay,
                "rules": sorted({a.rule for a in hits}),
            }
        )
    false = []
    for a in alerts:
        inside = any(
            a.topic == topic and b.floor(start) - b.size <= a.bucket_start <= b.floor(end) + b.size
            for topic, start, end in episodes
        )
        if not inside:
            false.append(
                {
                    "topic": a.topic,
                    "bucket_start": a.bucket_start.isoformat() + "Z",
                    "rule": a.rule,
                    "message": a.message,
                }
            )
    n_items = int(truth["items"])
    return {
        "episodes": len(episodes),
        "detected": sum(r["detected"] for r in results),
        "per_episode": results,
        "alerts": len(alerts),
        "false_alerts": len(false),
        "false_alerts_per_10k_items": len(false) / n_items * 10_000 if n_items else 0.0,
        "false": false,
    }


class KeywordClassifier:
    """A deterministic stand-in for a trained sentiment run on the replay templates: reads the label from the
    template's cue words and is wrong on a fixed share of texts (chosen by hashing the text and its running number,
    so a replay is reproducible)."""

    labels: ClassVar[list[str]] = list(LABELS)
    model_id = "keyword-stand-in"
    ref = "tlsuite_finance_monitor.monitor.replay.KeywordClassifier"

    def __init__(self, error_rate: float = 0.1) -> None:
        self.error_rate = error_rate
        self.seen = 0

    def predict(self, texts: Sequence[str] | str) -> list[Prediction]:
        if isinstance(texts, str):
            texts = [texts]
        out = []
        for text in texts:
            self.seen += 1
            words = set(text.lower().replace(";", " ").replace(",", " ").split())
            label = (
                "negative"
                if words & set(CUES["negative"])
                else "positive"
                if words & set(CUES["positive"])
                else "neutral"
            )
            h = int(hashlib.sha256(f"{self.seen}|{text}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
            if h < self.error_rate:
                label = LABELS[(LABELS.index(label) + 1 + int(h * 1e6) % 2) % 3]
            scores = {lab: (0.8 if lab == label else 0.1) for lab in LABELS}
            out.append(Prediction(label=label, score=0.8, scores=scores))
        return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tlsuite_finance_monitor.monitor.replay", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="write a replay stream with injected negative episodes")
    w.add_argument("--output", required=True, type=Path)
    w.add_argument("--items", type=int, default=100_000)
    w.add_argument("--days", type=float, default=30.0)
    w.add_argument("--topics", type=int, default=10)
    w.add_argument("--episodes", type=int, default=6)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--mode", choices=("test", "bench"), default="test")
    w.add_argument("--phrasebank", type=Path, help="Financial PhraseBank CSV (sentence,label) for bench mode")
    s = sub.add_parser("score", help="score the alerts stored in a monitor database against truth.json")
    s.add_argument("--db", required=True)
    s.add_argument("--truth", required=True, type=Path)
    s.add_argument("--bucket", default="6h")
    s.add_argument("--model", default=None, help="model id (default: the last used)")
    args = parser.parse_args(argv)
    if args.command == "write":
        try:
            truth = generate(
                args.output,
                items=args.items,
                days=args.days,
                topics=args.topics,
                episodes=args.episodes,
                seed=args.seed,
                mode=args.mode,
                phrasebank=args.phrasebank,
            )
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {truth['items']} items, {len(truth['episodes'])} episodes to {args.output}")
        return 0
    from .api import Monitor

    with Monitor(args.db, model_id=args.model, alerts=False) as monitor:
        alerts = [a for a in monitor.alerts() if a.bucket == args.bucket]
    result = score(alerts, json.loads(args.truth.read_text()), args.bucket)
    print(json.dumps({k: v for k, v in result.items() if k != "false"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
