"""The training engine: (app, config) -> a run folder. The only code that builds a ``transformers.Trainer``.

Reads top to bottom like a recipe: resolve device and model, load and validate data, open the run folder, encode,
train (or resume from the last checkpoint), evaluate the selected model, save model/metrics/report, mark complete.
"""

from __future__ import annotations

import math
import random
import shutil
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .. import devices
from ..apps import AppSpec
from ..config import TrainConfig, build_config, load_config_file, save_config
from ..errors import ConfigError, RunInterrupted, TlsuiteError
from ..models import load_tokenizer, resolve_model
from ..registry import Registry
from .runs import RunFolder, Timer, now_iso, read_json, this_process, write_json
from .saving import save_trained, write_training_args
from .strategies import count_parameters, get_strategy, planned_steps, prepare_model


@dataclass
class RunResult:
    path: Path
    metrics: dict[str, Any]
    record: dict[str, Any]


def _versions() -> dict[str, Any]:
    env = devices.describe_environment()
    keys = ("python", "platform", "torch", "transformers", "accelerate", "datasets", "peft", "tlsuite")
    return {k: env.get(k) for k in keys}


def _subsample(data: Any, n: int | None, seed: int) -> Any:
    """A seeded random sample of ``n`` examples, in file order (the data object's ``subset``)."""
    if n is None or n >= len(data):
        return data
    return data.subset(sorted(random.Random(seed).sample(range(len(data)), n)))


def _trainer_class() -> Any:
    import torch
    from transformers import Trainer

    class TlsTrainer(Trainer):
        """Trainer with an optional class-weighted cross-entropy."""

        def __init__(self, *args: Any, class_weights: Any = None, layer_lr_decay: float = 1.0, head_lr_scale: float = 1.0, sequential_eval: bool = False, fgm_epsilon: float = 0.0, shift_labels: bool = False, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.shift_labels = shift_labels
            self.sequential_eval = sequential_eval
            self.fgm_epsilon = fgm_epsilon
            self.class_weights = class_weights
            self.layer_lr_decay = layer_lr_decay
            self.head_lr_scale = head_lr_scale

        def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
            """Trainer's save (model, tokenizer), with the training arguments as JSON instead of a pickle.

            ``Trainer._save`` ends by pickling the arguments (``torch.save`` to ``training_args.bin``), for the model
            folder and every checkpoint. Nothing reads that file back (``--resume`` restores the trainer state, the
            optimiser, scheduler and RNG states), and a model folder tlsuite ships holds no pickle: the file is
            replaced here by ``training_args.json`` (``TrainingArguments.to_json_string``) before anyone sees it."""
            super()._save(output_dir, state_dict=state_dict)
            if self.args.should_save:
                write_training_args(Path(output_dir if output_dir is not None else self.args.output_dir), self.args)

        def _get_eval_sampler(self, eval_dataset: Any) -> Any:
            # transformers length-groups evaluation batches too (shuffled); a task whose metrics read bookkeeping
            # columns of the evaluated dataset needs predictions in dataset order
            if self.sequential_eval and eval_dataset is not None and self.args.world_size <= 1:
                return torch.utils.data.SequentialSampler(eval_dataset)
            return super()._get_eval_sampler(eval_dataset)

        def create_optimizer(self, model: Any = None) -> Any:
            if self.optimizer is not None or (self.layer_lr_decay == 1.0 and self.head_lr_scale == 1.0):
                return super().create_optimizer(model)
            from .optim import layerwise_groups

            opt_model = self.model if model is None else model
            groups = layerwise_groups(
                opt_model,
                base_lr=self.args.learning_rate,
                decay=self.layer_lr_decay,
                head_scale=self.head_lr_scale,
                weight_decay=self.args.weight_decay,
                decay_parameter_names=self.get_decay_parameter_names(opt_model),
            )
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
            self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
            return self.optimizer

        def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
            """With ``fgm_epsilon``: FGM adversarial training (Miyato et al. 2017; Goodfellow et al. 2015). After
            the clean forward/backward, the word-embedding output of each example is moved by ``epsilon`` along
            its normalised loss gradient and a second forward/backward adds the adversarial loss's gradients.
            Works for every strategy (frozen embeddings included): the perturbation acts on the embedding output."""
            if not self.fgm_epsilon:
                return super().training_step(model, inputs, num_items_in_batch)
            embeddings = self.model.get_input_embeddings()
            captured: dict[str, Any] = {}

            def capture(module: Any, args: Any, output: Any) -> Any:
                if not output.requires_grad:
                    output.requires_grad_(True)
                output.retain_grad()
                captured["output"] = output
                return output

            handle = embeddings.register_forward_hook(capture)
            try:
                loss = super().training_step(model, dict(inputs), num_items_in_batch)
            finally:
                handle.remove()
            grad = captured["output"].grad if "output" in captured else None
            if grad is None:
                return loss
            norm = grad.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, *([1] * (grad.dim() - 1)))
            delta = (self.fgm_epsilon * grad / norm).detach()
            handle = embeddings.register_forward_hook(lambda module, args, output: output + delta.to(output.dtype))
            try:
                super().training_step(model, dict(inputs), num_items_in_batch)
            finally:
                handle.remove()
            return loss

        def compute_loss(self, model: Any, inputs: Any, return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
            """Cross-entropy with class weights and/or label smoothing computed here (Trainer's label smoother
            cannot read prompt-learning PEFT models); otherwise the model's own loss."""
            smoothing = self.args.label_smoothing_factor
            if (self.class_weights is None and not smoothing) or "labels" not in inputs:
                return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
            inputs = dict(inputs)
            labels = inputs.pop("labels")
            if "decoder_input_ids" not in inputs and "decoder_inputs_embeds" not in inputs:
                prepare = _decoder_inputs_from_labels(model)
                if prepare is not None:  # encoder-decoder: the model shifts labels itself only when it gets them
                    inputs["decoder_input_ids"] = prepare(labels=labels)
            outputs = model(**inputs)
            logits = outputs.logits
            if self.shift_labels:  # causal LM: position t predicts token t + 1
                logits, labels = logits[:, :-1, :], labels[:, 1:]
            weight = self.class_weights.to(logits.device) if self.class_weights is not None else None
            loss = torch.nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1).to(logits.device), weight=weight,
                label_smoothing=smoothing, ignore_index=-100,
            )
            return (loss, outputs) if return_outputs else loss

    return TlsTrainer


def _decoder_inputs_from_labels(model: Any) -> Any:
    """The encoder-decoder's ``prepare_decoder_input_ids_from_labels`` (through a PEFT wrapper), or None."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not getattr(getattr(base, "config", None), "is_encoder_decoder", False):
        return None
    return getattr(base, "prepare_decoder_input_ids_from_labels", None)


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
    config = build_config({"model": app.default_model}, dict(app.defaults), file_layer, overrides)
    given = {k for layer in (file_layer or {}, overrides) for k, v in layer.items() if v is not None}
    apply_strategy_defaults(config, given)
    return config.validate(), None


def train(
    app: AppSpec,
    config: TrainConfig,
    *,
    registry: Registry,
    resume_run: RunFolder | None = None,
    console: Any = None,
    callbacks: Sequence[Any] = (),
    run_path: Path | None = None,
) -> RunResult:
    """Train ``app``'s task as ``config`` says and return the completed run folder.

    ``registry``: what plugins registered (the app's task, data adapters, model aliases, metrics).
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    timer = Timer()
    task = registry.task(app.task)
    task.configure(config)

    # -- data (before anything imports torch: a bad file is reported in a second) ---------------------------------------------------------------------------------------
    on_demo = config.train is None
    if on_demo:
        if app.demo_train is None:
            raise ConfigError(f"{app.name} ships no demo data; pass --train FILE")
        config.train = str(app.demo_train)
        if config.dev is None and app.demo_dev is not None:
            config.dev = str(app.demo_dev)
        console.print(f"[dim]no --train given: using the {app.name} demo data ({config.train})[/]")
    train_data = task.load_data(config.train, config)
    train_data = _subsample(train_data, config.max_train_samples, config.seed)
    dev_data = task.load_data(config.dev, config) if config.dev else None
    if dev_data is None and config.dev_split:
        train_data, dev_data = _split(train_data, config.dev_split, config.seed)
        console.print(f"dev set: {len(dev_data)} rows held out of {config.train} (--dev-split {config.dev_split})")
    continual = _continual_plan(app, task, config, len(train_data)) if config.init_from else None
    if continual is not None:
        if continual.replay is not None:
            train_data = train_data.concat(continual.replay)
            console.print(f"replay: {len(continual.replay)} rows of {continual.run}'s training data added ({len(train_data)} in all)")
    others = [d for d in (dev_data, continual.old_dev if continual else None) if d is not None]
    default_labels = continual.labels if continual is not None else app.default_labels
    labels = task.label_names(train_data, others, config, default_labels)
    if continual is not None and labels != continual.labels:
        raise ConfigError(
            f"--init-from {continual.run}: its labels {continual.labels} do not cover this data's labels {labels}; "
            "train a new run instead"
        )
    if dev_data is None and config.early_stopping:
        raise ConfigError("--early-stopping needs a dev set (--dev FILE)")
    known_metrics = task.metric_names(labels)
    if config.metric not in known_metrics:
        raise ConfigError(f"--metric {config.metric}: unknown (choose from {', '.join(sorted(known_metrics))})")

    # -- device and model ---------------------------------------------------------------------------
    plan = devices.plan(config.device, config.precision, config.threads)
    resolved = resolve_model(task.model_reference(config), allow_pickle=config.allow_pickle, aliases=task.aliases)

    # -- run folder ---------------------------------------------------------------------------------
    fingerprints = {"train": train_data.describe(), "dev": dev_data.describe() if dev_data is not None else None}
    command = train_command(app)
    if resume_run is None:
        run = RunFolder.at(run_path) if run_path is not None else RunFolder.create(config.runs_dir, app.name, config.name)
        config.name = run.path.name
        checkpoint = None
        if run.replaced is not None:
            console.print(f"starting {run.path} over: the {run.replaced['status']} run there stopped before its first checkpoint")
        save_config(
            config,
            run.path / "config.yaml",
            f"{command}: resolved configuration of run {run.path}\n"
            f"re-run: {command} --config {run.path / 'config.yaml'} --name NEW_NAME",
        )
        attempts = Attempts([], timer, resumed_from=None, first_step=0)
        run.update(
            app=app.name,
            task=task.name,
            status="running",
            created_at=now_iso(),
            config=config.to_dict(),
            labels=labels,
            model={"ref": config.model, "kind": resolved.kind, "path": str(resolved.path)},
            data=fingerprints,
            versions=_versions(),
            device=plan.as_dict(),
            command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            **this_process(),
            **({"started_over": run.replaced} if run.replaced is not None else {}),
            attempts=attempts.as_list(),
        )
    else:
        run = resume_run
        checkpoint = run.latest_checkpoint()
        if checkpoint is None:
            raise ConfigError(f"--resume {run.path}: no checkpoint written yet; start the run again under the same "
                              f"name ({command} with --name {run.path.name})")
        before = run.record()
        for split in ("train", "dev"):
            old = ((before.get("data") or {}).get(split) or {}).get("sha256")
            new = (fingerprints.get(split) or {}).get("sha256")
            if old != new:
                raise ConfigError(f"--resume {run.path}: the {split} data changed since the run started ({config.train if split == 'train' else config.dev})")
        resumed_from = str(checkpoint.relative_to(run.path))
        attempts = Attempts(before.get("attempts") or [], timer, resumed_from=resumed_from, first_step=_checkpoint_step(checkpoint))
        run.update(status="running", resumed_from=resumed_from, resumed_at=now_iso(), device=plan.as_dict(), **this_process(),
                   attempts=attempts.as_list())
        console.print(f"resuming {run.path} from {checkpoint.name}")

    previous = _sigterm_as_interrupt()
    try:
        result = _train_in_run(app, task, config, plan, resolved, train_data, dev_data, labels, run, checkpoint, console, callbacks, timer, continual, attempts)
    except KeyboardInterrupt:
        run.update(status="interrupted", finished_at=now_iso(), error="interrupted by the user", attempts=attempts.as_list("interrupted"))
        shutil.rmtree(run.path / ".model.tmp", ignore_errors=True)
        raise _interrupted(run, command, run_path is not None) from None
    except TlsuiteError as exc:
        run.update(status="failed", finished_at=now_iso(), error=str(exc), attempts=attempts.as_list("failed"))
        shutil.rmtree(run.path / ".model.tmp", ignore_errors=True)
        raise
    except Exception as exc:
        run.update(status="failed", finished_at=now_iso(), error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
                   attempts=attempts.as_list("failed"))
        shutil.rmtree(run.path / ".model.tmp", ignore_errors=True)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return result


def train_command(app: AppSpec) -> str:
    """The command that trains ``app``, for hints: ``tlsuite <app> train`` (``tlsuite pretrain`` for pretraining)."""
    return "tlsuite pretrain" if app.name == "pretrain" else f"tlsuite {app.name} train"


def _interrupted(run: RunFolder, command: str, at_path: bool) -> RunInterrupted:
    """What Ctrl-C leaves: the command that resumes the run, or (no checkpoint yet) how to start it again."""
    checkpoint = run.latest_checkpoint()
    if checkpoint is not None:
        return RunInterrupted(f"continue from {checkpoint.name} with: {command} --resume {run.path}", run=run.path, checkpoint=checkpoint)
    again = f"--out {run.path}" if at_path else f"--name {run.path.name}"
    return RunInterrupted(
        f"stopped before its first checkpoint, so there is nothing to resume; start it again under the same name: "
        f"the same command with {again} (its options are in {run.path / 'config.yaml'})",
        run=run.path,
    )


def _checkpoint_step(checkpoint: Path) -> int:
    return int(checkpoint.name.rsplit("-", 1)[1])


class Attempts:
    """The run's attempts (``run.json`` → ``attempts``): its start and each ``--resume``, with their wall times.

    Each attempt records ``started_at``, ``ended_at``, ``status`` (``running`` while it runs; one still ``running``
    when the run is resumed was killed: ``killed``), ``resumed_from``, ``first_step`` / ``last_step``,
    ``train_seconds`` (the training loop) and ``total_seconds`` (the whole command). A killed attempt's times run to
    its last checkpoint, when run.json was last written."""

    def __init__(self, earlier: Sequence[dict[str, Any]], timer: Timer, *, resumed_from: str | None, first_step: int) -> None:
        self.timer = timer
        self.earlier = [dict(a, status="killed") if a.get("status") == "running" else dict(a) for a in earlier]
        self.step = first_step
        self.current: dict[str, Any] = {"started_at": now_iso(), "ended_at": None, "status": "running",
                                        "resumed_from": resumed_from, "first_step": first_step}

    def as_list(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every attempt, this one's times as of now (``status``: it ended so)."""
        if status is not None:
            self.current.update(status=status, ended_at=now_iso())
        self.current.update(last_step=self.step, train_seconds=self.timer.train_seconds(), total_seconds=self.timer.seconds())
        return [*self.earlier, dict(self.current)]

    def total(self, key: str) -> float:
        return round(sum(float(a.get(key) or 0.0) for a in self.as_list()), 3)


@dataclass
class _Continual:
    """``--init-from RUN`` (continual update): the run, its labels, replayed rows and its dev set."""

    run: Path
    labels: list[str]
    replay: Any
    old_dev: Any


def _continual_plan(app: AppSpec, task: Any, config: TrainConfig, new_rows: int) -> _Continual:
    from ..errors import ModelError
    from .runs import read_json

    resolved = resolve_model(config.init_from, allow_pickle=config.allow_pickle, aliases=task.aliases)
    if resolved.run_dir is None:
        raise ConfigError(f"--init-from {config.init_from}: not a run folder (continual updates start from a completed run)")
    record = read_json(resolved.run_dir / "run.json")
    if record.get("app") != app.name:
        raise ConfigError(f"--init-from {config.init_from}: a {record.get('app')} run, not {app.name}")
    old_config = build_config(load_config_file(resolved.run_dir / "config.yaml"))
    replay = None
    if config.replay:
        try:
            old_train = task.load_data(old_config.train, old_config)
        except TlsuiteError as exc:
            raise ModelError(f"--replay: cannot read {config.init_from}'s training data ({exc})") from None
        n = min(len(old_train), max(1, round(config.replay * new_rows)))
        replay = _subsample(old_train, n, config.seed)
    old_dev = task.load_data(old_config.dev, old_config) if old_config.dev else None
    return _Continual(resolved.run_dir, list(record.get("labels") or []), replay, old_dev)


def _split(data: Any, share: float, seed: int) -> tuple[Any, Any]:
    """A seeded random split of ``data`` into (rest, held-out share), each in file order."""
    n = len(data)
    held = max(1, round(n * share))
    if held >= n:
        raise ConfigError(f"--dev-split {share}: {n} rows leave nothing to train on")
    picked = set(random.Random(seed).sample(range(n), held))
    return data.subset([i for i in range(n) if i not in picked]), data.subset(sorted(picked))


def _oversample(task: Any, dataset: Any, labels: Sequence[str], seed: int) -> tuple[Any, int]:
    """Repeat randomly drawn examples of each class until it is as frequent as the most common class."""
    classes = task.example_classes(dataset, labels)
    by_class: dict[int, list[int]] = {}
    for i, c in enumerate(classes):
        by_class.setdefault(c, []).append(i)
    target = max(len(v) for v in by_class.values())
    rng = random.Random(seed)
    extra = [i for c in sorted(by_class) for i in rng.choices(by_class[c], k=target - len(by_class[c]))]
    return (dataset.select(list(range(len(dataset))) + extra), len(extra)) if extra else (dataset, 0)


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


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


def _train_in_run(app, task, config, plan, resolved, train_data, dev_data, labels, run, checkpoint, console, callbacks, timer, continual, attempts) -> RunResult:  # noqa: ANN001
    from transformers import EarlyStoppingCallback, PrinterCallback, TrainingArguments, set_seed
    from ..models import quiet_transformers
    from .callbacks import MemoryMonitor, RichProgress, RunRecord, TimeBudget
    from .report import learning_curve_png

    quiet_transformers()
    set_seed(config.seed)
    tokenizer = load_tokenizer(resolved)
    model = task.load_model(resolved, labels, from_scratch=config.from_scratch)
    task.prepare_tokenizer(tokenizer, model)
    if config.from_scratch:
        console.print("[yellow]note:[/] --from-scratch: the architecture starts from random weights (no transfer)")
    for note in task.load_notes:
        console.print(f"[yellow]note:[/] {note}")
    train_ds, train_truncated = task.encode(train_data, tokenizer, labels, config.max_length)
    dev_ds, dev_truncated = (task.encode(dev_data, tokenizer, labels, config.max_length) if dev_data is not None else (None, 0))
    for split, n, total in (("train", train_truncated, len(train_data)), ("dev", dev_truncated, len(dev_data) if dev_data else 0)):
        if n:
            console.print(f"[yellow]note:[/] {n} of {total} {split} texts are longer than --max-length {config.max_length} tokens and were truncated")
    if dev_ds is not None:
        dev_ds = task.prepare_evaluation(dev_ds, tokenizer, config.seed)
    if config.oversample:
        train_ds, added = _oversample(task, train_ds, labels, config.seed)
        console.print(f"oversampling: {added} repeated examples of rare classes added ({len(train_ds)} in all)")
    steps_per_epoch, total_steps = planned_steps(len(train_ds), config)
    model, strategy_callbacks = prepare_model(model, config, task, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    counts = count_parameters(model)
    console.print(
        f"{app.name}: {len(train_data)} train / {len(dev_data) if dev_data else 0} dev examples, labels {labels}; "
        f"model {resolved.describe()}, strategy {config.strategy} ({_millions(counts['trainable'])} trainable of "
        f"{_millions(counts['total'])}, {100 * counts['trainable_share']:.2f} %); "
        f"device {plan.device} {plan.precision}" + (f", {plan.threads} threads" if plan.threads else "")
    )

    has_dev = dev_ds is not None
    save_steps = config.save_steps
    if save_steps is None and config.evals_per_epoch > 1:
        per_epoch = math.ceil(len(train_ds) / (config.batch_size * config.grad_accum))
        save_steps = max(1, math.ceil(per_epoch / config.evals_per_epoch))
    strategy = "steps" if save_steps else "epoch"
    warmup: float | int = config.warmup if config.warmup < 1 else int(config.warmup)
    args = TrainingArguments(
        output_dir=str(run.checkpoints),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        lr_scheduler_type=config.scheduler,
        warmup_steps=warmup,
        max_grad_norm=config.max_grad_norm,
        label_smoothing_factor=config.label_smoothing,
        seed=config.seed,
        data_seed=config.seed,
        eval_strategy=strategy if has_dev else "no",
        eval_steps=(config.eval_steps or save_steps) if has_dev and save_steps else None,
        save_strategy=strategy,
        save_steps=save_steps or 500,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=has_dev,
        metric_for_best_model=config.metric if has_dev else None,
        greater_is_better=not task.lower_is_better(config.metric),
        logging_strategy="steps",
        # a logging window never straddles a checkpoint, so a resumed run logs the same losses
        logging_steps=_aligned_logging_steps(config.logging_steps, save_steps) if save_steps else config.logging_steps,
        report_to=[],
        disable_tqdm=True,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        include_num_input_tokens_seen="non_padding",
        prediction_loss_only=task.loss_only_evaluation,
        # a collator that needs more than the model's inputs (whole-word masking reads offsets) gets every column
        remove_unused_columns=not task.collator_reads_all_columns,
        dataloader_num_workers=0,
        **devices.training_arguments(plan),
    )
    class_weights = None
    if config.class_weights == "balanced":
        class_weights = task.class_weights(train_ds, labels)
        console.print("class weights: " + ", ".join(f"{l} {w:.2f}" for l, w in zip(labels, class_weights.tolist())))
    old_dev_ds = None
    forgetting: dict[str, Any] = {}
    if continual is not None and continual.old_dev is not None:
        old_dev_ds, _ = task.encode(continual.old_dev, tokenizer, labels, config.max_length)
    memory = MemoryMonitor(plan.device)
    cbs: list[Any] = [RichProgress(console, config.metric), RunRecord(run, attempts), memory, *strategy_callbacks, *callbacks]
    budget = None
    if config.max_train_minutes:
        budget = TimeBudget(config.max_train_minutes)
        cbs.append(budget)
        if config.scheduler not in ("constant", "constant_with_warmup") and not config.max_steps:
            console.print(
                f"[yellow]note:[/] the {config.scheduler} learning-rate schedule is planned over {total_steps} steps; "
                f"a {config.max_train_minutes:g}-minute budget may stop it long before it decays (--scheduler "
                "constant_with_warmup, or --max-steps near what the budget allows)"
            )
    if config.early_stopping and has_dev:
        cbs.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping))
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=task.training_evaluation(dev_ds) if has_dev else None,
        data_collator=task.collator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=task.compute_metrics(labels, dev_ds) if has_dev else None,
        callbacks=cbs,
        class_weights=class_weights,
        layer_lr_decay=config.layer_lr_decay,
        head_lr_scale=config.head_lr_scale,
        sequential_eval=task.ordered_evaluation,
        fgm_epsilon=config.fgm_epsilon,
        shift_labels=task.shifts_labels,
        preprocess_logits_for_metrics=task.preprocess_logits_for_metrics if has_dev else None,
    )
    trainer.remove_callback(PrinterCallback)
    task.attach(trainer)
    if old_dev_ds is not None:
        before = run.record().get("forgetting", {}).get("before") if checkpoint else None
        if before is None:
            before = _scalar_metrics(task.evaluate_output(trainer.predict(old_dev_ds), labels, old_dev_ds))
            run.update(forgetting={"before": before})
        forgetting["before"] = before
    tokens_before = int(read_json(checkpoint / "trainer_state.json").get("num_input_tokens_seen") or 0) if checkpoint else 0
    timer.training()
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    timer.trained()
    train_seconds = timer.train_seconds()
    state = trainer.state
    attempts.step = state.global_step

    # -- evaluate the selected model ----------------------------------------------------------------
    metrics: dict[str, Any] = {"split": "dev" if has_dev else None}
    files: list[str] = []
    run.report_dir.mkdir(exist_ok=True)
    if has_dev:
        metrics.update(task.evaluate_output(trainer.predict(dev_ds), labels, dev_ds))
        files += task.write_report(run.report_dir, metrics, labels)
        console.print(f"dev ({'best' if state.best_model_checkpoint else 'final'} checkpoint): {task.summary(metrics)}")
    if old_dev_ds is not None:
        after = _scalar_metrics(task.evaluate_output(trainer.predict(old_dev_ds), labels, old_dev_ds))
        metric = config.metric if config.metric in after else next(iter(after))
        forgetting.update(
            old_dev=continual.old_dev.describe()["source"], after=after, metric=metric,
            forgetting=round(forgetting["before"].get(metric, float("nan")) - after[metric], 6),
        )
        metrics["forgetting"] = forgetting
        console.print(
            f"old dev set ({forgetting['old_dev']}): {metric} {forgetting['before'].get(metric, float('nan')):.4f} before, "
            f"{after[metric]:.4f} after (forgetting {forgetting['forgetting']:+.4f})"
        )
    if learning_curve_png(run.report_dir / "learning_curve.png", state.log_history, config.metric):
        files.append("learning_curve.png")
    write_json(run.report_dir / "log_history.json", state.log_history)
    if train_data.skipped or (dev_data is not None and dev_data.skipped):
        write_json(
            run.report_dir / "skipped_rows.json",
            {"train": [s.__dict__ for s in train_data.skipped], "dev": [s.__dict__ for s in (dev_data.skipped if dev_data else [])]},
        )
        files.append("skipped_rows.json")

    # -- save: model (staged, then moved into place), metrics, record --------------------------------
    staging = run.path / ".model.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    quiet_transformers()  # Trainer's checkpointing re-enables the hub's progress bars
    saved = save_trained(trainer, tokenizer, staging, config=config, resolved=resolved, task=task, app=app.name, labels=labels)
    run.finish_model(staging)
    if saved.get("merged"):
        run.finish_folder(run.path / saved["merged"], "merged")
        saved["merged"] = "merged"
    best = state.best_model_checkpoint
    tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
    write_json(run.path / "metrics.json", metrics)
    if not config.keep_checkpoints:
        run.drop_checkpoints()
    record = run.update(
        status="completed",
        finished_at=now_iso(),
        metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        best_checkpoint=Path(best).name if best else None,
        steps=state.global_step,
        epochs=round(state.epoch or 0.0, 4),
        parameters=counts,
        strategy={"name": config.strategy, "loads_with": get_strategy(config.strategy).loads_with, **saved,
                  **{"feature_cache": cb.cache.stats() for cb in strategy_callbacks if hasattr(cb, "cache")}},
        peak_memory={**devices.peak_memory(plan.device), **memory.summary()},
        attempts=attempts.as_list("completed"),
        timings={
            # the whole run: every attempt (its start and each --resume; per attempt in "attempts")
            "train_seconds": attempts.total("train_seconds"),
            "total_seconds": attempts.total("total_seconds"),
            "attempts": len(attempts.as_list()),
            # the attempt that completed it (the whole run when it was never interrupted)
            "last_attempt_train_seconds": train_seconds,
            "last_attempt_total_seconds": timer.seconds(),
            "train_runtime": output.metrics.get("train_runtime"),
            "real_tokens_seen": tokens,
            "real_tokens_per_second": round((tokens - tokens_before) / train_seconds, 1) if train_seconds and tokens > tokens_before else None,
            "training_step_seconds": round(budget.used, 1) if budget is not None else None,
            "stopped_by_time_budget": bool(budget is not None and budget.used >= budget.budget),
        },
        truncated={"train": train_truncated, "dev": dev_truncated},
        report=files,
        error=None,
    )
    return RunResult(run.path, metrics, record)
