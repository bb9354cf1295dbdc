"""What the commands do, as functions of paths and options (the CLI only parses and prints)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tlsuite_core.data import load_labelled
from tlsuite_core.errors import ConfigError, DataError
from tlsuite_core.files import write_atomically

from . import ood
from .intents import OUT_OF_SCOPE, IntentModel, calibrate, label_ids


def _labelled(source: str, fmt: str | None, model: IntentModel) -> Any:
    return load_labelled(source, fmt=fmt, adapters=model.trained.task.adapters)


def calibrate_run(run: str, dev: str, train: str | None, fmt: str | None, **options: Any) -> dict[str, Any]:
    """``calibrate``: temperature, ECE and the out-of-scope threshold on ``dev``, written into the run."""
    threads = options.pop("threads", None)
    model = IntentModel.load(run, threads=threads)
    dev_data = _labelled(dev, fmt, model)
    train_source = train or model.trained.record.get("config", {}).get("train")
    train_texts: list[str] = []
    if options.get("method", "knn") == "knn":
        if not train_source:
            raise ConfigError("--method knn needs the training data: pass --train")
        train_fmt = fmt if train else model.trained.record.get("config", {}).get("format")
        train_texts = load_labelled(train_source, fmt=train_fmt, adapters=model.trained.task.adapters).texts
    labels = label_ids(dev_data.labels, model.labels, dev_data.source, dev_data.lines)
    return calibrate(model, train_texts, dev_data.texts, labels, **options)


def evaluate_run(
    run: str, data: str, fmt: str | None, *, threads: int | None = None, generated_limit: int = 200
) -> dict[str, Any]:
    """``evaluate``: closed-set accuracy / macro-F1 over in-scope rows; rejection figures beside them (rows
    labelled ``out_of_scope`` are the out-of-scope set when present); with reference replies in the data (a
    ``response`` or ``answer`` column), the reply figures (:mod:`.replies`)."""
    from tlsuite_core.metrics import classification_metrics

    model = IntentModel.load(run, threads=threads)
    labelled = _labelled(data, fmt, model)
    inside = [i for i, label in enumerate(labelled.labels) if label != OUT_OF_SCOPE]
    if not inside:
        raise DataError("no in-scope rows to score", path=data)
    refs = label_ids(
        [labelled.labels[i] for i in inside], model.labels, labelled.source, [labelled.lines[i] for i in inside]
    )
    logits, features = model.forward(labelled.texts)
    cfg = model.ood
    scores = model.scores(cfg["method"], logits, features, float(cfg.get("temperature", 1.0)), int(cfg.get("k", 1)))
    preds = logits[inside].argmax(1)
    metrics = classification_metrics(refs.tolist(), preds.tolist(), model.labels)
    outside = [i for i, label in enumerate(labelled.labels) if label == OUT_OF_SCOPE]
    rejection: dict[str, Any] = {
        "method": cfg["method"],
        "threshold": cfg["threshold"],
        "calibrated": bool(cfg.get("calibrated")),
        "in_scope_rejected": float(np.mean(scores[inside] < cfg["threshold"])),
    }
    if outside:
        rejection.update(ood.detection_figures(scores[inside], scores[outside]))
        rejection["out_of_scope_rejected"] = float(np.mean(scores[outside] < cfg["threshold"]))
    calibration = ood.reliability(ood.softmax(logits[inside], float(cfg.get("temperature", 1.0))), refs)
    from .generator import read_reply_examples
    from .replies import reply_figures

    examples = read_reply_examples(data, fmt, model.trained.task.adapters, required=False)
    replies = (
        None if examples is None else reply_figures(run, examples, threads=threads, generated_limit=generated_limit)
    )
    return {
        **metrics,
        "n": len(inside),
        "n_out_of_scope": len(outside),
        "ece": calibration["ece"],
        "out_of_scope": rejection,
        "replies": replies,
        "model": str(model.run_dir),
        "data": {"source": str(data), "fingerprint": getattr(labelled, "fingerprint", None)},
    }


def held_out_split(labels: Sequence[str], fraction: float, seed: int) -> list[str]:
    """The seeded share of the intents held out (sorted, then shuffled with ``random.Random(seed)``)."""
    intents = sorted(set(labels))
    rng = random.Random(seed)
    rng.shuffle(intents)
    return sorted(intents[: max(1, round(len(intents) * fraction))])


def _write_csv(path: Path, texts: Sequence[str], labels: Sequence[str], **more: Sequence[str]) -> Path:
    """A ``text,label`` CSV (and the ``more`` columns after them)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["text", "label", *more])
    writer.writerows(zip(texts, labels, *more.values()))
    return write_atomically(path, buf.getvalue())


def held_out_intents_evaluation(
    train: str, dev: str, work: Path, *, fraction: float, seed: int, train_options: list[str], threads: int | None
) -> dict[str, Any]:
    """Train on the intents not held out (a tenth of their rows, seeded, kept apart for calibration), then score
    every out-of-scope method on dev: held-out intents' rows are out of scope."""
    train_data, dev_data = load_labelled(train), load_labelled(dev)
    held = set(held_out_split(train_data.labels, fraction, seed))
    keep = [i for i, label in enumerate(train_data.labels) if label not in held]
    random.Random(seed).shuffle(keep)
    n_cal = max(1, len(keep) // 10)
    cal, fit = sorted(keep[:n_cal]), sorted(keep[n_cal:])
    work.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, rows in (("train", fit), ("calibration", cal)):
        files[name] = _write_csv(
            work / f"{name}.csv", [train_data.texts[i] for i in rows], [train_data.labels[i] for i in rows]
        )
    run = _train_or_reuse(work, files, seed, train_options, threads)
    model = IntentModel.load(run, threads=threads)
    cal_labels = label_ids([train_data.labels[i] for i in cal], model.labels, str(files["calibration"]), cal)
    settings = calibrate(model, [train_data.texts[i] for i in fit], [train_data.texts[i] for i in cal], cal_labels)
    logits, features = model.forward(dev_data.texts)
    inside = np.array([label not in held for label in dev_data.labels])
    refs = [model.labels.index(label) for label in np.array(dev_data.labels)[inside]]
    methods = {}
    for method in ood.METHODS:
        scores = model.scores(method, logits, features, settings["temperature"], 1)
        methods[method] = ood.detection_figures(scores[inside], scores[~inside])
    return {
        "held_out_intents": sorted(held),
        "fraction": fraction,
        "seed": seed,
        "train_rows": len(fit),
        "calibration_rows": len(cal),
        "dev_in_scope": int(inside.sum()),
        "dev_out_of_scope": int((~inside).sum()),
        "in_scope_accuracy": float(np.mean(logits[inside].argmax(1) == np.array(refs))),
        "temperature": settings["temperature"],
        "ece_before": settings["ece_before"],
        "ece_after": settings["ece_after"],
        "methods": methods,
        "run": str(run),
    }


def _train_or_reuse(work: Path, files: dict[str, Path], seed: int, options: list[str], threads: int | None) -> Path:
    run = work / "runs" / "customer-service" / "held-out"
    record = run / "run.json"
    if record.is_file() and json.loads(record.read_text())["status"] == "completed":
        return run
    cmd = [sys.executable, "-m", "tlsuite_core", "customer-service", "train"]
    if record.is_file() and any((run / "checkpoints").glob("checkpoint-*")):
        cmd += ["--resume", str(run)]
    else:
        shutil.rmtree(run, ignore_errors=True)
        cmd += ["--train", str(files["train"]), "--dev", str(files["calibration"]), "--seed", str(seed)]
        cmd += ["--runs-dir", str(work / "runs"), "--name", "held-out"]
    cmd += [*(["--threads", str(threads)] if threads else []), *options]
    if subprocess.run(cmd).returncode != 0:
        raise ConfigError(f"training the held-out-intents run failed: {' '.join(cmd)}")
    return run


def prepare_bitext_files(source: Path, out: Path) -> dict[str, Any]:
    """Bitext -> ``{split}.csv`` (text, label; response and entity for generated replies and reply chrF),
    ``slots-{split}.jsonl`` (text, entities), ``answers.jsonl`` (the
    training answers: id, intent, question, answer); returns the counts, slot offsets checked."""
    from .data import SPLITS, read_bitext, slot_rows, split_of

    table = read_bitext(source)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"source": str(source), "rows": len(table.rows), "splits": {}, "slot_spans": {}}
    for split in SPLITS:
        rows = [row for row in table.rows if split_of(row["text"]) == split]
        replies = {k: [r[k] for r in rows] for k in ("response", "entity_type", "entity_value")}
        _write_csv(out / f"{split}.csv", [r["text"] for r in rows], [r["label"] for r in rows], **replies)
        slot_data, counts = slot_rows(rows)
        write_atomically(
            out / f"slots-{split}.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in slot_data)
        )
        summary["splits"][split] = len(rows)
        summary["slot_spans"][split] = counts
        if split == "train":
            lines = [
                json.dumps(
                    {"id": f"{r['label']}-{i}", "intent": r["label"], "question": r["text"], "answer": r["response"]},
                    ensure_ascii=False,
                )
                + "\n"
                for i, r in enumerate(rows, start=1)
            ]
            write_atomically(out / "answers.jsonl", "".join(lines))
    return summary


def store_answers(
    run: str, source: str, fmt: str | None, placeholder_map: str | None, profile: str | None
) -> dict[str, Any]:
    """``answers``: the answer set with its placeholder map and profile, saved into the run's ``answers/``."""
    from .answers import ANSWERS, build_answer_set, read_answers

    model_dir = run_folder(run)
    from tlsuite_core.apps import load_app

    adapters = load_app(model_dir, device="cpu").task.adapters if fmt == "bitext" else None
    answer_set = build_answer_set(read_answers(source, fmt, adapters), placeholder_map, profile)
    folder = answer_set.save(model_dir / ANSWERS)
    slots = sorted({m["slot"] for m in answer_set.mapping.values() if "slot" in m})
    constants = sorted({m["constant"] for m in answer_set.mapping.values() if "constant" in m})
    return {
        "answers": len(answer_set.answers),
        "intents": len({a.intent for a in answer_set.answers.values()}),
        "placeholders": len(answer_set.mapping),
        "slot_types": slots,
        "constants_missing_from_profile": sorted(set(constants) - set(answer_set.profile)),
        "folder": str(folder),
    }


def known_adapters(fmt: str | None) -> Any:
    """Data adapters for reading a file before a run exists: this plugin's ``bitext`` when asked for, else the
    core's readers."""
    from .data import BITEXT

    return {BITEXT.name: BITEXT} if fmt == BITEXT.name else None


def run_folder(run: str) -> Path:
    """A run folder given as a path or an app name (its latest completed run)."""
    from tlsuite_core.apps import load_app

    path = Path(run)
    if (path / "run.json").is_file():
        return path
    app = load_app(run, device="cpu")
    if app.run_dir is None:
        raise ConfigError(f"{run}: not a customer-service run folder")
    return Path(app.run_dir)


def question_answer_pairs(source: str, fmt: str | None, adapters: Any) -> tuple[list[str], list[str], list[str]]:
    """(questions, answers, intents) from a file with question/answer (or Bitext) columns."""
    from .answers import read_answers

    rows = read_answers(source, fmt, adapters)
    missing = [a.id for a in rows if not a.question]
    if missing:
        raise DataError(f"answer '{missing[0]}' has no question (a question/text/instruction column)", path=source)
    return [a.question for a in rows], [a.text for a in rows], [a.intent for a in rows]


def fit_retriever(run, data, fmt, base, epochs, batch_size, lr, max_length, seed, threads) -> Path:
    """``train-retriever``: fine-tune the bi-encoder on the pairs into RUN/retriever."""
    from tlsuite_core.apps import load_app

    from .retriever import RETRIEVER, train_retriever

    if threads:
        import torch

        torch.set_num_threads(threads)
    run_dir = run_folder(run)
    app = load_app(run_dir, device="cpu")
    questions, answers_, _ = question_answer_pairs(data, fmt, app.task.adapters)
    base_model = base or app.record.get("config", {}).get("model") or "minilm"
    return train_retriever(
        base_model,
        questions,
        answers_,
        run_dir / RETRIEVER,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        max_length=max_length,
        seed=seed,
        aliases=app.task.aliases,
    )


def attach_slots(run: str, slots_run: Path) -> Path:
    """``use-slots``: copy a completed slots run into the customer-service run as ``slots/``."""
    from .slots import SLOTS

    record = slots_run / "run.json"
    if not record.is_file() or json.loads(record.read_text()).get("status") != "completed":
        raise ConfigError(f"{slots_run}: not a completed slots run")
    if json.loads(record.read_text()).get("task") != "token-classification":
        raise ConfigError(f"{slots_run}: not a token-classification run")
    target = run_folder(run) / SLOTS
    staging = target.with_name(".slots.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(slots_run, staging, ignore=shutil.ignore_patterns("checkpoints"))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
