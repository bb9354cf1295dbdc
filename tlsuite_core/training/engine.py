"""The training engine: (app, config) -> a run folder. The only code that builds a ``transformers.Trainer``.

:func:`train` is the recipe, a handful of named steps over one :class:`TrainingPlan`::

    load_data        read and validate the data, pick the labels (before anything imports torch)
    choose_model     device, precision, threads; the model reference -> a local folder
    open_run         a new run folder (config.yaml, run.json), or the checkpoint a --resume continues from
    build_model      tokenizer, task model, encoded data, the strategy (freezing, PEFT, adapters)
    build_trainer    TrainingArguments and the TlsTrainer (training/trainer.py) with the run's callbacks
    fit              train, or resume exactly from the last checkpoint
    average          with --average-checkpoints: the mean of the chosen checkpoints' weights (training/averaging.py)
    evaluate         the selected model on the dev set; report files
    save             model/ (staged, then moved into place), metrics.json, run.json status "completed" last
    export_onnx      onnx/ for ONNX Runtime (sequence classification; a failure is recorded, the run stays complete)

Around the steps that can fail half-way, :func:`_recording_outcome` records ``interrupted`` (Ctrl-C, SIGTERM) or
``failed`` in run.json. Continual updates (``--init-from``) live in :mod:`.continual`, which examples a run sees
(subsets, dev split, oversampling) in :mod:`.sampling`, the Trainer's overrides in :mod:`.trainer`.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from .. import devices
from ..apps import AppSpec
from ..config import TrainConfig, build_config, load_config_file, save_config
from ..errors import ConfigError, RunInterrupted, TlsuiteError, first_line
from ..models import load_tokenizer, resolve_model
from ..registry import Registry
from .continual import Continual
from .runs import (
    Attempts,
    RunFolder,
    Timer,
    now_iso,
    read_json,
    this_process,
    write_json,
)
from .sampling import oversample, split, subsample
from .strategies import count_parameters, get_strategy, planned_steps, prepare_model


@dataclass
class RunResult:
    path: Path
    metrics: dict[str, Any]
    record: dict[str, Any]


@dataclass
class TrainingPlan:
    """What one training run decides and builds, filled in step by step by :func:`train`."""

    app: AppSpec
    config: TrainConfig
    task: Any
    console: Any
    callbacks: list[Any]
    timer: Timer = field(default_factory=Timer)
    command: str = ""
    registry: Registry | None = None
    # load_data
    train_data: Any = None
    dev_data: Any = None
    labels: list[str] = field(default_factory=list)
    continual: Continual | None = None
    teachers: list[Path] = field(default_factory=list)  # --distill-from, checked
    # choose_model
    device: Any = None
    resolved: Any = None
    # open_run
    run: RunFolder | None = None
    checkpoint: Path | None = None
    attempts: Attempts | None = None
    # build_model
    tokenizer: Any = None
    model: Any = None
    train_ds: Any = None
    dev_ds: Any = None
    truncated: dict[str, int] = field(default_factory=dict)
    strategy_callbacks: list[Any] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    steps_per_epoch: int = 1
    total_steps: int = 0
    # build_trainer
    trainer: Any = None
    memory: Any = None
    budget: Any = None
    # fit / evaluate
    output: Any = None
    tokens_before: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    # average: which weights the run keeps ({"checkpoint": "best" | "last" | "last-k" | "swa", "averaged": [...]})
    selection: dict[str, Any] = field(default_factory=dict)

    @property
    def has_dev(self) -> bool:
        return self.dev_data is not None

    @property
    def raised_to_min_steps(self) -> bool:
        """``--min-steps`` lengthened the schedule past ``--epochs`` (``total_steps`` is then the number of steps)."""
        return not self.config.max_steps and self.total_steps > math.ceil(self.steps_per_epoch * self.config.epochs)


def train(
    app: AppSpec,
    config: TrainConfig,
    *,
    registry: Registry,
    resume_run: RunFolder | None = None,
    console: Any = None,
    callbacks: Sequence[Any] = (),
    run_path: Path | None = None,
    data: tuple[Any, Any] | None = None,
) -> RunResult:
    """Train ``app``'s task as ``config`` says and return the completed run folder.

    ``registry``: what plugins registered (the app's task, data adapters, model aliases, metrics);
    ``resume_run``: continue this run from its last checkpoint; ``run_path``: the run folder to create (default:
    ``<runs_dir>/<app>/<name>``); ``callbacks``: more ``TrainerCallback``s; ``data``: (training, dev) data already
    loaded by the task (dev may be ``None``) instead of ``config.train`` / ``config.dev`` (cross-validation folds).
    """
    from rich.console import Console

    plan = TrainingPlan(app, config, registry.task(app.task), console or Console(stderr=True), list(callbacks))
    plan.command, plan.registry = train_command(app), registry
    plan.task.configure(config)
    load_data(plan, data)
    choose_model(plan)
    open_run(plan, resume_run, run_path)
    with _recording_outcome(plan, at_path=run_path is not None):
        build_model(plan)
        build_trainer(plan)
        fit(plan)
        average(plan)
        evaluate(plan)
        result = save(plan)
    export_onnx(plan, result)
    return result


def resolve_training_config(
    app: AppSpec, *, config_file: str | None, overrides: dict[str, Any], resume: str | None
) -> tuple[TrainConfig, RunFolder | None]:
    """Build the config for a new run, or reload a run's saved config to resume it."""
    if resume is not None:
        run = RunFolder(Path(resume))
        if not (run.path / "config.yaml").is_file() or not run.record_path.is_file():
            raise ConfigError(f"--resume {resume}: not a run folder (no config.yaml / run.json)")
        status = run.record().get("status")
        if status == "completed":
            raise ConfigError(f"--resume {resume}: this run already completed")
        given = {k: v for k, v in overrides.items() if v is not None and k not in ("threads", "device")}
        if given or config_file:
            raise ConfigError(
                f"--resume continues a run with its saved config ({run.path / 'config.yaml'}); drop "
                + ", ".join(f"--{k.replace('_', '-')}" for k in (list(given) + (["config"] if config_file else [])))
            )
        saved = load_config_file(run.path / "config.yaml")
        return build_config(saved, {k: overrides.get(k) for k in ("threads", "device")}), run
    from .strategies import apply_strategy_defaults

    file_layer = load_config_file(config_file) if config_file else None
    on_demo = not (overrides.get("train") or (file_layer or {}).get("train"))
    demo_layer = dict(app.demo_defaults) if on_demo else None  # the demo data's own recipe
    config = build_config({"model": app.default_model}, dict(app.defaults), demo_layer, file_layer, overrides)
    given = {k for layer in (file_layer or {}, overrides) for k, v in layer.items() if v is not None}
    apply_strategy_defaults(config, given)
    apply_checkpoint_choice(config, given)
    apply_reinit_choice(config, given)
    apply_schedule_choice(config, given)
    return config.validate(), None


def apply_schedule_choice(config: TrainConfig, given: set[str]) -> None:
    """An app's ``--min-steps`` belongs to its default schedule: ``--epochs`` given (on the command line or in a
    ``--config`` file) replaces that schedule, floor included, unless ``--min-steps`` is given too."""
    if config.min_steps and "epochs" in given and "min_steps" not in given:
        config.min_steps = 0


#: the strategies that train the top layers' own weights, the only ones a re-initialised layer can learn again in
REINIT_STRATEGIES = ("full", "partial", "gradual")


def apply_reinit_choice(config: TrainConfig, given: set[str]) -> None:
    """Re-initialising the top layers (``--reinit-layers``, an app default for fine-tuning a pretrained encoder)
    replaces pretrained weights that fine-tuning then trains again. Where there are none to replace or they would not
    be trained, an app's default is dropped: a run that starts from a trained run (``--model RUN``, ``--init-from``:
    its top layers hold what it learned) or from random weights, or a strategy that keeps the top layers frozen; the
    option given explicitly with such a strategy is an error (the layers would stay random)."""
    if not config.reinit_layers:
        return
    if config.strategy not in REINIT_STRATEGIES:
        if "reinit_layers" in given:
            raise ConfigError(
                f"--reinit-layers {config.reinit_layers}: --strategy {config.strategy} keeps the top layers frozen, so "
                f"re-initialised ones would stay random; use it with --strategy {', '.join(REINIT_STRATEGIES)}"
            )
        config.reinit_layers = 0
    elif "reinit_layers" not in given and (config.init_from or config.from_scratch or _is_run(config.model)):
        config.reinit_layers = 0


def _is_run(model: str | None) -> bool:
    return model is not None and (Path(str(model)).expanduser() / "run.json").is_file()


def apply_checkpoint_choice(config: TrainConfig, given: set[str]) -> None:
    """What the user asked for decides which model a run keeps over the app's shipped fixed schedule (an average):
    ``--select-checkpoint`` alone keeps that checkpoint; ``--early-stopping`` (it selects on dev) the best one."""
    if "select_checkpoint" in given and "average_checkpoints" not in given:
        config.average_checkpoints = "none"
    elif config.early_stopping and not given & {"select_checkpoint", "average_checkpoints"}:
        config.select_checkpoint, config.average_checkpoints = "best", "none"


# -- the steps -----------------------------------------------------------------------------------------------------


def load_data(plan: TrainingPlan, data: tuple[Any, Any] | None = None) -> None:
    """Training and dev data (the app's demo data without ``--train``; ``data`` when the caller loaded them),
    continual-update data, labels; checks the options that depend on them. Runs before anything imports torch, so a
    bad file is reported in a second."""
    config, task, console = plan.config, plan.task, plan.console
    train_data, dev_data = data if data is not None else _read_data(plan)
    if config.final_fit:
        if dev_data is None:
            raise ConfigError("--final-fit trains on the training and dev data together: pass --dev FILE")
        console.print(
            f"final fit: {len(train_data)} training + {len(dev_data)} dev rows, a fixed schedule; the dev set is "
            "not scored (it is training data now)"
        )
        train_data, dev_data = train_data.concat(dev_data), None
    continual = Continual.plan(plan.app, task, config, len(train_data)) if config.init_from else None
    if continual is not None and continual.replay is not None:
        train_data = train_data.concat(continual.replay)
        console.print(
            f"replay: {len(continual.replay)} rows of {continual.run}'s training data added ({len(train_data)} in all)"
        )
    others = [d for d in (dev_data, continual.old_dev if continual else None) if d is not None]
    labels = task.label_names(
        train_data, others, config, continual.labels if continual is not None else plan.app.default_labels
    )
    if continual is not None:
        continual.check_labels(labels)
    if config.distill_from:  # the teachers score the data in build_model; a wrong one fails here, before the run
        from .distillation import check_teachers

        plan.teachers = check_teachers(task, config.distill_from, labels)
    if dev_data is None and config.early_stopping:
        raise ConfigError("--early-stopping needs a dev set (--dev FILE)")
    known_metrics = task.metric_names(labels)
    if config.metric not in known_metrics:
        raise ConfigError(f"--metric {config.metric}: unknown (choose from {', '.join(sorted(known_metrics))})")
    plan.train_data, plan.dev_data, plan.labels, plan.continual = train_data, dev_data, labels, continual


def _read_data(plan: TrainingPlan) -> tuple[Any, Any]:
    """The training and dev data the config names: the app's demo data without ``--train``, a
    ``--max-train-samples`` subset, a ``--dev-split`` held out of the training data."""
    app, config, task, console = plan.app, plan.config, plan.task, plan.console
    if config.train is None:
        if app.demo_train is None:
            raise ConfigError(f"{app.name} ships no demo data; pass --train FILE")
        config.train = str(app.demo_train)
        if config.dev is None and app.demo_dev is not None:
            config.dev = str(app.demo_dev)
        recipe = f" and its recipe ({', '.join(f'{k} {v}' for k, v in app.demo_defaults.items())})"
        console.print(
            f"[dim]no --train given: using the {app.name} demo data ({config.train})"
            f"{recipe if app.demo_defaults else ''}[/]"
        )
    train_data = subsample(task.load_data(config.train, config), config.max_train_samples, config.seed)
    dev_data = task.load_data(config.dev, config) if config.dev else None
    if dev_data is None and config.dev_split:
        train_data, dev_data = split(train_data, config.dev_split, config.seed)
        console.print(f"dev set: {len(dev_data)} rows held out of {config.train} (--dev-split {config.dev_split})")
    return train_data, dev_data


def choose_model(plan: TrainingPlan) -> None:
    """Device, precision and threads; the model reference resolved to a local folder."""
    config = plan.config
    plan.device = devices.plan(config.device, config.precision, config.threads)
    plan.resolved = resolve_model(
        plan.task.model_reference(config), allow_pickle=config.allow_pickle, aliases=plan.task.aliases
    )
    limit = position_limit(plan.resolved.path)
    if limit is not None and config.max_length > limit and not plan.task.windows_at_model_limit:
        raise ConfigError(
            f"--max-length {config.max_length} is above the model's position limit of {limit} tokens "
            f"({plan.resolved.path.name}); use --max-length {limit} or less (longer texts are scored over windows)"
        )


def position_limit(folder: Path) -> int | None:
    """The most tokens a model with learned absolute positions can read (``None``: no such limit is declared)."""
    import json

    path = Path(folder) / "config.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    config = config.get("text_config") or config
    limit = config.get("max_position_embeddings")
    if not isinstance(limit, int) or config.get("position_embedding_type", "absolute") != "absolute":
        return None
    if "roberta" in str(config.get("model_type", "")) or config.get("model_type") == "camembert":
        limit -= int(config.get("pad_token_id") or 0) + 1  # positions start after the padding index
    return limit


def open_run(plan: TrainingPlan, resume_run: RunFolder | None, run_path: Path | None) -> None:
    """A new run folder with its config.yaml and run.json, or (``--resume``) the run and its last checkpoint."""
    config, command = plan.config, plan.command
    fingerprints = {"train": plan.train_data.describe(), "dev": plan.dev_data.describe() if plan.has_dev else None}
    if resume_run is not None:
        _reopen_run(plan, resume_run, fingerprints)
        return
    run = (
        RunFolder.at(run_path)
        if run_path is not None
        else RunFolder.create(config.runs_dir, plan.app.name, config.name)
    )
    config.name = run.path.name
    if run.replaced is not None:
        plan.console.print(
            f"starting {run.path} over: the {run.replaced['status']} run there stopped before its first checkpoint"
        )
    save_config(
        config,
        run.path / "config.yaml",
        f"{command}: resolved configuration of run {run.path}\n"
        f"re-run: {command} --config {run.path / 'config.yaml'} --name NEW_NAME",
    )
    plan.attempts = Attempts([], plan.timer, resumed_from=None, first_step=0)
    run.update(
        app=plan.app.name,
        task=plan.task.name,
        status="running",
        created_at=now_iso(),
        config=config.to_dict(),
        labels=plan.labels,
        model={"ref": config.model, "kind": plan.resolved.kind, "path": str(plan.resolved.path)},
        data=fingerprints,
        versions=_versions(),
        device=plan.device.as_dict(),
        command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        **this_process(),
        **({"started_over": run.replaced} if run.replaced is not None else {}),
        attempts=plan.attempts.as_list(),
    )
    plan.run = run


def _reopen_run(plan: TrainingPlan, run: RunFolder, fingerprints: dict[str, Any]) -> None:
    """``--resume``: the run's last checkpoint, refused when the data changed since the run started."""
    config = plan.config
    checkpoint = run.latest_checkpoint()
    if checkpoint is None:
        raise ConfigError(
            f"--resume {run.path}: no checkpoint written yet; start the run again under the same "
            f"name ({plan.command} with --name {run.path.name})"
        )
    before = run.record()
    for split_name in ("train", "dev"):
        old = ((before.get("data") or {}).get(split_name) or {}).get("sha256")
        new = (fingerprints.get(split_name) or {}).get("sha256")
        if old != new:
            raise ConfigError(
                f"--resume {run.path}: the {split_name} data changed since the run started "
                f"({config.train if split_name == 'train' else config.dev})"
            )
    resumed_from = str(checkpoint.relative_to(run.path))
    plan.attempts = Attempts(
        before.get("attempts") or [], plan.timer, resumed_from=resumed_from, first_step=_checkpoint_step(checkpoint)
    )
    run.update(
        status="running",
        resumed_from=resumed_from,
        resumed_at=now_iso(),
        device=plan.device.as_dict(),
        **this_process(),
        attempts=plan.attempts.as_list(),
    )
    plan.console.print(f"resuming {run.path} from {checkpoint.name}")
    plan.run, plan.checkpoint = run, checkpoint


def build_model(plan: TrainingPlan) -> None:
    """Tokenizer and task model (seeded), the encoded data, and the strategy applied to the model."""
    from transformers import set_seed

    from ..models import quiet_transformers

    config, task, console, labels = plan.config, plan.task, plan.console, plan.labels
    quiet_transformers()
    set_seed(config.seed)
    plan.tokenizer = load_tokenizer(plan.resolved)
    model = task.load_model(plan.resolved, labels, from_scratch=config.from_scratch)
    if config.reinit_layers:
        from .optim import reinit_top_layers

        done = reinit_top_layers(model, config.reinit_layers)
        console.print(f"re-initialised the top {config.reinit_layers} layers ({done} modules) and the pooler")
    task.prepare_tokenizer(plan.tokenizer, model)
    if config.from_scratch:
        console.print("[yellow]note:[/] --from-scratch: the architecture starts from random weights (no transfer)")
    for note in task.load_notes:
        console.print(f"[yellow]note:[/] {note}")
    plan.train_ds, train_truncated = task.encode(plan.train_data, plan.tokenizer, labels, config.max_length)
    plan.dev_ds, dev_truncated = (
        task.encode(plan.dev_data, plan.tokenizer, labels, config.max_length) if plan.has_dev else (None, 0)
    )
    plan.truncated = {"train": train_truncated, "dev": dev_truncated}
    for split_name, data in (("train", plan.train_data), ("dev", plan.dev_data)):
        if plan.truncated[split_name]:
            console.print(
                f"[yellow]note:[/] {plan.truncated[split_name]} of {len(data)} {split_name} texts are longer than "
                f"--max-length {config.max_length} tokens and were truncated"
            )
    if config.distill_from:
        from .distillation import add_teacher_targets

        plan.train_ds, distillation = add_teacher_targets(
            task, plan.train_ds, plan.train_data, labels, config, console, plan.teachers
        )
        plan.run.update(distillation=distillation)
    if plan.dev_ds is not None:
        plan.dev_ds = task.prepare_evaluation(plan.dev_ds, plan.tokenizer, config.seed)
    if config.oversample:
        plan.train_ds, added = oversample(task, plan.train_ds, labels, config.seed)
        console.print(f"oversampling: {added} repeated examples of rare classes added ({len(plan.train_ds)} in all)")
    plan.steps_per_epoch, plan.total_steps = planned_steps(len(plan.train_ds), config)
    if plan.raised_to_min_steps:
        console.print(
            f"min steps: {len(plan.train_ds)} training examples make {plan.steps_per_epoch} steps per epoch; training "
            f"{plan.total_steps} steps ({plan.total_steps / plan.steps_per_epoch:.1f} epochs) instead of "
            f"{math.ceil(plan.steps_per_epoch * config.epochs)} (--min-steps {config.min_steps})"
        )
    plan.model, plan.strategy_callbacks = prepare_model(
        model, config, task, total_steps=plan.total_steps, steps_per_epoch=plan.steps_per_epoch
    )
    plan.counts = counts = count_parameters(plan.model)
    device = plan.device
    console.print(
        f"{plan.app.name}: {len(plan.train_data)} train / {len(plan.dev_data) if plan.has_dev else 0} dev examples, labels {labels}; "
        f"model {plan.resolved.describe()}, strategy {config.strategy} ({_millions(counts['trainable'])} trainable of "
        f"{_millions(counts['total'])}, {100 * counts['trainable_share']:.2f} %); "
        f"device {device.device} {device.precision}" + (f", {device.threads} threads" if device.threads else "")
    )


def build_trainer(plan: TrainingPlan) -> None:
    """The TlsTrainer with the run's arguments and callbacks (progress, run record, memory, strategy, budget,
    early stopping, the caller's)."""
    from transformers import EarlyStoppingCallback, PrinterCallback

    from . import trainer as trainer_module
    from .callbacks import MemoryMonitor, RichProgress, RunRecord, SlimCheckpoints, TimeBudget

    config, task, labels, console = plan.config, plan.task, plan.labels, plan.console
    class_weights = None
    if config.class_weights == "balanced":
        class_weights = task.class_weights(plan.train_ds, labels)
        console.print(
            "class weights: " + ", ".join(f"{label} {w:.2f}" for label, w in zip(labels, class_weights.tolist()))
        )
    if plan.continual is not None:
        plan.continual.encode(task, plan.tokenizer, labels, config.max_length)
    plan.memory = MemoryMonitor(plan.device.device)
    callbacks: list[Any] = [
        RichProgress(console, config.metric),
        RunRecord(plan.run, plan.attempts),
        plan.memory,
        *plan.strategy_callbacks,
        *plan.callbacks,
    ]
    if config.max_train_minutes:
        plan.budget = TimeBudget(config.max_train_minutes)
        callbacks.append(plan.budget)
        if config.scheduler not in ("constant", "constant_with_warmup") and not config.max_steps:
            console.print(
                f"[yellow]note:[/] the {config.scheduler} learning-rate schedule is planned over {plan.total_steps} steps; "
                f"a {config.max_train_minutes:g}-minute budget may stop it long before it decays (--scheduler "
                "constant_with_warmup, or --max-steps near what the budget allows)"
            )
    if config.early_stopping and plan.has_dev:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping))
    if config.average_checkpoints != "none" and not config.keep_checkpoints:
        callbacks.append(SlimCheckpoints())  # averaging keeps many checkpoints: the older ones as weights only
    plan.trainer = trainer_module.TlsTrainer(
        model=plan.model,
        args=training_arguments(plan),
        train_dataset=plan.train_ds,
        eval_dataset=task.training_evaluation(plan.dev_ds) if plan.has_dev else None,
        data_collator=task.collator(plan.tokenizer),
        processing_class=plan.tokenizer,
        compute_metrics=task.compute_metrics(labels, plan.dev_ds) if plan.has_dev else None,
        callbacks=callbacks,
        preprocess_logits_for_metrics=task.preprocess_logits_for_metrics if plan.has_dev else None,
        levers=trainer_module.Levers(
            class_weights,
            config.layer_lr_decay,
            config.head_lr_scale,
            sequential_eval=task.ordered_evaluation,
            fgm_epsilon=config.fgm_epsilon,
            shift_labels=task.shifts_labels,
            rdrop_alpha=config.rdrop_alpha,
            distill_alpha=config.distill_alpha if config.distill_from else 0.0,
            distill_temperature=config.distill_temperature,
        ),
    )
    plan.trainer.remove_callback(PrinterCallback)
    task.attach(plan.trainer)


def training_arguments(plan: TrainingPlan) -> Any:
    """``TrainingArguments`` from the config: schedule, evaluation and checkpoint cadence, model selection."""
    from transformers import TrainingArguments

    config, has_dev = plan.config, plan.has_dev
    save_steps = config.save_steps
    if save_steps is None and config.evals_per_epoch > 1:
        save_steps = max(1, math.ceil(plan.steps_per_epoch / config.evals_per_epoch))
    cadence = "steps" if save_steps else "epoch"
    return TrainingArguments(
        output_dir=str(plan.run.checkpoints),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or (plan.total_steps if plan.raised_to_min_steps else -1),
        lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup if config.warmup < 1 else int(config.warmup),
        max_grad_norm=config.max_grad_norm,
        label_smoothing_factor=config.label_smoothing,
        seed=config.seed,
        data_seed=config.seed,
        eval_strategy=cadence if has_dev else "no",
        eval_steps=(config.eval_steps or save_steps) if has_dev and save_steps else None,
        save_strategy=cadence,
        save_steps=save_steps or 500,
        save_total_limit=_kept_checkpoints(config),
        load_best_model_at_end=selects_best(config, has_dev),
        metric_for_best_model=config.metric if has_dev else None,
        greater_is_better=not plan.task.lower_is_better(config.metric),
        logging_strategy="steps",
        # a logging window never straddles a checkpoint, so a resumed run logs the same losses
        logging_steps=_aligned_logging_steps(config.logging_steps, save_steps) if save_steps else config.logging_steps,
        report_to=[],
        disable_tqdm=True,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        include_num_input_tokens_seen="non_padding",
        prediction_loss_only=plan.task.loss_only_evaluation,
        # a collator that needs more than the model's inputs (whole-word masking reads offsets) gets every column
        remove_unused_columns=not plan.task.collator_reads_all_columns,
        dataloader_num_workers=0,
        **devices.training_arguments(plan.device),
    )


def selects_best(config: TrainConfig, has_dev: bool) -> bool:
    """Whether the run keeps its best checkpoint by the dev metric (else the last one, or an average)."""
    return has_dev and config.select_checkpoint == "best" and config.average_checkpoints == "none"


def _kept_checkpoints(config: TrainConfig) -> int | None:
    """How many checkpoints stay on disk during the run: all of them for SWA, at least k for last-k."""
    if config.average_checkpoints == "swa":
        return None
    if config.average_checkpoints == "last-k":
        return max(config.save_total_limit, config.average_k)
    return config.save_total_limit


def fit(plan: TrainingPlan) -> None:
    """Train (or resume exactly from the last checkpoint); the continual update's "before" scores first."""
    if plan.continual is not None:
        plan.continual.measure_before(
            plan.task, plan.trainer, plan.labels, plan.run, resumed=plan.checkpoint is not None
        )
    if plan.checkpoint is not None:
        plan.tokens_before = int(read_json(plan.checkpoint / "trainer_state.json").get("num_input_tokens_seen") or 0)
    plan.timer.training()
    plan.output = plan.trainer.train(resume_from_checkpoint=str(plan.checkpoint) if plan.checkpoint else None)
    plan.timer.trained()
    plan.attempts.step = plan.trainer.state.global_step


def average(plan: TrainingPlan) -> None:
    """With ``--average-checkpoints``: load the mean of the chosen checkpoints' weights into the trained model."""
    from .averaging import checkpoints_of, load_averaged, pick_checkpoints

    config = plan.config
    if config.average_checkpoints == "none":
        plan.selection = {"checkpoint": "best" if selects_best(config, plan.has_dev) else "last"}
        return
    picked = pick_checkpoints(checkpoints_of(plan.run.checkpoints), config.average_checkpoints, k=config.average_k)
    load_averaged(plan.trainer.model, picked)
    plan.selection = {"checkpoint": config.average_checkpoints, "averaged": [p.name for p in picked]}
    plan.console.print(f"averaged the weights of {', '.join(p.name for p in picked)} ({config.average_checkpoints})")


def evaluate(plan: TrainingPlan) -> None:
    """The selected model on the dev set (and the continual update's old dev set); report files."""
    from .report import learning_curve_png

    task, trainer, run, labels, config = plan.task, plan.trainer, plan.run, plan.labels, plan.config
    state = trainer.state
    metrics: dict[str, Any] = {"split": "dev" if plan.has_dev else None, "model": _model_label(plan.selection)}
    run.report_dir.mkdir(exist_ok=True)
    if plan.has_dev:
        metrics.update(task.evaluate_output(trainer.predict(plan.dev_ds), labels, plan.dev_ds))
        plan.files += task.write_report(run.report_dir, metrics, labels)
        plan.console.print(f"dev ({metrics['model']}): {task.summary(metrics)}")
    if plan.continual is not None:
        forgetting = plan.continual.measure_after(task, trainer, labels, config.metric, plan.console)
        if forgetting is not None:
            metrics["forgetting"] = forgetting
    if learning_curve_png(run.report_dir / "learning_curve.png", state.log_history, config.metric):
        plan.files.append("learning_curve.png")
    write_json(run.report_dir / "log_history.json", state.log_history)
    train_skipped, dev_skipped = plan.train_data.skipped, plan.dev_data.skipped if plan.has_dev else []
    if train_skipped or dev_skipped:
        write_json(
            run.report_dir / "skipped_rows.json",
            {"train": [s.__dict__ for s in train_skipped], "dev": [s.__dict__ for s in dev_skipped]},
        )
        plan.files.append("skipped_rows.json")
    plan.metrics = metrics


def save(plan: TrainingPlan) -> RunResult:
    """model/ (staged in .model.tmp, then moved into place), merged/, metrics.json; run.json says completed last."""
    from ..models import quiet_transformers
    from .saving import save_trained

    config, run, state = plan.config, plan.run, plan.trainer.state
    staging = run.path / ".model.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    quiet_transformers()  # Trainer's checkpointing re-enables the hub's progress bars
    saved = save_trained(
        plan.trainer,
        plan.tokenizer,
        staging,
        config=config,
        resolved=plan.resolved,
        task=plan.task,
        app=plan.app.name,
        labels=plan.labels,
    )
    run.finish_model(staging)
    if saved.get("merged"):
        run.finish_folder(run.path / saved["merged"], "merged")
        saved["merged"] = "merged"
    best = state.best_model_checkpoint
    write_json(run.path / "metrics.json", plan.metrics)
    if not config.keep_checkpoints:
        run.drop_checkpoints()
    record = run.update(
        status="completed",
        finished_at=now_iso(),
        metrics={k: v for k, v in plan.metrics.items() if isinstance(v, (int, float))},
        best_checkpoint=Path(best).name if best and selects_best(config, plan.has_dev) else None,
        selection=plan.selection,
        steps=state.global_step,
        epochs=round(state.epoch or 0.0, 4),
        parameters=plan.counts,
        strategy={
            "name": config.strategy,
            "loads_with": get_strategy(config.strategy).loads_with,
            **saved,
            **_feature_cache_stats(plan),
        },
        peak_memory={**devices.peak_memory(plan.device.device), **plan.memory.summary()},
        attempts=plan.attempts.as_list("completed"),
        timings=_timings(plan),
        truncated=plan.truncated,
        report=plan.files,
        error=None,
    )
    return RunResult(run.path, plan.metrics, record)


def export_onnx(plan: TrainingPlan, result: RunResult) -> None:
    """``onnx/``: the completed run exported for ONNX Runtime (:mod:`tlsuite_core.export`), for tasks that support
    it, unless ``--no-export-onnx``. What happened is recorded in run.json (``onnx``); a failed export is a warning,
    not a failed run (predict then uses PyTorch)."""
    from ..export import export_onnx as export
    from ..export import onnx_available

    if not plan.config.export_onnx or not plan.task.onnx_export:
        return
    if not onnx_available():
        outcome: dict[str, Any] = {"exported": False, "reason": "onnx / onnxruntime not installed"}
    else:
        from ..apps import load_app

        try:
            record = export(load_app(result.path, device="cpu", registry=plan.registry, backend="torch"))
            outcome = {"exported": True, "folder": "onnx", "verified_max_abs_diff": record["verified_max_abs_diff"]}
        except Exception as exc:  # noqa: BLE001 - any exporter failure leaves a usable PyTorch run
            outcome = {"exported": False, "reason": first_line(exc)}
            plan.console.print(f"[yellow]warning:[/] ONNX export failed ({outcome['reason']}); predict uses PyTorch")
    result.record = plan.run.update(onnx=outcome)


def _feature_cache_stats(plan: TrainingPlan) -> dict[str, Any]:
    """``{"feature_cache": stats}`` when ``--cache-features`` used the frozen strategy's feature cache, else ``{}``."""
    caches = [cb.cache for cb in plan.strategy_callbacks if hasattr(cb, "cache")]
    return {"feature_cache": caches[-1].stats()} if caches else {}


def _timings(plan: TrainingPlan) -> dict[str, Any]:
    attempts, timer, budget = plan.attempts, plan.timer, plan.budget
    train_seconds = timer.train_seconds()
    tokens = int(getattr(plan.trainer.state, "num_input_tokens_seen", 0) or 0)
    return {
        # the whole run: every attempt (its start and each --resume; per attempt in "attempts")
        "train_seconds": attempts.total("train_seconds"),
        "total_seconds": attempts.total("total_seconds"),
        "attempts": len(attempts.as_list()),
        # the attempt that completed it (the whole run when it was never interrupted)
        "last_attempt_train_seconds": train_seconds,
        "last_attempt_total_seconds": timer.seconds(),
        "train_runtime": plan.output.metrics.get("train_runtime"),
        "real_tokens_seen": tokens,
        "real_tokens_per_second": round((tokens - plan.tokens_before) / train_seconds, 1)
        if train_seconds and tokens > plan.tokens_before
        else None,
        "training_step_seconds": round(budget.used, 1) if budget is not None else None,
        "stopped_by_time_budget": bool(budget is not None and budget.used >= budget.budget),
    }


# -- around the steps -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _recording_outcome(plan: TrainingPlan, *, at_path: bool) -> Iterator[None]:
    """Record how the run ended when it did not complete: ``interrupted`` (Ctrl-C, or SIGTERM from a scheduler,
    which raises KeyboardInterrupt here) with how to go on, or ``failed`` with the error. A half-written model is
    removed; run.json never says completed unless :func:`save` finished."""
    run, attempts = plan.run, plan.attempts
    previous = _sigterm_as_interrupt()
    try:
        yield
    except KeyboardInterrupt:
        run.update(
            status="interrupted",
            finished_at=now_iso(),
            error="interrupted by the user",
            attempts=attempts.as_list("interrupted"),
        )
        shutil.rmtree(run.path / ".model.tmp", ignore_errors=True)
        raise _interrupted(run, plan.command, at_path) from None
    except TlsuiteError as exc:
        run.update(status="failed", finished_at=now_iso(), error=str(exc), attempts=attempts.as_list("failed"))
        shutil.rmtree(run.path / ".model.tmp", ignore_errors=True)
        raise
    except Exception as exc:
        run.update(
            status="failed",
            finished_at=now_iso(),
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            attempts=attempts.as_list("failed"),
        )
        shutil.rmtree(run.path / ".model.tmp", ignore_errors=True)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _versions() -> dict[str, Any]:
    env = devices.describe_environment()
    keys = ("python", "platform", "torch", "transformers", "accelerate", "datasets", "peft", "tlsuite")
    return {k: env.get(k) for k in keys}


def train_command(app: AppSpec) -> str:
    """The command that trains ``app``, for hints: ``tlsuite <app> train`` (``tlsuite pretrain`` for pretraining)."""
    return "tlsuite pretrain" if app.name == "pretrain" else f"tlsuite {app.name} train"


def _interrupted(run: RunFolder, command: str, at_path: bool) -> RunInterrupted:
    """What Ctrl-C leaves: the command that resumes the run, or (no checkpoint yet) how to start it again."""
    checkpoint = run.latest_checkpoint()
    if checkpoint is not None:
        return RunInterrupted(
            f"continue from {checkpoint.name} with: {command} --resume {run.path}", run=run.path, checkpoint=checkpoint
        )
    again = f"--out {run.path}" if at_path else f"--name {run.path.name}"
    return RunInterrupted(
        f"stopped before its first checkpoint, so there is nothing to resume; start it again under the same name: "
        f"the same command with {again} (its options are in {run.path / 'config.yaml'})",
        run=run.path,
    )


def _checkpoint_step(checkpoint: Path) -> int:
    return int(checkpoint.name.rsplit("-", 1)[1])


def _model_label(selection: dict[str, Any]) -> str:
    """Which model a figure scores: ``best checkpoint on dev``, ``last checkpoint`` or ``mean of N checkpoints``."""
    kind = selection.get("checkpoint", "last")
    if kind == "best":
        return "best checkpoint on dev"
    if kind == "last":
        return "last checkpoint"
    return f"mean of {len(selection.get('averaged') or [])} checkpoints ({kind})"


def _millions(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.1f}k"


def _aligned_logging_steps(wanted: int, save_steps: int) -> int:
    """A divisor of ``save_steps`` near ``wanted``: logging windows then never straddle a checkpoint, so a
    resumed run logs exactly the losses an uninterrupted one logs."""
    divisors = [d for d in range(1, save_steps + 1) if save_steps % d == 0 and d >= max(1, wanted // 2)]
    return min(divisors, key=lambda d: (abs(d - wanted), d)) if divisors else save_steps


def _sigterm_as_interrupt() -> Any:
    """Treat SIGTERM (a scheduler stopping the job) like Ctrl-C, so the run is recorded as interrupted."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)
