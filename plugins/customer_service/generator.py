"""Generated replies: a decoder (``smollm2-135m`` by default) fine-tuned with LoRA through the core generation task
to write the reply to a customer's message from the message, its slots and a retrieved answer.

Training pairs come from labelled data with reference replies (Bitext: ``instruction`` -> ``response``). The
answer in each prompt is **not the example's own reply** (the model would learn to copy it) but the reply of its
nearest neighbour among the other training messages of the same intent (cosine of the run's sentence encoder);
at inference the bot gives the answer it retrieved. Placeholders (``{{Order Number}}``) stay in the training
targets and are filled after generation from the conversation's slots and the company profile, as template
replies are.

``generator/`` in a customer-service run is an ordinary run of the ``customer-service-generator`` app
(``model/`` holds the peft adapter and ``merged/`` the merged weights: plain transformers + peft);
``generator.json`` beside it records how it was trained.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from tlsuite_core.data import TEXT_COLUMNS, pick_column, read_table
from tlsuite_core.errors import ConfigError, DataError
from tlsuite_core.files import write_atomically
from tlsuite_core.metrics import Metric

GENERATOR = "generator"
RECORD = "generator.json"
#: the retrieved answer is cut to this many characters in a prompt (about 80 SmolLM2 tokens), at a word boundary
ANSWER_CHARS = 360
CONDITIONING = "the reply of the nearest other training message of the same intent (cosine of the run's base encoder)"


def reply_prompt(message: str, slots: Mapping[str, str], answer: str) -> str:
    """The generator's source text: the message, the slots (``type=value``) and the retrieved answer (cut)."""
    slot_text = "; ".join(f"{k}={v}" for k, v in sorted(slots.items())) or "none"
    cut = answer if len(answer) <= ANSWER_CHARS else answer[:ANSWER_CHARS].rsplit(" ", 1)[0] + " ..."
    return f"Customer message: {message}\nSlots: {slot_text}\nRetrieved answer: {cut}\nWrite the reply."


@dataclass
class ReplyExample:
    message: str
    intent: str
    reply: str
    slots: dict[str, str]


def read_reply_examples(
    source: str, fmt: str | None = None, adapters: Any = None, *, required: bool = True
) -> list[ReplyExample] | None:
    """Messages with their intent, reference reply (``response``/``answer``) and slot (``entity_type`` +
    ``entity_value``, when present); a missing column (``None`` when not ``required``) or an empty value is an
    error naming the line."""
    table = read_table(source, fmt, adapters)
    text = pick_column(table, None, (*TEXT_COLUMNS, "instruction", "question"), "text", "--text-col")
    label = pick_column(table, None, ("label", "intent", "category"), "label", "--label-col")
    reply = next((c for c in ("response", "answer") if c in table.columns), None)
    if reply is None and not required:
        return None
    if reply is None:
        raise DataError(
            f"generated replies need reference replies: no response or answer column (columns: "
            f"{', '.join(table.columns)})",
            path=source,
            line=1,
        )
    out = []
    for row, line in zip(table.rows, table.lines):
        values = {c: str(row.get(c) or "").strip() for c in (text, label, reply)}
        for column, value in values.items():
            if not value:
                raise DataError("empty value", path=source, line=line, field=column)
        kind, value = str(row.get("entity_type") or "").strip(), str(row.get("entity_value") or "").strip()
        out.append(ReplyExample(values[text], values[label], values[reply], {kind: value} if kind and value else {}))
    return out


def neighbour_answers(examples: Sequence[ReplyExample], vectors: np.ndarray) -> list[int]:
    """For each example, the index of its nearest other example of the same intent with another reply (any other
    example when its intent has no such one); ``vectors`` are L2-normalised message embeddings."""
    sims = vectors @ vectors.T
    intents = np.array([e.intent for e in examples])
    replies = np.array([e.reply for e in examples])
    out = []
    for i in range(len(examples)):
        row = np.where(replies == replies[i], -np.inf, sims[i])
        same = np.where(intents == intents[i], row, -np.inf)
        pick = same if np.isfinite(same).any() else row
        out.append(int(np.argmax(pick)) if np.isfinite(pick).any() else i)
    return out


def reply_pairs(examples: Sequence[ReplyExample], encoder: Any) -> list[dict[str, str]]:
    """Generator training pairs: the prompt with a neighbour's reply as the retrieved answer -> the reply."""
    neighbours = neighbour_answers(examples, encoder.encode([e.message for e in examples]))
    return [
        {"source": reply_prompt(e.message, e.slots, examples[j].reply), "target": e.reply}
        for e, j in zip(examples, neighbours)
    ]


def train_generator(
    run_dir: Path,
    examples: Sequence[ReplyExample],
    encoder: Any,
    *,
    base: str,
    train_options: Sequence[str] = (),
    threads: int | None = None,
    source: str = "",
) -> Path:
    """Train ``run_dir/generator`` (a ``customer-service generator train`` run in a child process: the core engine,
    the generation task, LoRA by default) on the reply pairs, and record it in ``run_dir/generator.json``."""
    if len(examples) < 2:
        raise DataError("generated replies need at least two training examples with replies", path=source or None)
    work = run_dir / ".generator-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    start = time.perf_counter()
    pairs = reply_pairs(examples, encoder)
    pairs_file = write_atomically(
        work / "pairs.jsonl", "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs)
    )
    cmd = [sys.executable, "-m", "tlsuite_core", "customer-service", "generator", "train", "--train", str(pairs_file)]
    cmd += ["--model", base, "--runs-dir", str(work / "runs"), "--name", GENERATOR]
    cmd += [*(["--threads", str(threads)] if threads else []), *train_options]
    if subprocess.run(cmd).returncode != 0:
        raise ConfigError(f"training the reply generator failed: {' '.join(cmd)}")
    target = run_dir / GENERATOR
    shutil.rmtree(target, ignore_errors=True)
    (work / "runs" / "customer-service-generator" / GENERATOR).rename(target)
    shutil.rmtree(target / "checkpoints", ignore_errors=True)
    record = json.loads((target / "run.json").read_text(encoding="utf-8"))
    summary = {
        "enabled": True,
        "base": base,
        "source": source,
        "pairs": len(pairs),
        "conditioning": CONDITIONING,
        "answer_chars": ANSWER_CHARS,
        "train_options": list(train_options),
        "steps": record.get("metrics", {}).get("steps") or record.get("steps"),
        "seconds": round(time.perf_counter() - start, 1),
    }
    write_atomically(run_dir / RECORD, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return target


def add_generator(
    run: str,
    data: str | None = None,
    fmt: str | None = None,
    *,
    examples: Sequence[ReplyExample] | None = None,
    base: str | None = None,
    steps: int | None = None,
    threads: int | None = None,
) -> Path:
    """``train-generator`` / ``train --generator``: the generator of a run, trained on ``data`` (default: the run's
    training data; ``examples`` when the caller read them already)."""
    from tlsuite_core.apps import load_app
    from tlsuite_core.retrieval import Encoder

    from . import APP, GENERATOR_APP
    from .workflows import run_folder

    run_dir = run_folder(run)
    app = load_app(run_dir, device="cpu", backend="torch", app=APP.name)
    config = app.record.get("config", {})
    source = data or config.get("train")
    if examples is None:
        if not source:
            raise ConfigError(f"{run_dir}: the run records no training data; pass --data")
        examples = read_reply_examples(source, fmt if data else config.get("format"), app.task.adapters)
    encoder = Encoder(config.get("model") or APP.default_model, device="cpu", aliases=app.task.aliases)
    return train_generator(
        run_dir,
        examples,
        encoder,
        base=base or GENERATOR_APP.default_model,
        train_options=["--max-steps", str(steps)] if steps else [],
        threads=threads,
        source=str(source),
    )


class Generator:
    """A run's ``generator/`` loaded for replies (batched, greedy unless the run says otherwise)."""

    def __init__(self, folder: Path, *, registry: Any = None) -> None:
        from tlsuite_core.apps import load_app

        from . import GENERATOR_APP

        self.app = load_app(folder, device="cpu", registry=registry, app=GENERATOR_APP.name)

    def replies(self, prompts: Sequence[str], batch_size: int = 8) -> list[str]:
        return [g.text for g in self.app.predict(list(prompts), batch_size=batch_size)]


def reply_chrf(references: Sequence[str], predictions: Sequence[str]) -> dict[str, Any]:
    """Corpus chrF2 (sacrebleu, one reference per reply), with its signature and the number of replies."""
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    score = metric.corpus_score(list(predictions), [list(references)])
    return {"chrf": float(score.score), "n": len(predictions), "signature": str(metric.get_signature())}


REPLY_CHRF = Metric(
    "reply-chrf",
    lambda references, predictions, options: reply_chrf([refs[0] for refs in references], predictions),
    "chrF2 (sacrebleu) of generated replies against the reference replies",
    keys=("chrf",),
)
