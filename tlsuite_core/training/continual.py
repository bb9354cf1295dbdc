"""Continual updates (``--init-from RUN [--replay SHARE]``): start from a completed run of the same app, optionally
replay a share of its training data, and report forgetting on its dev set.

Kept out of the engine's main path: the engine asks for a :class:`Continual` plan when ``init_from`` is set and
hands the encoded old dev set to :meth:`Continual.measure_before` / :meth:`Continual.measure_after` around training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..config import build_config, load_config_file
from ..errors import ConfigError, ModelError, TlsuiteError
from ..models import resolve_model
from .runs import read_json
from .sampling import subsample


@dataclass
class Continual:
    """The run a continual update starts from: its folder, labels, replayed rows and dev set (and, once measured,
    the forgetting report)."""

    run: Path
    labels: list[str]
    replay: Any
    old_dev: Any
    old_dev_encoded: Any = None
    forgetting: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def plan(cls, app: Any, task: Any, config: Any, new_rows: int) -> "Continual":
        """Check that ``config.init_from`` is a completed run of ``app`` and read what the update needs from it."""
        resolved = resolve_model(config.init_from, allow_pickle=config.allow_pickle, aliases=task.aliases)
        if resolved.run_dir is None:
            raise ConfigError(
                f"--init-from {config.init_from}: not a run folder (continual updates start from a completed run)"
            )
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
            replay = subsample(old_train, n, config.seed)
        old_dev = task.load_data(old_config.dev, old_config) if old_config.dev else None
        return cls(resolved.run_dir, list(record.get("labels") or []), replay, old_dev)

    def check_labels(self, labels: Sequence[str]) -> None:
        if list(labels) != self.labels:
            raise ConfigError(
                f"--init-from {self.run}: its labels {self.labels} do not cover this data's labels {list(labels)}; "
                "train a new run instead"
            )

    def encode(self, task: Any, tokenizer: Any, labels: Sequence[str], max_length: int) -> None:
        if self.old_dev is not None:
            self.old_dev_encoded, _ = task.encode(self.old_dev, tokenizer, labels, max_length)

    def measure_before(self, task: Any, trainer: Any, labels: Sequence[str], run: Any, resumed: bool) -> None:
        """The old dev set's metrics before training (kept in run.json, so a resumed run reuses them)."""
        if self.old_dev_encoded is None:
            return
        before = run.record().get("forgetting", {}).get("before") if resumed else None
        if before is None:
            before = scalar_metrics(
                task.evaluate_output(trainer.predict(self.old_dev_encoded), labels, self.old_dev_encoded)
            )
            run.update(forgetting={"before": before})
        self.forgetting["before"] = before

    def measure_after(
        self, task: Any, trainer: Any, labels: Sequence[str], metric: str, console: Any
    ) -> dict[str, Any] | None:
        """The forgetting report (the old dev set before and after, on ``metric`` when it has it), or None."""
        if self.old_dev_encoded is None:
            return None
        after = scalar_metrics(
            task.evaluate_output(trainer.predict(self.old_dev_encoded), labels, self.old_dev_encoded)
        )
        metric = metric if metric in after else next(iter(after))
        before = self.forgetting["before"]
        self.forgetting.update(
            old_dev=self.old_dev.describe()["source"],
            after=after,
            metric=metric,
            forgetting=round(before.get(metric, float("nan")) - after[metric], 6),
        )
        console.print(
            f"old dev set ({self.forgetting['old_dev']}): {metric} {before.get(metric, float('nan')):.4f} before, "
            f"{after[metric]:.4f} after (forgetting {self.forgetting['forgetting']:+.4f})"
        )
        return self.forgetting


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
