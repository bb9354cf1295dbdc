"""Trainer callbacks: terminal progress and the run record."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from .runs import RunFolder, now_iso


class RichProgress(TrainerCallback):
    """A progress bar with loss and learning rate, and one line per evaluation."""

    def __init__(self, console: Any, metric: str) -> None:
        self.console = console
        self.metric = metric
        self.progress: Any = None
        self.bar: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]train[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=self.console,
            transient=False,
        )
        self.bar = self.progress.add_task("", total=state.max_steps, completed=state.global_step)
        self.progress.start()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.bar, completed=state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if self.progress is not None and logs and "loss" in logs:
            lr = logs.get("learning_rate")
            text = f"loss {logs['loss']:.4f}" + (f"  lr {lr:.2e}" if lr is not None else "")
            self.progress.update(self.bar, description=text)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not metrics:
            return
        shown = [f"{k[5:]} {v:.4f}" for k, v in metrics.items() if k in ("eval_loss", "eval_accuracy", f"eval_{self.metric}")]
        seen = []
        for item in shown:
            if item not in seen:
                seen.append(item)
        line = f"epoch {state.epoch:.2f}  step {state.global_step}  dev: " + ", ".join(seen)
        (self.progress.console if self.progress is not None else self.console).print(line)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class RunRecord(TrainerCallback):
    """Keeps run.json current: last checkpoint and step, so an interrupted run says where it can resume."""

    def __init__(self, run: RunFolder) -> None:
        self.run = run

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.run.update(last_checkpoint=f"checkpoints/checkpoint-{state.global_step}", step=state.global_step, updated_at=now_iso())
