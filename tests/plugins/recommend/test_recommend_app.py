"""recommend end to end on a tiny fixture and a tiny BERT: train (every model, the fusion), the run folder,
rank / score / explain in Python and on the command line, cold-start items and users, bad input."""

import json

import pytest

from tests.plugins.recommend.recommend_support import write_fixture


def test_the_run_folder_holds_every_artefact_without_pickle(trained):
    rec, _, _ = trained
    folder = rec.folder
    for name in (
        "recommend.json",
        "metrics.json",
        "catalogue.json",
        "interactions.safetensors",
        "fusion/ranker.txt",
        "report/comparison.png",
    ):
        assert (folder / name).is_file(), name
    for name in ("popularity", "itemknn", "als", "bpr"):
        assert (folder / "collaborative" / f"{name}.safetensors").is_file()
    assert not [p for p in folder.rglob("*") if p.suffix in (".pkl", ".pickle", ".joblib", ".bin", ".pt")]
    metrics = rec.metrics
    assert {"popularity", "itemknn", "als", "bpr", "two_tower", "two_tower_pretrained", "fused"} <= set(metrics["test"])
    assert (folder / "two_tower_model" / "model.safetensors").is_file()
    assert any(name.startswith("als>cross_encoder@") for name in metrics["test"])
    for row in metrics["test"].values():
        assert {"hr@10", "ndcg@10", "mrr", "auc", "coverage@10", "popularity@10", "hr@10_ci"} <= set(row)
    assert set(metrics["fusion"]["importance"]) == set(rec.fusion.features)
    assert json.loads((folder / "recommend.json").read_text())["protocol"]["negatives"] == 9


def test_rank_excludes_seen_items_and_reloads_the_same(trained):
    from tlsuite_recommend import Recommender

    rec, _, _ = trained
    top = rec.rank("u0", k=5)
    seen = {rec.catalogue.ids[i] for i in rec.histories[rec.user_index["u0"]]}
    assert len(top) == 5 and not seen & {r.item for r in top}
    assert [r.score for r in top] == sorted((r.score for r in top), reverse=True)
    near = rec.retrieve("u0", k=8)
    assert len(near) == 8 and not seen & set(near)
    assert {r.item for r in rec.rank("u0", k=3, candidates=near)} <= set(near)
    again = Recommender.load(rec.folder).rank("u0", k=5)
    assert [r.item for r in again] == [r.item for r in top]


def test_score_and_explain(trained):
    rec, _, _ = trained
    rows = list(rec.score([("u0", "1"), ("u1", "2"), ("u0", "3")]))
    assert [(r["user"], r["item"]) for r in rows] == [("u0", "1"), ("u1", "2"), ("u0", "3")]
    why = rec.explain("u0", "1")
    assert set(why["features"]) == set(rec.fusion.features)
    assert why["score"] == pytest.approx(rows[0]["score"], abs=1e-6)
    assert why["history"] and {"two_tower_cosine", "itemknn_similarity"} <= set(why["history"][0])


def test_cold_start_item_and_user(trained):
    rec, _, _ = trained
    rec.add_items([{"id": "new-1", "title": "profit growth rose", "categories": ["Comedy"]}])
    ranked = rec.rank("u0", k=50, candidates=["new-1", "2", "3"])
    assert "new-1" in {r.item for r in ranked}
    newcomer = rec.rank(history=["1", "4", "7"], k=3)
    assert len(newcomer) == 3 and not {"1", "4", "7"} & {r.item for r in newcomer}


def test_the_commands(trained, cli, tmp_path):
    rec, _, _ = trained
    run = str(rec.folder)
    out = cli("recommend", "rank", "--model", run, "--user", "u1", "--k", "3", "--json")
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.stdout)) == 3
    out = cli("recommend", "rank", "--model", run, "--history", "1,4", "--retrieve", "6")
    assert out.exit_code == 0 and len(out.stdout.splitlines()) == 6, out.output
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user,item\nu0,1\nu2,5\n", encoding="utf-8")
    out = cli("recommend", "score", "--model", run, "--pairs", str(pairs), "--output", str(tmp_path / "s.jsonl"))
    assert out.exit_code == 0, out.output
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 2
    out = cli("recommend", "score", "--model", run, "--k", "2", "--output", str(tmp_path / "top.parquet"))
    assert out.exit_code == 0, out.output
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "top.parquet").num_rows == 2 * 24
    out = cli("recommend", "explain", "--model", run, "--user", "u0", "--item", "2")
    assert out.exit_code == 0 and "contribution" in out.stdout
    out = cli("recommend", "evaluate", "--model", run)
    assert out.exit_code == 0 and "fused" in out.stdout


def test_bad_input_is_one_line_and_exit_code_2(trained, cli, tmp_path):
    rec, files, _ = trained
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item\nu0,1\nu1,nope\n", encoding="utf-8")
    out = cli(
        "recommend", "score", "--model", str(rec.folder), "--pairs", str(bad), "--output", str(tmp_path / "o.jsonl")
    )
    assert out.exit_code == 2 and "unknown item 'nope'" in out.stderr
    assert not (tmp_path / "o.jsonl").exists()
    events = tmp_path / "events.csv"
    events.write_text("user,item,rating,timestamp\nu0,1,4,1\nu0,77,4,2\n", encoding="utf-8")
    out = cli(
        "recommend", "train", "--interactions", str(events), "--items", str(files["items"]), "--runs-dir", str(tmp_path)
    )
    assert out.exit_code == 2
    assert f"{events}:3, field 'item'" in out.stderr and "Traceback" not in out.output
    out = cli("recommend", "rank", "--model", str(rec.folder), "--user", "nobody")
    assert out.exit_code == 2 and "unknown user" in out.stderr


@pytest.mark.slow
def test_train_on_the_command_line(tmp_path, tiny_model, cli):
    files = write_fixture(tmp_path / "data")
    out = cli(
        "recommend", "train", "--interactions", str(files["interactions"]), "--items", str(files["items"]),
        "--model", str(tiny_model), "--negatives", "9", "--no-tune", "--no-cross-encoder", "--two-tower-steps", "0",
        "--threshold", "4", "--runs-dir", str(tmp_path / "runs"), "--name", "cli",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert out.stdout.strip().endswith(str(tmp_path / "runs" / "recommend" / "cli"))
    metrics = json.loads((tmp_path / "runs" / "recommend" / "cli" / "metrics.json").read_text())
    assert "cross_encoder" not in metrics["fusion"]["importance"]
    again = cli("recommend", "train", "--data", str(tmp_path), "--runs-dir", str(tmp_path / "runs"))
    assert again.exit_code == 2 and "MovieLens" in again.stderr


def test_a_fresh_draw_of_test_negatives_is_scored_by_the_saved_models(trained):
    """The bench's independent test check: the run's saved models score the test lists of another negatives draw;
    on the run's own draw they reproduce its test figures exactly."""
    import numpy as np
    from tlsuite_recommend.data import leave_latest_out
    from tlsuite_recommend.fusion import Fusion
    from tlsuite_recommend.pipeline import _with_valid, evaluate_run, test_scores
    from tlsuite_recommend.recommender import read_data

    rec, files, _ = trained
    events, catalogue = read_data(None, str(files["interactions"]), str(files["items"]))
    fusion = Fusion.load(rec.folder / "fusion")
    found = {}
    for seed in (13, 14):
        split = leave_latest_out(events, len(catalogue), negatives=9, seed=seed)
        counts = np.asarray(_with_valid(split).matrix(len(catalogue)).sum(axis=0)).ravel().astype(np.float32)
        cf, text = test_scores(rec.folder, split, catalogue, rec.settings, f"draw{seed}", lambda message: None)
        ce = text["cross_encoder"]["test"]
        assert (np.isfinite(ce).sum(axis=1) == rec.settings.rerank_depth).all()  # the ALS top N, NaN below
        found[seed] = evaluate_run(rec.folder, split, cf, text, fusion, counts, rec.settings)["test"]
    for name, row in rec.metrics["test"].items():
        assert found[13][name]["mrr"] == pytest.approx(row["mrr"], abs=1e-9), name
    assert found[14]["fused"]["users"] == found[13]["fused"]["users"]
