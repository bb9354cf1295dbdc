"""The ONNX export of a sequence-classification run and prediction on ONNX Runtime (tlsuite_core.export, .runtime):
the same predictions as PyTorch, long texts and evaluation handed to PyTorch, and no PyTorch import on the path a
one-sentence ``predict`` takes."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import train_base_run

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, tiny_data: dict[str, Path]) -> Path:
    return train_base_run(tmp_path_factory.mktemp("onnx"), tiny_model, tiny_data)


def test_training_exports_a_verified_onnx_model(run: Path) -> None:
    record = json.loads((run / "run.json").read_text())
    assert record["onnx"]["exported"] is True
    export = json.loads((run / "onnx" / "export.json").read_text())
    assert export["verified_max_abs_diff"] <= 1e-3
    assert export["labels"] == record["labels"] if "labels" in record else export["labels"]
    assert (run / "onnx" / "model.onnx").stat().st_size > 0
    assert not (run / "onnx.tmp").exists()


def test_onnx_predictions_equal_pytorch(run: Path) -> None:
    from tlsuite_core import load_app
    from tlsuite_core.runtime import OnnxApp

    texts = ["profit up strongly", "loss", "shares fell after the warning on sales and margins", "flat"] * 3
    fast = load_app(run, backend="onnx")
    slow = load_app(run, backend="torch")
    assert isinstance(fast, OnnxApp) and not isinstance(slow, OnnxApp)
    got, want = fast.predict(texts, batch_size=5), slow.predict(texts, batch_size=5)
    assert [p.label for p in got] == [p.label for p in want]
    for g, w in zip(got, want):
        assert np.allclose([g.scores[k] for k in w.scores], list(w.scores.values()), atol=1e-5)
    assert fast.labels == slow.labels and fast.app == slow.app


def test_auto_picks_onnx_on_the_cpu_and_torch_when_asked(run: Path) -> None:
    from tlsuite_core import load_app
    from tlsuite_core.runtime import OnnxApp

    assert isinstance(load_app(run, device="cpu"), OnnxApp)
    assert not isinstance(load_app(run, device="cpu", backend="torch"), OnnxApp)


def test_long_texts_are_windowed_on_onnx_and_evaluation_goes_to_pytorch(run: Path, tiny_data: dict[str, Path]) -> None:
    from tlsuite_core import load_app
    from tlsuite_core.data import load_labelled

    fast, slow = load_app(run, backend="onnx"), load_app(run, backend="torch")
    long_text = " ".join(["profit"] * (fast.max_length + 50))
    assert fast._torch is None
    [windowed] = fast.predict([long_text])
    assert windowed.windows > 1 and windowed.scores == slow.predict([long_text])[0].scores
    assert fast._torch is None  # the same windows on ONNX Runtime (issue 14): PyTorch is not loaded
    data = load_labelled(str(tiny_data["dev"]))
    assert fast.evaluate(data)["accuracy"] == slow.evaluate(data)["accuracy"]
    assert fast._torch is not None  # evaluation is handed to the PyTorch app


def test_no_export_onnx_option_and_missing_export_error(tmp_path: Path, tiny_model: Path, tiny_data, cli) -> None:
    from tlsuite_core import ModelError, load_app

    result = cli(
        "finance-monitor", "train", "--model", str(tiny_model), "--train", str(tiny_data["train"]),
        "--dev", str(tiny_data["dev"]), "--max-steps", "2", "--runs-dir", str(tmp_path / "runs"), "--name", "plain",
        "--no-export-onnx",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = tmp_path / "runs" / "finance-monitor" / "plain"
    assert not (folder / "onnx").exists()
    with pytest.raises(ModelError, match="no ONNX export.*tlsuite export"):
        load_app(folder, backend="onnx")
    assert result.exit_code == 0
    exported = cli("export", str(folder))
    assert exported.exit_code == 0, exported.output
    assert (folder / "onnx" / "model.onnx").is_file()


def test_one_sentence_predict_does_not_import_torch(run: Path) -> None:
    """The CLI's predict on a run with an export answers without importing torch or transformers' models."""
    code = (
        "import sys\n"
        "from tlsuite_core.cli import main\n"
        "sys.argv = ['tlsuite', 'finance-monitor', 'predict', '--model', sys.argv[1], 'profit rose']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "bad = sorted(m for m in ('torch', 'transformers.modeling_utils') if m in sys.modules)\n"
        "print('IMPORTED', bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "IMPORTED []" in out.stdout, out.stdout + out.stderr


def test_calibrated_scores_use_the_temperature_fitted_on_dev_on_both_backends(run: Path, tmp_path: Path, cli) -> None:
    from tlsuite_core import load_app
    from tlsuite_core.long_texts import tempered

    temperature = json.loads((run / "run.json").read_text())["metrics"]["temperature"]
    texts = ["profit rose sharply", "shares fell", "the company said nothing new"]
    for backend in ("torch", "onnx"):
        app = load_app(run, backend=backend)
        raw, calibrated = app.predict(texts, scores="raw"), app.predict(texts, scores="calibrated")
        assert [p.label for p in raw] == [p.label for p in calibrated]  # the same argmax
        # finance-monitor's default (scores: auto) gives the calibrated probabilities of a run trained with a dev set
        assert [p.scores for p in app.predict(texts)] == [p.scores for p in calibrated]
        for r, c in zip(raw, calibrated):
            expected = tempered(np.array([list(r.scores.values())]), temperature)[0]
            assert np.allclose(list(c.scores.values()), expected, atol=1e-5)
    result = cli("finance-monitor", "predict", "--model", run, "--scores", "calibrated", "--backend", "torch", texts[0])
    assert result.exit_code == 0, result.output
    # a run trained without a dev set has no fitted temperature: asking for calibrated scores is a clear error
    record = json.loads((run / "run.json").read_text())
    record["metrics"].pop("temperature")
    import shutil

    copy = tmp_path / "runs" / "finance-monitor" / "nodev"
    shutil.copytree(run, copy)
    (copy / "run.json").write_text(json.dumps(record))
    bad = cli("finance-monitor", "predict", "--model", copy, "--scores", "calibrated", texts[0])
    assert bad.exit_code == 2 and "no temperature fitted on dev" in bad.stderr
    # auto (finance-monitor's default): calibrated where the run fitted a temperature, raw where it did not
    assert np.allclose(
        [list(p.scores.values()) for p in load_app(run, backend="torch").predict(texts, scores="auto")],
        [list(p.scores.values()) for p in load_app(run, backend="torch").predict(texts, scores="calibrated")],
    )
    assert np.allclose(
        [list(p.scores.values()) for p in load_app(copy, backend="torch").predict(texts, scores="auto")],
        [list(p.scores.values()) for p in load_app(copy, backend="torch").predict(texts, scores="raw")],
    )
