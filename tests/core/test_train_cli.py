"""End to end through the CLI with a tiny model: train -> run folder -> evaluate -> predict -> Python API."""

from __future__ import annotations

import json
from pathlib import Path


def train_args(tiny_model: Path, tiny_data: dict[str, Path], *extra: str) -> list[str]:
    return [
        "finance-monitor",
        "train",
        "--model",
        str(tiny_model),
        "--train",
        str(tiny_data["train"]),
        "--dev",
        str(tiny_data["dev"]),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--lr",
        "1e-3",
        "--threads",
        "1",
        *extra,
    ]


def test_train_writes_a_complete_run_folder(cli, workdir, tiny_model, tiny_data):
    result = cli(*train_args(tiny_model, tiny_data, "--name", "first"))
    assert result.exit_code == 0, result.output
    run = workdir / "runs" / "finance-monitor" / "first"
    for name in ("model", "metrics.json", "config.yaml", "run.json", "report"):
        assert (run / name).exists(), name
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["task"] == "sequence-classification"
    assert record["data"]["train"]["sha256"] and record["versions"]["transformers"]
    assert record["device"]["device"] == "cpu" and record["device"]["precision"] == "fp32"
    assert record["timings"]["real_tokens_seen"] > 0
    for name in ("classification_report.txt", "confusion_matrix.png", "learning_curve.png"):
        assert (run / "report" / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_class"]) == {"positive", "neutral", "negative"}
    assert not (run / "checkpoints").exists()

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(run / "model")
    AutoTokenizer.from_pretrained(run / "model")
    assert model.config.id2label == {0: "positive", 1: "neutral", 2: "negative"}


def test_training_options_reach_the_trainer(cli, workdir, tiny_model, tiny_data):
    result = cli(
        *train_args(tiny_model, tiny_data, "--name", "opts"),
        "--layer-lr-decay",
        "0.8",
        "--head-lr-scale",
        "5",
        "--label-smoothing",
        "0.1",
        "--class-weights",
        "balanced",
        "--early-stopping",
        "1",
        "--metric",
        "accuracy",
        "--scheduler",
        "cosine",
    )
    assert result.exit_code == 0, result.output
    assert "class weights:" in result.output
    record = json.loads((workdir / "runs" / "finance-monitor" / "opts" / "run.json").read_text())
    config = record["config"]
    assert (config["layer_lr_decay"], config["head_lr_scale"], config["label_smoothing"]) == (0.8, 5.0, 0.1)
    assert config["class_weights"] == "balanced" and config["metric"] == "accuracy"


def test_layerwise_learning_rates():
    from transformers import BertConfig, BertForSequenceClassification

    from tlsuite_core.training.optim import layerwise_groups

    model = BertForSequenceClassification(
        BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=37)
    )
    names = {id(p): n for n, p in model.named_parameters()}
    groups = layerwise_groups(
        model,
        base_lr=1.0,
        decay=0.5,
        head_scale=10.0,
        weight_decay=0.01,
        decay_parameter_names=[n for n in names.values() if "bias" not in n and "LayerNorm" not in n],
    )
    lr_of = {names[id(p)]: g["lr"] for g in groups for p in g["params"]}
    wd_of = {names[id(p)]: g["weight_decay"] for g in groups for p in g["params"]}
    assert lr_of["bert.embeddings.word_embeddings.weight"] == 0.125
    assert lr_of["bert.encoder.layer.0.attention.self.query.weight"] == 0.25
    assert lr_of["bert.encoder.layer.2.output.dense.weight"] == 1.0
    assert lr_of["classifier.weight"] == 10.0 and lr_of["bert.pooler.dense.weight"] == 10.0
    assert wd_of["classifier.bias"] == 0.0 and wd_of["classifier.weight"] == 0.01
    assert len(lr_of) == len(names)


def test_tiny_model_tokenizer_knows_its_vocabulary(tiny_model):
    """Guard for the fixture: every test word must map to its own id, not [UNK]."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    ids = tok("the company profit rose w7")["input_ids"]
    assert tok.unk_token_id not in ids and len(ids) == 7


def test_tiny_model_learns_the_tiny_task(cli, workdir, tiny_model, tiny_data):
    """The tiny data is learnable: a few epochs reach high dev accuracy (so resume tests compare real learning)."""
    result = cli(
        *train_args(tiny_model, tiny_data, "--name", "learn"),
        "--epochs",
        "10",
        "--lr",
        "3e-3",
        "--label-smoothing",
        "0",
        "--layer-lr-decay",
        "1",
        "--head-lr-scale",
        "1",
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((workdir / "runs" / "finance-monitor" / "learn" / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.9, metrics
