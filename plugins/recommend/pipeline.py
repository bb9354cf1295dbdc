"""Training and evaluation of a recommender run: split, collaborative baselines (tuned on validation), text scores
(two-tower, cross-encoder re-ranking), the fusion ranker (trained on validation), test metrics with bootstrap CIs.

Every stage's scores are cached under ``<run>/cache/`` (npy), so an interrupted run picks up where it stopped.
Validation scores come from models fitted on the training interactions; test scores from the same settings
refitted on training + validation (the history a user has when the test item comes).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .collaborative import ALS, BPR, ItemKNN, Popularity, recent_counts, save_model
from .data import Catalogue, Interactions, Split
from .fusion import GRID, Fusion
from .metrics import bootstrap, candidate_ranks, list_metrics, per_user
from .report import write_report
from .text import TwoTower, next_item_pairs, rerank, write_lists

__all__ = ["ALL_FEATURES", "Settings", "evaluate_run", "fit_fusion", "prepare", "train_run"]

#: the fusion ranker's features (``Settings.features`` picks a subset)
ALL_FEATURES = (
    "popularity",
    "recent_popularity",
    "itemknn",
    "als",
    "bpr",
    "two_tower",
    "cross_encoder",
    "history_length",
)
#: the window of ``recent_popularity`` (seconds)
RECENT = 30 * 86400
#: settings that change only the fusion ranker, not any cached stage score
FUSION_ONLY = ("features", "fusion_grid", "fusion_repeats")
#: candidate lists per cached chunk of cross-encoder scores
RERANK_CHUNK = 100

#: settings tried on validation (the best by HR@10, ties by NDCG@10, is refitted for test)
GRIDS: dict[str, list[Callable[[], Popularity]]] = {
    "popularity": [Popularity],
    "itemknn": [lambda: ItemKNN(20), lambda: ItemKNN(50), lambda: ItemKNN(100)],
    "als": [
        lambda: ALS(32, 0.1, 5.0),
        lambda: ALS(64, 0.05, 2.0),
        lambda: ALS(64, 0.1, 10.0),
        lambda: ALS(128, 0.1, 5.0),
        lambda: ALS(16, 0.1, 5.0),
        lambda: ALS(32, 0.1, 10.0),
        lambda: ALS(32, 0.5, 5.0),
    ],
    "bpr": [lambda: BPR(64, 0.01, 0.05, 100), lambda: BPR(128, 0.01, 0.01, 200)],
}


@dataclass
class Settings:
    """What a run does (saved in ``recommend.json``)."""

    # data
    threshold: float | None = None  # implicit feedback: signals >= threshold (None: every interaction)
    negatives: int = 99  # sampled negatives per validation / test list
    seed: int = 13
    tune: bool = True  # try each collaborative model's grid on validation (else its first setting)
    # text models
    model: str = "minilm"
    history_cap: int = 10  # history items in a user's text, newest first
    two_tower_steps: int = 100  # fine-tuning steps of the two-tower (0: the pretrained encoder)
    two_tower_positives: int = 5  # (history, next item) pairs per user for it
    # the cross-encoder
    cross_encoder: bool = True
    rerank_depth: int = 20  # it scores the ALS top N of each list (the others are missing values)
    rerank_users: int | None = None  # a sample of the test lists only (then it is no fusion feature)
    list_size: int = 8
    train_positives: int = 2  # training lists per user (its last training items)
    hard_negatives: int = 3  # negatives per list from the user's ALS top ``hard_pool`` unseen items
    hard_pool: int = 50
    dev_users: int = 200
    # the fusion ranker
    features: list[str] = field(default_factory=lambda: list(ALL_FEATURES))
    fusion_grid: list[list[int]] | None = None  # (leaves, min child samples, rounds) tried; None: fusion.GRID
    fusion_repeats: int = 1  # fold draws of its user-fold CV
    engine: dict[str, Any] = field(default_factory=dict)


def _cached(folder: Path, name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    path = folder / "cache" / f"{name}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    value = np.asarray(compute())
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path.with_suffix(".tmp.npy"), value, allow_pickle=False)
    path.with_suffix(".tmp.npy").replace(path)
    return value


def _with_valid(split: Split) -> Interactions:
    """Training interactions plus each user's validation item (stamped just after their last training event)."""
    users = np.flatnonzero(split.valid >= 0).astype(np.int32)
    train = split.train
    last = np.full(len(train.users), -1, dtype=np.int64)
    np.maximum.at(last, train.user, train.timestamp)
    return Interactions(
        train.users,
        np.concatenate([train.user, users]),
        np.concatenate([train.item, split.valid[users]]),
        np.concatenate([train.signal, np.ones(len(users), np.float32)]),
        np.concatenate([train.timestamp, last[users] + 1]),
        train.source,
        train.fingerprint,
    )


def collaborative(folder: Path, split: Split, n_items: int, settings: Settings, log: Callable[[str], None]) -> dict:
    """Per model: chosen settings, validation and test scores; the refitted models are saved for inference."""
    valid_users, valid_cands = split.candidates("valid")
    test_users, test_cands = split.candidates("test")
    train_m, full_m = split.train.matrix(n_items), _with_valid(split).matrix(n_items)
    out: dict[str, Any] = {}
    for name, grid in GRIDS.items():
        tried = []
        for n, make in enumerate(grid if settings.tune else grid[:1]):
            model = make()
            scores = _cached(
                folder,
                f"valid_{name}_{n}",
                lambda m=model: m.fit(train_m).score(valid_users, valid_cands, train_m[valid_users]),
            )
            found = list_metrics(scores, valid_cands, np.asarray(train_m.sum(axis=0)).ravel())
            tried.append((found["hr@10"], found["ndcg@10"], n, model.settings(), scores))
            log(f"  {name} {model.settings()}: validation HR@10 {found['hr@10']:.4f}")
        _, _, best, chosen, valid_scores = max(tried, key=lambda t: (t[0], t[1]))
        model = grid[best]().fit(full_m)
        save_model(model, folder / "collaborative")
        test_scores = _cached(
            folder, f"test_{name}_{best}", lambda m=model: m.score(test_users, test_cands, full_m[test_users])
        )
        out[name] = {
            "settings": chosen,
            "valid": valid_scores,
            "test": test_scores,
            "tried": [t[:2] + (t[3],) for t in tried],
        }
    return out


def two_tower(
    folder: Path, split: Split, catalogue: Catalogue, settings: Settings, histories: dict, log: Callable[[str], None]
) -> dict[str, dict[str, np.ndarray]]:
    """Cosine scores of the pretrained encoder (``two_tower_pretrained``) and, with ``two_tower_steps``, of the
    encoder fine-tuned on (history, next item) pairs of the training interactions (``two_tower``; otherwise the
    pretrained scores). The index of the one named ``two_tower`` is kept in ``<run>/two_tower`` for inference."""
    variants = [("two_tower_pretrained", settings.model)]
    if settings.two_tower_steps:
        tuned = folder / "two_tower_model"
        if not tuned.is_dir():
            queries, items = next_item_pairs(
                catalogue, histories["valid"], positives=settings.two_tower_positives, history_cap=settings.history_cap
            )
            log(
                f"two-tower: fine-tuning on {len(queries)} (history, next item) pairs, {settings.two_tower_steps} steps"
            )
            from tlsuite_core.retrieval import fine_tune

            fine_tune(settings.model, queries, items, tuned, max_steps=settings.two_tower_steps, seed=settings.seed)
        variants.append(("two_tower", str(tuned)))
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, model in variants:
        index = folder / ("two_tower" if name == variants[-1][0] else name)
        if index.is_dir():
            tower = TwoTower.load(index, model, settings.history_cap)
        else:
            log(f"{name}: embedding the catalogue")
            tower = TwoTower(model, history_cap=settings.history_cap).build(catalogue)
            tower.save(index)
        out[name] = {}
        for which in ("valid", "test"):
            users, cands = split.candidates(which)
            out[name][which] = _cached(
                folder,
                f"{which}_{name}",
                lambda u=users, c=cands, w=which, t=tower: t.score(t.users(catalogue, [histories[w][i] for i in u]), c),
            )
    out.setdefault("two_tower", out["two_tower_pretrained"])
    return out


def text_scores(
    folder: Path,
    split: Split,
    catalogue: Catalogue,
    settings: Settings,
    cf: dict,
    log: Callable[[str], None],
    which: Sequence[str] = ("valid", "test"),
) -> dict[str, dict[str, np.ndarray]]:
    """Two-tower cosine of every candidate; cross-encoder scores of the ALS top ``rerank_depth`` (NaN below it)."""
    histories = {"valid": split.train.histories(), "test": _with_valid(split).histories()}
    out = two_tower(folder, split, catalogue, settings, histories, log)
    out["cross_encoder"] = {}
    if settings.cross_encoder:
        app = cross_encoder(folder, split, catalogue, settings, cf, log)
        for part in which:
            users, cands = split.candidates(part)
            rows = reranked_rows(len(users), settings)
            if part == "valid" and len(rows) < len(users):
                continue  # a partial validation set cannot train the fusion: the cross-encoder is reported alone
            out["cross_encoder"][part] = cross_encoder_scores(
                folder,
                part,
                app,
                catalogue,
                settings,
                [histories[part][i] for i in users],
                cands,
                cf["als"][part],
                rows,
                log,
            )
    return out


def cross_encoder_scores(
    folder: Path,
    tag: str,
    app: Any,
    catalogue: Catalogue,
    settings: Settings,
    histories: list[np.ndarray],
    cands: np.ndarray,
    first_stage: np.ndarray,
    rows: np.ndarray,
    log: Callable[[str], None],
) -> np.ndarray:
    """Cross-encoder scores of the ``rerank_depth`` best candidates by ``first_stage`` (ALS) in the lists
    ``rows``; NaN elsewhere. Cached per chunk of lists, so an interrupted scoring resumes."""
    log(f"cross-encoder: re-ranking the ALS top {settings.rerank_depth} of {len(rows)} {tag} lists")
    full = np.full(cands.shape, np.nan, dtype=np.float32)
    for start in range(0, len(rows), RERANK_CHUNK):
        r = rows[start : start + RERANK_CHUNK]
        full[r] = _cached(
            folder,
            f"{tag}_cross_encoder_{start}",
            lambda r=r: rerank(
                app,
                catalogue,
                [histories[i] for i in r],
                cands[r],
                first_stage[r],
                depth=settings.rerank_depth,
                history_cap=settings.history_cap,
            ),
        )
        log(f"  {tag}: {start + len(r)} of {len(rows)} lists")
    return full


def test_scores(
    folder: Path, split: Split, catalogue: Catalogue, settings: Settings, tag: str, log: Callable[[str], None]
) -> tuple[dict, dict]:
    """The test lists of ``split`` (another draw of negatives) scored by the models a finished run saved in
    ``folder`` (collaborative models refitted on training + validation, two-tower indexes, the cross-encoder), in
    the shapes :func:`evaluate_run` takes; cached under ``tag``."""
    from .collaborative import load_model

    known = _with_valid(split)
    matrix, histories = known.matrix(len(catalogue)), known.histories()
    users, cands = split.candidates("test")
    cf = {
        name: {
            "valid": None,
            "test": _cached(
                folder,
                f"{tag}_{name}",
                lambda n=name: load_model(n, folder / "collaborative").score(users, cands, matrix[users]),
            ),
        }
        for name in GRIDS
    }
    tuned = folder / "two_tower_model"
    text: dict[str, dict[str, np.ndarray]] = {}
    for name, index, model in (
        ("two_tower_pretrained", "two_tower_pretrained", settings.model),
        ("two_tower", "two_tower", str(tuned) if tuned.is_dir() else settings.model),
    ):
        tower = TwoTower.load(folder / index, model, settings.history_cap)
        vectors = lambda t=tower: t.score(t.users(catalogue, [histories[u] for u in users]), cands)  # noqa: E731
        text[name] = {"test": _cached(folder, f"{tag}_{name}", vectors)}
    text["cross_encoder"] = {}
    if settings.cross_encoder:
        app = cross_encoder(folder, split, catalogue, settings, cf, log)
        text["cross_encoder"]["test"] = cross_encoder_scores(
            folder,
            tag,
            app,
            catalogue,
            settings,
            [histories[u] for u in users],
            cands,
            cf["als"]["test"],
            np.arange(len(users)),
            log,
        )
    return cf, text


def reranked_rows(n: int, settings: Settings) -> np.ndarray:
    """The candidate lists the cross-encoder re-ranks: all, or ``rerank_users`` of them (a seeded sample, sorted)."""
    if settings.rerank_users is None or settings.rerank_users >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(settings.seed).choice(n, size=settings.rerank_users, replace=False))


def hard_items(split: Split, n_items: int, settings: dict[str, Any], depth: int) -> list[np.ndarray]:
    """Per user, the ``depth`` items ALS (the chosen settings, fitted on the training interactions) ranks highest
    among those the user has no training interaction with: the hard negatives of the cross-encoder's lists."""
    matrix = split.train.matrix(n_items)
    model = ALS(**settings).fit(matrix)
    scores = model.user_factors @ model.item_factors.T
    scores[matrix.nonzero()] = -np.inf
    return list(np.argsort(-scores, axis=1, kind="stable")[:, :depth])


def cross_encoder(
    folder: Path, split: Split, catalogue: Catalogue, settings: Settings, cf: dict, log: Callable[[str], None]
) -> Any:
    """Train (once) the cross-encoder on lists from the training interactions (negatives: ALS's hard items and
    uniform draws); dev lists from the validation items of ``dev_users`` users."""
    from tlsuite_core import load_app
    from tlsuite_core.tasks.ranking import train_ranker

    from . import APP

    marker = folder / "cross_encoder.json"
    if marker.is_file():  # the path is relative to the run folder once save_state has written it
        return load_app(folder / json.loads(marker.read_text())["run"], device="cpu")
    histories = split.train.histories()
    seen = [set(h.tolist()) | {int(split.valid[u]), int(split.test[u])} for u, h in enumerate(histories)]
    lists = folder / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    common = dict(
        list_size=settings.list_size,
        history_cap=settings.history_cap,
        seed=settings.seed,
        hard=hard_items(split, len(catalogue), cf["als"]["settings"], settings.hard_pool),
        hard_negatives=settings.hard_negatives,
    )
    n = write_lists(lists / "train.csv", catalogue, histories, seen, positives=settings.train_positives, **common)
    dev = settings.dev_users
    common["hard"] = common["hard"][:dev]
    write_lists(lists / "dev.csv", catalogue, histories[:dev], seen, positives=1, targets=split.valid[:dev], **common)
    log(f"cross-encoder: {n} training lists of {settings.list_size} (history capped at {settings.history_cap} items)")
    overrides = {"model": settings.model, "runs_dir": str(folder / "runs"), **settings.engine}
    overrides["extra"] = {"list_size": settings.list_size, **(settings.engine.get("extra") or {})}
    run = train_ranker(APP, train=str(lists / "train.csv"), dev=str(lists / "dev.csv"), overrides=overrides)
    marker.write_text(json.dumps({"run": str(run)}), encoding="utf-8")
    return load_app(run, device="cpu")


def features(split: Split, which: str, cf: dict, text: dict, counts: np.ndarray) -> dict[str, np.ndarray]:
    """The fusion features of the ``which`` lists; the history is the training one (validation), or training +
    validation (test)."""
    users, cands = split.candidates(which)
    known = split.train if which == "valid" else _with_valid(split)
    hist_len = np.bincount(known.user, minlength=len(known.users))[users].astype(np.float32)
    last = np.zeros(len(known.users), dtype=np.int64)
    np.maximum.at(last, known.user, known.timestamp)
    out = {name: cf[name][which] for name in ("itemknn", "als", "bpr")}
    out["popularity"] = np.log1p(counts[cands])
    out["recent_popularity"] = np.log1p(recent_counts(known.item, known.timestamp, cands, last[users], RECENT))
    out["history_length"] = np.repeat(hist_len[:, None], cands.shape[1], axis=1)
    for name in ("two_tower", "cross_encoder"):
        if which in text.get(name, {}):
            out[name] = text[name][which]
    return out


def _reranked(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Cross-encoder order on the re-ranked depth, first-stage order below it."""
    top = np.nan_to_num(second, nan=-np.inf)
    return np.where(np.isnan(second), first - 1e6, top + 1e6)


def evaluate_run(
    folder: Path, split: Split, cf: dict, text: dict, fusion: Fusion, counts: np.ndarray, settings: Settings
) -> dict[str, Any]:
    """Test metrics of every model (HR/NDCG@10, MRR, AUC, coverage, popularity bias), bootstrap intervals, and
    the paired difference of the fused ranker against the best collaborative baseline."""
    _, cands = split.candidates("test")
    scores = {name: cf[name]["test"] for name in GRIDS}
    for name in ("two_tower_pretrained", "two_tower"):
        if name == "two_tower" or text[name] is not text["two_tower"]:
            scores[name] = text[name]["test"]
    feats = features(split, "test", {k: {w: v[w] for w in ("valid", "test")} for k, v in cf.items()}, text, counts)
    scores["fused"] = fusion.score(feats, cands.shape)
    table, users_hr, users_ndcg = {}, {}, {}
    for name, s in scores.items():
        table[name] = list_metrics(s, cands, counts)
        pu = per_user(candidate_ranks(s, cands), cands.shape[1])
        users_hr[name], users_ndcg[name] = pu["hr@10"], pu["ndcg@10"]
        table[name]["hr@10_ci"] = bootstrap(pu["hr@10"])
        table[name]["ndcg@10_ci"] = bootstrap(pu["ndcg@10"])
    best_cf = max(GRIDS, key=lambda n: table[n]["hr@10"])
    paired = {
        "against": best_cf,
        "hr@10": bootstrap(users_hr["fused"], users_hr[best_cf]),
        "ndcg@10": bootstrap(users_ndcg["fused"], users_ndcg[best_cf]),
    }
    out = {"test": table, "fused_vs_best_collaborative": paired}
    if "test" in text["cross_encoder"]:
        out.update(reranking(cf["als"]["test"], text["cross_encoder"]["test"], cands, counts, settings))
        table.update(out.pop("rows"))
    return out


def reranking(als: np.ndarray, ce: np.ndarray, cands: np.ndarray, counts: np.ndarray, settings: Settings) -> dict:
    """The cross-encoder re-ranking the ALS top N, on the lists it re-ranked (all, or a sample of users), with
    ALS on the same lists and their paired difference."""
    rows = np.flatnonzero(~np.isnan(ce).all(axis=1))
    name = f"als>cross_encoder@{settings.rerank_depth}"
    if len(rows) < len(cands):
        name += f" ({len(rows)} users)"
    found: dict[str, Any] = {}
    per: dict[str, np.ndarray] = {}
    for key, s in ((name, _reranked(als[rows], ce[rows])), (f"als ({len(rows)} users)", als[rows])):
        found[key] = list_metrics(s, cands[rows], counts)
        pu = per_user(candidate_ranks(s, cands[rows]), cands.shape[1])
        per[key] = pu["hr@10"]
        found[key]["hr@10_ci"], found[key]["ndcg@10_ci"] = bootstrap(pu["hr@10"]), bootstrap(pu["ndcg@10"])
    if len(rows) == len(cands):
        found.pop(f"als ({len(rows)} users)")
    return {"rows": found, "cross_encoder_vs_als_hr@10": bootstrap(per[name], per[f"als ({len(rows)} users)"])}


def _same_settings(folder: Path, settings: Settings) -> None:
    """A partial run is resumed only with the settings it started with (its cached scores depend on them)."""
    from tlsuite_core.errors import ConfigError

    path = folder / "cache" / "settings.json"
    mine = {k: v for k, v in json.loads(json.dumps(asdict(settings))).items() if k not in FUSION_ONLY}
    if path.is_file():
        theirs = {k: v for k, v in json.loads(path.read_text(encoding="utf-8")).items() if k not in FUSION_ONLY}
        if theirs != mine:
            changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise ConfigError(
                f"{folder} holds a partial run with other settings ({', '.join(changed)}); "
                "continue it with the same ones or pick another --name"
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(mine, indent=2), encoding="utf-8")


def prepare(
    folder: Path, split: Split, catalogue: Catalogue, settings: Settings, log: Callable[[str], None], *, which: Any
) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """The stages before the fusion: collaborative models (tuned on validation), the text scores of the ``which``
    lists, and the validation features. Returns (collaborative, text, validation features)."""
    _same_settings(folder, settings)
    log("collaborative baselines (tuned on validation)")
    cf = collaborative(folder, split, len(catalogue), settings, log)
    text = text_scores(folder, split, catalogue, settings, cf, log, which)
    valid_counts = np.asarray(split.train.matrix(len(catalogue)).sum(axis=0)).ravel().astype(np.float32)
    cf_scores = {k: {w: v[w] for w in ("valid", "test")} for k, v in cf.items()}
    return cf, text, features(split, "valid", cf_scores, text, valid_counts)


def fit_fusion(settings: Settings, valid_feats: dict[str, np.ndarray], candidates: np.ndarray) -> Fusion:
    """The fusion ranker on the validation lists: ``settings.features`` (those computed), user-fold CV over
    ``settings.fusion_grid``."""
    names = [f for f in settings.features if f in valid_feats]
    fusion = Fusion(names, seed=settings.seed, repeats=settings.fusion_repeats, grid=settings.fusion_grid or GRID)
    return fusion.fit(valid_feats, candidates)


def train_run(
    folder: Path, split: Split, catalogue: Catalogue, settings: Settings, log: Callable[[str], None]
) -> dict[str, Any]:
    """Every stage of a run into ``folder``; returns the metrics (also written to ``metrics.json``)."""
    cf, text, valid_feats = prepare(folder, split, catalogue, settings, log, which=("valid", "test"))
    counts = np.asarray(_with_valid(split).matrix(len(catalogue)).sum(axis=0)).ravel().astype(np.float32)
    log(f"fusion: LambdaRank on {', '.join(f for f in settings.features if f in valid_feats)}")
    fusion = fit_fusion(settings, valid_feats, split.candidates("valid")[1])
    fusion.save(folder / "fusion")
    metrics = evaluate_run(folder, split, cf, text, fusion, counts, settings)
    metrics["validation"] = {name: {"settings": cf[name]["settings"], "tried": cf[name]["tried"]} for name in GRIDS}
    metrics["fusion"] = {"cv": fusion.cv, "importance": fusion.importances()}
    metrics["settings"] = asdict(settings)
    metrics["protocol"] = split.protocol
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    write_report(folder, metrics)
    return metrics
