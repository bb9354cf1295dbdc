"""Knowledge distillation (Hinton, Vinyals and Dean 2015): a model learns the class probabilities of trained runs
(an ensemble of seeds, or a bigger model with the same labels) besides the labels.

``--distill-from RUN[,RUN...]`` names completed runs of the app. Before training, each of them scores every
training example once, with its own tokenizer and ``--max-length``, at temperature T (``--distill-temperature``);
the mean of their probabilities becomes the ``teacher_probs`` column of the training set, so no teacher is loaded
while the model trains. :class:`~tlsuite_core.training.trainer.TlsTrainer` then minimises

    (1 - alpha) x the labels' cross-entropy (with any smoothing / class weights) + alpha x T^2 x KL(teachers || student_T)

where ``student_T`` is the softmax of the model's logits over T (``--distill-alpha``; T^2 keeps the gradient scale of
the soft term independent of T). Evaluation on dev uses the labels only.

Under cross-validation a teacher must not have seen the held-out fold, so ``--distill-from`` names a
cross-validation folder instead (the same training data and folds, run with ``--cv-keep-models``): each fold's run
learns from that folder's runs of the same fold (:func:`fold_teachers`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from .runs import read_json

__all__ = ["TEACHER_COLUMN", "add_teacher_targets", "check_teachers", "fold_teachers", "is_cv_folder", "teacher_runs"]

#: the training-set column that carries the teachers' mean probabilities (read by TlsTrainer.compute_loss)
TEACHER_COLUMN = "teacher_probs"


def is_cv_folder(path: str | Path) -> bool:
    """A cross-validation folder (``cv_plan.json``: :class:`~tlsuite_core.training.cv.CrossValidation`)."""
    return (Path(path) / "cv_plan.json").is_file()


def teacher_runs(references: Sequence[str]) -> list[Path]:
    """The run folders ``--distill-from`` names, each checked to be a completed run with its model."""
    runs = []
    for ref in references:
        path = Path(ref)
        if is_cv_folder(path):
            raise ConfigError(
                f"--distill-from {ref}: a cross-validation folder teaches only under --cv (each fold learns from its "
                "own fold's runs); outside --cv name run folders"
            )
        if not (path / "run.json").is_file():
            raise ConfigError(f"--distill-from {ref}: not a run folder (no run.json)")
        status = read_json(path / "run.json").get("status")
        if status != "completed" or not (path / "model").is_dir():
            raise ConfigError(f"--distill-from {ref}: not a completed run with its model (status {status})")
        runs.append(path)
    if not runs:
        raise ConfigError("--distill-from: name at least one run folder")
    return runs


def check_teachers(task: Any, references: Sequence[str], labels: Sequence[str]) -> list[Path]:
    """Before anything is written: the task can learn class probabilities and every teacher is a completed run
    with this run's labels (:func:`add_teacher_targets` then scores with them)."""
    from ..tasks.base import Task

    if type(task).soft_targets is Task.soft_targets:
        task.soft_targets(None, None, None, max_length=0, temperature=1.0)  # raises: the task's own message
    runs = teacher_runs(references)
    for path in runs:
        theirs = [str(label) for label in read_json(path / "run.json").get("labels") or []]
        if sorted(theirs) != sorted(labels):
            raise ConfigError(
                f"--distill-from {path}: its labels ({', '.join(theirs)}) are not this run's ({', '.join(labels)})"
            )
    return runs


def fold_teachers(folder: str | Path, fold: int, plan: dict[str, Any]) -> list[str]:
    """The runs of ``fold`` (0-based) in the cross-validation ``folder``, whose folds must be ``plan``'s (the same
    data, number of folds and split seed): a teacher of a fold never saw its held-out examples."""
    folder = Path(folder)
    theirs = read_json(folder / "cv_plan.json")
    for key in ("k", "split_seed", "data"):
        if theirs.get(key) != plan.get(key):
            raise ConfigError(
                f"--distill-from {folder}: its folds differ from this cross-validation's ({key}); the teachers must "
                "come from the same data, folds and split seed"
            )
    runs = sorted((folder / "runs").glob(f"fold{fold + 1}-seed*"))
    kept = [
        str(p)
        for p in runs
        if (p / "model").is_dir()
        and (p / "run.json").is_file()
        and read_json(p / "run.json").get("status") == "completed"
    ]
    if not kept:
        raise ConfigError(
            f"--distill-from {folder}: no completed run of fold {fold + 1} with its model (run that cross-validation "
            "with --cv-keep-models)"
        )
    return kept


def add_teacher_targets(
    task: Any, dataset: Any, data: Any, labels: Sequence[str], config: Any, console: Any, runs: Sequence[Path]
) -> tuple[Any, dict[str, Any]]:
    """``dataset`` (the encoded training data, in ``data``'s order) with the :data:`TEACHER_COLUMN` column from the
    teacher ``runs`` (:func:`check_teachers` checked them), and what to record in the run (teachers, alpha,
    temperature, the teachers' accuracy on the training data)."""
    from ..models import load_tokenizer, resolve_model

    start = time.perf_counter()
    console.print(
        f"distillation: {len(runs)} teacher run(s) score the {len(data)} training texts "
        f"(temperature {config.distill_temperature:g})"
    )
    total = np.zeros((len(data), len(labels)), dtype=np.float64)
    for path in runs:
        record = read_json(path / "run.json")
        theirs = [str(label) for label in record.get("labels") or []]
        resolved = resolve_model(str(path / "model"), aliases=task.aliases)
        model = task.load_trained(resolved)
        max_length = int((record.get("config") or {}).get("max_length") or config.max_length)
        probs = task.soft_targets(
            model, load_tokenizer(resolved), data, max_length=max_length, temperature=config.distill_temperature
        )
        total += np.asarray(probs, dtype=np.float64)[:, [theirs.index(label) for label in labels]]
        del model
    mean = (total / len(runs)).astype(np.float32)
    index = {label: i for i, label in enumerate(labels)}
    gold = np.array([index[label] for label in data.labels])
    accuracy = float((mean.argmax(-1) == gold).mean()) if len(gold) else float("nan")
    console.print(f"distillation: the teachers' mean agrees with {100 * accuracy:.2f} % of the training labels")
    dataset = dataset.add_column(TEACHER_COLUMN, mean.tolist())
    return dataset, {
        "teachers": [str(p) for p in runs],
        "alpha": config.distill_alpha,
        "temperature": config.distill_temperature,
        "teacher_train_accuracy": accuracy,
        "seconds": round(time.perf_counter() - start, 1),
    }
