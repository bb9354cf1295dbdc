"""``--strategy frozen --cache-features``: the backbone runs once per distinct input; the head trains on stored
features, with the same result as plain frozen training when the backbone has no dropout to lose."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.core.test_strategy_matrix import InterruptAt
from tlsuite_core.errors import ConfigError

#: every test here trains models (tiny ones): the quick loop is python -m pytest -m "not slow"
pytestmark = pytest.mark.slow


def _app(task: str):
    from tlsuite_core.plugins import get_host

    return get_host().registry.get("app", "finance-monitor" if task == "sequence" else "ner")


def _config(app, model: Path, data: dict, runs: Path, name: str, **extra):
    from tlsuite_core.training.engine import resolve_training_config

    overrides = {
        "model": str(model),
        "train": str(data["train"]),
        "dev": str(data["dev"]),
        "strategy": "frozen",
        "epochs": 3,
        "batch_size": 8,
        "seed": 3,
        "threads": 1,
        "runs_dir": str(runs),
        "name": name,
        "evals_per_epoch": 1,
        "learning_rate": 1e-2,
        **extra,
    }
    cfg, _ = resolve_training_config(app, config_file=None, overrides=overrides, resume=None)
    return cfg


def _tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _losses(run: Path) -> list[float]:
    return [h["loss"] for h in json.loads((run / "report" / "log_history.json").read_text()) if "loss" in h]


def test_cached_features_train_the_same_head_as_the_live_backbone(tmp_path, tiny_model, tiny_data):
    from tests.conftest import train

    app = _app("sequence")
    live = train(app, _config(app, tiny_model, tiny_data, tmp_path, "live", dropout=0.0))
    cached = train(app, _config(app, tiny_model, tiny_data, tmp_path, "cached", dropout=0.0, cache_features=True))
    a, b = _tensors(live.path / "model"), _tensors(cached.path / "model")
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] - b[key]).abs().max().item() <= 1e-5, key
    assert _losses(live.path) == pytest.approx(_losses(cached.path), abs=1e-5)
    assert cached.metrics["accuracy"] == pytest.approx(live.metrics["accuracy"])

    stats = cached.record["strategy"]["feature_cache"]
    train_rows = len(tiny_data["train"].read_text(encoding="utf-8").splitlines()) - 1
    dev_rows = len(tiny_data["dev"].read_text(encoding="utf-8").splitlines()) - 1
    # every distinct input computed once; the second and third epochs (and later evaluations) are lookups
    assert stats["misses"] == stats["cached_inputs"] <= train_rows + dev_rows
    assert stats["hits"] >= 2 * train_rows and stats["cache_mb"] >= 0
    assert "feature_cache" not in live.record["strategy"]


@pytest.mark.parametrize("task", ["sequence", "token"])
def test_cached_run_resumes_exactly_and_reloads_with_transformers(
    task, tmp_path, tiny_model, tiny_data, ner_model, ner_data
):
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    from tests.conftest import train
    from tlsuite_core.training.engine import resolve_training_config

    app = _app(task)
    model, data = (tiny_model, tiny_data) if task == "sequence" else (ner_model, ner_data)
    extra = {
        "max_steps": 10,
        "save_steps": 5,
        "cache_features": True,
        **({"extra": {"context": "sentence"}} if task == "token" else {}),
    }
    straight = train(app, _config(app, model, data, tmp_path, "straight", **extra))
    with pytest.raises(KeyboardInterrupt):
        train(app, _config(app, model, data, tmp_path, "resumed", **extra), callbacks=[InterruptAt(7)])
    cfg, run = resolve_training_config(app, config_file=None, overrides={}, resume=str(tmp_path / app.name / "resumed"))
    resumed = train(app, cfg, resume_run=run)
    a, b = _tensors(straight.path / "model"), _tensors(resumed.path / "model")
    for key in a:
        assert (a[key] - b[key]).abs().max().item() <= 1e-5, key
    assert _losses(straight.path) == pytest.approx(_losses(resumed.path), abs=1e-5)
    cls = AutoModelForSequenceClassification if task == "sequence" else AutoModelForTokenClassification
    reloaded = cls.from_pretrained(str(straight.path / "model"))
    assert reloaded.config.id2label and "forward" not in vars(reloaded.base_model)  # a plain model, no cache attached


@pytest.mark.parametrize(
    "extra,match",
    [
        ({"strategy": "lora"}, "cache_features needs strategy frozen"),
        ({"fgm_epsilon": 0.5}, "does not combine with fgm"),
    ],
)
def test_cache_features_refuses_what_it_cannot_serve(extra, match, tmp_path, tiny_model, tiny_data):
    app = _app("sequence")
    with pytest.raises(ConfigError, match=match):
        _config(app, tiny_model, tiny_data, tmp_path, "x", cache_features=True, **extra)


def test_cache_features_refuses_encoder_decoders(tmp_path):
    from transformers import T5Config, T5ForConditionalGeneration

    from tlsuite_core.training.feature_cache import install_feature_cache

    model = T5ForConditionalGeneration(T5Config(vocab_size=20, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2))
    with pytest.raises(ConfigError, match="encoder-decoder"):
        install_feature_cache(model)


def test_cache_features_through_the_cli(cli, tmp_path, tiny_model, tiny_data):
    result = cli(
        "finance-monitor",
        "train",
        "--model",
        tiny_model,
        "--train",
        tiny_data["train"],
        "--dev",
        tiny_data["dev"],
        "--strategy",
        "frozen",
        "--cache-features",
        "--epochs",
        "2",
        "--threads",
        "1",
        "--runs-dir",
        tmp_path,
        "--name",
        "cli",
    )
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "finance-monitor" / "cli" / "run.json").read_text())
    assert record["config"]["cache_features"] is True and record["strategy"]["feature_cache"]["hits"] > 0
    bad = cli(
        "finance-monitor",
        "train",
        "--model",
        tiny_model,
        "--train",
        tiny_data["train"],
        "--strategy",
        "lora",
        "--cache-features",
        "--runs-dir",
        tmp_path,
    )
    assert bad.exit_code == 2 and "cache_features needs strategy frozen" in bad.output
