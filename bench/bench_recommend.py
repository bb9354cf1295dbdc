"""MovieLens-100k, the NCF protocol: every model of the recommend plugin in one report, the cold-start experiment,
and batch-scoring throughput of the two text paths.

    python bench/bench_recommend.py select       # validation only: stage scores, fusion feature set and size by
                                                 # user-fold CV -> recommend-selection.json, bench/recommend_final.json
    git commit -m "..." -- bench/recommend_final.json   # freeze the configuration
    python bench/bench_recommend.py final        # once: test lists (seed 13) and a fresh draw (seed 14)
                                                 # -> bench/results/recommend.json
    python bench/bench_recommend.py cold-start   # items without training interactions -> recommend-cold-start.json
    python bench/bench_recommend.py throughput   # pairs/s of the cross-encoder and the two-tower path

Reads ../shared/data/movielens_100k (never committed). Resumable: stage scores are cached in bench/out/recommend/.
Run it nice'd with one thread: ``OMP_NUM_THREADS=1 nice -n 5 python bench/bench_recommend.py select``.
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
    "max_steps": 96,
    "batch_size": 8,
    "learning_rate": 5e-5,
    "head_lr_scale": 10.0,
    "max_length": 128,
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


#: the configuration frozen on validation before the one test scoring (committed; ``final`` reads only this)
FINAL = ROOT / "bench" / "recommend_final.json"
#: fusion feature sets compared by the validation user-fold CV in ``select``
VARIANTS = {
    "all": (),
    "without cross_encoder": ("cross_encoder",),
    "without two_tower": ("two_tower",),
    "without text": ("two_tower", "cross_encoder"),
}


def bench_settings(args: argparse.Namespace) -> dict:
    """The run settings of ``select`` (and, through recommend_final.json, of ``final``)."""
    engine = dict(ENGINE, max_steps=args.steps, max_length=args.max_length)
    return {
        "history_cap": args.history_cap,
        "rerank_depth": args.depth,
        "rerank_users": None,
        "engine": engine,
        "cross_encoder": not args.no_cross_encoder,
        "two_tower_steps": args.two_tower_steps,
        "dev_users": 100,
        "fusion_repeats": 3,
    }


def validation_table(split, cf: dict, text: dict, n_items: int) -> dict:
    """Each single model on the validation lists (its chosen setting, fitted on the training interactions), and
    the cross-encoder re-ranking the ALS top N, with bootstrap intervals."""
    from tlsuite_recommend.metrics import bootstrap, candidate_ranks, list_metrics, per_user
    from tlsuite_recommend.pipeline import _reranked

    cands = split.candidates("valid")[1]
    counts = np.asarray(split.train.matrix(n_items).sum(axis=0)).ravel()
    scores = {name: cf[name]["valid"] for name in cf}
    scores.update({name: text[name]["valid"] for name in ("two_tower_pretrained", "two_tower")})
    if "valid" in text["cross_encoder"]:
        scores["als>cross_encoder"] = _reranked(cf["als"]["valid"], text["cross_encoder"]["valid"])
    table = {}
    for name, s in scores.items():
        table[name] = list_metrics(s, cands, counts)
        pu = per_user(candidate_ranks(s, cands), cands.shape[1])
        table[name]["hr@10_ci"], table[name]["ndcg@10_ci"] = bootstrap(pu["hr@10"]), bootstrap(pu["ndcg@10"])
        log(f"  validation {name}: HR@10 {table[name]['hr@10']:.4f} NDCG@10 {table[name]['ndcg@10']:.4f}")
    return table


def select(args: argparse.Namespace) -> None:
    """Every choice on the validation lists only: the stages' scores of the validation lists (the cross-encoder
    trained on training interactions re-ranks the ALS top ``--depth``), then the fusion's feature set and size by
    a repeated 5-fold user CV over them. Writes recommend-selection.json and the frozen bench/recommend_final.json;
    computes no test score."""
    import torch
    from tlsuite_recommend.pipeline import ALL_FEATURES, Settings, fit_fusion, prepare

    torch.set_num_threads(1)
    _, items, split = load()
    base = bench_settings(args)
    settings = Settings(**base)
    folder = OUT / args.folder
    cf, text, valid_feats = prepare(folder, split, items, settings, log, which=("valid",))
    cands = split.candidates("valid")[1]
    singles = validation_table(split, cf, text, len(items))
    found = {}
    for name, drop in VARIANTS.items():
        settings.features = [f for f in ALL_FEATURES if f not in drop]
        fusion = fit_fusion(settings, valid_feats, cands)
        best = max(fusion.cv, key=lambda r: (r["cv_hr@10"], r["cv_ndcg@10"]))
        found[name] = {"features": fusion.features, "cv": fusion.cv, "best": best, "importance": fusion.importances()}
        log(f"  {name}: CV HR@10 {best['cv_hr@10']:.4f} NDCG@10 {best['cv_ndcg@10']:.4f} ({best})")
    chosen = max(found, key=lambda n: (found[n]["best"]["cv_hr@10"], found[n]["best"]["cv_ndcg@10"]))
    best = found[chosen]["best"]
    final = {
        **base,
        "features": found[chosen]["features"],
        "fusion_grid": [[best["num_leaves"], best["min_child_samples"], best["rounds"]]],
    }
    record = {
        "validation_models": singles,
        "variants": found,
        "chosen": chosen,
        "settings": final,
        "folder": str(folder.relative_to(ROOT)),
    }
    (RESULTS / "recommend-selection.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    FINAL.write_text(json.dumps({"variant": chosen, "folder": record["folder"], "settings": final}, indent=2) + "\n")
    print(json.dumps({n: v["best"] for n, v in found.items()}, indent=2))
    print(f"chosen: {chosen}; frozen in {FINAL.relative_to(ROOT)} (commit it before `final`)")


def _git(*args: str) -> str:
    import subprocess

    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def final(args: argparse.Namespace) -> None:
    """The one test scoring: the configuration frozen in the committed bench/recommend_final.json, run on the
    protocol's test lists (negatives seed 13) and on a fresh draw never looked at (negatives seed ``--fresh-seed``,
    the same models). Refuses to run with uncommitted plugin/bench code or configuration, or a second time."""
    import shlex

    import torch
    from tlsuite_recommend.data import leave_latest_out
    from tlsuite_recommend.fusion import Fusion
    from tlsuite_recommend.pipeline import Settings, _with_valid, evaluate_run, test_scores, train_run
    from tlsuite_recommend.recommender import save_state

    torch.set_num_threads(1)
    frozen = FINAL.relative_to(ROOT)
    dirty = _git("status", "--porcelain", "--", str(frozen), "plugins/recommend", "bench/bench_recommend.py")
    if dirty or not _git("ls-files", str(frozen)):
        sys.exit(f"commit {frozen} and the recommend code first:\n{dirty}")
    done = OUT / "final-scored.json"
    if done.is_file():
        sys.exit(f"the test lists were already scored once ({done}); the figures are in bench/results/recommend.json")
    config = json.loads(FINAL.read_text(encoding="utf-8"))
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    provenance = {
        "command": shlex.join(["python", *sys.argv]),
        "started_utc": started,
        "commit": _git("rev-parse", "HEAD"),
        "frozen_config": str(frozen),
    }
    done.write_text(json.dumps(provenance, indent=2), encoding="utf-8")  # before any test metric: once only
    interactions, items, split = load()
    settings = Settings(**config["settings"])
    folder = ROOT / config["folder"]
    start = time.perf_counter()
    metrics = train_run(folder, split, items, settings, log)
    save_state(folder, settings, split, items, interactions)
    fresh = leave_latest_out(interactions, len(items), negatives=99, seed=args.fresh_seed)
    counts = np.asarray(_with_valid(fresh).matrix(len(items)).sum(axis=0)).ravel().astype(np.float32)
    cf, text = test_scores(folder, fresh, items, settings, f"fresh{args.fresh_seed}", log)
    fusion = Fusion.load(folder / "fusion")
    metrics[f"fresh_draw_seed{args.fresh_seed}"] = evaluate_run(folder, fresh, cf, text, fusion, counts, settings)
    provenance["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    metrics["final_run"] = {**provenance, "wall_seconds": time.perf_counter() - start, "variant": config["variant"]}
    metrics["data"] = {"interactions": len(interactions), "users": len(interactions.users), "items": len(items)}
    done.write_text(json.dumps(provenance, indent=2), encoding="utf-8")
    (RESULTS / "recommend.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    for title, found in (
        ("test (negatives seed 13)", metrics),
        ("fresh draw", metrics[f"fresh_draw_seed{args.fresh_seed}"]),
    ):
        print(title)
        _print_table(found["test"])
        print(f"  fused - best collaborative: {json.dumps(found['fused_vs_best_collaborative'])}")


def _print_table(table: dict) -> None:
    for name, m in table.items():
        print(
            f"  {name:28s} HR@10 {m['hr@10']:.4f} [{m['hr@10_ci']['low']:.4f}, {m['hr@10_ci']['high']:.4f}]  "
            f"NDCG@10 {m['ndcg@10']:.4f} [{m['ndcg@10_ci']['low']:.4f}, {m['ndcg@10_ci']['high']:.4f}]  "
            f"MRR {m['mrr']:.4f}  AUC {m['auc']:.4f}  cov {m['coverage@10']:.3f}  pop {m['popularity@10']:.3f}"
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
    folder = OUT / args.folder  # the cross-encoder of that run (its marker is relative once the run is saved)
    app = load_app(
        folder / json.loads((folder / "cross_encoder.json").read_text())["run"], device="cpu", threads=args.threads
    )
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
    parser.add_argument("what", choices=("select", "final", "cold-start", "throughput"))
    parser.add_argument("--folder", default="final", help="stage cache folder under bench/out/recommend")
    parser.add_argument("--max-length", type=int, default=ENGINE["max_length"])
    parser.add_argument("--fresh-seed", type=int, default=14, help="final: the negatives seed of the fresh test draw")
    parser.add_argument("--history-cap", type=int, default=5)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--steps", type=int, default=ENGINE["max_steps"])
    parser.add_argument("--no-cross-encoder", action="store_true")
    parser.add_argument("--two-tower-steps", type=int, default=50)
    parser.add_argument("--rerank-users", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    commands = {"select": select, "final": final, "cold-start": cold_start, "throughput": throughput}
    commands[args.what](args)


if __name__ == "__main__":
    main()
