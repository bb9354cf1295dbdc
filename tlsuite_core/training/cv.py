"""K-fold cross-validation over the training data, with seeds: a configuration's quality measured on examples it
was never selected on.

The training data is split once into ``k`` folds (stratified by label for labelled data; whole documents for
tagged data that marks them, e.g. CoNLL ``-DOCSTART-``, so a held-out sentence is read with its own document and
no fold sees a piece of another's document; shuffled with ``split_seed``; the same folds for every configuration,
so two configurations are compared fold by fold). For each seed and fold, one ordinary run trains on the other
``k - 1`` folds with **no dev set** (nothing is selected on the held-out fold) and keeps every checkpoint; the
held-out fold then scores, without retraining:

* ``last``: the model at the end of the schedule (what a fixed schedule ships);
* ``avg-last-k``: the mean of the last ``k`` checkpoints' weights (:mod:`.averaging`);
* ``swa``: the mean of every checkpoint of the second half of training;
* ``curve``: every checkpoint on its own (the number of steps a fixed schedule should train is read off the
  mean curve over folds and seeds; the per-run maximum is reported as ``best-peeking``: it selects on the
  held-out fold, so it is optimistic and labelled as such);
* for classification: probabilities, so seed ensembles (per fold, the mean of the seeds' probabilities) and
  calibration (ECE, the temperature fitted on the held-out fold) are computed from what was saved.

Each fold/seed is a run folder ``<folder>/runs/fold<F>-seed<S>`` with ``scores.json`` when scored; a scored one is
skipped, an interrupted one resumes from its last checkpoint, so the same call continues a cross-validation over
several sessions. ``<folder>/cv.json`` and ``cv.md`` hold the summary: per variant and metric the mean and the
standard error over the fold x seed runs (the standard deviation over runs / sqrt(runs)).
"""

from __future__ import annotations

import copy
import math
import random
import shutil
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..apps import AppSpec
from ..config import TrainConfig, build_config, load_config_file
from ..data import LabelledData, fingerprint
from ..errors import ConfigError, TlsuiteError
from ..registry import Registry
from .averaging import checkpoints_of, load_averaged, pick_checkpoints
from .distillation import fold_teachers, is_cv_folder
from .runs import RunFolder, read_json, write_json

__all__ = [
    "CrossValidation",
    "document_folds",
    "make_folds",
    "mean_se",
    "paired_difference",
    "parse_seeds",
    "run_cv",
    "score_dev_once",
    "select_configuration",
    "stratified_folds",
    "summarize_scores",
]


#: options a fold/seed unit sets itself (every checkpoint kept, the last one as its model, each averaging scored):
#: a configuration that differs only in them is the same cross-validation
UNIT_DECIDES = ("select_checkpoint", "average_checkpoints", "average_k", "keep_checkpoints", "save_total_limit")
#: task options (``extra``) that do not change a cross-validation either: the units train without a dev set, so
#: they have no fitted temperature and their held-out probabilities are scored raw (and calibrated separately)
EXTRA_UNIT_IGNORES = ("scores",)


def stratified_folds(strata: Sequence[Any] | None, n: int, k: int, seed: int = 13) -> list[list[int]]:
    """The held-out indices of each of ``k`` folds over ``n`` examples: each class (``strata``, one value per
    example; ``None``: one class) shuffled with ``seed`` and dealt round the folds, continuing where the previous
    class stopped, so fold sizes differ by at most one and every class is spread evenly."""
    if k < 2:
        raise ConfigError(f"--cv {k}: cross-validation needs at least 2 folds")
    if n < k:
        raise ConfigError(f"--cv {k}: only {n} training examples (need at least one per fold)")
    keys = list(strata) if strata is not None else [0] * n
    if len(keys) != n:
        raise ValueError(f"{len(keys)} strata for {n} examples")
    rng = random.Random(seed)
    by_class: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        by_class.setdefault(key, []).append(i)
    folds: list[list[int]] = [[] for _ in range(k)]
    position = 0
    for key in sorted(by_class, key=str):
        members = by_class[key]
        rng.shuffle(members)
        for i in members:
            folds[position % k].append(i)
            position += 1
    return [sorted(f) for f in folds]


def document_folds(docs: Sequence[Any], k: int, seed: int = 13) -> list[list[int]]:
    """The held-out indices of each of ``k`` folds that keep every document whole (``docs``: each example's
    document): scikit-learn's ``GroupKFold``, shuffled with ``seed``, which balances the folds' sizes."""
    from sklearn.model_selection import GroupKFold

    if k < 2:
        raise ConfigError(f"--cv {k}: cross-validation needs at least 2 folds")
    if len(set(docs)) < k:
        raise ConfigError(f"--cv {k}: the training data has only {len(set(docs))} documents (need one per fold)")
    splitter = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [sorted(int(i) for i in held) for _, held in splitter.split(np.zeros(len(docs)), groups=list(docs))]


def mean_se(values: Sequence[float]) -> dict[str, Any]:
    """Mean, standard error (sample standard deviation / sqrt(n); ``None`` for one value) and n."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not vals:
        return {"mean": None, "se": None, "n": 0}
    se = statistics.stdev(vals) / math.sqrt(len(vals)) if len(vals) > 1 else None
    return {"mean": statistics.fmean(vals), "se": se, "n": len(vals)}


def paired_difference(a: dict[str, float], b: dict[str, float]) -> dict[str, Any]:
    """Mean and standard error of ``a[key] - b[key]`` over the keys both have (fold/seed units of two
    cross-validations on the same folds)."""
    return mean_se([a[key] - b[key] for key in sorted(set(a) & set(b))])


def _strata(data: Any) -> list[str] | None:
    return list(data.labels) if isinstance(data, LabelledData) else None


def _by_document(data: Any) -> bool:
    docs = getattr(data, "docs", None)
    return bool(docs) and len(set(docs)) > 1


def make_folds(data: Any, k: int, seed: int) -> list[list[int]]:
    """Folds of ``data``: whole documents where it marks more than one (:func:`document_folds`), else stratified
    by label (:func:`stratified_folds`)."""
    if _by_document(data):
        return document_folds(data.docs, k, seed)
    return stratified_folds(_strata(data), len(data), k, seed)


def _deciding(config: dict[str, Any]) -> dict[str, Any]:
    """The options of a configuration dict that decide a cross-validation's units (see :data:`UNIT_DECIDES`)."""
    kept = {key: value for key, value in config.items() if key not in UNIT_DECIDES}
    if isinstance(kept.get("extra"), dict):
        kept["extra"] = {key: value for key, value in kept["extra"].items() if key not in EXTRA_UNIT_IGNORES}
    return kept


def _fold_part(data: Any, indices: Sequence[int], what: str) -> Any:
    part = data.subset(indices)
    tag = f"{data.fingerprint}:{what}:{','.join(map(str, indices))}"
    return replace(part, source=f"{data.source} ({what})", fingerprint=fingerprint(tag.encode()))


class UnitBusy(TlsuiteError):
    """A fold/seed unit another process is running (:meth:`CrossValidation.run_unit` with ``wait=False``)."""


@dataclass
class CrossValidation:
    """``k``-fold cross-validation of one configuration over ``seeds`` (see the module docstring).

    ``config``: the resolved configuration (``config.train`` names the training data; ``config.dev`` is not
    used: the dev set is scored once, by the selected configuration, outside the cross-validation);
    ``folder``: where the runs and the summary go; ``average_k``: the ``avg-last-k`` variant's k. Once a unit is
    scored its checkpoints and final model are deleted, unless ``keep_checkpoints`` / ``keep_models`` (the final
    model: the teachers of a cross-validation with ``--distill-from`` this folder).
    """

    app: AppSpec
    config: TrainConfig
    registry: Registry
    folder: Path
    k: int = 5
    seeds: Sequence[int] = (1, 2, 3)
    split_seed: int = 13
    average_k: int = 2
    console: Any = None
    keep_models: bool = False
    keep_checkpoints: bool = False
    data: Any = field(init=False, default=None)
    folds: list[list[int]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        from rich.console import Console

        self.console = self.console or Console(stderr=True)
        self.folder = Path(self.folder)
        self.task = self.registry.task(self.app.task)
        self.task.configure(self.config)
        if self.config.train is None:
            raise ConfigError("cross-validation needs --train FILE (the folds are cut from it)")
        self.data = self.task.load_data(self.config.train, self.config)
        self.folds = make_folds(self.data, self.k, self.split_seed)
        self._check_plan()

    # -- the plan ----------------------------------------------------------------------------------------------
    def _plan(self) -> dict[str, Any]:
        config = _deciding(self.config.to_dict())
        for key in ("seed", "dev", "name", "runs_dir", "threads", "device"):
            config.pop(key, None)
        return {
            "app": self.app.name,
            "k": self.k,
            "split_seed": self.split_seed,
            "data": self.data.describe(),
            "folds_by": "document" if _by_document(self.data) else "example",
            "fold_sizes": [len(f) for f in self.folds],
            "config": config,
        }

    def _check_plan(self) -> None:
        """A folder holds one cross-validation: the same data, folds and configuration, or an error."""
        plan = self._plan()
        path = self.folder / "cv_plan.json"
        if path.is_file():
            before = read_json(path)
            changed = [key for key in ("k", "split_seed", "data") if before.get(key) != plan.get(key)]
            if before.get("folds_by", "example") != plan["folds_by"]:  # folders started before folds_by existed
                changed.append("folds")
            # an option added since the folder was started counts as unchanged while it has its default value
            defaults = TrainConfig().to_dict()
            old, new = _deciding(before.get("config", {})), plan["config"]
            if any(old.get(key, defaults.get(key)) != new.get(key) for key in set(old) | set(new)):
                changed.append("config")
            if changed:
                raise ConfigError(
                    f"{self.folder}: holds a cross-validation with another {', '.join(changed)} (pick another folder)"
                )
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_json(path, plan)

    def units(self) -> list[tuple[int, int]]:
        """(fold, seed) pairs in the order they run: seed by seed, so every finished seed is a whole CV."""
        return [(fold, seed) for seed in self.seeds for fold in range(self.k)]

    def unit_path(self, fold: int, seed: int) -> Path:
        return self.folder / "runs" / f"fold{fold + 1}-seed{seed}"

    def fold_data(self, fold: int) -> tuple[Any, Any]:
        """(training part, held-out part) of ``fold``."""
        held = set(self.folds[fold])
        rest = [i for i in range(len(self.data)) if i not in held]
        name = f"fold {fold + 1} of {self.k}"
        return _fold_part(self.data, rest, f"{name}: training"), _fold_part(self.data, self.folds[fold], name)

    # -- running -----------------------------------------------------------------------------------------------
    def run_unit(self, fold: int, seed: int, *, wait: bool = True) -> dict[str, Any]:
        """Train and score one fold/seed (skipped when scored; resumed when interrupted); returns its scores.

        Several processes may work on one folder: a unit is locked while one of them runs it. Another process waits
        for it and reads its scores (``wait``), or gets :class:`UnitBusy` at once (``wait=False``) and takes
        another unit."""
        from filelock import FileLock, Timeout

        path = self.unit_path(fold, seed)
        scores_path = path / "scores.json"
        if scores_path.is_file():
            return read_json(scores_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path.parent / f".{path.name}.lock"))
        try:
            lock.acquire(timeout=-1 if wait else 0)
        except Timeout:
            raise UnitBusy(f"{path}: another process is running this unit") from None
        try:
            if scores_path.is_file():  # scored by the process that held the lock
                return read_json(scores_path)
            return self._run_unit(fold, seed, path)
        finally:
            lock.release()

    def _run_unit(self, fold: int, seed: int, path: Path) -> dict[str, Any]:
        from .engine import train

        scores_path = path / "scores.json"
        train_part, held = self.fold_data(fold)
        run = RunFolder(path)
        status = run.record().get("status") if run.record_path.is_file() else None
        if status != "completed" or not (path / "model").is_dir():  # a completed run whose weights went: again
            resume = run if status not in (None, "completed") and run.latest_checkpoint() is not None else None
            if resume is None:
                shutil.rmtree(path, ignore_errors=True)
                config = self._unit_config(fold, seed)
            else:
                config = build_config(load_config_file(path / "config.yaml"))
                config.export_onnx = False
            self.console.print(f"[bold]cv[/] {self.folder.name}: fold {fold + 1}/{self.k}, seed {seed}")
            train(
                self.app,
                config,
                registry=self.registry,
                resume_run=resume,
                console=self.console,
                run_path=path,
                data=(train_part, None),
            )
        scores = self.score(path, held)
        write_json(scores_path, scores)
        if not self.keep_checkpoints:
            shutil.rmtree(path / "checkpoints", ignore_errors=True)
        if not self.keep_models:
            shutil.rmtree(path / "model", ignore_errors=True)
        return scores

    def _unit_config(self, fold: int, seed: int) -> TrainConfig:
        config = copy.deepcopy(self.config)
        config.seed, config.dev, config.dev_split, config.early_stopping = seed, None, 0, 0
        config.name = f"fold{fold + 1}-seed{seed}"
        config.keep_checkpoints, config.save_total_limit = True, 10_000
        # the unit's model/ is its last checkpoint; the averages are scored from the kept checkpoints
        config.select_checkpoint, config.average_checkpoints = "last", "none"
        config.export_onnx = False  # a fold's model is scored here and then deleted
        if config.distill_from and len(config.distill_from) == 1 and is_cv_folder(config.distill_from[0]):
            config.distill_from = fold_teachers(config.distill_from[0], fold, self._plan())
        elif config.distill_from:
            raise ConfigError(
                "--distill-from under --cv: name one cross-validation folder of the same folds (run with "
                "--cv-keep-models), not runs trained on every fold (they have seen the held-out examples)"
            )
        return config

    def run(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Every fold/seed (scored ones skipped; ones another process is running left to it and waited for at the
        end), then the summary (``cv.json``, ``cv.md``)."""
        units, busy, done = self.units(), [], 0
        for fold, seed in units:
            try:
                self.run_unit(fold, seed, wait=False)
            except UnitBusy:
                busy.append((fold, seed))
                continue
            done += 1
            if progress is not None:
                progress(done, len(units))
        for fold, seed in busy:
            self.console.print(
                f"[dim]cv {self.folder.name}: waiting for fold {fold + 1}, seed {seed} (another process)[/]"
            )
            self.run_unit(fold, seed)
            done += 1
            if progress is not None:
                progress(done, len(units))
        return self.write_summary()

    # -- scoring -----------------------------------------------------------------------------------------------
    def score(self, path: Path, held: Any, *, curve: bool = True) -> dict[str, Any]:
        """Every checkpoint (``curve``) and the averaged variants of the run at ``path`` on the held-out fold
        (``curve=False``: the variants only, e.g. a dev set that is scored once by the fixed-schedule models)."""
        from ..models import load_tokenizer, resolve_model

        record = read_json(path / "run.json")
        labels = record["labels"]
        resolved = resolve_model(str(path / "model"), aliases=self.task.aliases)
        model = self.task.load_trained(resolved)
        tokenizer = load_tokenizer(resolved)
        checkpoints = checkpoints_of(path / "checkpoints")
        variants = {
            "last": pick_checkpoints(checkpoints, "none"),
            f"avg-last-{self.average_k}": pick_checkpoints(checkpoints, "last-k", k=self.average_k),
            "swa": pick_checkpoints(checkpoints, "swa"),
        }
        scorer = _Scorer(self.task, model, tokenizer, held, labels, path)
        points = [{"checkpoint": c.name, **scorer.metrics([c], save_as=None)} for c in checkpoints] if curve else []
        scored = {
            name: {"checkpoints": [c.name for c in picked], **scorer.metrics(picked, save_as=name)}
            for name, picked in variants.items()
        }
        return {
            "fold": path.name.split("-")[0][4:],
            "seed": record["config"]["seed"],
            "heldout": len(held),
            "steps": record.get("steps"),
            "train_seconds": (record.get("timings") or {}).get("train_seconds"),
            "variants": scored,
            "curve": points,
        }

    # -- the summary -------------------------------------------------------------------------------------------
    def scores(self) -> dict[str, dict[str, Any]]:
        """The scores of every scored fold/seed, by ``fold<F>-seed<S>``."""
        found = {}
        for fold, seed in self.units():
            path = self.unit_path(fold, seed) / "scores.json"
            if path.is_file():
                found[path.parent.name] = read_json(path)
        return found

    def write_summary(self) -> dict[str, Any]:
        summary = {**self._plan(), "seeds": list(self.seeds), **summarize_scores(self.scores(), self.folder)}
        write_json(self.folder / "cv.json", summary)
        (self.folder / "cv.md").write_text(markdown_table(summary), encoding="utf-8")
        return summary


class _Scorer:
    """Scores weight sets of one run on the held-out fold: classification keeps probabilities (saved as
    ``heldout_<variant>.npy`` for ensembles and calibration), other tasks use the task's own evaluation."""

    def __init__(self, task: Any, model: Any, tokenizer: Any, held: Any, labels: list[str], path: Path) -> None:
        self.task, self.model, self.tokenizer, self.held, self.labels, self.path = (
            task,
            model,
            tokenizer,
            held,
            labels,
            path,
        )
        self.classifies = isinstance(held, LabelledData)
        if self.classifies:
            index = {label: i for i, label in enumerate(labels)}
            self.refs = np.array([index[label] for label in held.labels], dtype=np.int64)
            np.save(path / "heldout_labels.npy", self.refs, allow_pickle=False)

    def metrics(self, checkpoints: Sequence[Path], *, save_as: str | None) -> dict[str, Any]:
        load_averaged(self.model, checkpoints)
        if not self.classifies:
            options = self.task.inference_options(read_json(self.path / "run.json"))
            result = self.task.evaluate(self.model, self.tokenizer, self.held, self.labels, **options)
            return {k: v for k, v in result.items() if isinstance(v, (int, float))}
        from ..tasks.classification import predict_proba

        probs = predict_proba(self.model, self.tokenizer, self.held.texts, max_length=self.task_max_length())
        if save_as is not None:
            np.save(self.path / f"heldout_{save_as}.npy", probs.astype(np.float32), allow_pickle=False)
        return classification_scores(self.task, probs, self.refs, self.labels)

    def task_max_length(self) -> int | None:
        config = read_json(self.path / "run.json").get("config") or {}
        return config.get("max_length")


def classification_scores(task: Any, probs: np.ndarray, refs: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 (the task's metrics), ECE and NLL of class probabilities."""
    from .calibration import expected_calibration_error, negative_log_likelihood

    metrics = task.final_metrics(refs.tolist(), probs.argmax(-1).tolist(), labels)
    keep = {k: v for k, v in metrics.items() if isinstance(v, float)}
    keep["ece"] = expected_calibration_error(probs, refs)
    keep["nll"] = negative_log_likelihood(probs, refs)
    return keep


def summarize_scores(scores: dict[str, dict[str, Any]], folder: Path | None = None) -> dict[str, Any]:
    """Per variant and metric: mean, standard error and n over the fold/seed runs; the mean curve by checkpoint
    position; the per-run best checkpoint (``best-peeking``); for classification with saved probabilities, the
    seed ensemble per fold (``ensemble-last``, n = folds)."""
    variants: dict[str, dict[str, dict[str, float]]] = {}
    for unit, s in scores.items():
        for name, metrics in s["variants"].items():
            for key, value in metrics.items():
                if isinstance(value, (int, float)):
                    variants.setdefault(name, {}).setdefault(key, {})[unit] = float(value)
        best = max(s["curve"], key=lambda row: row.get("accuracy", row.get("f1", 0.0)))
        for key, value in best.items():
            if isinstance(value, (int, float)):
                variants.setdefault("best-peeking", {}).setdefault(key, {})[unit] = float(value)
    out: dict[str, Any] = {
        "runs": sorted(scores),
        "per_run": variants,
        "variants": {name: {key: mean_se(list(v.values())) for key, v in m.items()} for name, m in variants.items()},
        "curve": _mean_curve(scores),
        "train_seconds": mean_se([s.get("train_seconds") for s in scores.values() if s.get("train_seconds")]),
    }
    if folder is not None:
        ensemble = _seed_ensembles(scores, folder)
        if ensemble:
            out["variants"]["ensemble-last"] = {
                key: mean_se([m[key] for m in ensemble.values()]) for key in next(iter(ensemble.values()))
            }
            out["per_fold_ensemble"] = ensemble
    return out


def _mean_curve(scores: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean held-out metrics at each checkpoint position (the i-th checkpoint of every run)."""
    length = min((len(s["curve"]) for s in scores.values()), default=0)
    rows = []
    for i in range(length):
        at = [s["curve"][i] for s in scores.values()]
        keys = [k for k, v in at[0].items() if isinstance(v, (int, float))]
        rows.append({"position": i + 1, **{k: mean_se([row[k] for row in at])["mean"] for k in keys}})
    return rows


def _seed_ensembles(scores: dict[str, dict[str, Any]], folder: Path) -> dict[str, dict[str, float]]:
    """Per fold with two or more scored seeds: metrics of the mean of the seeds' ``last`` probabilities."""
    from .calibration import expected_calibration_error, negative_log_likelihood

    by_fold: dict[str, list[str]] = {}
    for unit, s in scores.items():
        by_fold.setdefault(str(s["fold"]), []).append(unit)
    out = {}
    for fold, units in sorted(by_fold.items()):
        paths = [folder / "runs" / unit for unit in units]
        if len(paths) < 2 or not all((p / "heldout_last.npy").is_file() for p in paths):
            continue
        probs = np.mean([np.load(p / "heldout_last.npy", allow_pickle=False) for p in paths], axis=0)
        refs = np.load(paths[0] / "heldout_labels.npy", allow_pickle=False)
        pred = probs.argmax(-1)
        from ..metrics import classification_metrics

        labels = [str(i) for i in range(probs.shape[1])]
        metrics = classification_metrics(refs.tolist(), pred.tolist(), labels)
        out[fold] = {
            "accuracy": float(metrics["accuracy"]),
            "macro_f1": float(metrics["macro_f1"]),
            "ece": expected_calibration_error(probs, refs),
            "nll": negative_log_likelihood(probs, refs),
            "seeds": float(len(paths)),
        }
    return out


def _fmt(stat: dict[str, Any]) -> str:
    if stat.get("mean") is None:
        return "-"
    se = stat.get("se")
    return f"{stat['mean']:.4f} ± {se:.4f}" if se is not None else f"{stat['mean']:.4f}"


def markdown_table(summary: dict[str, Any]) -> str:
    """The summary as Markdown: one row per variant, mean ± standard error per metric."""
    variants = summary["variants"]
    keys = [k for k in ("accuracy", "macro_f1", "f1", "ece", "nll") if any(k in v for v in variants.values())]
    lines = [
        f"# cross-validation: {summary['app']}, {summary['k']} folds, seeds {summary.get('seeds')}",
        "",
        f"runs scored: {len(summary['runs'])}; training data {summary['data']['source']} ({summary['data']['rows']} rows)",
        "",
        "| variant | " + " | ".join(keys) + " | n |",
        "|---|" + "---|" * (len(keys) + 1),
    ]
    for name, stats in variants.items():
        n = max((s.get("n", 0) for s in stats.values()), default=0)
        lines.append(f"| {name} | " + " | ".join(_fmt(stats.get(k, {})) for k in keys) + f" | {n} |")
    lines += ["", "mean ± standard error over fold/seed runs (best-peeking selects on the held-out fold)", ""]
    return "\n".join(lines)


# -- the commands: train --cv, compare --cv, train --search N --cv K ------------------------------------------------


def parse_seeds(value: str | None) -> list[int] | None:
    """``--cv-seeds 1,2,3`` (``None`` when not given: the run's ``--seed`` alone)."""
    if not value:
        return None
    try:
        seeds = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--cv-seeds {value}: expected comma-separated integers, e.g. 1,2,3") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--cv-seeds {value}: give each seed once")
    return seeds


def run_cv(
    spec: AppSpec,
    *,
    k: int,
    seeds: Sequence[int] | None,
    config_file: str | None,
    overrides: dict[str, Any],
    console: Any,
    registry: Registry,
    strategies: Sequence[str] | None = None,
    keep_models: bool = False,
) -> Path:
    """``train --cv K`` (one configuration) or ``compare --cv K`` (one per strategy): the cross-validation table,
    the configuration with the best mean ``--metric`` (last checkpoint) selected, then, with a dev set, that
    configuration trained once on the whole training data (its fixed schedule: the last checkpoint, or the average
    it configures) and the dev set scored once. Writes ``cv-report.json`` / ``cv-report.md`` in the folder and returns it. ``keep_models``: keep
    each fold/seed run's final model (``--cv-keep-models``: the teachers of a later ``--distill-from`` under --cv)."""
    from datetime import datetime

    from .engine import resolve_training_config

    base, _ = resolve_training_config(spec, config_file=config_file, overrides=dict(overrides), resume=None)
    folder = Path(base.runs_dir) / spec.name / (base.name or datetime.now().strftime("cv-%Y%m%d-%H%M%S"))
    seeds = list(seeds or [base.seed])
    labels = list(strategies) if strategies else [base.strategy]
    summaries: dict[str, dict[str, Any]] = {}
    for label in labels:
        config = base.updated(strategy=label) if strategies else copy.deepcopy(base)
        config.extra = dict(base.extra)
        cv = CrossValidation(
            spec, config, registry, folder / label, k=k, seeds=seeds, console=console, keep_models=keep_models
        )
        summaries[label] = cv.run()
        console.print(markdown_table(summaries[label]))
    lower = registry.task(spec.task).lower_is_better(base.metric)
    chosen = select_configuration(summaries, base.metric, lower)
    report: dict[str, Any] = {
        "app": spec.name,
        "k": k,
        "seeds": seeds,
        "metric": base.metric,
        "selected": chosen,
        "selection_rule": f"best mean held-out {base.metric} of the last checkpoint over {k} folds x {len(seeds)} seeds",
        "table": {label: s["variants"] for label, s in summaries.items()},
        "dev": None,
    }
    per_fold_teachers = bool(base.distill_from) and is_cv_folder(base.distill_from[0])
    if base.dev is not None and per_fold_teachers:
        report["dev_note"] = (
            "dev not scored: the teachers of --distill-from are per fold; train teachers on the whole training data "
            "and run train --distill-from THEM to score the distilled configuration on dev"
        )
    elif base.dev is not None:
        config = base.updated(strategy=chosen) if strategies else copy.deepcopy(base)
        config.extra = dict(base.extra)
        report["dev"] = score_dev_once(spec, config, registry, folder, console)
    write_json(folder / "cv-report.json", report)
    (folder / "cv-report.md").write_text(report_markdown(report), encoding="utf-8")
    return folder


def select_configuration(summaries: dict[str, dict[str, Any]], metric: str, lower: bool) -> str:
    """The configuration (a key of ``summaries``, each a :meth:`CrossValidation.write_summary`) with the best mean
    held-out ``metric`` of its last checkpoint: the selection rule of ``train --cv`` and ``compare --cv``."""

    def key(label: str) -> float:
        mean = summaries[label]["variants"].get("last", {}).get(metric, {}).get("mean")
        return math.inf if mean is None else (mean if lower else -mean)

    return min(summaries, key=key)


def score_dev_once(spec: AppSpec, config: TrainConfig, registry: Registry, folder: Path, console: Any) -> dict:
    """The selected configuration trained on the whole training data on its fixed schedule (its last checkpoint, or
    the checkpoint average it configures; nothing is selected on dev), and the dev set scored by it once
    (``<folder>/final``; a completed one is reused)."""
    from .engine import train

    path = folder / "final"
    if (path / "metrics.json").is_file() and read_json(path / "run.json").get("status") == "completed":
        metrics = read_json(path / "metrics.json")
    else:
        shutil.rmtree(path, ignore_errors=True)
        config = copy.deepcopy(config)
        config.select_checkpoint, config.name = "last", "final"
        console.print(
            f"[bold]final[/]: the selected configuration on all training data; dev scored once ({config.dev})"
        )
        metrics = train(spec, config, registry=registry, console=console, run_path=path).metrics
    return {"run": str(path), **{k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}}


def report_markdown(report: dict[str, Any]) -> str:
    """``cv-report.md``: per configuration and variant, mean ± standard error; the selection; the dev score."""
    lines = [
        f"# {report['app']}: {report['k']}-fold cross-validation, seeds {report['seeds']}",
        "",
        "| configuration | variant | accuracy | macro_f1 | f1 | ece | n |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, variants in report["table"].items():
        for name, stats in variants.items():
            n = max((s.get("n", 0) for s in stats.values()), default=0)
            cells = " | ".join(_fmt(stats.get(k, {})) for k in ("accuracy", "macro_f1", "f1", "ece"))
            lines.append(f"| {label} | {name} | {cells} | {n} |")
    lines += ["", f"selected: **{report['selected']}** ({report['selection_rule']})", ""]
    dev = report.get("dev")
    if dev:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in dev.items() if isinstance(v, float))
        lines += [f"dev, scored once by the selected configuration ({dev.get('model')}): {shown}", ""]
    else:
        lines += [report.get("dev_note") or "no dev set given: nothing scored outside the cross-validation", ""]
    return "\n".join(lines)
