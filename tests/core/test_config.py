"""Training configuration: YAML files, command-line precedence, errors, and re-running a saved run config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tlsuite_core.apps import AppSpec
from tlsuite_core.config import TrainConfig, build_config, load_config_file
from tlsuite_core.errors import ConfigError
from tlsuite_core.training.engine import resolve_training_config

APP = "finance-monitor"
SPEC = AppSpec(
    name="cfg-test",
    task="sequence-classification",
    default_model="app-default-model",
    defaults={"learning_rate": 1e-4, "epochs": 5.0, "batch_size": 32},
)


def one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, f"exit {result.exit_code}\n{result.output}"
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]}"
    return lines[0]


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------
# precedence: built-in < app defaults < --config FILE < command line
# --------------------------------------------------------------------------------------------------


def test_precedence_layers(tmp_path):
    path = write_yaml(tmp_path / "run.yaml", "seed: 3\nbatch_size: 4\nlearning_rate: 0.002\nmodel: from-file\n")
    overrides = {"seed": 5, "batch_size": None, "model": None, "epochs": None}
    cfg, resume = resolve_training_config(SPEC, config_file=str(path), overrides=overrides, resume=None)
    assert resume is None
    assert cfg.seed == 5  # command line beats the file
    assert cfg.batch_size == 4  # file beats the app default (None on the command line means "not given")
    assert cfg.learning_rate == 0.002  # file beats the app default
    assert cfg.model == "from-file"  # file beats the app's default model
    assert cfg.epochs == 5.0  # app default beats the built-in default
    assert cfg.max_length == TrainConfig().max_length  # built-in default

    cfg, _ = resolve_training_config(SPEC, config_file=None, overrides={}, resume=None)
    assert cfg.model == "app-default-model" and cfg.learning_rate == 1e-4


def test_cli_wins_over_config_file_and_saved_config_reruns_identically(cli, workdir, tiny_model, tiny_data):
    config = write_yaml(
        workdir / "run.yaml",
        "# a user's run file\n"
        f"model: {tiny_model}\n"
        f"train: {tiny_data['train']}\n"
        f"dev: {tiny_data['dev']}\n"
        "seed: 3\n"
        "batch_size: 4\n"
        "max_steps: 3\n"
        "learning_rate: 0.001\n"
        "threads: 1\n"
        "labels: [negative, neutral, positive]\n",
    )
    first = cli(APP, "train", "--config", str(config), "--seed", "11", "--batch-size", "8", "--name", "first")
    assert first.exit_code == 0, first.output
    run = workdir / "runs" / APP / "first"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["seed"] == 11 and saved["batch_size"] == 8  # the command line won
    assert saved["max_steps"] == 3 and saved["learning_rate"] == 0.001  # the file beat the app defaults
    assert saved["labels"] == ["negative", "neutral", "positive"]
    assert saved["name"] == "first"
    assert saved["model"] == str(tiny_model)
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed" and record["steps"] == 3
    assert record["config"]["seed"] == 11
    assert record["labels"] == ["negative", "neutral", "positive"]

    # the saved file re-runs the same run
    assert "--config" in (run / "config.yaml").read_text().splitlines()[1]
    again = cli(APP, "train", "--config", str(run / "config.yaml"), "--name", "other")
    assert again.exit_code == 0, again.output
    other = workdir / "runs" / APP / "other"
    assert yaml.safe_load((other / "config.yaml").read_text()) == {**saved, "name": "other"}
    assert json.loads((other / "metrics.json").read_text()) == json.loads((run / "metrics.json").read_text())


# --------------------------------------------------------------------------------------------------
# config files that cannot be used
# --------------------------------------------------------------------------------------------------


def test_unknown_key_in_yaml(cli, workdir):
    path = write_yaml(workdir / "run.yaml", "seed: 3\nlearning_rat: 0.001\n")
    line = one_line_error(cli(APP, "train", "--config", str(path), "--name", "x"), str(path), "learning_rat")
    assert "unknown option" in line
    assert not (workdir / "runs").exists()


def test_invalid_yaml_names_file_and_line(cli, workdir):
    path = write_yaml(workdir / "run.yaml", "seed: 3\nbatch_size: 4\n  epochs: 2\nmax_steps: 1\n")
    one_line_error(cli(APP, "train", "--config", str(path), "--name", "x"), f"{path}:3", "invalid YAML")
    assert not (workdir / "runs").exists()


def test_yaml_that_is_not_a_mapping(cli, workdir):
    path = write_yaml(workdir / "run.yaml", "- seed\n- 3\n")
    one_line_error(cli(APP, "train", "--config", str(path), "--name", "x"), str(path), "mapping")


def test_missing_config_file(cli, workdir):
    path = workdir / "nope.yaml"
    one_line_error(cli(APP, "train", "--config", str(path), "--name", "x"), str(path), "not found")


def test_bad_value_type_in_yaml_through_the_cli(cli, workdir):
    path = write_yaml(workdir / "run.yaml", "batch_size: lots\n")
    one_line_error(cli(APP, "train", "--config", str(path), "--name", "x"), "batch_size", "'lots'")
    assert not (workdir / "runs").exists()


def test_invalid_value_on_the_command_line(cli, workdir):
    one_line_error(cli(APP, "train", "--precision", "fp8", "--name", "x"), "precision")
    one_line_error(cli(APP, "train", "--batch-size", "0", "--name", "x"), "batch_size must be >= 1")
    assert not (workdir / "runs").exists()


def test_config_file_is_loaded(tmp_path):
    path = write_yaml(tmp_path / "ok.yaml", "app: finance-monitor\ntask: sequence-classification\nseed: 3\n")
    assert load_config_file(path) == {"seed": 3}
    assert load_config_file(write_yaml(tmp_path / "empty.yaml", "")) == {}


@pytest.mark.parametrize(
    "layer, field",
    [
        ({"batch_size": "lots"}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"epochs": "three"}, "epochs"),
        ({"learning_rate": [1, 2]}, "learning_rate"),
        ({"group_by_length": "yes"}, "group_by_length"),
        ({"skip_bad_rows": 1}, "skip_bad_rows"),
        ({"labels": 5}, "labels"),
        ({"max_steps": "x"}, "max_steps"),
    ],
)
def test_bad_value_types(layer, field):
    with pytest.raises(ConfigError) as info:
        build_config(layer)
    assert field in str(info.value)


@pytest.mark.parametrize(
    "layer, problem",
    [
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": -1}, "learning_rate"),
        ({"precision": "fp8"}, "precision"),
        ({"scheduler": "sometimes"}, "scheduler"),
        ({"class_weights": "heavy"}, "class_weights"),
        ({"save_steps": 10, "eval_steps": 3}, "save_steps must be a multiple of eval_steps"),
        ({"labels": ["a", "a"]}, "labels must be distinct"),
        ({"warmup": -0.1}, "warmup"),
    ],
)
def test_invalid_values(layer, problem):
    with pytest.raises(ConfigError, match=problem):
        build_config(layer)


def test_unknown_option_in_a_layer():
    with pytest.raises(ConfigError, match="learning_rat"):
        build_config({"learning_rat": 0.1})


def test_types_are_normalised():
    cfg = build_config({"epochs": 2, "batch_size": 8.0, "learning_rate": "1e-3", "labels": "b, a", "seed": "7"})
    assert cfg.epochs == 2.0 and isinstance(cfg.epochs, float)
    assert cfg.batch_size == 8 and isinstance(cfg.batch_size, int)
    assert cfg.learning_rate == 1e-3
    assert cfg.labels == ["b", "a"]
    assert cfg.seed == 7
