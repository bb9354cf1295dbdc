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
        self.every = 1
        self.started = 0.0
        self.first_step = 0
        self.last_text = ""
        self.last_line = 0.0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import time

        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.started = self.last_line = time.perf_counter()
        self.first_step = state.global_step
        self.last_text = ""
        if not self.console.is_terminal:
            # a log file or pipe: one plain line every 5 % of the steps instead of a live bar
            self.every = max(1, state.max_steps // 20)
            self.console.print(f"train: {state.max_steps} steps (from step {state.global_step})")
            return
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
            return
        import time

        now = time.perf_counter()
        # every 5 % of the steps, and at least once a minute when steps are slow (time-budgeted or large runs)
        if state.global_step % self.every == 0 or state.global_step == state.max_steps or now - self.last_line >= 60.0:
            self.last_line = now
            done = state.global_step - self.first_step
            elapsed = time.perf_counter() - self.started
            eta = elapsed / done * (state.max_steps - state.global_step) if done else 0.0
            self.console.print(
                f"step {state.global_step}/{state.max_steps} ({100 * state.global_step / max(1, state.max_steps):.0f} %)  "
                f"elapsed {elapsed / 60:.1f} min  eta {eta / 60:.1f} min  {self.last_text}"
            )

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            lr = logs.get("learning_rate")
            self.last_text = f"loss {logs['loss']:.4f}" + (f"  lr {lr:.2e}" if lr is not None else "")
            if self.progress is not None:
                self.progress.update(self.bar, description=self.last_text)

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not metrics:
            return
        shown = [
            f"{k[5:]} {v:.4f}" for k, v in metrics.items() if k in ("eval_loss", "eval_accuracy", f"eval_{self.metric}")
        ]
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
    """Keeps run.json current: last checkpoint and step, so an interrupted run says where it can resume, and this
    attempt's times (``attempts``: an engine ``Attempts``), so a killed attempt's times survive up to its last
    checkpoint."""

    def __init__(self, run: RunFolder, attempts: Any = None) -> None:
        self.run = run
        self.attempts = attempts

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.attempts is not None:
            self.attempts.step = state.global_step

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        extra = {"attempts": self.attempts.as_list()} if self.attempts is not None else {}
        self.run.update(
            last_checkpoint=f"checkpoints/checkpoint-{state.global_step}",
            step=state.global_step,
            updated_at=now_iso(),
            **extra,
        )


class SlimCheckpoints(TrainerCallback):
    """For checkpoint averaging: once a newer checkpoint exists, an older one keeps only what averaging reads (its
    weights and trainer state), not its optimiser, scheduler and RNG states (two thirds of an AdamW checkpoint).
    ``--resume`` always starts from the newest checkpoint, which stays whole."""

    #: what resuming reads and averaging does not (Trainer's file names)
    RESUME_ONLY = ("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state.pth")

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from pathlib import Path

        newest = f"checkpoint-{state.global_step}"
        for checkpoint in Path(args.output_dir).glob("checkpoint-*"):
            if checkpoint.name == newest:
                continue
            for path in checkpoint.iterdir():
                if path.name in self.RESUME_ONLY or path.name.startswith("rng_state_"):
                    path.unlink()


def current_rss_mb() -> float | None:
    """This process's resident set size now (Linux ``/proc``), in MiB; ``None`` where unavailable."""
    import os

    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


class MemoryMonitor(TrainerCallback):
    """Memory that training itself needs: resident memory sampled right after each optimiser step (weights,
    gradients and optimiser state all live) against the level when training began, and on CUDA the peak
    allocation during training. The process-wide peak (which includes loading) is recorded separately."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.start: float | None = None
        self.peak: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start = self.peak = current_rss_mb()
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats()

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        now = current_rss_mb()
        if now is not None and (self.peak is None or now > self.peak):
            self.peak = now

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.start is not None and self.peak is not None:
            out.update(
                train_start_rss_mb=round(self.start, 1),
                train_peak_rss_mb=round(self.peak, 1),
                train_rss_growth_mb=round(self.peak - self.start, 1),
            )
        if self.device.startswith("cuda"):
            import torch

            out["train_cuda_peak_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        return out


class TimeBudget(TrainerCallback):
    """Stops training after ``minutes`` of training steps (evaluation and checkpointing not counted), for
    comparisons at an equal compute budget. The stop is a clean end of training: the best checkpoint is loaded,
    evaluated and saved as usual. Wall time is not reproducible, so a budget-limited run resumes to the same budget
    but not necessarily the same step."""

    def __init__(self, minutes: float) -> None:
        self.budget = minutes * 60.0
        self.used = 0.0
        self.began: float | None = None

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import time

        self.began = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import time

        if self.began is not None:
            self.used += time.perf_counter() - self.began
            self.began = None
        if self.used >= self.budget:
            state.stopped_by_time_budget = True
            control.should_training_stop = True
            control.should_evaluate = True
            control.should_save = True
