"""Temperature scaling, ECE and the reliability diagram (tlsuite_core.training.calibration): plain NumPy."""

import numpy as np
import pytest

from tlsuite_core.training.calibration import (
    apply_temperature,
    calibrate,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_diagram_png,
    reliability_table,
)


def sampled(n: int, temperature: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose labels are drawn from softmax(logits / temperature): the true temperature is known."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, size=(n, 3))
    probs = apply_temperature(logits, temperature, logits=True)
    labels = np.array([rng.choice(3, p=p) for p in probs])
    return logits, labels


def test_fit_temperature_recovers_the_temperature_labels_were_drawn_with():
    logits, labels = sampled(4000, 2.0)
    assert fit_temperature(logits, labels, logits=True) == pytest.approx(2.0, rel=0.1)
    # probabilities in: the same fit (log-probabilities differ from logits by a per-row constant)
    probs = apply_temperature(logits, 1.0, logits=True)
    assert fit_temperature(probs, labels) == pytest.approx(fit_temperature(logits, labels, logits=True), rel=1e-3)


def test_scaling_lowers_ece_and_nll_of_overconfident_probabilities_and_keeps_the_predictions():
    logits, labels = sampled(3000, 2.5, seed=1)
    report = calibrate(logits, labels, logits=True)
    assert report["temperature"] > 1.5
    assert report["ece_scaled"] < report["ece"]
    assert report["nll_scaled"] < report["nll"]
    scaled = apply_temperature(logits, report["temperature"], logits=True)
    assert (scaled.argmax(1) == logits.argmax(1)).all()
    assert sum(row["count"] for row in report["reliability"]) == 3000


def test_ece_is_zero_when_confidence_equals_accuracy_and_the_gap_otherwise():
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, [0, 0, 0, 1]) == pytest.approx(0.0)
    assert expected_calibration_error(probs, [0, 0, 1, 1]) == pytest.approx(0.25)
    table = reliability_table(probs, [0, 0, 1, 1], bins=4)
    assert [row["count"] for row in table] == [0, 0, 4, 0]
    assert negative_log_likelihood(probs, [0, 0, 1, 1]) == pytest.approx(-(np.log(0.75) + np.log(0.25)) / 2)


def test_bad_shapes_and_temperatures_are_errors():
    with pytest.raises(ValueError):
        fit_temperature(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError):
        apply_temperature(np.ones((2, 2)) / 2, 0.0)
    with pytest.raises(ValueError):
        expected_calibration_error(np.zeros((0, 2)), [])


def test_reliability_diagram_is_written(tmp_path):
    logits, labels = sampled(300, 2.0)
    path = reliability_diagram_png(tmp_path / "reliability.png", calibrate(logits, labels, logits=True))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tempered_probabilities_are_the_softmax_of_the_scaled_logits():
    from tlsuite_core.errors import ConfigError
    from tlsuite_core.long_texts import score_temperature, tempered

    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    softmax = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    scaled = np.exp(logits / 1.7) / np.exp(logits / 1.7).sum(-1, keepdims=True)
    assert np.allclose(tempered(softmax, 1.7), scaled, atol=1e-6)
    assert tempered(softmax, 1.0) is softmax
    assert score_temperature("raw", 1.7) == 1.0 and score_temperature("calibrated", 1.7) == 1.7
    with pytest.raises(ConfigError, match="no temperature fitted on dev"):
        score_temperature("calibrated", None)
    # auto: the run's temperature when it fitted one, raw scores when it had no dev set to fit it on
    assert score_temperature("auto", 1.7) == 1.7 and score_temperature("auto", None) == 1.0
    with pytest.raises(ConfigError, match="expected raw, calibrated or auto"):
        score_temperature("sharp", 1.7)
