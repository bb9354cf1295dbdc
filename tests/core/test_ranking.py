"""The ranking task: data validation, the three losses, list metrics, and a cross-encoder trained by the engine."""

import csv
import json
import random

import numpy as np
import pytest

from tlsuite_core.apps import AppSpec
from tlsuite_core.errors import DataError
from tlsuite_core.tasks.ranking import RankingOptions, group_metrics, load_ranking, ranking_loss, train_ranker

TOPICS = {"profit": ["rose", "growth", "record"], "loss": ["fell", "layoffs", "weak"], "board": ["meeting", "annual"]}


def write_groups(path, n_groups=24, seed=0):
    """Queries about one topic; the relevant candidate shares its topic and reads well, the others do not."""
    rng = random.Random(seed)
    names = list(TOPICS)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["query", "candidate", "label", "group"])
        for g in range(n_groups):
            topic = names[g % 3]
            query = f"{topic} {rng.choice(TOPICS[topic])} the company"
            w.writerow([query, "record growth " + " ".join(rng.sample(TOPICS[topic], 2)), 1, f"g{g}"])
            for other in names:
                if other != topic:
                    w.writerow([query, "weak default " + " ".join(rng.sample(TOPICS[other], 2)), 0, f"g{g}"])
    return path


def test_bad_rows_name_file_line_and_field(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("query,candidate,label,group\na,b,1,g\nc,d,high,g\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_ranking(str(path), RankingOptions())
    assert (err.value.line, err.value.field) == (3, "label")
    path.write_text("query,candidate,label,group\na,,1,g\n", encoding="utf-8")
    with pytest.raises(DataError, match="candidate"):
        load_ranking(str(path), RankingOptions())


def test_lists_put_each_relevant_row_first(tmp_path):
    data = load_ranking(str(write_groups(tmp_path / "g.csv", 3)), RankingOptions())
    lists = data.lists(4)
    assert len(lists) == 3
    for idx, labels in lists:
        assert labels == [1.0, 0.0, 0.0, 0.0] and len(set(data.groups[i] for i in idx)) == 1


@pytest.mark.parametrize("loss", ["pointwise", "pairwise", "listwise"])
def test_losses_prefer_the_relevant_candidate_first(loss):
    import torch

    labels = torch.tensor([[1.0, 0.0, 0.0]])
    good = ranking_loss(torch.tensor([[3.0, -1.0, -2.0]]), labels, loss)
    bad = ranking_loss(torch.tensor([[-2.0, 3.0, 1.0]]), labels, loss)
    assert float(good) < float(bad)


def test_group_metrics_break_ties_by_position():
    labels = np.array([[0, 1, 0], [1, 0, 0]], dtype=float)
    metrics = group_metrics(np.zeros((2, 3)), labels)
    assert metrics["mrr"] == pytest.approx((0.5 + 1.0) / 2)
    assert metrics["hit_at_1"] == 0.5


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["full", "lora"])
def test_a_cross_encoder_trains_and_ranks(tmp_path, tiny_model, strategy):
    from tlsuite_core import load_app

    train = write_groups(tmp_path / "train.csv", 48, seed=1)
    dev = write_groups(tmp_path / "dev.csv", 12, seed=2)
    app = AppSpec(name="ranking-test", task="ranking", defaults={"metric": "mrr"})
    run = train_ranker(
        app,
        train=str(train),
        dev=str(dev),
        overrides={
            "model": str(tiny_model),
            "max_steps": 40,
            "batch_size": 4,
            "learning_rate": 5e-3,
            "threads": 1,
            "strategy": strategy,
            "runs_dir": str(tmp_path / "runs"),
            "extra": {"list_size": 3},
        },
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "dev" and metrics["mrr"] > 0.5
    trained = load_app(run, threads=1)
    scores = trained.predict([("profit rose", "growth record"), ("profit rose", "fell layoffs")])
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores)
    data = load_ranking(str(dev), RankingOptions())
    assert trained.evaluate(data)["mrr"] > 0.5
