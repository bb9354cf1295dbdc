"""The public Python API (``tlsuite_core``) and the help of every CLI command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import train_base_run

APP = "finance-monitor"


# --------------------------------------------------------------------------------------------------
# the package namespace
# --------------------------------------------------------------------------------------------------


def test_all_is_sorted_and_importable():
    import tlsuite_core

    assert tlsuite_core.__all__ == sorted(tlsuite_core.__all__)
    assert len(set(tlsuite_core.__all__)) == len(tlsuite_core.__all__)
    for name in tlsuite_core.__all__:
        assert hasattr(tlsuite_core, name), name
        exec(f"from tlsuite_core import {name}", {})
    assert isinstance(tlsuite_core.__version__, str)


def test_errors_share_a_base_with_exit_code_2():
    import tlsuite_core

    for name in ("ConfigError", "DataError", "ModelError", "PluginError"):
        cls = getattr(tlsuite_core, name)
        assert issubclass(cls, tlsuite_core.TlsuiteError)
        assert cls.exit_code == 2
    err = tlsuite_core.DataError("empty text", path="a.csv", line=3, field="text")
    assert str(err) == "a.csv:3, field 'text': empty text"
    assert (err.path, err.line, err.field, err.reason) == ("a.csv", 3, "text", "empty text")


# --------------------------------------------------------------------------------------------------
# load_app on a run trained once for this module
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model, tiny_data) -> Path:
    return train_base_run(tmp_path_factory.mktemp("api"), tiny_model, tiny_data, APP)


TEXTS = [
    "the company said profit rose",
    "loss",
    "the bank said in the quarter shares of the group fell after layoffs and a downgrade w1 w2 w3 w4 w5",
    "board meeting date",
    "record growth",
]


def test_load_app_predict(trained):
    from tlsuite_core import Prediction, TrainedApp, load_app

    app = load_app(trained, device="cpu", threads=1)
    assert isinstance(app, TrainedApp)
    assert app.run_dir == trained.resolve()
    assert app.app == APP
    assert set(app.labels) == {"positive", "neutral", "negative"}
    predictions = app.predict(TEXTS, batch_size=2)
    assert len(predictions) == len(TEXTS)
    for p in predictions:
        assert isinstance(p, Prediction)
        assert p.label in app.labels
        assert set(p.scores) == set(app.labels)
        assert sum(p.scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert p.score == pytest.approx(p.scores[p.label])
        assert p.score == pytest.approx(max(p.scores.values()))
        assert json.loads(json.dumps(p.as_dict()))["label"] == p.label
    # input order: each text alone gives the same answer as in the (length-sorted) batch
    for text, p in zip(TEXTS, predictions):
        (alone,) = app.predict([text])
        assert alone.label == p.label
        for label in app.labels:
            assert alone.scores[label] == pytest.approx(p.scores[label], abs=1e-5)
    assert len(app.predict("profit rose")) == 1
    assert app.predict([]) == []


def test_load_app_evaluate(trained, tiny_data):
    from tlsuite_core import load_app
    from tlsuite_core.data import load_labelled

    app = load_app(str(trained), device="cpu", threads=1)
    metrics = app.evaluate(load_labelled(tiny_data["dev"]))
    assert metrics["n"] == 30
    assert 0.0 <= metrics["accuracy"] <= 1.0
    saved = json.loads((trained / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(saved["accuracy"])


def test_load_app_by_name_picks_the_latest_completed_run(trained, tmp_path, monkeypatch):
    from tlsuite_core import ModelError, load_app

    runs = tmp_path / "runs" / APP
    runs.mkdir(parents=True)
    for name, status, finished in (
        ("older", "completed", "2030-01-01T10:00:00+00:00"),
        ("latest", "completed", "2030-01-02T10:00:00+00:00"),
        ("crashed", "failed", "2030-01-03T10:00:00+00:00"),
        ("running", "running", None),
    ):
        shutil.copytree(trained, runs / name)
        record = json.loads((runs / name / "run.json").read_text())
        record.update(status=status, finished_at=finished)
        (runs / name / "run.json").write_text(json.dumps(record))
    monkeypatch.chdir(tmp_path)
    app = load_app(APP, device="cpu", threads=1)
    assert app.run_dir == (runs / "latest").resolve()
    assert app.predict(["profit rose"])[0].label in app.labels
    # an explicit runs_dir, and no completed run at all
    assert load_app(APP, runs_dir=tmp_path / "runs").run_dir == (runs / "latest").resolve()
    with pytest.raises(ModelError, match="no completed"):
        load_app(APP, runs_dir=tmp_path / "elsewhere")
    with pytest.raises(ModelError, match="--resume"):
        load_app(runs / "running")


def test_load_app_model_folder(trained):
    """A run's model/ folder alone (tlsuite.json names its task) loads too."""
    from tlsuite_core import load_app

    app = load_app(trained / "model", device="cpu", threads=1)
    assert app.run_dir is None
    assert app.predict(["profit rose"])[0].label in app.labels


def test_predict_cli(cli, trained, tmp_path):
    out = tmp_path / "pred.jsonl"
    result = cli(APP, "predict", "--model", str(trained), "--output", str(out), *TEXTS)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == TEXTS


# --------------------------------------------------------------------------------------------------
# every command has a --help with an example
# --------------------------------------------------------------------------------------------------


def _command_paths() -> list[tuple[str, ...]]:
    import typer.main

    from tlsuite_core.cli import build_app

    root = typer.main.get_command(build_app())
    paths: list[tuple[str, ...]] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        paths.append(path)
        # typer may vendor its own click, so look for sub-commands rather than checking for click.Group
        subs = getattr(command, "commands", None)
        if subs:
            for name, sub in sorted(subs.items()):
                walk(sub, (*path, name))

    walk(root, ())
    return paths


COMMAND_PATHS = _command_paths()


def test_the_command_tree_is_complete():
    expected = {
        (),
        ("doctor",),
        ("models",),
        ("models", "list"),
        ("plugins",),
        ("plugins", "list"),
        (APP,),
        (APP, "train"),
        (APP, "evaluate"),
        (APP, "predict"),
    }
    assert expected <= set(COMMAND_PATHS)


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(("tlsuite", *p)))
def test_help_has_an_example(cli, path):
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "Example" in result.stdout, f"`tlsuite {' '.join(path)} --help` shows no example:\n{result.stdout}"
