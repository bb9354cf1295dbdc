"""Out-of-scope scores, temperature scaling, calibration error, detection figures and the held-out-intents
evaluation."""

import json

import numpy as np
import pytest
from tlsuite_customer_service import ood


def test_fit_temperature_recovers_the_temperature_of_sampled_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(4000, 5))
    labels = np.array([rng.choice(5, p=p) for p in ood.softmax(logits, 2.0)])
    assert ood.fit_temperature(logits, labels) == pytest.approx(2.0, rel=0.1)


def test_reliability_of_a_perfectly_calibrated_model_is_near_zero():
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=2.0, size=(20000, 3))
    probs = ood.softmax(logits)
    labels = np.array([rng.choice(3, p=p) for p in probs])
    result = ood.reliability(probs, labels)
    assert result["ece"] < 0.02 and sum(b["count"] for b in result["bins"]) == 20000


def test_detection_figures():
    inside, outside = np.linspace(0.5, 1.0, 100), np.linspace(0.0, 0.6, 50)
    figures = ood.detection_figures(inside, outside)
    assert 0.9 < figures["auroc"] < 1.0
    threshold = figures["threshold"]
    assert np.mean(inside >= threshold) >= 0.95
    assert figures["fpr@95"] == pytest.approx(np.mean(outside >= threshold))
    assert ood.detection_figures(np.ones(10), np.zeros(10))["auroc"] == 1.0


def test_scores_are_higher_for_confident_rows():
    logits = np.array([[10.0, 0.0, 0.0], [0.1, 0.0, 0.0]])
    for method in ("msp", "msp-t", "energy"):
        s = ood.score(method, logits, temperature=2.0)
        assert s[0] > s[1], method
    with pytest.raises(ValueError, match="needs the similarities"):
        ood.score("knn", logits)


def test_held_out_intents_are_seeded_and_a_quarter():
    from tlsuite_customer_service.workflows import held_out_split

    labels = [f"i{k}" for k in range(77)] * 3
    held = held_out_split(labels, 0.25, 13)
    assert len(held) == 19 and held == held_out_split(labels, 0.25, 13) and held != held_out_split(labels, 0.25, 14)


@pytest.mark.slow
def test_evaluate_oos_end_to_end(cli, tmp_path):
    from tests.plugins.customer_service.cs_support import TRAIN_OPTIONS, build_tiny_bert, make_rows, write_csv

    model = build_tiny_bert(tmp_path / "bert")
    train = write_csv(tmp_path / "train.csv", make_rows(12, 1))
    dev = write_csv(tmp_path / "dev.csv", make_rows(4, 2))
    options = [f"--train-option={o}" for o in [f"--model={model}", *TRAIN_OPTIONS]]
    out = tmp_path / "oos.json"
    result = cli(
        "customer-service", "evaluate-oos", "--train", train, "--dev", dev, "--output", out,
        "--work", tmp_path / "work", "--seed", "3", *options,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert len(figures["held_out_intents"]) == 1 and figures["dev_out_of_scope"] > 0
    assert set(figures["methods"]) == {"msp", "msp-t", "energy", "knn"}
    assert all(0.0 <= m["auroc"] <= 1.0 for m in figures["methods"].values())
