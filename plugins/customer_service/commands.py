"""The ``tlsuite customer-service`` command group: the core's classification commands (``train``, ``compare``,
``predict``) with this app's ``evaluate`` (closed-set figures plus rejection, reply chrF) and ``train --generator``,
and ``calibrate``, ``evaluate-oos``, ``prepare-bitext``, ``answers``, ``train-retriever``, ``train-generator``,
``slots``, ``generator``, ``respond``, ``chat`` and ``report``. The CLI parses and prints; the work is in the modules beside this one."""
# no `from __future__ import annotations`: Typer reads these annotations at runtime

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from tlsuite_core.tasks import SequenceClassification, option

from . import APP, GENERATOR_APP, SLOTS_APP

err = Console(stderr=True)

ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="A customer-service run folder (default: the latest run under runs/).")
]
DbOpt = Annotated[
    str,
    typer.Option("--db", help="Conversation store: a SQLAlchemy URL (PostgreSQL: postgresql+psycopg://...)."),
]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", help="CPU threads for torch.")]


@dataclass
class CustomerServiceOptions(SequenceClassification.options_class):  # type: ignore[name-defined,misc]
    """``train``'s options for the reply generator (read by this plugin's ``train`` before the engine sees them:
    the generator is a second run, ``generator/``, trained after the intents)."""

    generator: bool = option(
        False,
        panel="Model",
        commands=("train",),
        help="Also train the reply generator into RUN/generator (smollm2-135m + LoRA on the training data's "
        "response column; slow on a CPU): replies of intents in mode 'generated'. Recorded in RUN/generator.json.",
    )
    generator_model: Optional[str] = option(
        None, panel="Model", commands=("train",), unset="smollm2-135m", help="--generator: the decoder to fine-tune."
    )
    generator_steps: Optional[int] = option(
        None,
        panel="Model",
        commands=("train",),
        ge=1,
        unset="one epoch",
        help="--generator: stop the generator's training after N optimiser steps.",
    )


GENERATOR_KEYS = ("generator", "generator_model", "generator_steps")


def calibrate(
    model: ModelOpt = APP.name,
    dev: Annotated[str, typer.Option(help="Labelled dev data (same formats as train).")] = ...,
    train: Annotated[
        Optional[str], typer.Option(help="Training data for the nearest-neighbour index (default: the run's).")
    ] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="Data format (default: by suffix).")] = None,
    method: Annotated[str, typer.Option(help="Out-of-scope score: knn | msp-t | energy | msp.")] = "knn",
    k: Annotated[int, typer.Option(min=1, help="knn: neighbours averaged.")] = 1,
    recall: Annotated[float, typer.Option(min=0.5, max=1.0, help="In-scope recall the threshold keeps.")] = 0.95,
    threads: ThreadsOpt = None,
) -> None:
    """Fit the temperature, measure calibration (ECE) and set the out-of-scope threshold on dev; stored in the run
    (ood.json, ood-index/).

    Example: tlsuite customer-service calibrate --model runs/customer-service/NAME --dev dev.csv
    """
    from .workflows import calibrate_run

    settings = calibrate_run(model, dev, train, format, method=method, k=k, recall=recall, threads=threads)
    err.print(
        f"temperature {settings['temperature']:.3f}; ECE {settings['ece_before']:.4f} -> {settings['ece_after']:.4f}; "
        f"{method} threshold {settings['threshold']:.4f} (in-scope recall {recall:.2f} on dev)"
    )


def evaluate(
    data: Annotated[str, typer.Option(help="Labelled data; rows labelled out_of_scope count as out of scope.")],
    model: ModelOpt = APP.name,
    output: Annotated[Optional[Path], typer.Option(help="Write the metrics as JSON here.")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="Data format (default: by suffix).")] = None,
    generated_limit: Annotated[
        int, typer.Option(min=0, help="Reply chrF: generate replies for at most N answered messages.")
    ] = 200,
    threads: ThreadsOpt = None,
) -> None:
    """Closed-set accuracy and macro-F1 (argmax over the intents) at the top level, the out-of-scope rejection
    figures beside them; with reference replies in the data (a response or answer column), each message through
    the bot: answered / asked for a slot / not understood / escalated (the escalation rate) and reply chrF of the
    template replies (and of generated replies when the run has a generator).

    Example: tlsuite customer-service evaluate --model runs/customer-service/NAME --data test.csv --output m.json
    """
    from .workflows import evaluate_run

    metrics = evaluate_run(model, data, format, threads=threads, generated_limit=generated_limit)
    text = json.dumps(metrics, indent=2) + "\n"
    if output is not None:
        from tlsuite_core.files import write_atomically

        write_atomically(output, text)
        err.print(f"metrics written to {output}")
    rejection = metrics["out_of_scope"]
    Console().print(
        f"accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}   "
        f"in-scope rejected {rejection['in_scope_rejected']:.4f}   (n={metrics['n']})"
    )
    replies = metrics.get("replies")
    if replies:
        generated = replies.get("generated")
        Console().print(
            f"replies: template chrF {replies['template']['chrf']:.2f}   escalation rate "
            f"{replies['escalation_rate']:.4f}"
            + (f"   generated chrF {generated['chrf']:.2f} (n={generated['n']})" if generated else "")
        )


def evaluate_oos(
    train: Annotated[str, typer.Option(help="Intent-labelled training data.")],
    dev: Annotated[str, typer.Option(help="Labelled dev data: held-out intents' rows become out of scope.")],
    output: Annotated[Path, typer.Option(help="Write the figures as JSON here.")],
    fraction: Annotated[float, typer.Option(min=0.05, max=0.9, help="Share of intents held out.")] = 0.25,
    seed: Annotated[int, typer.Option(help="Seed of the held-out intents and of training.")] = 13,
    work: Annotated[Path, typer.Option(help="Folder for the held-out run and files.")] = Path("runs/oos-eval"),
    train_option: Annotated[
        Optional[list[str]],
        typer.Option("--train-option", help="Extra option for train, e.g. --train-option=--epochs=2."),
    ] = None,
    threads: ThreadsOpt = None,
) -> None:
    """Out-of-scope evaluation without out-of-scope data: hold out a seeded share of the intents from training
    (a separate run), treat their dev utterances as out of scope; AUROC, FPR@95 and in-scope accuracy for every
    score (msp baseline, msp-t, energy, knn).

    Example: tlsuite customer-service evaluate-oos --train train.csv --dev dev.csv --output oos.json
    """
    from .workflows import held_out_intents_evaluation

    result = held_out_intents_evaluation(
        train, dev, work, fraction=fraction, seed=seed, train_options=train_option or [], threads=threads
    )
    from tlsuite_core.files import write_atomically

    write_atomically(output, json.dumps(result, indent=2) + "\n")
    for method, row in result["methods"].items():
        Console().print(f"{method:>7}  AUROC {row['auroc']:.4f}   FPR@95 {row['fpr@95']:.4f}")
    err.print(f"written to {output}")


def prepare_bitext(
    source: Annotated[Path, typer.Argument(help="The Bitext customer-support CSV.")],
    out: Annotated[Path, typer.Option(help="Folder for the split files.")],
) -> None:
    """Split a Bitext file by the shared hash rule (sha256("13:" + instruction) % 10: <= 7 train, 8 dev, 9 test)
    into intent files, slot files (text + entities; offsets checked and counted) and the training answers.

    Example: tlsuite customer-service prepare-bitext Bitext.csv --out data/bitext
    """
    from .workflows import prepare_bitext_files

    summary = prepare_bitext_files(source, out)
    Console().print_json(json.dumps(summary))


def answers(
    answers_file: Annotated[
        str, typer.Option("--answers", help="Answers: CSV/JSONL with intent + answer (or Bitext).")
    ],
    model: ModelOpt = APP.name,
    format: Annotated[Optional[str], typer.Option("--format", help="Data format (bitext, csv, jsonl...).")] = None,
    placeholders: Annotated[
        Optional[str], typer.Option(help="YAML placeholder map: NAME: {slot: TYPE} or {constant: KEY}.")
    ] = None,
    profile: Annotated[Optional[str], typer.Option(help="YAML company profile: KEY: text.")] = None,
) -> None:
    """Store the answer set, its placeholder map and the company profile in a run (answers/); the answer index
    is rebuilt on first use.

    Example: tlsuite customer-service answers --model runs/customer-service/NAME --answers answers.jsonl --profile company.yaml
    """
    from .workflows import store_answers

    _own_run(model)
    summary = store_answers(model, answers_file, format, placeholders, profile)
    Console().print_json(json.dumps(summary))


def train_retriever(
    data: Annotated[str, typer.Option(help="Question -> answer pairs (question/answer or Bitext columns).")],
    model: ModelOpt = APP.name,
    format: Annotated[Optional[str], typer.Option("--format", help="Data format (bitext, csv, jsonl...).")] = None,
    base: Annotated[Optional[str], typer.Option(help="Encoder to fine-tune (default: the run's base model).")] = None,
    epochs: Annotated[float, typer.Option(min=0.1, help="Epochs.")] = 1.0,
    batch_size: Annotated[int, typer.Option(min=2, help="Batch size (in-batch negatives).")] = 32,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 5e-5,
    max_length: Annotated[int, typer.Option(help="Token limit per text.")] = 128,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    threads: ThreadsOpt = None,
) -> None:
    """Fine-tune the bi-encoder (sentence-transformers, in-batch negatives) into RUN/retriever.

    Example: tlsuite customer-service train-retriever --model runs/customer-service/NAME --data train.csv --format bitext
    """
    from .workflows import fit_retriever

    folder = fit_retriever(model, data, format, base, epochs, batch_size, lr, max_length, seed, threads)
    typer.echo(str(folder))


def train_generator(
    model: ModelOpt = APP.name,
    data: Annotated[
        Optional[str],
        typer.Option(help="Messages with intents and reference replies (default: the run's training data)."),
    ] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="Data format (bitext, csv, jsonl...).")] = None,
    base: Annotated[Optional[str], typer.Option(help="Decoder to fine-tune with LoRA (default: smollm2-135m).")] = None,
    max_steps: Annotated[
        Optional[int], typer.Option(min=1, help="Stop after N optimiser steps (default: one epoch).")
    ] = None,
    threads: ThreadsOpt = None,
) -> None:
    """Fine-tune the reply generator into RUN/generator (what train --generator does after the intents): each
    training message's prompt holds its slots and the reply of its nearest same-intent neighbour, the target is its
    own reply.

    Example: tlsuite customer-service train-generator --model runs/customer-service/NAME --data train.csv --max-steps 300
    """
    from .generator import add_generator

    _own_run(model)
    typer.echo(str(add_generator(model, data, format, base=base, steps=max_steps, threads=threads)))


def use_slots(
    slots_run: Annotated[Path, typer.Option("--slots", help="A completed customer-service-slots run.")],
    model: ModelOpt = APP.name,
) -> None:
    """Copy a slots run (tlsuite customer-service slots train) into a customer-service run as slots/.

    Example: tlsuite customer-service use-slots --model runs/customer-service/NAME --slots runs/customer-service-slots/NAME
    """
    from .workflows import attach_slots

    _own_run(model)
    typer.echo(str(attach_slots(model, slots_run)))


def respond(
    message: Annotated[str, typer.Argument(help="The customer's message.")],
    session: Annotated[str, typer.Option("--session", help="Conversation id (the state is kept per id).")],
    model: ModelOpt = APP.name,
    db: DbOpt = "sqlite:///customer-service.db",
    threads: ThreadsOpt = None,
) -> None:
    """Answer one message of a conversation; prints one JSON object (reply, intent, confidence, slots, escalation).

    Example: tlsuite customer-service respond --model runs/customer-service/NAME --session 42 "where is my order?"
    """
    from .bot import Bot
    from .store import Store

    bot = Bot(model, None, threads=threads)  # the model first: a bad --model creates no database
    bot.store = Store(db)
    try:
        reply = bot.respond(session, message)
    finally:
        bot.store.close()
    typer.echo(json.dumps({"session": session, **reply.as_dict()}, ensure_ascii=False))


def chat(
    model: ModelOpt = APP.name,
    session: Annotated[Optional[str], typer.Option("--session", help="Conversation id (default: a new one).")] = None,
    db: DbOpt = "sqlite:///customer-service.db",
    threads: ThreadsOpt = None,
) -> None:
    """A terminal conversation with the bot (rich output); /quit or Ctrl-D ends it.

    Example: tlsuite customer-service chat --model runs/customer-service/NAME --session demo
    """
    from .chat import run_chat

    run_chat(model, session, db, threads)


def report(
    model: ModelOpt = APP.name,
    output: Annotated[Path, typer.Option(help="Markdown report file (figures beside it).")] = Path("report.md"),
    results: Annotated[Optional[list[Path]], typer.Option("--results", help="JSON results to include.")] = None,
) -> None:
    """A Markdown report of a run: intent figures, calibration (reliability diagram), the most-confused intents,
    retrieval curves and the given results files.

    Example: tlsuite customer-service report --model runs/customer-service/NAME --output report.md
    """
    from .report import write_report

    _own_run(model)
    typer.echo(str(write_report(model, output, results or [])))


def _own_run(model: str) -> None:
    """Refuse a run of another app before reading anything else (one line naming that app and its commands)."""
    from tlsuite_core.apps import check_run_app, run_record

    check_run_app(model, run_record(model), APP.name)


def customer_service_commands() -> Any:
    from tlsuite_core.commands.classification import classification_commands
    from tlsuite_core.commands.token_classification import token_classification_commands

    sub = classification_commands(APP, task_options=CustomerServiceOptions)
    sub.registered_commands = [c for c in sub.registered_commands if c.callback.__name__ != "evaluate"]
    for command in sub.registered_commands:
        if command.callback.__name__ == "train":
            command.callback = _with_generator(command.callback)
    for fn in (evaluate, calibrate, evaluate_oos, prepare_bitext, answers, train_retriever, train_generator):
        _register(sub, fn)
    for fn in (use_slots, respond, chat, report):
        _register(sub, fn)
    slots = token_classification_commands(SLOTS_APP, command=f"{APP.name} slots")
    sub.add_typer(slots, name="slots", help=SLOTS_APP.description)
    sub.add_typer(_generator_commands(), name="generator", help=GENERATOR_APP.description)
    return sub


def _with_generator(inner: Any) -> Any:
    """The core's ``train`` with ``--generator``: the data's replies are checked first, the intents trained, then
    the generator (its options never reach the engine: the intent run's task knows nothing of them)."""

    @functools.wraps(inner)
    def train(**kwargs: Any) -> None:
        from tlsuite_core.errors import ConfigError

        wanted = {key: kwargs.pop(key) for key in GENERATOR_KEYS}
        kwargs.update(generator=False, generator_model=None, generator_steps=None)
        if not wanted["generator"]:
            if wanted["generator_model"] or wanted["generator_steps"]:
                raise ConfigError("--generator-model and --generator-steps go with --generator")
            return inner(**kwargs)
        if kwargs.get("search") or kwargs.get("cv"):
            raise ConfigError("--generator trains the generator of one run: not with --search or --cv")
        from .generator import add_generator, read_reply_examples
        from .workflows import known_adapters

        examples = None
        if kwargs.get("train") and not kwargs.get("resume"):  # bad replies fail before the intents train
            examples = read_reply_examples(kwargs["train"], kwargs.get("format"), known_adapters(kwargs.get("format")))
        run = inner(**kwargs)  # the core's train prints the run folder and returns it
        steps, base = wanted["generator_steps"], wanted["generator_model"]
        add_generator(str(run), examples=examples, base=base, steps=steps, threads=kwargs.get("threads"))

    return train


def _generator_commands() -> Any:
    """The core's generation commands for the reply generator, under ``customer-service generator``."""
    from tlsuite_core.commands.generation import GenerationExamples, generation_commands

    examples = GenerationExamples(
        data="--train pairs.jsonl --dev dev.jsonl   (source: prompt with message, slots and answer; target: reply)",
        pairs="pairs.jsonl",
        text='"Customer message: where is my order 12345?"',
    )
    group = generation_commands(GENERATOR_APP, examples=examples)
    words = (f"tlsuite {GENERATOR_APP.name} ", f"tlsuite {APP.name} generator ")
    group.info.epilog = group.info.epilog.replace(*words)
    for command in group.registered_commands:
        command.epilog = command.epilog.replace(*words)
    return group


def _register(group: Any, fn: Any) -> None:
    """Add ``fn`` to ``group``: its docstring is the help, its ``Example:`` line the epilog (shown last, as every
    tlsuite command shows its example)."""
    import inspect

    lines = inspect.cleandoc(fn.__doc__ or "").splitlines()
    examples = [line for line in lines if line.startswith(("Example:", "Examples:"))]
    text = "\n".join(line for line in lines if line not in examples).strip()
    group.command(name=fn.__name__.replace("_", "-"), help=text, epilog=examples[0] if examples else None)(fn)
