"""``tlsuite recommend train | evaluate | rank | score | explain``: the commands parse options and print; the work is
done by :class:`tlsuite_recommend.recommender.Recommender`, which a Python user calls the same way."""
# no `from __future__ import annotations`: Typer reads these annotations at runtime

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer

from tlsuite_core.apps import default_runs_dir
from tlsuite_core.errors import ConfigError, DataError

EPILOGS = {
    "group": "Example: tlsuite recommend train --data ml-100k/ --max-steps 150 --name ml100k",
    "train": "Examples: tlsuite recommend train --data ml-100k/ --name ml100k  |  "
    "tlsuite recommend train --interactions events.csv --items items.jsonl --threshold 4 --max-steps 100  |  "
    "tlsuite recommend train --data ml-100k/ --no-cross-encoder --features als,bpr,two_tower,popularity",
    "evaluate": "Example: tlsuite recommend evaluate --model runs/recommend/ml100k --output metrics.json",
    "rank": "Examples: tlsuite recommend rank --user 196 --k 10  |  tlsuite recommend rank --history 50,172,181  |  "
    "tlsuite recommend rank --user 196 --candidates new_items.jsonl",
    "score": "Examples: tlsuite recommend score --pairs pairs.csv --output scores.jsonl  |  "
    "tlsuite recommend score --k 20 --output top20.parquet   (every user's top 20)",
    "explain": "Example: tlsuite recommend explain --user 196 --item 242",
}

RunOpt = Annotated[
    Optional[str], typer.Option("--model", help="A recommend run folder (default: the latest run under --runs-dir).")
]
RunsDirOpt = Annotated[
    Optional[str], typer.Option("--runs-dir", help="Where runs are (default: $TLSUITE_RUNS_DIR or ./runs).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
UserOpt = Annotated[Optional[str], typer.Option(help="A known user id.")]
HistoryOpt = Annotated[Optional[str], typer.Option(help="A new user's item ids, oldest first, comma-separated.")]


def _history(user: Optional[str], history: Optional[str]) -> Optional[list[str]]:
    """The new user's items from --history (None for a known --user); exactly one of them must be given."""
    if (user is None) == (history is None):
        raise ConfigError("give --user U or --history ITEM,ITEM,...")
    return [h.strip() for h in history.split(",") if h.strip()] if history else None


def _load(model: Optional[str], runs_dir: Optional[str]) -> Any:
    from .recommender import Recommender

    if model is None:
        base = Path(default_runs_dir(runs_dir)) / "recommend"
        done = sorted(p for p in base.glob("*") if (p / "recommend.json").is_file()) if base.is_dir() else []
        if not done:
            raise ConfigError(f"no completed recommend run under {base}; train one or pass --model RUN")
        model = str(done[-1])
    return Recommender.load(model)


def train(
    data: Annotated[Optional[str], typer.Option("--data", help="A MovieLens folder (u.data, u.item, u.genre).")] = None,
    interactions: Annotated[
        Optional[str], typer.Option(help="Interactions: user, item[, signal][, timestamp] (CSV/TSV/JSONL/Parquet).")
    ] = None,
    items: Annotated[
        Optional[str], typer.Option(help="Items: item, title / description / categories (CSV/TSV/JSONL/Parquet).")
    ] = None,
    threshold: Annotated[
        Optional[float], typer.Option(help="Implicit feedback: keep events with signal >= this (default: all).")
    ] = None,
    split: Annotated[
        str, typer.Option(help="leave-latest-out (per user: latest = test, the one before = validation) or time.")
    ] = "leave-latest-out",
    valid_from: Annotated[
        Optional[int], typer.Option(help="--split time: validation starts at this unix time.")
    ] = None,
    test_from: Annotated[Optional[int], typer.Option(help="--split time: test starts at this unix time.")] = None,
    negatives: Annotated[int, typer.Option(min=1, help="Sampled items each held-out item is ranked among.")] = 99,
    seed: Annotated[int, typer.Option(help="Seed of negative sampling, models and the fusion's folds.")] = 13,
    model: Annotated[str, typer.Option("--model", help="Pretrained encoder of the text models.")] = "minilm",
    history_cap: Annotated[int, typer.Option(min=1, help="Most recent history items a text model reads.")] = 10,
    rerank_depth: Annotated[
        int, typer.Option(min=1, help="Candidates per user the cross-encoder re-scores (the ALS top N).")
    ] = 20,
    rerank_users: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="Re-rank only this many test users' lists (a seeded sample; the cross-encoder is then reported "
            "alone, not fused). Default: every list.",
        ),
    ] = None,
    cross_encoder: Annotated[
        bool, typer.Option("--cross-encoder/--no-cross-encoder", help="Train and use the cross-encoder.")
    ] = True,
    features: Annotated[Optional[str], typer.Option(help="Fusion features, comma-separated (default: all).")] = None,
    tune: Annotated[
        bool, typer.Option("--tune/--no-tune", help="Try the baselines' settings grids on validation.")
    ] = True,
    max_steps: Annotated[Optional[int], typer.Option(min=1, help="Cross-encoder training steps.")] = None,
    two_tower_steps: Annotated[
        int, typer.Option(min=0, help="Fine-tuning steps of the two-tower encoder (0: the pretrained encoder).")
    ] = 100,
    strategy: Annotated[
        Optional[str], typer.Option(help="Cross-encoder fine-tuning strategy (full, lora, ...).")
    ] = None,
    learning_rate: Annotated[
        Optional[float], typer.Option("--learning-rate", "--lr", help="Cross-encoder peak learning rate.")
    ] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Cross-encoder lists per step.")] = None,
    max_length: Annotated[
        Optional[int], typer.Option(min=8, help="Cross-encoder tokens per (history, item) pair.")
    ] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Run folder name under <runs-dir>/recommend/.")] = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Train every model (popularity, item-kNN, ALS, BPR, two-tower, cross-encoder) and the fusion ranker."""
    from .recommender import Recommender

    rec = Recommender.train(
        data=data,
        interactions=interactions,
        items=items,
        runs_dir=runs_dir,
        name=name,
        split=split,
        valid_from=valid_from,
        test_from=test_from,
        threshold=threshold,
        negatives=negatives,
        seed=seed,
        model=model,
        history_cap=history_cap,
        rerank_depth=rerank_depth,
        cross_encoder=cross_encoder,
        tune=tune,
        features=[f.strip() for f in features.split(",") if f.strip()] if features else None,
        max_steps=max_steps,
        strategy=strategy,
        learning_rate=learning_rate,
        batch_size=batch_size,
        threads=threads,
        max_length=max_length,
        two_tower_steps=two_tower_steps,
        rerank_users=rerank_users,
    )
    _print_table(rec.metrics)
    typer.echo(str(rec.folder))


def _print_table(metrics: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="test (NCF protocol: held-out item among sampled negatives)")
    for col in ("model", "HR@10", "95% CI", "NDCG@10", "MRR", "AUC", "coverage@10", "popularity@10"):
        table.add_column(col)
    for name, m in metrics["test"].items():
        ci = m["hr@10_ci"]
        table.add_row(
            name,
            f"{m['hr@10']:.4f}",
            f"[{ci['low']:.3f}, {ci['high']:.3f}]",
            f"{m['ndcg@10']:.4f}",
            f"{m['mrr']:.4f}",
            f"{m['auc']:.4f}",
            f"{m['coverage@10']:.3f}",
            f"{m['popularity@10']:.3f}",
        )
    Console(stderr=True).print(table)


def evaluate(
    model: RunOpt = None,
    output: Annotated[Optional[Path], typer.Option(help="Write the metrics as JSON here.")] = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """The run's test metrics per model (computed once, at training), with bootstrap intervals."""
    from tlsuite_core.files import write_atomically

    rec = _load(model, runs_dir)
    metrics = rec.metrics
    _print_table(metrics)
    if output is not None:
        write_atomically(output, json.dumps(metrics, indent=2))
    else:
        typer.echo(json.dumps({k: {"hr@10": v["hr@10"], "ndcg@10": v["ndcg@10"]} for k, v in metrics["test"].items()}))


def _read_candidates(path: str) -> list[dict[str, Any]]:
    from .data import load_items

    catalogue = load_items(path)
    return [
        {
            "id": i,
            "title": catalogue.titles[n],
            "description": catalogue.descriptions[n],
            "categories": catalogue.categories[n],
        }
        for n, i in enumerate(catalogue.ids)
    ]


def rank(
    user: UserOpt = None,
    history: HistoryOpt = None,
    candidates: Annotated[
        Optional[str],
        typer.Option(help="An item file to rank instead of the catalogue (new items are added from their text)."),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="How many items.")] = 10,
    retrieve: Annotated[
        Optional[int],
        typer.Option(
            min=1, help="Rank only the N items nearest to the user in the two-tower index (large catalogues)."
        ),
    ] = None,
    as_json: JsonOpt = False,
    model: RunOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """The best items for a user (seen items excluded), or for a new user given by a few items."""
    rec = _load(model, runs_dir)  # first: a run of another app is named before argument details
    past = _history(user, history)
    pool = None
    if candidates is not None:
        rows = _read_candidates(candidates)
        rec.add_items(rows)
        pool = [r["id"] for r in rows]
    elif retrieve is not None:
        pool = rec.retrieve(user, k=retrieve, history=past)
    found = rec.rank(user, k=k, candidates=pool, history=past)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in found]))
        return
    for n, r in enumerate(found, start=1):
        typer.echo(f"{n:>3}  {r.item:<10} {r.score:>9.4f}  {r.title}")


def _pairs(path: str) -> Iterator[tuple[str, str]]:
    from tlsuite_core.data import pick_column

    from .data import ITEM_COLUMNS, USER_COLUMNS, read_records

    table = read_records(path)
    ucol = pick_column(table, None, USER_COLUMNS, "user", "a 'user' column")
    icol = pick_column(table, None, ITEM_COLUMNS, "item", "an 'item' column")
    for row, line in zip(table.rows, table.lines):
        for col in (ucol, icol):
            if row.get(col) is None or not str(row.get(col)).strip():
                raise DataError("empty value", path=table.source, line=line, field=col)
        yield str(row[ucol]).strip(), str(row[icol]).strip()


def _write_rows(rows: Iterator[dict[str, Any]], output: Optional[Path], chunk: int = 10_000) -> int:
    """Stream rows to JSONL (stdout, or a file) or to Parquet (row groups of ``chunk`` rows); a file is written to a
    temporary name and renamed when every row is in, and removed on an error."""
    if output is None:
        return _write_jsonl(rows, sys.stdout)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        if output.suffix.lower() == ".parquet":
            n = _write_parquet(rows, tmp, chunk)
        else:
            with tmp.open("w", encoding="utf-8") as fh:
                n = _write_jsonl(rows, fh)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def _write_jsonl(rows: Iterator[dict[str, Any]], out: Any) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps(row) + "\n")
        n += 1
    return n


def _write_parquet(rows: Iterator[dict[str, Any]], path: Path, chunk: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer, batch, n = None, [], 0
    try:
        for row in rows:
            batch.append(row)
            n += 1
            if len(batch) >= chunk:
                table = pa.Table.from_pylist(batch)
                writer = writer or pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
                batch = []
        if batch or writer is None:
            table = pa.Table.from_pylist(batch)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return n


def score(
    pairs: Annotated[Optional[str], typer.Option(help="A file of user, item pairs (CSV/TSV/JSONL/Parquet).")] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Without --pairs: every user's top K.")] = 10,
    output: Annotated[Optional[Path], typer.Option(help="JSONL or .parquet file (default: JSONL on stdout).")] = None,
    model: RunOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Batch scoring: fused scores of user-item pairs, or every user's top K, streamed."""
    rec = _load(model, runs_dir)
    rows = rec.score(_pairs(pairs)) if pairs is not None else rec.all_pairs(k)
    n = _write_rows(rows, output)
    typer.echo(f"{n} rows" + (f" -> {output}" if output else ""), err=True)


def explain(
    item: Annotated[str, typer.Option(help="The item to explain.")],
    user: UserOpt = None,
    history: HistoryOpt = None,
    model: RunOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Which features (their contributions to the fused score) and which history items drove a score."""
    rec = _load(model, runs_dir)  # first: a run of another app is named before argument details
    typer.echo(json.dumps(rec.explain(user, item, history=_history(user, history)), indent=2))


def recommend_commands() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, epilog=EPILOGS["group"])
    for func in (train, evaluate, rank, score, explain):
        app.command(func.__name__, epilog=EPILOGS[func.__name__])(func)
    return app
