"""recommend: readers, bad rows, splits, negative sampling, metrics, collaborative models (no model training)."""

import json

import numpy as np
import pytest
from tlsuite_recommend.collaborative import ALS, BPR, ItemKNN, Popularity, load_model, save_model
from tlsuite_recommend.data import leave_latest_out, load_interactions, load_items, load_movielens, time_split
from tlsuite_recommend.metrics import bootstrap, candidate_ranks, list_metrics, per_user

from tests.plugins.recommend.recommend_support import write_fixture
from tlsuite_core.errors import DataError


@pytest.fixture
def fixture(tmp_path):
    return write_fixture(tmp_path)


def test_reads_items_and_interactions(fixture):
    items = load_items(fixture["items"])
    events = load_interactions(fixture["interactions"], items)
    assert items.ids[:3] == ["1", "2", "3"] and items.text(0).endswith("Genres: Comedy")
    assert len(events) == 240 and len(events.users) == 24
    assert len(events.implicit(4.0)) < len(events)


def test_parquet_interactions(fixture, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.Table.from_pylist([{"user": "a", "item": "1"}, {"user": "a", "item": "2"}]), tmp_path / "e.parquet"
    )
    events = load_interactions(tmp_path / "e.parquet", load_items(fixture["items"]))
    assert events.timestamp.tolist() == [0, 1] and events.signal.tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    "row, line, field",
    [
        ("u1,999,4,10", 3, "item"),
        ("u1,1,high,10", 3, "rating"),
        (",1,4,10", 3, "user"),
        ("u1,1,4,yesterday", 3, "timestamp"),
    ],
)
def test_a_bad_interaction_names_file_line_and_field(fixture, tmp_path, row, line, field):
    path = tmp_path / "bad.csv"
    path.write_text(f"user,item,rating,timestamp\nu0,1,4,5\n{row}\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_interactions(path, load_items(fixture["items"]))
    assert (err.value.path, err.value.line, err.value.field) == (str(path), line, field)


def test_a_bad_item_file(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"id": "1", "title": "a"}) + "\n" + json.dumps({"id": "1", "title": "b"}) + "\n")
    with pytest.raises(DataError, match="twice") as err:
        load_items(path)
    assert err.value.line == 2


def test_movielens_folder_errors(tmp_path):
    with pytest.raises(DataError, match="u.genre"):
        load_movielens(tmp_path)
    (tmp_path / "u.genre").write_text("unknown|0\nComedy|1\n")
    (tmp_path / "u.item").write_text("1|Film (1995)|01-Jan-1995||url|0|1\n2|Other (1996)|x||url|0|7\n")
    (tmp_path / "u.data").write_text("1\t1\t5\t100\n")
    with pytest.raises(DataError) as err:
        load_movielens(tmp_path)
    assert (err.value.line, err.value.field) == (2, "genres")


def test_leave_latest_out_ties_by_item_id_and_fixed_negatives(fixture):
    items = load_items(fixture["items"])
    events = load_interactions(fixture["interactions"], items)
    # two events at the same, latest time: the larger item id is the test item
    events.timestamp[events.user == 0] = 5
    split = leave_latest_out(events, len(items), negatives=9, seed=13)
    mine = np.sort(events.item[events.user == 0])
    assert split.test[0] == mine[-1] and split.valid[0] == mine[-2]
    assert len(split.train) == len(events) - 2 * 24
    again = leave_latest_out(events, len(items), negatives=9, seed=13)
    assert np.array_equal(split.test_negatives, again.test_negatives)
    for u in range(24):
        rated = set(events.item[events.user == u].tolist())
        assert not rated & set(split.test_negatives[u].tolist())
        assert len(set(split.valid_negatives[u].tolist())) == 9


def test_time_split(fixture):
    items = load_items(fixture["items"])
    events = load_interactions(fixture["interactions"], items)
    split = time_split(events, len(items), valid_from=1080, test_from=1090, negatives=5)
    assert (split.train.timestamp < 1080).all()
    assert split.valid[0] == events.item[(events.user == 0) & (events.timestamp == 1080)][0]


def test_metrics_on_known_ranks():
    candidates = np.array([[5, 1, 2], [5, 1, 2]])
    scores = np.array([[0.9, 0.5, 0.1], [0.5, 0.5, 0.9]])  # user 2: tie with item 1 (smaller id wins) and item 2 above
    ranks = candidate_ranks(scores, candidates)
    assert ranks.tolist() == [0, 2]
    pu = per_user(ranks, 3, k=2)
    assert pu["hr@2"].tolist() == [1.0, 0.0] and pu["auc"].tolist() == [1.0, 0.0]
    m = list_metrics(scores, candidates, np.arange(6, dtype=float), k=2)
    assert m["hr@2"] == 0.5 and m["coverage@2"] == pytest.approx(3 / 6)
    ci = bootstrap(np.array([1.0, 0.0, 1.0, 1.0]), np.array([0.0, 0.0, 1.0, 0.0]))
    assert ci["mean"] == 0.5 and ci["low"] <= 0.5 <= ci["high"]


@pytest.mark.parametrize(
    "make", [Popularity, lambda: ItemKNN(5), lambda: ALS(8, 0.1, 2.0, 5), lambda: BPR(8, 0.01, 0.05, 20)]
)
def test_collaborative_models_score_save_and_fold_in(fixture, tmp_path, make):
    items = load_items(fixture["items"])
    events = load_interactions(fixture["interactions"], items)
    matrix = events.matrix(len(items))
    model = make().fit(matrix)
    cands = np.array([[0, 1, 2], [3, 4, 5]])
    scores = model.score(np.array([0, 1]), cands, matrix[[0, 1]])
    save_model(model, tmp_path / "m")
    assert not list((tmp_path / "m").glob("*.pkl"))
    again = load_model(model.name, tmp_path / "m")
    np.testing.assert_allclose(again.score(np.array([0, 1]), cands, matrix[[0, 1]]), scores, rtol=1e-5)
    # a new user (-1) is scored from their history alone; items unknown to the model score 0
    new = again.score(np.array([-1]), np.array([[0, 1, len(items) + 2]]), matrix[[0]])
    assert new.shape == (1, 3) and np.isfinite(new).all()


def test_a_partial_run_resumes_only_with_its_settings(tmp_path):
    from tlsuite_recommend.pipeline import Settings, _same_settings

    from tlsuite_core.errors import ConfigError

    _same_settings(tmp_path, Settings(rerank_depth=10))
    _same_settings(tmp_path, Settings(rerank_depth=10))
    with pytest.raises(ConfigError, match="rerank_depth"):
        _same_settings(tmp_path, Settings(rerank_depth=20))


def test_cross_encoder_rows_on_a_sample_of_users():
    from tlsuite_recommend.pipeline import Settings, reranked_rows, reranking

    settings = Settings(rerank_users=3, rerank_depth=2)
    rows = reranked_rows(6, settings)
    assert len(rows) == 3 and list(rows) == sorted(rows)
    cands = np.tile(np.arange(10, 15), (6, 1))
    als = np.tile(np.array([0.5, 0.9, 0.1, 0.2, 0.3]), (6, 1))  # ALS puts the held-out item second
    ce = np.full(als.shape, np.nan)
    ce[rows, :2] = [2.0, 1.0]  # the cross-encoder lifts it to the top of the re-ranked two
    found = reranking(als, ce, cands, np.ones(20), settings)
    assert found["rows"]["als>cross_encoder@2 (3 users)"]["mrr"] == 1.0
    assert found["rows"]["als (3 users)"]["mrr"] == 0.5
    assert found["cross_encoder_vs_als_hr@10"]["mean"] == 0.0


def test_recent_counts_count_the_window_before_each_rows_time():
    from tlsuite_recommend.collaborative import recent_counts

    item = np.array([0, 0, 0, 1, 2])
    stamp = np.array([10, 50, 100, 95, 200])
    got = recent_counts(item, stamp, np.array([[0, 1, 2], [0, 1, 2]]), np.array([100, 60]), window=50)
    assert got.tolist() == [[2.0, 1.0, 0.0], [2.0, 0.0, 0.0]]


def test_settings_of_the_fusion_alone_do_not_block_resuming(tmp_path):
    from tlsuite_recommend.pipeline import Settings, _same_settings

    _same_settings(tmp_path, Settings(rerank_depth=10))
    _same_settings(tmp_path, Settings(rerank_depth=10, features=["als"], fusion_grid=[[4, 5, 10]], fusion_repeats=3))


def test_training_lists_take_hard_negatives_from_the_users_pool(fixture, tmp_path):
    import csv

    from tlsuite_recommend.text import write_lists

    catalogue = load_items(fixture["items"])
    histories = [np.array([0, 1, 2, 3]), np.array([4, 5, 6])]
    seen = [set(h.tolist()) for h in histories]
    hard = [np.array([10, 11, 12, 0]), np.array([20, 21])]  # 0 is seen by user 0: never a negative
    n = write_lists(
        tmp_path / "lists.csv",
        catalogue,
        histories,
        seen,
        positives=2,
        list_size=6,
        history_cap=3,
        seed=0,
        hard=hard,
        hard_negatives=3,
    )
    with (tmp_path / "lists.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert n == 4 and len(rows) == 4 * 6
    for group in {r["group"] for r in rows}:
        user = int(group.split(":")[0])
        negatives = {r["candidate"] for r in rows if r["group"] == group and r["label"] == "0"}
        pool = {catalogue.text(j) for j in hard[user] if j not in seen[user]}
        assert len(negatives & pool) == min(3, len(pool)) and len(negatives) == 5
        assert not negatives & {catalogue.text(j) for j in seen[user]}


def test_the_fusion_cv_repeats_fold_draws_and_keeps_its_grid(tmp_path):
    from tlsuite_recommend.fusion import Fusion

    rng = np.random.default_rng(0)
    cands = np.tile(np.arange(12), (60, 1))
    signal = rng.normal(size=cands.shape)
    signal[:, 0] += 2.0  # the held-out item (first) scores higher
    partial = np.where(rng.random(cands.shape) < 0.5, signal, np.nan)  # a feature missing on half the rows
    feats = {"a": signal, "b": partial}
    fusion = Fusion(["a", "b"], repeats=2, grid=[(4, 5, 20), (7, 5, 20)]).fit(feats, cands)
    assert [(r["num_leaves"], r["rounds"]) for r in fusion.cv] == [(4, 20), (7, 20)]
    assert all(0.0 <= r["cv_ndcg@10"] <= r["cv_hr@10"] <= 1.0 for r in fusion.cv)
    fusion.save(tmp_path)
    again = Fusion.load(tmp_path)
    assert again.grid == fusion.grid and again.repeats == 2
    assert np.allclose(again.score(feats, cands.shape), fusion.score(feats, cands.shape))
