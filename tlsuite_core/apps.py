"""Apps: what a plugin registers (:class:`AppSpec`), and a trained app loaded for use (:class:`TrainedApp`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .errors import ModelError

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["AppSpec", "Prediction", "TrainedApp", "check_run_app", "default_runs_dir", "load_app", "run_record"]


@dataclass(frozen=True)
class AppSpec:
    """A domain application.

    Args:
        name: the command group and the folder under ``runs/`` (``finance-monitor``).
        task: the registered task shape it trains (``sequence-classification``).
        description: one line for help and listings.
        default_model: model reference used when ``--model`` is not given.
        default_labels: label order used when the data's labels fit it.
        demo_train / demo_dev: shipped demo data used when no ``--train`` is given.
        defaults: training-option defaults tuned for this app (override the engine's; overridden by the user).
        demo_defaults: options the demo data trains with, over ``defaults``, when no ``--train`` is given (a recipe
            chosen for the small shipped set, where ``defaults`` are chosen on real data).
    """

    name: str
    task: str
    description: str = ""
    default_model: str = "minilm"
    default_labels: tuple[str, ...] | None = None
    demo_train: Path | None = None
    demo_dev: Path | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    demo_defaults: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path) -> AppSpec:
        """The app declared in a YAML manifest (a plugin's ``app.yaml``): the fields above as keys, the demo files
        relative to the manifest's folder, and ``defaults`` in the form of a ``--config`` file (task options under
        ``extra``), with the reasons for each default as comments beside it.

        Raises :class:`~tlsuite_core.errors.ConfigError` naming the file and the key on an unknown or missing key.
        """
        from .errors import ConfigError
        from .files import read_yaml_mapping

        path = Path(path)
        data = read_yaml_mapping(path, "app manifest", "a mapping of AppSpec fields")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ConfigError(f"{path}: key '{key}': unknown (known: {', '.join(sorted(known))})")
        for key in ("name", "task"):
            if key not in data:
                raise ConfigError(f"{path}: key '{key}': missing")
        for key in ("demo_train", "demo_dev"):
            if data.get(key) is not None:
                data[key] = path.parent / data[key]
        if data.get("default_labels") is not None:
            data["default_labels"] = tuple(data["default_labels"])
        return cls(**data)


@dataclass
class Prediction:
    """One prediction of a classification app: the label, its probability and every class's probability, and how the
    text was read (``windows``, ``truncated``, ``empty``: in ``as_dict`` only when they say something)."""

    label: str
    score: float
    scores: dict[str, float]
    #: how many overlapping windows of a long text were scored (1: the text fit in --max-length)
    windows: int = 1
    #: the text was longer than --max-length and only its start was scored (``long_texts="truncate"``)
    truncated: bool = False
    #: the text was empty (or blank): the label says nothing about it
    empty: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "score": self.score, "scores": self.scores}
        if self.windows > 1:
            out["windows"] = self.windows
        for flag in ("truncated", "empty"):
            if getattr(self, flag):
                out[flag] = True
        return out


@dataclass(eq=False)
class TrainedApp:
    """A completed run, loaded for inference. Get one with :func:`load_app`."""

    run_dir: Path | None
    model_dir: Path
    record: dict[str, Any]
    task: Any
    model: Any
    tokenizer: Any
    device: str
    # one inference at a time: a fast tokenizer's truncation and padding state is not safe to share between
    # threads ("Already borrowed"), and the forward pass already uses every thread torch was given
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def app(self) -> str | None:
        return self.record.get("app")

    @property
    def labels(self) -> list[str]:
        config = self.model.config
        return [config.id2label[i] for i in range(config.num_labels)]

    @property
    def max_length(self) -> int:
        return int(self.record.get("config", {}).get("max_length") or 512)

    def inference_options(self, batch_size: int, options: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword arguments for the task's ``predict``/``evaluate``: the run's settings, then ``options``."""
        return {
            "batch_size": batch_size,
            "max_length": self.max_length,
            **self.task.inference_options(self.record),
            **options,
        }

    def predict(self, texts: Sequence[str] | str, *, batch_size: int = 64, **options: Any) -> list[Any]:
        """Run the model on texts in length-sorted batches; one result per text, in input order.

        Classification apps return a :class:`Prediction` per text; token-classification apps a list of
        :class:`~tlsuite_core.tasks.token_classification.Entity` per text. ``options`` go to the task's ``predict``
        (e.g. ``aggregation="max"`` for token classification). Safe to call from several threads (calls run one at
        a time); to gather concurrent callers' texts into shared batches, use
        :class:`tlsuite_core.serving.DynamicBatcher`.
        """
        if isinstance(texts, str):
            texts = [texts]
        with self._lock:
            rows = self.task.predict(
                self.model, self.tokenizer, list(texts), **self.inference_options(batch_size, options)
            )
        return self.task.results(rows)

    def evaluate(self, data: Any, *, batch_size: int = 64, **options: Any) -> dict[str, Any]:
        """Metrics on labelled data (what the task's ``load_data`` returns, e.g. a
        :class:`tlsuite_core.data.LabelledData`); labels must be known to the model."""
        with self._lock:
            return self.task.evaluate(
                self.model, self.tokenizer, data, self.labels, **self.inference_options(batch_size, options)
            )


def default_runs_dir(value: str | Path | None = None) -> str:
    """Where run folders are: ``value`` when given, else ``$TLSUITE_RUNS_DIR``, else ``./runs``."""
    import os

    return str(value or os.environ.get("TLSUITE_RUNS_DIR") or "runs")


def load_app(
    ref: str | Path,
    *,
    device: str = "auto",
    runs_dir: str | Path | None = None,
    threads: int | None = None,
    registry: Registry | None = None,
    backend: str = "auto",
    app: str | None = None,
) -> TrainedApp:
    """Load a trained app for inference.

    :param ref: a run folder (``runs/finance-monitor/20261123-101500``), or an app name (its latest completed run
        under ``runs_dir``), or a model folder saved by tlsuite.
    :param registry: what plugins registered (tasks, model aliases); default: the installed plugins'.
    :param app: the app that will use the run: a run of another app is refused (:func:`check_run_app`).
    :param backend: ``torch``; ``onnx`` (the run's ONNX export on ONNX Runtime, :class:`~tlsuite_core.runtime.OnnxApp`:
        no PyTorch import until something needs it); ``auto``: ``onnx`` when the run has an export, ONNX Runtime is
        installed and the device is the CPU (``cpu``, or ``auto`` with no GPU visible), else ``torch``.
    """
    if backend not in ("auto", "torch", "onnx"):
        raise ModelError(f"backend {backend!r}: expected auto, torch or onnx")
    from . import devices
    from .models import load_tokenizer, resolve_model
    from .plugins import get_host
    from .training.runs import default_run, read_json

    registry = registry if registry is not None else get_host().registry
    path = Path(ref)
    if not path.exists() and registry.get("app", str(ref)) is not None:
        path = default_run(default_runs_dir(runs_dir), str(ref))
    resolved = resolve_model(str(path), aliases=registry.mapping("model"))
    record: dict[str, Any] = {}
    if resolved.run_dir is not None:
        record = read_json(resolved.run_dir / "run.json")
    task_name = record.get("task")
    if task_name is None:
        meta = resolved.path / "tlsuite.json"
        if meta.exists():
            task_name = read_json(meta).get("task")
    if task_name is None:
        raise ModelError(f"{path}: not a tlsuite run (no run.json naming its task)")
    if app is not None:
        check_run_app(ref, record, app)
    if backend != "torch":
        fast = _onnx_app(
            resolved,
            record,
            backend,
            device,
            threads,
            lambda: load_app(path, device=device, threads=threads, registry=registry, backend="torch"),
        )
        if fast is not None:
            return fast
    task = registry.task(task_name)
    task.configure_for_inference(record)
    plan = devices.plan(device, "fp32", threads)
    tokenizer = load_tokenizer(resolved)
    model = task.load_trained(resolved)
    task.prepare_tokenizer(tokenizer, model)
    model.to(plan.device)
    model.eval()
    return TrainedApp(resolved.run_dir, resolved.path, record, task, model, tokenizer, plan.device)


def run_record(ref: str | Path) -> dict[str, Any] | None:
    """The ``run.json`` of a run folder (or of the run holding a ``model/`` folder); ``None`` for anything else."""
    import json

    path = Path(ref)
    for folder in (path, path.parent if path.name == "model" else None):
        if folder is not None and (folder / "run.json").is_file():
            try:
                return json.loads((folder / "run.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
    return None


def check_run_app(ref: str | Path, record: Mapping[str, Any] | None, app: str, command: str | None = None) -> None:
    """Refuse a run of another app: the error names the run's app and task and the command to use it with
    (``command``: the full command, e.g. ``tlsuite ner predict``; default ``tlsuite <its app> --help``)."""
    other = (record or {}).get("app")
    if not other or other == app:
        return
    hint = f"{command} --model {ref}" if command else f"tlsuite {other} --help"
    raise ModelError(
        f"{ref} is a run of the {other} app (task {record.get('task', '?')}), not of {app}: use `{hint}`"  # type: ignore[union-attr]
    )


def _onnx_app(
    resolved: Any, record: dict[str, Any], backend: str, device: str, threads: int | None, load_torch: Any
) -> TrainedApp | None:
    """The run on ONNX Runtime when ``backend`` asks for it (``onnx``) or allows it (``auto``: a CPU device, an
    export, onnxruntime installed); ``None``: use PyTorch."""
    import importlib.util

    from .runtime import OnnxApp, gpu_visible, onnx_folder

    folder = onnx_folder(resolved.run_dir)
    if backend == "auto":
        on_cpu = device == "cpu" or (device == "auto" and not gpu_visible())
        if folder is None or not on_cpu or importlib.util.find_spec("onnxruntime") is None:
            return None
    elif folder is None:
        raise ModelError(
            f"{resolved.run_dir or resolved.path}: no ONNX export (onnx/model.onnx); create it with "
            f"tlsuite export {resolved.run_dir or resolved.path}"
        )
    elif device not in ("auto", "cpu"):
        raise ModelError(f"--backend onnx runs on the CPU; drop --device {device}")
    return OnnxApp(resolved.run_dir, resolved.path, record, folder, threads=threads, load_torch=load_torch)
