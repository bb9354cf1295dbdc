"""Benchmark of finance-monitor monitoring at full scale (issue 3's acceptance figures).

One invocation: writes a replay stream of real Financial PhraseBank sentences drawn by label (100,000 items over
30 days and 10 topics, negative episodes of 12-24 h at known times), ingests it with a trained sentiment run into a
fresh SQLite database, evaluates the alert rules with 6-hour buckets, and prints:

- ingest throughput in items/s (parse, classify, topics, store; alert evaluation timed separately),
- the share of the time spent outside the model (database, parsing, rules, alerts): target under 10 %,
- episodes detected within one bucket of their start, and false alerts per 10,000 items (target <= 1).

    python bench/bench_monitor.py --model runs/finance-monitor/NAME            # full scale (tens of minutes on 2 cores)
    python bench/bench_monitor.py --model runs/finance-monitor/NAME --items 5000 --days 3 --topics 2 --episodes 1   # quick look

Sentences come from the dev split by default, so a model fine-tuned on the train split has not seen them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TLSUITE_SHARED_DATA") or ROOT.parent / "shared" / "data")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default="finance-monitor",
        help="sentiment run folder (default: the latest completed run under ./runs)",
    )
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--topics", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--phrasebank", type=Path, default=SHARED / "financial_phrasebank" / "50agree_dev.csv")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "monitor")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "monitor.json")
    args = parser.parse_args(argv)

    from tlsuite_finance_monitor.monitor import Monitor
    from tlsuite_finance_monitor.monitor.replay import generate, score

    if not args.phrasebank.is_file():
        print(f"error: {args.phrasebank} not found (../shared/data/financial_phrasebank)", file=sys.stderr)
        return 2
    if args.out.exists():
        shutil.rmtree(args.out)
    t0 = time.perf_counter()
    truth = generate(
        args.out / "replay",
        items=args.items,
        days=args.days,
        topics=args.topics,
        episodes=args.episodes,
        seed=args.seed,
        mode="bench",
        phrasebank=args.phrasebank,
    )
    generate_s = time.perf_counter() - t0
    db = f"sqlite:///{args.out / 'monitor.db'}"
    with Monitor(
        db,
        args.model,
        topics=args.out / "replay" / "topics.yaml",
        alerts=args.out / "replay" / "alerts.yaml",
        batch_size=args.batch_size,
        device=args.device,
        threads=args.threads,
        runs_dir=ROOT / "runs",
    ) as monitor:
        t0 = time.perf_counter()
        stats = monitor.ingest_path(args.out / "replay" / "stream.jsonl", check_alerts=False)
        ingest_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        monitor.check_alerts()
        alerts_s = time.perf_counter() - t0
        alerts = monitor.alerts()
        model_id = monitor.model_id
        device = getattr(monitor.classifier, "device", "?")
    result = score(alerts, truth, "6h")
    total = ingest_s + alerts_s
    figures = {
        "model": model_id,
        "device": str(device),
        "items": stats.read,
        "count_line": stats.count_line(),
        "generate_s": round(generate_s, 2),
        "ingest_s": round(ingest_s, 2),
        "model_s": round(stats.model_seconds, 2),
        "topics_s": round(stats.topic_seconds, 2),
        "alert_evaluation_s": round(alerts_s, 2),
        "ingest_items_per_s": round(stats.read / ingest_s, 1),
        "end_to_end_items_per_s": round(stats.read / total, 1),
        "share_outside_model": round(1 - stats.model_seconds / total, 4),
        "episodes": result["episodes"],
        "episodes_detected_within_one_bucket": result["detected"],
        "alerts": result["alerts"],
        "false_alerts": result["false_alerts"],
        "false_alerts_per_10k_items": round(result["false_alerts_per_10k_items"], 3),
        "per_episode": result["per_episode"],
        "false": result["false"],
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(figures, indent=2) + "\n")
    for key in (
        "model",
        "device",
        "count_line",
        "ingest_items_per_s",
        "end_to_end_items_per_s",
        "share_outside_model",
        "episodes_detected_within_one_bucket",
        "episodes",
        "false_alerts",
        "false_alerts_per_10k_items",
    ):
        print(f"{key:>38}: {figures[key]}")
    print(f"results: {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
