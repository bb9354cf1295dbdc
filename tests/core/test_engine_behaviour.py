"""What the engine's options do, not only that they are accepted: early stopping stops training, balanced class
weights give the weighted cross-entropy, FGM adds the adversarial gradient, and compare flags negative transfer."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import pytest

from tests.conftest import make_rows, write_csv

APP = "finance-monitor"


# -- early stopping -----------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("patience", [1, 2])
def test_early_stopping_stops_when_the_dev_metric_cannot_improve(patience, cli, workdir, tiny_model, tiny_data):
    # a learning rate of 1e-9 moves no prediction: dev accuracy is the same at every evaluation, so it never improves
    # 96 rows / batch 16 = 6 steps an epoch, 10 epochs planned = 60 steps; an evaluation every 3 steps
    result = cli(
        APP,
        "train",
        "--model",
        tiny_model,
        "--train",
        tiny_data["train"],
        "--dev",
        tiny_data["dev"],
        "--epochs",
        "10",
        "--batch-size",
        "16",
        "--lr",
        "1e-9",
        "--warmup",
        "0",
        "--save-steps",
        "3",
        "--early-stopping",
        str(patience),
        "--metric",
        "accuracy",
        "--threads",
        "1",
        "--name",
        "es",
    )
    assert result.exit_code == 0, result.output
    folder = workdir / "runs" / APP / "es"
    record = json.loads((folder / "run.json").read_text())
    history = json.loads((folder / "report" / "log_history.json").read_text())
    evaluations = [h for h in history if "eval_accuracy" in h]
    assert len({h["eval_accuracy"] for h in evaluations}) == 1  # the metric could not improve
    # the first evaluation sets the best; `patience` more without improvement stop training
    assert [h["step"] for h in evaluations] == [3 * (k + 1) for k in range(patience + 1)]
    assert record["status"] == "completed"
    assert record["steps"] == 3 * (patience + 1) < 60
    assert record["epochs"] < 10
    assert record["best_checkpoint"] == "checkpoint-3"  # the first evaluation stays the selected model
    # the engine records no reason for an early stop; at least it was not the time budget
    assert record["timings"]["stopped_by_time_budget"] is False
    assert max(h["step"] for h in history if "step" in h) == record["steps"]


# -- class weights and FGM, on the engine's Trainer ---------------------------------------------------------------

LABELS = ["positive", "neutral", "negative"]


def _classifier(tiny_model: Path):
    """The tiny BERT with a 3-class head, dropout off (so gradients are deterministic) and a head large enough
    that per-example losses differ (a freshly initialised head gives every example about log 3)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_model, num_labels=3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 3.0, generator=torch.Generator().manual_seed(0))
    return model


def _batch(tiny_model: Path, labels: list[int]) -> dict:
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    texts = [text for text, _ in make_rows(len(labels), 3)]
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    return {**enc, "labels": torch.tensor(labels)}


def _trainer(model, tmp_path: Path, **kwargs):
    from transformers import TrainingArguments

    from tlsuite_core.training.trainer import Levers, TlsTrainer

    args = TrainingArguments(
        output_dir=str(tmp_path / "out"), report_to=[], use_cpu=True, per_device_train_batch_size=8
    )
    return TlsTrainer(model=model, args=args, levers=Levers(**kwargs))


def test_balanced_class_weights_give_the_weighted_cross_entropy(tiny_model, tmp_path):
    import torch

    from tlsuite_core.tasks.classification import SequenceClassification

    ys = [0, 0, 0, 0, 0, 0, 1, 2]  # imbalanced: six of class 0, one each of 1 and 2
    weights = SequenceClassification().class_weights({"labels": ys}, LABELS)
    # balanced: n / (classes * count)
    assert torch.allclose(weights, torch.tensor([8 / (3 * 6), 8 / 3, 8 / 3]))

    model = _classifier(tiny_model)
    inputs = _batch(tiny_model, ys)
    weighted = _trainer(model, tmp_path, class_weights=weights)
    plain = _trainer(model, tmp_path)
    with torch.no_grad():
        loss_w = weighted.compute_loss(model, dict(inputs))
        loss_0 = plain.compute_loss(model, dict(inputs))
        logits = model(**{k: v for k, v in inputs.items() if k != "labels"}).logits
    # the expected values, from the logits with torch directly
    y = inputs["labels"]
    nll = -torch.log_softmax(logits.double(), dim=-1)[torch.arange(len(ys)), y]
    expected_0 = nll.mean()
    expected_w = (weights.double()[y] * nll).sum() / weights.double()[y].sum()
    assert abs(expected_w - expected_0) > 0.05  # the data makes the weighting matter
    assert loss_0.item() == pytest.approx(expected_0.item(), abs=1e-5)
    assert loss_w.item() == pytest.approx(expected_w.item(), abs=1e-5)
    assert (loss_w - loss_0).item() == pytest.approx((expected_w - expected_0).item(), abs=1e-5)

    # and the gradients change with the loss
    grads = []
    for trainer in (weighted, plain):
        model.zero_grad()
        trainer.compute_loss(model, dict(inputs)).backward()
        grads.append(model.classifier.weight.grad.clone())
    assert not torch.allclose(grads[0], grads[1], atol=1e-6)


def _grads(model) -> dict:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _fgm_reference(model, inputs: dict, epsilon: float) -> dict:
    """FGM by hand (Miyato et al. 2017): the clean loss's gradients plus those of the loss with each example's
    word-embedding output moved by ``epsilon`` along its normalised loss gradient."""
    embeddings = model.get_input_embeddings()
    captured = {}

    def capture(module, args, output):
        if not output.requires_grad:
            output.requires_grad_(True)
        output.retain_grad()
        captured["output"] = output
        return output

    model.train()
    model.zero_grad()
    handle = embeddings.register_forward_hook(capture)
    model(**inputs).loss.backward()
    handle.remove()
    grad = captured["output"].grad
    delta = epsilon * grad / grad.flatten(1).norm(dim=1).view(-1, 1, 1)
    handle = embeddings.register_forward_hook(lambda module, args, output: output + delta)
    model(**inputs).loss.backward()
    handle.remove()
    return _grads(model)


@pytest.mark.parametrize("frozen_embeddings", [False, True])
def test_fgm_adds_the_adversarial_gradient_and_epsilon_zero_changes_nothing(frozen_embeddings, tiny_model, tmp_path):
    import torch
    from transformers import Trainer, TrainingArguments

    base = _classifier(tiny_model)
    if frozen_embeddings:  # FGM acts on the embedding output, so it works when the embeddings are frozen too
        base.get_input_embeddings().weight.requires_grad_(False)
    inputs = _batch(tiny_model, [0, 1, 2, 0, 1, 2, 0, 0])

    def step(epsilon: float | None) -> tuple[dict, float]:
        model = copy.deepcopy(base)
        if epsilon is None:  # the stock transformers Trainer
            args = TrainingArguments(output_dir=str(tmp_path / "plain"), report_to=[], use_cpu=True)
            trainer = Trainer(model=model, args=args)
        else:
            trainer = _trainer(model, tmp_path, fgm_epsilon=epsilon)
        trainer.current_gradient_accumulation_steps = 1  # set by the training loop, read by training_step
        model.zero_grad()
        loss = trainer.training_step(model, dict(inputs))
        return _grads(model), loss.item()

    stock, stock_loss = step(None)
    off, off_loss = step(0.0)
    on, on_loss = step(0.5)
    assert stock and set(stock) == set(off) == set(on)
    assert ("bert.embeddings.word_embeddings.weight" in stock) is not frozen_embeddings
    # epsilon 0: exactly the stock Trainer's step
    assert off_loss == stock_loss
    assert all(torch.equal(off[n], stock[n]) for n in stock)
    # epsilon > 0: the reported loss is the clean one, the gradients are not
    assert on_loss == pytest.approx(off_loss, abs=1e-6)
    changed = [n for n in on if not torch.allclose(on[n], off[n], atol=1e-7)]
    assert "classifier.weight" in changed and any(n.startswith("bert.encoder.") for n in changed)
    assert len(changed) > len(on) // 2
    # ... they are the clean gradients plus those of the FGM-perturbed loss
    reference = _fgm_reference(copy.deepcopy(base), dict(inputs), 0.5)
    assert set(reference) == set(on)
    for name in on:
        assert torch.allclose(on[name], reference[name], rtol=1e-4, atol=1e-6), name


@pytest.mark.slow
def test_class_weights_and_fgm_reach_the_trainer_in_a_run(cli, workdir, tiny_model, monkeypatch):
    """Through the CLI: the balanced weights of the training labels and the FGM epsilon are what the Trainer gets,
    and FGM runs a second forward/backward pass in each training step."""
    import torch

    from tlsuite_core.training import trainer

    seen: dict = {"train_losses": 0}

    class Recording(trainer.TlsTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen.update(class_weights=self.levers.class_weights, fgm_epsilon=self.levers.fgm_epsilon)

        def compute_loss(self, model, inputs, *args, **kwargs):
            seen["train_losses"] += bool(model.training)
            return super().compute_loss(model, inputs, *args, **kwargs)

    monkeypatch.setattr(trainer, "TlsTrainer", Recording)
    rows = [r for r in make_rows(60, 4) if r[1] == "positive"][:12] + [
        r for r in make_rows(60, 4) if r[1] != "positive"
    ][:6]
    train = write_csv(workdir / "imbalanced.csv", rows)
    result = cli(
        APP,
        "train",
        "--model",
        tiny_model,
        "--train",
        train,
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--class-weights",
        "balanced",
        "--fgm",
        "0.5",
        "--threads",
        "1",
        "--name",
        "cw",
    )
    assert result.exit_code == 0, result.output
    record = json.loads((workdir / "runs" / APP / "cw" / "run.json").read_text())
    counts = torch.tensor([sum(label == name for _, label in rows) for name in record["labels"]], dtype=torch.float)
    assert sorted(counts.tolist()) == [3.0, 3.0, 12.0]
    assert torch.allclose(seen["class_weights"], len(rows) / (3 * counts))
    assert seen["fgm_epsilon"] == 0.5
    assert record["steps"] == 2 and seen["train_losses"] == 2 * 2  # clean + adversarial pass per step


@pytest.mark.slow
@pytest.mark.parametrize("loss_path", ["engine", "model"])
def test_gradient_accumulation_does_not_scale_the_loss(loss_path, cli, workdir, tiny_model, tiny_data):
    """16 examples per optimiser step either way: one batch of 16, or two accumulated batches of 8. With a learning
    rate of 1e-12 the weights stay put, so the training loss (about log 3 for a fresh head) must not depend on it.
    ``engine``: TlsTrainer's own loss (balanced class weights, the app's label smoothing); ``model``: the model's."""
    extra = ["--class-weights", "balanced"] if loss_path == "engine" else ["--label-smoothing", "0"]
    logged = {}
    for accumulate, batch in ((1, 16), (2, 8)):
        name = f"ga{accumulate}"
        result = cli(
            APP,
            "train",
            "--model",
            tiny_model,
            "--train",
            tiny_data["train"],
            "--max-steps",
            "1",
            "--lr",
            "1e-12",
            "--warmup",
            "0",
            "--batch-size",
            str(batch),
            "--grad-accum",
            str(accumulate),
            "--threads",
            "1",
            "--name",
            name,
            *extra,
        )
        assert result.exit_code == 0, result.output
        history = json.loads((workdir / "runs" / APP / name / "report" / "log_history.json").read_text())
        logged[accumulate] = next(h["train_loss"] for h in history if "train_loss" in h)
    assert logged[1] == pytest.approx(1.0986, abs=0.05)  # log 3
    assert logged[2] == pytest.approx(logged[1], rel=0.1)


# -- compare: negative transfer -----------------------------------------------------------------------------------

SCORES = {
    # metric: (dev value per trained row, flag expected); scratch is the baseline
    "accuracy": {"full": (0.80, False), "frozen": (0.60, True), "lora": (0.50, True), "scratch": (0.60, None)},
    "loss": {"full": (0.40, False), "frozen": (0.90, True), "lora": (1.20, True), "scratch": (0.90, None)},
}


@pytest.mark.parametrize("metric", ["accuracy", "loss"])
def test_compare_flags_negative_transfer_when_a_strategy_is_not_above_scratch(
    metric, cli, workdir, tiny_model, tiny_data, monkeypatch
):
    """The strategies' runs are faked (no training): full beats scratch, frozen ties it, lora is below it. For a
    lower-is-better metric (loss), below means a higher value."""
    import yaml

    from tlsuite_core.training import compare

    scores = SCORES[metric]
    configs = {}

    def fake_train_row(*args, **kwargs):  # (spec, [task,] label, config_path, run_dir, base, test, console)
        label = next(a for a in args if isinstance(a, str) and a in scores)
        config_path = next(a for a in args if isinstance(a, Path) and a.suffix == ".yaml")
        run_dir = next(a for a in args if isinstance(a, Path) and a.name == label)
        configs[label] = yaml.safe_load(config_path.read_text())
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "run.json").write_text("{}")
        return {
            "strategy": label,
            "kind": "baseline" if label == "scratch" else "strategy",
            "status": "completed",
            "dev": {metric: scores[label][0]},
            "trainable": 1000,
            "total": 1000,
            "trainable_share": 1.0,
            "wall_seconds": 1.0,
            "peak_rss_mb": 1.0,
            "run": str(run_dir),
        }

    monkeypatch.setattr(compare, "_train_row", fake_train_row)
    result = cli(
        APP,
        "compare",
        "--model",
        tiny_model,
        "--train",
        tiny_data["train"],
        "--dev",
        tiny_data["dev"],
        "--strategies",
        "full,frozen,lora",
        "--metric",
        metric,
        "--name",
        "cmp",
    )
    assert result.exit_code == 0, result.output
    assert configs["scratch"]["from_scratch"] is True and configs["scratch"]["strategy"] == "full"
    folder = workdir / "runs" / APP / "cmp"
    rows = {row["strategy"]: row for row in json.loads((folder / "compare.json").read_text())["rows"]}
    assert list(rows) == ["majority", "full", "frozen", "lora", "scratch"]
    sign = -1 if metric == "loss" else 1
    for name in ("full", "frozen", "lora"):
        value, flagged = scores[name]
        assert rows[name]["gain_over_scratch"] == pytest.approx(sign * (value - scores["scratch"][0]))
        assert rows[name]["negative_transfer"] is flagged, name
    assert "negative_transfer" not in rows["scratch"] and "negative_transfer" not in rows["majority"]
    with (folder / "compare.csv").open(newline="") as fh:
        table = {r["strategy"]: r for r in csv.DictReader(fh)}
    assert [table[n]["negative_transfer"] for n in ("full", "frozen", "lora")] == ["False", "True", "True"]
    lines = {
        line.split("|")[1].strip(): line
        for line in (folder / "compare.md").read_text().splitlines()
        if line.startswith("| ")
    }
    assert "(negative transfer)" in lines["lora"] and "(negative transfer)" in lines["frozen"]
    assert "(negative transfer)" not in lines["full"] and "(negative transfer)" not in lines["scratch (baseline)"]
