"""Hyperparameter search: ``train --search N`` runs N Optuna trials of the engine and keeps the table.

Each trial is a complete, ordinary run (``<study>/trials/<app>/trial-NNN``) trained on the same data with sampled
options; its dev metric (``--metric``) is the objective. The TPE sampler is seeded with ``--seed``; a median
pruner stops trials whose intermediate evaluations trail the median of earlier trials at the same step. Options
given on the command line or in ``--config`` are fixed, everything else in the space below is searched:

* learning rate (log scale, a factor 5 either side of the strategy's default), epochs, batch size, warmup;
* the strategy's own knobs: layer-wise decay (full/partial/gradual), frozen layers (partial), unfreezing interval
  (gradual), rank/alpha/dropout (lora, adalora), virtual tokens (prefix, prompt), bottleneck reduction (adapters).

With ``--cv K`` the objective is instead the mean held-out metric of a K-fold cross-validation of the training data
(:mod:`.cv`; last checkpoint, over ``--cv-seeds``): nothing is selected on the dev set, which the best trial's
options then score once (``<study>/final``).

The study folder (``<runs_dir>/<app>/<name>``) gets ``trials.csv``, ``search.json`` (every trial's options,
metric, state, run folder and time) and ``best.yaml`` (re-run the best options with ``train --config best.yaml``).
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from ..apps import AppSpec
from ..config import TrainConfig, save_config
from ..errors import ConfigError, TlsuiteError
from ..registry import Registry
from .runs import now_iso, write_json
from .strategies import get_strategy


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError("--search needs Optuna: pip install 'tlsuite[search]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def sample_options(trial: Any, base: TrainConfig, fixed: set[str], layers: int) -> dict[str, Any]:
    """The options a trial tries (only those not fixed by the user)."""
    strategy = get_strategy(base.strategy)
    space: dict[str, Any] = {}

    def want(name: str) -> bool:
        return name not in fixed

    if want("learning_rate"):
        space["learning_rate"] = trial.suggest_float(
            "learning_rate", base.learning_rate / 5, base.learning_rate * 5, log=True
        )
    if want("epochs"):
        low = max(1, int(math.floor(base.epochs)) - 2)
        space["epochs"] = float(trial.suggest_int("epochs", low, int(math.ceil(base.epochs)) + 2))
    if want("batch_size"):
        space["batch_size"] = trial.suggest_categorical("batch_size", [8, 16, 32, 64])
    if want("warmup"):
        space["warmup"] = trial.suggest_float("warmup", 0.0, 0.2)
    if strategy.name in ("full", "partial", "gradual") and want("layer_lr_decay"):
        space["layer_lr_decay"] = trial.suggest_float("layer_lr_decay", 0.6, 1.0)
    if strategy.name == "partial" and want("freeze_layers") and layers > 1:
        space["freeze_layers"] = trial.suggest_int("freeze_layers", 0, layers - 1)
    if strategy.name == "gradual" and want("unfreeze_every"):
        space["unfreeze_every"] = trial.suggest_int("unfreeze_every", 10, 500, log=True)
    if strategy.name in ("lora", "adalora"):
        if want("lora_r"):
            space["lora_r"] = trial.suggest_categorical("lora_r", [4, 8, 16, 32])
        if want("lora_alpha"):
            space["lora_alpha"] = float(
                space.get("lora_r", base.lora.r) * trial.suggest_categorical("alpha_over_r", [1, 2, 4])
            )
        if want("lora_dropout"):
            space["lora_dropout"] = trial.suggest_float("lora_dropout", 0.0, 0.3)
    if strategy.name in ("prefix", "prompt") and want("virtual_tokens"):
        space["virtual_tokens"] = trial.suggest_int("virtual_tokens", 5, 50, log=True)
    if strategy.kind == "bottleneck" and want("adapter_reduction"):
        space["adapter_reduction"] = trial.suggest_categorical("adapter_reduction", [4, 8, 16, 32, 64])
    return space


def _pruning_callback(trial: Any, metric: str, optuna: Any) -> Any:
    from transformers import TrainerCallback

    class Report(TrainerCallback):
        """Reports each evaluation to Optuna; stops the run (as completed, with its best checkpoint) when pruned."""

        pruned = False

        def on_evaluate(
            self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            value = (metrics or {}).get(f"eval_{metric}")
            if value is None:
                return
            trial.report(float(value), state.global_step)
            if trial.should_prune():
                Report.pruned = True
                control.should_training_stop = True

    return Report()


def run_search(
    spec: AppSpec,
    *,
    trials: int,
    config_file: str | None,
    overrides: dict[str, Any],
    console: Any,
    registry: Registry,
    cv: int | None = None,
    cv_seeds: str | None = None,
) -> Path:
    """Run the study and return its folder (``registry``: what plugins registered: the task, aliases, adapters;
    ``cv``: the objective is a ``cv``-fold cross-validation over ``cv_seeds`` instead of the dev metric)."""
    from ..config import load_config_file
    from .engine import resolve_training_config, train

    if trials < 1:
        raise ConfigError("--search N: N must be >= 1")
    optuna = _optuna()
    base, _ = resolve_training_config(spec, config_file=config_file, overrides=dict(overrides), resume=None)
    if base.dev is None and base.train is not None and not cv:
        raise ConfigError("--search needs a dev set (--dev FILE): trials are compared on its metric")
    fixed = {k for k, v in overrides.items() if v is not None} | set(
        load_config_file(config_file) if config_file else {}
    )
    name = base.name or datetime.now().strftime("search-%Y%m%d-%H%M%S")
    study_dir = Path(base.runs_dir) / spec.name / name
    if study_dir.exists() and any(study_dir.iterdir()):
        raise ConfigError(f"{study_dir}: folder exists and is not empty (pick another --name)")
    study_dir.mkdir(parents=True, exist_ok=True)
    layers = _layers_of(base, registry)
    direction = "minimize" if registry.task(spec.task).lower_is_better(base.metric) else "maximize"
    study = optuna.create_study(
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=base.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    rows: list[dict[str, Any]] = []
    console.print(
        f"search: {trials} trials of {spec.name} ({base.strategy}), objective dev {base.metric} ({direction}); folder {study_dir}"
    )

    def objective(trial: Any) -> float:
        options = sample_options(trial, base, fixed, layers)
        config = base.updated(
            **options, name=f"trial-{trial.number:03d}", runs_dir=str(study_dir / "trials"), keep_checkpoints=False
        )
        config.extra = dict(base.extra)
        config.validate()
        console.print(f"[bold]trial {trial.number}[/]: " + ", ".join(f"{k} {_fmt(v)}" for k, v in options.items()))
        row: dict[str, Any] = {"trial": trial.number, **{k: _fmt(v) for k, v in options.items()}}
        if cv:
            row.update(_cv_trial(spec, config, registry, study_dir / "trials" / config.name, cv, cv_seeds, console))
            rows.append(row)
            _write(study_dir, spec, base, rows, study, direction)
            return float(row["value"])
        report = _pruning_callback(trial, base.metric, optuna)
        try:
            result = train(spec, config, registry=registry, console=console, callbacks=[report])
        except TlsuiteError as exc:
            row.update(state="failed", error=str(exc))
            rows.append(row)
            raise optuna.TrialPruned(str(exc)) from None
        value = result.metrics.get(base.metric)
        if value is None and base.metric == "loss":
            value = result.metrics.get("eval_loss")
        row.update(
            value=value,
            run=str(result.path),
            seconds=result.record.get("timings", {}).get("total_seconds"),
            state="pruned" if report.pruned else "complete",
        )
        rows.append(row)
        _write(study_dir, spec, base, rows, study, direction)
        if report.pruned:
            raise optuna.TrialPruned()
        return float(value)

    study.optimize(objective, n_trials=trials, catch=())
    best_row = _write(study_dir, spec, base, rows, study, direction)
    if best_row is not None:
        where = f"{cv}-fold CV mean" if cv else "dev"
        console.print(
            f"best: trial {best_row['trial']}, {where} {base.metric} {best_row['value']:.4f} ({best_row['run']})"
        )
        if cv and base.dev is not None:
            from ..config import build_config, load_config_file
            from .cv import score_dev_once

            best = build_config(load_config_file(study_dir / "best.yaml"))
            best.extra = dict(base.extra)
            dev = score_dev_once(spec, best, registry, study_dir, console)
            write_json(study_dir / "final-dev.json", dev)
    return study_dir


def _cv_trial(
    spec: AppSpec, config: TrainConfig, registry: Registry, folder: Path, k: int, seeds: str | None, console: Any
) -> dict[str, Any]:
    """One trial scored by cross-validation: the mean held-out metric of the last checkpoint (and its SE)."""
    from .cv import CrossValidation, parse_seeds

    cv = CrossValidation(
        spec, config, registry, folder, k=k, seeds=parse_seeds(seeds) or [config.seed], console=console
    )
    summary = cv.run()
    stat = summary["variants"]["last"][config.metric]
    return {
        "value": stat["mean"],
        "se": stat["se"],
        "run": str(cv.unit_path(0, cv.seeds[0])),  # a fold's run: its run.json holds the trial's config
        "cv": str(folder),
        "seconds": summary["train_seconds"]["mean"],
        "state": "complete",
    }


def _layers_of(config: TrainConfig, registry: Registry) -> int:
    try:
        from transformers import AutoConfig

        from ..models import resolve_model

        resolved = resolve_model(
            config.init_from or config.model, allow_pickle=config.allow_pickle, aliases=registry.mapping("model")
        )
        if resolved.adapter:
            return 6
        hf = AutoConfig.from_pretrained(str(resolved.path))
        return int(getattr(hf, "num_hidden_layers", 0) or getattr(hf, "n_layer", 0) or 0)
    except Exception:  # only bounds the partial strategy's search range
        return 0


def _fmt(value: Any) -> Any:
    return round(value, 8) if isinstance(value, float) else value


def _write(
    study_dir: Path, spec: AppSpec, base: TrainConfig, rows: list[dict[str, Any]], study: Any, direction: str
) -> dict[str, Any] | None:
    scored = [r for r in rows if r.get("state") == "complete" and r.get("value") is not None]
    best_row = None
    if scored:
        best_row = (max if direction == "maximize" else min)(scored, key=lambda r: r["value"])
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    (study_dir / "trials.csv").write_text(buf.getvalue(), encoding="utf-8")
    write_json(
        study_dir / "search.json",
        {
            "app": spec.name,
            "metric": base.metric,
            "direction": direction,
            "strategy": base.strategy,
            "trials": rows,
            "best": best_row,
            "updated_at": now_iso(),
            "base_config": base.to_dict(),
        },
    )
    if best_row is not None:
        from .runs import read_json

        best_config = read_json(Path(best_row["run"]) / "run.json").get("config", {})
        best = TrainConfig.from_dict(best_config, strict=False)
        best.name = None
        best.runs_dir = base.runs_dir
        save_config(
            best,
            study_dir / "best.yaml",
            f"tlsuite {spec.name} search {study_dir.name}: best trial {best_row['trial']} "
            f"({'cross-validated' if 'cv' in best_row else 'dev'} {base.metric} {best_row['value']:.4f})\nre-run: tlsuite {spec.name} train --config {study_dir / 'best.yaml'}",
        )
    return best_row
