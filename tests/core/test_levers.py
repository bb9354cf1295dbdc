"""Training levers for small encoders: checkpoint selection and averaging, final fit, R-Drop, re-initialised top
layers (engine, trainer and optim), and the --cv command."""

import json

import pytest

from tests.conftest import train


def test_reinit_top_layers_changes_the_top_layers_and_the_pooler_only(tiny_model):
    import torch
    from transformers import BertForSequenceClassification

    from tlsuite_core.errors import ConfigError
    from tlsuite_core.training.optim import reinit_top_layers

    model = BertForSequenceClassification.from_pretrained(tiny_model, num_labels=3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert reinit_top_layers(model, 1) > 0
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any(".layer.1." in n for n in changed)
    assert any("pooler" in n for n in changed)
    assert not any(".layer.0." in n or "embeddings" in n for n in changed)
    with pytest.raises(ConfigError, match="only 2 layers"):
        reinit_top_layers(model, 3)


@pytest.mark.parametrize(
    ("options", "given", "kept"),
    [
        ({}, set(), 1),  # the app's default, fine-tuning a pretrained model in full
        ({"strategy": "gradual"}, {"strategy"}, 1),
        ({"strategy": "lora"}, {"strategy"}, 0),  # the top layers stay frozen: nothing would train them again
        ({"strategy": "frozen"}, {"strategy"}, 0),
        ({"init_from": "runs/old"}, {"init_from"}, 0),  # a continual update keeps what the run learned
        ({"from_scratch": True}, {"from_scratch"}, 0),
        ({"init_from": "runs/old"}, {"init_from", "reinit_layers"}, 1),  # asked for: done
    ],
)
def test_an_apps_reinit_default_applies_only_where_pretrained_top_layers_are_trained_again(options, given, kept):
    from tlsuite_core.config import TrainConfig
    from tlsuite_core.training.engine import apply_reinit_choice

    config = TrainConfig(reinit_layers=1, **options)
    apply_reinit_choice(config, given)
    assert config.reinit_layers == kept


def test_reinit_default_is_off_from_a_trained_run_and_refused_with_a_frozen_strategy(tmp_path):
    from tlsuite_core.config import TrainConfig
    from tlsuite_core.errors import ConfigError
    from tlsuite_core.training.engine import apply_reinit_choice

    run = tmp_path / "runs" / "finance-monitor" / "v1"
    run.mkdir(parents=True)
    (run / "run.json").write_text("{}")
    config = TrainConfig(reinit_layers=1, model=str(run))
    apply_reinit_choice(config, {"model"})
    assert config.reinit_layers == 0
    with pytest.raises(ConfigError, match="--strategy lora keeps the top layers frozen"):
        apply_reinit_choice(TrainConfig(reinit_layers=1, strategy="lora"), {"strategy", "reinit_layers"})


def base_config(tiny_model, tiny_data, tmp_path, **options):
    from tlsuite_core.plugins import get_host
    from tlsuite_core.training.engine import resolve_training_config

    spec = get_host().app("finance-monitor")
    overrides = {
        "model": str(tiny_model),
        "train": str(tiny_data["train"]),
        "dev": str(tiny_data["dev"]),
        "max_steps": 6,
        "save_steps": 2,
        "batch_size": 16,
        "learning_rate": 1e-3,
        "threads": 1,
        "runs_dir": str(tmp_path / "runs"),
        **options,
    }
    config, _ = resolve_training_config(spec, config_file=None, overrides=overrides, resume=None)
    return spec, config


@pytest.mark.slow
@pytest.mark.parametrize(
    ("options", "selection", "label"),
    [
        ({"select_checkpoint": "last", "rdrop_alpha": 1.0, "reinit_layers": 1}, ["last", None], "last checkpoint"),
        ({"average_checkpoints": "swa"}, ["swa", ["checkpoint-4", "checkpoint-6"]], "mean of 2 checkpoints (swa)"),
        (
            {"average_checkpoints": "last-k", "average_k": 3},
            ["last-k", ["checkpoint-2", "checkpoint-4", "checkpoint-6"]],
            "mean of 3 checkpoints (last-k)",
        ),
    ],
)
def test_the_kept_model_is_what_the_options_say(tiny_model, tiny_data, tmp_path, options, selection, label):
    spec, config = base_config(tiny_model, tiny_data, tmp_path, **options)
    result = train(spec, config)
    record = json.loads((result.path / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["selection"]["checkpoint"] == selection[0]
    assert record["selection"].get("averaged") == selection[1]
    assert record["best_checkpoint"] is None
    assert result.metrics["model"] == label and result.metrics["split"] == "dev"


@pytest.mark.slow
def test_final_fit_trains_on_train_and_dev_and_scores_nothing(tiny_model, tiny_data, tmp_path):
    spec, config = base_config(tiny_model, tiny_data, tmp_path, final_fit=True)
    result = train(spec, config)
    record = json.loads((result.path / "run.json").read_text())
    assert record["data"]["train"]["rows"] == 96 + 30
    assert record["data"]["dev"] is None
    # finance-monitor's fixed schedule (swa: checkpoints at or after half of the last step), nothing scored on dev
    selection = {"checkpoint": "swa", "averaged": ["checkpoint-4", "checkpoint-6"]}
    assert result.metrics["split"] is None and record["selection"] == selection


@pytest.mark.slow
def test_train_cv_reports_the_table_and_scores_dev_once(tiny_model, tiny_data, tmp_path, cli):
    result = cli(
        "finance-monitor", "train", "--cv", "2", "--cv-seeds", "1,2", "--model", tiny_model,
        "--train", tiny_data["train"], "--dev", tiny_data["dev"], "--max-steps", "4", "--save-steps", "2",
        "--batch-size", "16", "--lr", "1e-3", "--threads", "1", "--runs-dir", tmp_path / "runs", "--name", "cv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = tmp_path / "runs" / "finance-monitor" / "cv"
    assert result.stdout.strip() == str(folder)
    report = json.loads((folder / "cv-report.json").read_text())
    assert report["k"] == 2 and report["seeds"] == [1, 2]
    assert report["table"]["full"]["last"]["accuracy"]["n"] == 4
    # finance-monitor's fixed schedule: the mean of the second half's checkpoints, nothing selected on dev
    assert report["dev"]["n"] == 30 and report["dev"]["model"] == "mean of 2 checkpoints (swa)"
    assert "scored once" in (folder / "cv-report.md").read_text()
    bad = cli("finance-monitor", "train", "--cv", "1", "--model", tiny_model, "--train", tiny_data["train"])
    assert bad.exit_code == 2 and "at least 2 folds" in bad.stderr


@pytest.mark.slow
def test_compare_cv_selects_a_strategy_by_its_cv_mean(tiny_model, tiny_data, tmp_path, cli):
    result = cli(
        "finance-monitor", "compare", "--cv", "2", "--strategies", "full,frozen", "--model", tiny_model,
        "--train", tiny_data["train"], "--dev", tiny_data["dev"], "--max-steps", "4", "--save-steps", "2",
        "--batch-size", "16", "--lr", "1e-3", "--threads", "1", "--runs-dir", tmp_path / "runs", "--name", "cmp",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "runs" / "finance-monitor" / "cmp" / "cv-report.json").read_text())
    assert set(report["table"]) == {"full", "frozen"} and report["seeds"] == [42]
    means = {s: report["table"][s]["last"]["accuracy"]["mean"] for s in ("full", "frozen")}
    assert report["selected"] == max(means, key=means.get)
    final = json.loads((tmp_path / "runs" / "finance-monitor" / "cmp" / "final" / "run.json").read_text())
    assert final["config"]["strategy"] == report["selected"] and report["dev"]["n"] == 30


def test_averaging_keeps_older_checkpoints_as_weights_only(tmp_path):
    from types import SimpleNamespace

    from tlsuite_core.training.callbacks import SlimCheckpoints

    files = ("model.safetensors", "trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth")
    for step in (2, 4):
        (tmp_path / f"checkpoint-{step}").mkdir()
        for name in files:
            (tmp_path / f"checkpoint-{step}" / name).write_text("x")
    SlimCheckpoints().on_save(SimpleNamespace(output_dir=str(tmp_path)), SimpleNamespace(global_step=4), None)
    assert sorted(p.name for p in (tmp_path / "checkpoint-2").iterdir()) == ["model.safetensors", "trainer_state.json"]
    assert sorted(p.name for p in (tmp_path / "checkpoint-4").iterdir()) == sorted(files)  # --resume reads it whole


@pytest.mark.parametrize(
    ("options", "planned"),
    [
        ({}, (3, 3)),  # 96 rows, batch 32: 3 steps per epoch
        ({"min_steps": 2}, (3, 3)),  # --epochs already gives more
        ({"min_steps": 7}, (3, 7)),  # a small training set gets more epochs
        ({"min_steps": 7, "max_steps": 2}, (3, 2)),  # --max-steps decides
        ({"min_steps": 7, "grad_accum": 2}, (2, 7)),
    ],
)
def test_min_steps_raises_the_schedule_of_a_small_training_set_only(options, planned):
    from tlsuite_core.config import TrainConfig
    from tlsuite_core.training.strategies import planned_steps

    assert planned_steps(96, TrainConfig(batch_size=32, epochs=1.0, **options)) == planned


def test_a_run_trains_the_min_steps_across_epochs_and_says_so(tiny_model, tiny_data, tmp_path):
    import io

    from rich.console import Console

    spec, config = base_config(tiny_model, tiny_data, tmp_path, max_steps=None, epochs=1.0, batch_size=32, min_steps=7)
    config.save_steps, config.select_checkpoint, config.average_checkpoints = None, "last", "none"
    out = io.StringIO()
    result = train(spec, config, console=Console(file=out, width=200))
    record = json.loads((result.path / "run.json").read_text())
    assert record["status"] == "completed" and record["steps"] == 7 and record["epochs"] > 2
    assert "training 7 steps (2.3 epochs) instead of 3 (--min-steps 7)" in out.getvalue()


@pytest.mark.parametrize(
    ("given", "floor"),
    [
        ({}, 291),  # the app's schedule, floor included
        ({"learning_rate": 1e-4}, 291),
        ({"epochs": 1.0}, 0),  # --epochs replaces the app's schedule: one epoch means one epoch
        ({"epochs": 1.0, "min_steps": 50}, 50),
    ],
)
def test_an_apps_step_floor_gives_way_to_an_explicit_epoch_count(given, floor):
    from tlsuite_core.apps import AppSpec
    from tlsuite_core.training.engine import resolve_training_config

    app = AppSpec(name="a", task="sequence-classification", defaults={"epochs": 3.0, "min_steps": 291})
    config, _ = resolve_training_config(app, config_file=None, overrides={"train": "x.csv", **given}, resume=None)
    assert config.min_steps == floor
