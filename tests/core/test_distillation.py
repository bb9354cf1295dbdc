"""Knowledge distillation (--distill-from): the loss, the teachers' targets in a run, the teachers of a
cross-validation fold, and the errors."""

import json

import pytest

from tests.conftest import train
from tests.core.test_levers import base_config
from tlsuite_core.errors import ConfigError


def _trainer(tmp_path, model, **levers):
    from transformers import TrainingArguments

    from tlsuite_core.training.trainer import Levers, TlsTrainer

    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to=[], use_cpu=True)
    return TlsTrainer(model=model, args=args, levers=Levers(**levers))


def test_the_loss_mixes_the_labels_cross_entropy_and_the_teachers_kl(tiny_model, tmp_path):
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(tiny_model, num_labels=3)
    model.train()
    model.config.hidden_dropout_prob = model.config.attention_probs_dropout_prob = 0.0
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    inputs = {
        "input_ids": torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]),
        "labels": torch.tensor([0, 2]),
    }
    teacher = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    logits = model(**{k: v for k, v in inputs.items() if k != "labels"}).logits
    ce = torch.nn.functional.cross_entropy(logits, inputs["labels"])
    t, alpha = 2.0, 0.25
    kl = (teacher * (teacher.log() - torch.log_softmax(logits / t, dim=-1))).sum(-1).mean() * t * t
    trainer = _trainer(tmp_path, model, distill_alpha=alpha, distill_temperature=t)
    loss = trainer.compute_loss(model, {**inputs, "teacher_probs": teacher})
    assert loss.item() == pytest.approx(((1 - alpha) * ce + alpha * kl).item(), rel=1e-5)
    # without the teachers' column (dev evaluation) or with alpha 0: the labels' loss alone
    assert trainer.compute_loss(model, dict(inputs)).item() == pytest.approx(ce.item(), rel=1e-5)
    off = _trainer(tmp_path, model, distill_temperature=t)
    assert off.compute_loss(model, {**inputs, "teacher_probs": teacher}).item() == pytest.approx(ce.item(), rel=1e-5)


def test_the_teachers_column_reaches_the_loss_through_the_collator(tiny_model, tmp_path):
    import datasets
    from transformers import AutoTokenizer, BertForSequenceClassification, DataCollatorWithPadding

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = BertForSequenceClassification.from_pretrained(tiny_model, num_labels=3)
    enc = tokenizer(["shares rose", "profit fell sharply today"])
    columns = {**enc, "labels": [0, 2], "teacher_probs": [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]}
    trainer = _trainer(tmp_path, model, distill_alpha=0.5)
    trainer.train_dataset = datasets.Dataset.from_dict(dict(columns))
    trainer.data_collator = DataCollatorWithPadding(tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    assert tuple(batch["teacher_probs"].shape) == (2, 3)  # not dropped as a column the model's forward lacks


@pytest.mark.slow
def test_a_run_learns_from_its_teachers_and_records_them(tiny_model, tiny_data, tmp_path):
    spec, config = base_config(tiny_model, tiny_data, tmp_path, max_steps=4, name="teacher")
    teacher = train(spec, config).path
    spec, config = base_config(
        tiny_model, tiny_data, tmp_path, max_steps=4, name="student", distill_from=[str(teacher)], distill_alpha=0.7
    )
    result = train(spec, config)
    record = json.loads((result.path / "run.json").read_text())
    assert record["status"] == "completed"
    distillation = record["distillation"]
    assert distillation["teachers"] == [str(teacher)]
    assert distillation["alpha"] == 0.7 and distillation["temperature"] == 2.0
    assert 0.0 <= distillation["teacher_train_accuracy"] <= 1.0
    saved = (result.path / "config.yaml").read_text()
    assert "distill_from" in saved and "distill_alpha: 0.7" in saved
    # the student is an ordinary model folder: no teachers' column in what plain transformers loads
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(result.path / "model")
    assert model.config.id2label == {0: "positive", 1: "neutral", 2: "negative"}


def test_teachers_must_be_completed_runs_with_the_same_labels(tiny_model, tiny_data, tmp_path):
    from tlsuite_core.training.distillation import teacher_runs

    with pytest.raises(ConfigError, match=r"--distill-from .*nowhere: not a run folder \(no run.json\)"):
        teacher_runs([str(tmp_path / "nowhere")])
    running = tmp_path / "running"
    running.mkdir()
    (running / "run.json").write_text(json.dumps({"status": "running"}))
    with pytest.raises(ConfigError, match="not a completed run with its model \\(status running\\)"):
        teacher_runs([str(running)])
    cv_folder = tmp_path / "cv"
    cv_folder.mkdir()
    (cv_folder / "cv_plan.json").write_text("{}")
    with pytest.raises(ConfigError, match="a cross-validation folder teaches only under --cv"):
        teacher_runs([str(cv_folder)])


@pytest.mark.slow
def test_a_teacher_with_other_labels_is_refused_before_training(tiny_model, tiny_data, tmp_path):
    spec, config = base_config(tiny_model, tiny_data, tmp_path, max_steps=2, name="teacher", labels=None)
    teacher = train(spec, config).path
    record = json.loads((teacher / "run.json").read_text())
    record["labels"] = ["up", "flat", "down"]
    (teacher / "run.json").write_text(json.dumps(record))
    spec, config = base_config(tiny_model, tiny_data, tmp_path, max_steps=2, distill_from=[str(teacher)])
    with pytest.raises(ConfigError, match=r"its labels \(up, flat, down\) are not this run's"):
        train(spec, config)
    assert [p.name for p in (tmp_path / "runs" / "finance-monitor").iterdir()] == ["teacher"]  # nothing written


def test_a_task_without_class_probabilities_refuses_before_any_run_folder(ner_model, ner_data, tmp_path, cli):
    result = cli(
        "ner", "train", "--model", ner_model, "--train", ner_data["train"], "--distill-from", tmp_path / "some-run",
        "--runs-dir", tmp_path / "runs",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "the token-classification task has no per-example class probabilities" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "runs").exists()


def test_tasks_without_class_probabilities_refuse_distillation():
    from tlsuite_core.tasks.token_classification import TokenClassification

    with pytest.raises(ConfigError, match="the token-classification task has no per-example class probabilities"):
        TokenClassification().soft_targets(None, None, None, max_length=8, temperature=2.0)


def test_a_fold_learns_only_from_the_same_fold_of_a_teacher_cross_validation(tiny_model, tiny_data, tmp_path):
    from tlsuite_core.plugins import get_host
    from tlsuite_core.training.cv import CrossValidation

    spec, config = base_config(tiny_model, tiny_data, tmp_path)
    CrossValidation(spec, config, get_host().registry, tmp_path / "teachers", k=2, seeds=[1, 2])  # its cv_plan.json
    for name in ("fold1-seed1", "fold1-seed2", "fold2-seed1"):  # fold2-seed2 ran without --cv-keep-models
        run = tmp_path / "teachers" / "runs" / name
        (run / "model").mkdir(parents=True)
        (run / "run.json").write_text(json.dumps({"status": "completed"}))
    (tmp_path / "teachers" / "runs" / "fold2-seed2").mkdir()
    config.distill_from = [str(tmp_path / "teachers")]
    student = CrossValidation(spec, config, get_host().registry, tmp_path / "student", k=2, seeds=[1])
    first = student._unit_config(0, 1).distill_from
    assert [p.rsplit("/", 1)[1] for p in first] == ["fold1-seed1", "fold1-seed2"]
    assert [p.rsplit("/", 1)[1] for p in student._unit_config(1, 1).distill_from] == ["fold2-seed1"]
    other = CrossValidation(spec, config, get_host().registry, tmp_path / "other", k=2, seeds=[1], split_seed=7)
    with pytest.raises(ConfigError, match="its folds differ from this cross-validation's \\(split_seed\\)"):
        other._unit_config(0, 1)
    config.distill_from = [str(tmp_path / "teachers" / "runs" / "fold1-seed1")]
    leaky = CrossValidation(spec, config, get_host().registry, tmp_path / "leaky", k=2, seeds=[1])
    with pytest.raises(ConfigError, match="not runs trained on every fold"):
        leaky._unit_config(0, 1)


@pytest.mark.slow
def test_train_cv_distils_each_fold_from_the_same_fold_of_a_kept_cross_validation(tiny_model, tiny_data, tmp_path, cli):
    common = (
        "--model", tiny_model, "--train", tiny_data["train"], "--dev", tiny_data["dev"], "--max-steps", "4",
        "--save-steps", "2", "--batch-size", "16", "--lr", "1e-3", "--threads", "1", "--runs-dir", tmp_path / "runs",
    )  # fmt: skip
    teachers = cli(
        "finance-monitor", "train", "--cv", "2", "--cv-seeds", "1,2", "--cv-keep-models", "--name", "t", *common
    )
    assert teachers.exit_code == 0, teachers.output
    folder = tmp_path / "runs" / "finance-monitor" / "t" / "full"
    assert (folder / "runs" / "fold1-seed2" / "model").is_dir()
    assert not (folder / "runs" / "fold1-seed2" / "checkpoints").exists()
    student = cli("finance-monitor", "train", "--cv", "2", "--distill-from", folder, "--name", "s", *common)
    assert student.exit_code == 0, student.output
    out = tmp_path / "runs" / "finance-monitor" / "s"
    record = json.loads((out / "full" / "runs" / "fold2-seed42" / "run.json").read_text())
    assert [p.rsplit("/", 1)[1] for p in record["distillation"]["teachers"]] == ["fold2-seed1", "fold2-seed2"]
    report = json.loads((out / "cv-report.json").read_text())
    assert report["dev"] is None and "teachers of --distill-from are per fold" in report["dev_note"]
    assert not (out / "final").exists()
    leaky = cli("finance-monitor", "train", "--distill-from", folder, "--name", "x", *common)
    assert leaky.exit_code == 2 and "teaches only under --cv" in leaky.stderr
