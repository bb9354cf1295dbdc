"""MovieLens-100k, the NCF protocol: every model of the recommend plugin in one report, the cold-start experiment,
and batch-scoring throughput of the two text paths.

    python bench/bench_recommend.py run          # baselines, text models, fusion -> bench/results/recommend.json
    python bench/bench_recommend.py cold-start   # items without training interactions -> recommend-cold-start.json
    python bench/bench_recommend.py throughput   # pairs/s of the cross-encoder and the two-tower path

Reads ../shared/data/movielens_100k (never committed). Resumable: stage scores are cached in bench/out/recommend/.
Run it nice'd with one thread: ``OMP_NUM_THREADS=1 nice -n 10 python bench/bench_recommend.py run``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "movielens_100k"
OUT = ROOT / "bench" / "out" / "recommend"
RESULTS = ROOT / "bench" / "results"

#: the cross-encoder's caps and training budget (CPU): see docs/results/recommend.md
ENGINE = {
    "max_steps": 40,
    "batch_size": 8,
    "learning_rate": 2e-4,
    "head_lr_scale": 10.0,
    "max_length": 160,
    "threads": 1,
    "name": "bench",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load():
    from tlsuite_recommend.data import leave_latest_out, load_movielens

    if not DATA.is_dir():
        sys.exit(f"{DATA} is not available")
    interactions, items = load_movielens(DATA)
    return interactions, items, leave_latest_out(interactions, len(items), negatives=99, seed=13)


def run(args: argparse.Namespace) -> None:
    import torch
    from tlsuite_recommend.pipeline import Settings, train_run
    from tlsuite_recommend.recommender import save_state

    torch.set_num_threads(1)
    interactions, items, split = load()
    settings = Settings(
        history_cap=args.history_cap,
        rerank_depth=args.depth,
        engine=dict(ENGINE, max_steps=args.steps),
        cross_encoder=not args.no_cross_encoder,
        two_tower_steps=args.two_tower_steps,
        rerank_users=args.rerank_users,
        dev_users=100,
    )
    start = time.perf_counter()
    metrics = train_run(OUT / "run", split, items, settings, log)
    save_state(OUT / "run", settings, split, items, interactions)  # a run folder `tlsuite recommend rank` can use
    metrics["wall_seconds"] = time.perf_counter() - start
    metrics["data"] = {"interactions": len(interactions), "users": len(interactions.users), "items": len(items)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "recommend.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    for name, m in metrics["test"].items():
        print(
            f"{name:28s} HR@10 {m['hr@10']:.4f} [{m['hr@10_ci']['low']:.4f}, {m['hr@10_ci']['high']:.4f}]  "
            f"NDCG@10 {m['ndcg@10']:.4f}  MRR {m['mrr']:.4f}  AUC {m['auc']:.4f}  cov {m['coverage@10']:.3f}  "
            f"pop {m['popularity@10']:.3f}"
        )


def cold_start(args: argparse.Namespace) -> None:
    """10 % of the items (seed 13) lose every training interaction; users whose test item is one of them rank it
    among their 99 negatives by the two-tower text score (the pretrained encoder, and with --two-tower-steps the
    encoder fine-tuned on the training interactions without the cold items), popularity and random order."""
    import torch
    from tlsuite_recommend.collaborative import Popularity
    from tlsuite_recommend.metrics import bootstrap, candidate_ranks, list_metrics, per_user
    from tlsuite_recommend.pipeline import _with_valid
    from tlsuite_recommend.text import TwoTower, next_item_pairs

    from tlsuite_core.retrieval import fine_tune

    torch.set_num_threads(1)
    _, items, split = load()
    rng = np.random.default_rng(13)
    cold = rng.choice(len(items), size=len(items) // 10, replace=False)
    full = _with_valid(split)
    train = full.take(~np.isin(full.item, cold))
    users, cands = split.candidates("test")
    keep = np.isin(cands[:, 0], cold)
    users, cands = users[keep], cands[keep]
    histories = train.histories()
    counts = Popularity().fit(train.matrix(len(items))).counts
    scores = {"popularity": counts[cands], "random": rng.random(cands.shape)}
    encoders = {"two_tower_pretrained": "minilm"}
    if args.two_tower_steps:
        tuned = OUT / f"cold-two-tower-{args.two_tower_steps}"
        if not tuned.is_dir():  # trained without the cold items' interactions (their text is never a positive)
            queries, positives = next_item_pairs(items, histories, positives=5, history_cap=args.history_cap)
            fine_tune("minilm", queries, positives, tuned, max_steps=args.two_tower_steps, seed=13)
        encoders["two_tower"] = str(tuned)
    for name, encoder in encoders.items():
        tower = TwoTower(encoder, history_cap=args.history_cap).build(items)
        scores[name] = tower.score(tower.users(items, [histories[u] for u in users]), cands)
    result: dict = {"cold_items": int(len(cold)), "test_users_with_a_cold_item": int(len(users))}
    for name, s in scores.items():
        result[name] = list_metrics(s, cands, counts)
        result[name]["hr@10_ci"] = bootstrap(per_user(candidate_ranks(s, cands), cands.shape[1])["hr@10"])
    (RESULTS / "recommend-cold-start.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps({k: v["hr@10"] if isinstance(v, dict) else v for k, v in result.items()}, indent=2))


def throughput(args: argparse.Namespace) -> None:
    """Scoring (history, item) pairs: the trained cross-encoder vs the two-tower path (user and item vectors
    encoded, then dot products), both from text, same pairs, same process, on the threads given."""
    import torch
    from tlsuite_recommend.text import TwoTower, history_text

    from tlsuite_core import load_app

    torch.set_num_threads(args.threads)
    _, items, split = load()
    marker = json.loads((OUT / "run" / "cross_encoder.json").read_text())
    app = load_app(marker["run"], device="cpu", threads=args.threads)
    histories = split.train.histories()
    users = list(range(args.users))
    cands = split.candidates("valid")[1][: args.users]
    pairs = [(history_text(items, histories[u], args.history_cap), items.text(int(i))) for u in users for i in cands[u]]
    t = time.perf_counter()
    app.predict(pairs, batch_size=64)
    ce = len(pairs) / (time.perf_counter() - t)
    tower = TwoTower("minilm", history_cap=args.history_cap)
    t = time.perf_counter()
    tower.build(items)  # once per catalogue: every item's vector, then the index
    build = time.perf_counter() - t
    t = time.perf_counter()
    tower.score(tower.users(items, [histories[u] for u in users]), cands)  # per request: user vectors, dot products
    online = time.perf_counter() - t
    result = {
        "pairs": len(pairs),
        "users": len(users),
        "threads": args.threads,
        "cross_encoder_pairs_per_s": ce,
        "two_tower_index_build_s": build,
        "two_tower_pairs_per_s": len(pairs) / online,
        "two_tower_pairs_per_s_with_index_build": len(pairs) / (build + online),
        "two_tower_over_cross_encoder": len(pairs) / online / ce,
        "two_tower_with_index_build_over_cross_encoder": len(pairs) / (build + online) / ce,
    }
    (RESULTS / "recommend-throughput.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("run", "cold-start", "throughput"))
    parser.add_argument("--history-cap", type=int, default=5)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--steps", type=int, default=ENGINE["max_steps"])
    parser.add_argument("--no-cross-encoder", action="store_true")
    parser.add_argument("--two-tower-steps", type=int, default=50)
    parser.add_argument("--rerank-users", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    {"run": run, "cold-start": cold_start, "throughput": throughput}[args.what](args)


if __name__ == "__main__":
    main()
