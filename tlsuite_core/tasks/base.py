"""The interface between the engine and a task shape."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

from ..config import TaskOptions, TrainConfig

if TYPE_CHECKING:
    from ..data import ExampleData
    from ..registry import Registry


class Task:
    """Base class of task shapes.

    The engine calls, in order: :meth:`load_data` (curated files -> validated examples), :meth:`label_names`,
    :meth:`load_model` (pretrained weights + a head sized for the labels), :meth:`encode` (examples ->
    tokenized ``datasets.Dataset``), :meth:`collator`, :meth:`compute_metrics` (inside Trainer evaluation),
    :meth:`final_metrics` and :meth:`write_report` (after training). A trained run is used through
    :meth:`predict` (whose rows :meth:`results` turns into the objects ``TrainedApp.predict`` returns) and
    :meth:`evaluate`. :meth:`configure` runs first, with the training configuration (the task's own options are
    ``config.extra``, typed and checked by :attr:`options_class`).
    """

    #: stored in run.json; the key under which the task is registered
    name: ClassVar[str] = ""
    #: the task's own options (a configuration's ``extra``): their command-line options, checks and docs come from it
    options_class: ClassVar[type[TaskOptions]] = TaskOptions
    #: the task options in use (:meth:`configure` sets them; the class defaults until then)
    options: TaskOptions
    #: the ``transformers`` auto class a run's ``model/`` loads with
    auto_class: ClassVar[str] = ""
    #: evaluation predictions must come back in the encoded dataset's order (metrics read its extra columns)
    ordered_evaluation: ClassVar[bool] = False
    #: the task reads inputs in windows of at most the model's own limit, so a larger ``max_length`` is harmless
    #: (otherwise the engine refuses ``max_length`` above the model's position limit)
    windows_at_model_limit: ClassVar[bool] = False
    #: ``peft.TaskType`` name for parameter-efficient strategies (``SEQ_CLS``, ``TOKEN_CLS``, ``CAUSAL_LM``...)
    peft_task_type: ClassVar[str | None] = None
    #: the task adds a freshly initialised head (classifier) that every strategy trains and saves
    new_head: ClassVar[bool] = True
    #: a completed run is exported for ONNX Runtime (``onnx/``, :mod:`tlsuite_core.export`) and predicts with it
    onnx_export: ClassVar[bool] = False
    #: evaluation during training computes the loss only (no predictions are gathered: masked / causal LM)
    loss_only_evaluation: ClassVar[bool] = False
    #: the collator reads columns the model's ``forward`` does not take (the Trainer must not drop them)
    collator_reads_all_columns: ClassVar[bool] = False
    #: the loss predicts the next token (labels shifted by one: decoder-only language models)
    shifts_labels: bool = False
    #: lines the engine prints after the model is loaded (e.g. "warm start: cross-attention starts random")
    load_notes: Sequence[str] = ()

    #: dev metrics of every task where lower is better
    LOWER_IS_BETTER: ClassVar[frozenset[str]] = frozenset({"loss", "perplexity"})

    def lower_is_better(self, metric: str) -> bool:
        """Whether a lower value of dev metric ``metric`` is better (model selection, early stopping, search and
        the compare report turn around)."""
        return metric in self.LOWER_IS_BETTER

    #: ``(logits, labels) -> kept``: what evaluation keeps of each batch's logits (the Trainer's hook of that name;
    #: ``None``: everything). Generation keeps token ids only, not vocabulary-sized logits.
    preprocess_logits_for_metrics: Callable[[Any, Any], Any] | None = None

    #: what plugins registered (data adapters, model aliases, metrics); ``None``: the core's built-ins only
    registry: Registry | None = None

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry
        self.options = self.options_class()
        self.use(self.options)

    @property
    def adapters(self) -> dict[str, Any] | None:
        """The data adapters readers may use (``None``: the core's csv / tsv / jsonl)."""
        return self.registry.mapping("data adapter") if self.registry is not None else None

    def reading(self, config: Any) -> dict[str, Any]:
        """What every curated-data reader takes from the config: the format, the bad-row policy, the adapters."""
        return {"fmt": config.format, "skip_bad_rows": config.skip_bad_rows, "adapters": self.adapters}

    @property
    def aliases(self) -> dict[str, Any] | None:
        """The model aliases ``--model`` may name (``None``: the core's own)."""
        return self.registry.mapping("model") if self.registry is not None else None

    def configure(self, config: Any) -> None:
        """Read the task options from the training configuration (``config.extra``, as :attr:`options_class`
        declares them, kept as :attr:`options`); called before anything else."""
        self.options = self.options_class.of(config.extra)
        self.use(self.options)

    def use(self, options: TaskOptions) -> None:
        """Take new task options (at construction and from :meth:`configure`): a task that reads them as its own
        attributes (``self.stride``...) copies them here. Default: nothing (``self.options`` is enough)."""

    def model_reference(self, config: Any) -> str:
        """The model reference whose folder gives the tokenizer and the starting weights."""
        return config.init_from or config.model

    def model_class(self) -> Any:
        import transformers

        return getattr(transformers, self.auto_class)

    # -- data --------------------------------------------------------------------------------------
    def load_data(self, source: str, config: Any) -> ExampleData:  # pragma: no cover - interface
        raise NotImplementedError

    def label_names(self, train: Any, others: Sequence[Any], config: Any, default: Sequence[str] | None) -> list[str]:
        raise NotImplementedError

    # -- model -------------------------------------------------------------------------------------
    def load_model(self, model: Any, labels: Sequence[str], *, from_scratch: bool = False) -> Any:
        """Pretrained weights with a head sized for ``labels`` (``id2label`` / ``label2id`` saved in its config);
        a head of another size (a run trained on other labels) is re-initialised. ``from_scratch``: the same
        architecture with random weights (the no-transfer baseline)."""
        from ..models import load_model, random_model

        kwargs = dict(
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
        if from_scratch:
            return random_model(model, self.model_class(), **kwargs)
        return load_model(model, self.model_class(), ignore_mismatched_sizes=True, trainable_start=True, **kwargs)

    def majority_baseline(self, train: Any, data: Any, labels: Sequence[str]) -> dict[str, Any]:
        """Metrics on ``data`` of always predicting the most frequent training label (the no-model baseline)."""
        raise NotImplementedError

    def prepare_tokenizer(self, tokenizer: Any, model: Any) -> None:
        """Adjust special tokens / model config once both are loaded (default: nothing)."""

    def attach(self, trainer: Any) -> None:
        """Called with the Trainer once it is built (a task whose metrics need the live model keeps it)."""

    def model_meta(self) -> dict[str, Any]:
        """Extra keys for the saved model folder's ``tlsuite.json``."""
        return {}

    def configure_for_inference(self, record: dict[str, Any]) -> None:
        """Configure from a completed run's ``run.json`` before :meth:`load_trained` (default: its config)."""
        config = record.get("config")
        if config:
            self.configure(TrainConfig.from_dict(config, strict=False))

    def load_trained(self, model: Any) -> Any:
        """A trained model folder for inference."""
        from ..models import load_model

        return load_model(model, self.model_class())

    def encode(self, data: Any, tokenizer: Any, labels: Sequence[str], max_length: int) -> Any:
        raise NotImplementedError

    def collator(self, tokenizer: Any) -> Any:
        raise NotImplementedError

    def prepare_evaluation(self, dataset: Any, tokenizer: Any, seed: int) -> Any:
        """The encoded dev set as evaluation sees it (default: unchanged). A task whose collator is random
        (masked-LM masking) fixes it here once, so every evaluation scores the same inputs."""
        return dataset

    def training_evaluation(self, dataset: Any) -> Any:
        """The part of the prepared dev set that evaluations *during training* score (default: all of it). The
        selected model's final evaluation always scores the whole dev set."""
        return dataset

    def soft_targets(self, model: Any, tokenizer: Any, data: Any, *, max_length: int, temperature: float) -> Any:
        """A trained model's class probabilities at ``temperature`` for each training example, as the student sees
        it (cut at ``max_length``): an array of shape (examples, labels) in the model's label order, the targets of
        ``--distill-from``. Tasks without per-example class probabilities raise ``ConfigError``."""
        from ..errors import ConfigError

        raise ConfigError(f"--distill-from: the {self.name} task has no per-example class probabilities to learn")

    def example_classes(self, dataset: Any, labels: Sequence[str]) -> list[int]:
        """One class id per encoded example, for ``--oversample`` (which repeats examples of rare classes)."""
        raise NotImplementedError

    # -- evaluation --------------------------------------------------------------------------------
    def class_weights(self, dataset: Any, labels: Sequence[str]) -> Any:
        """Inverse-frequency loss weights (a float tensor, one per label) for ``--class-weights balanced``."""
        raise NotImplementedError

    def metric_names(self, labels: Sequence[str]) -> set[str]:
        """The scalar dev metrics ``--metric`` may name (``loss`` is always available)."""
        raise NotImplementedError

    def compute_metrics(self, labels: Sequence[str], dataset: Any = None) -> Any:
        """``compute_metrics`` for the Trainer: ``EvalPrediction -> {name: float}``. ``dataset`` is the encoded
        evaluation set (as :meth:`encode` returned it, with any bookkeeping columns the Trainer drops)."""
        raise NotImplementedError

    def final_metrics(self, references: Any, predictions: Any, labels: Sequence[str]) -> dict[str, Any]:
        """Full metrics (JSON-serialisable) from reference and predicted label ids."""
        raise NotImplementedError

    def evaluate_output(self, output: Any, labels: Sequence[str], dataset: Any = None) -> dict[str, Any]:
        """Full metrics from ``Trainer.predict`` output on the encoded ``dataset``."""
        raise NotImplementedError

    def summary(self, metrics: dict[str, Any]) -> str:
        """One line for the terminal."""
        return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))

    def write_report(self, folder: Path, metrics: dict[str, Any], labels: Sequence[str]) -> list[str]:
        return []

    # -- inference ---------------------------------------------------------------------------------
    def predict(self, model: Any, tokenizer: Any, inputs: Sequence[Any], **kwargs: Any) -> list[Any]:
        raise NotImplementedError

    def results(self, rows: list[Any]) -> list[Any]:
        """What ``TrainedApp.predict`` returns for :meth:`predict`'s rows (default: the rows themselves)."""
        return rows

    def inference_options(self, record: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for :meth:`predict` / :meth:`evaluate` taken from a run's ``run.json`` record."""
        return {}

    def evaluate(self, model: Any, tokenizer: Any, data: Any, labels: Sequence[str], **kwargs: Any) -> dict[str, Any]:
        """Full metrics of a trained model on data :meth:`load_data` (or the app's reader) returned."""
        raise NotImplementedError
