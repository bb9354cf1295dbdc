"""What every app's commands share: their training options (derived from the declarations in
:mod:`tlsuite_core.config`), binding module-level command functions to an app, running a training, finding the run
to use, reading texts to predict, and writing output files.

A train / compare / pretrain command is a module-level function ``fn(spec, options: RunOptions, ...)``;
:func:`bind` gives it one command-line option per declared option the command takes (``Option.commands``) and
hands it the given values as a :class:`RunOptions`: a configuration layer where ``None`` means "not given", and
the command's actions (``--config``, ``--resume``, ``--search``, ``--strategies``, ``--test``). Each option's help
ends with the default a run of that app gets.
"""
# no `from __future__ import annotations`: Typer reads these annotations at runtime

import inspect
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Mapping, Optional, Sequence

import typer
from rich.console import Console

from ..apps import AppSpec
from ..config import ALL, COMPARE, PANELS, PRETRAIN, TRAIN, ConfigOption, TaskOptions, TrainConfig, option, options_of
from ..errors import ConfigError, DataError
from ..plugins import get_host

err = Console(stderr=True, highlight=False)


@dataclass
class RunOptions:
    """What a train / compare / pretrain command was given: ``overrides``, the configuration layer of its options
    (flat keys; ``None``: not given, so the app's defaults and ``--config`` decide; task options under ``extra``),
    and the command's own actions, declared here like any option."""

    overrides: dict[str, Any] = field(default_factory=dict)
    config: Optional[str] = option(
        None, panel="Config", commands=ALL, help="YAML file of options; command-line options override it."
    )
    resume: Optional[str] = option(
        None,
        panel="Config",
        commands=(TRAIN, PRETRAIN),
        help="Continue an interrupted run folder from its last checkpoint, exactly.",
    )
    search: Optional[int] = option(
        None,
        panel="Search",
        commands=(TRAIN,),
        help="Hyperparameter search: N Optuna trials on the dev metric, then the table and the best config.",
    )
    cv: Optional[int] = option(
        None,
        panel="Cross-validation",
        commands=(TRAIN, COMPARE),
        help="K-fold cross-validation of the training data: mean ± standard error per metric over folds x "
        "--cv-seeds, the best configuration selected on it, then the dev set scored once by that configuration.",
    )
    cv_seeds: Optional[str] = option(
        None,
        panel="Cross-validation",
        commands=(TRAIN, COMPARE),
        help="Comma-separated seeds each fold trains with under --cv (default: --seed).",
    )
    cv_keep_models: bool = option(
        False,
        flags=("--cv-keep-models",),
        panel="Cross-validation",
        commands=(TRAIN, COMPARE),
        help="Under --cv: keep each fold/seed run's final model (about one model folder each), e.g. as the "
        "teachers of a later --cv run with --distill-from THIS_CV_FOLDER.",
    )
    strategies: Optional[str] = option(
        None,
        panel="Compare",
        commands=(COMPARE,),
        help="Comma-separated strategies to compare (default: full,frozen,partial,gradual,lora,ia3,prefix); the majority and from-scratch baselines are always added.",
    )
    test: Optional[str] = option(
        None, panel="Compare", commands=(COMPARE,), help="Also score every strategy on this labelled test file."
    )


@dataclass(frozen=True)
class View:
    """How a task's commands show a per-task option (data, model, metric: ``Option.per_task``): their own help text
    and spelling (``None``: the declaration's). The default is added to the help unless it names one."""

    help: Optional[str] = None
    flags: Optional[tuple[str, ...]] = None
    required: bool = False
    show_default: bool = True


# -- defaults shown in --help ----------------------------------------------------------------------------------
# Every training option defaults to None ("not given": the app's defaults, then --config, decide; see
# config.build_config), so Typer has no default to show. Help shows the effective one instead: the declaration's
# default overridden by the app's (AppSpec.defaults), written into the help text.


def app_defaults(spec: AppSpec | None) -> dict[str, Any]:
    """The value of every config key when neither ``--config`` nor the command line sets it: TrainConfig's
    defaults, overridden by the app's (``extra``: the app's task options, merged key by key)."""
    values = TrainConfig().to_dict()
    if spec is not None:
        values["model"] = spec.default_model
        for key, value in spec.defaults.items():
            values[key] = {**values.get("extra", {}), **value} if key == "extra" else value
    return values


def show(value: Any) -> str:
    """A default as help prints it: ``5``, ``0.0001``, ``2e-05``, ``auto``, ``a,b``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}".replace("e-0", "e-")
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def with_default(text: str, default: str) -> str:
    """``text`` with ``(default: ...)`` at its end."""
    text = text.rstrip()
    dot = "." if text.endswith(".") and not text.endswith("..") else ""
    return f"{text[:-1] if dot else text} (default: {default}){dot}"


def demo_data(spec: AppSpec) -> str:
    """What ``--train`` defaults to for ``spec``: its demo data, and where the demo's own recipe differs from the
    defaults help shows (those of a run on your data)."""
    if not spec.demo_defaults:
        return "demo data"
    recipe = ", ".join(f"{key} {show(value)}" for key, value in spec.demo_defaults.items())
    return f"demo data, trained with the defaults shown except {recipe} (the demo's own recipe)"


def dev_default(spec: AppSpec) -> str:
    """What ``--dev`` defaults to for ``spec``."""
    return "the demo dev set with the demo data, else none" if spec.demo_dev else "none"


def compare_views(spec: AppSpec) -> dict[str, View]:
    """How ``compare`` words the options every task shares (the model, the dev set every strategy is scored on, the
    metric of the report)."""
    return {
        "model": View(),
        "dev": View(with_default("Dev data: every strategy is scored on it.", dev_default(spec))),
        "metric": View("Dev metric the report compares."),
    }


#: ``evaluate --output``
MetricsOutOpt = Annotated[Optional[Path], typer.Option(help="Write the metrics as JSON here.")]


def _strategy_note(key: str, app_value: float) -> str:
    """How the strategies change an app default the user did not set (learning rate, head rate, layer decay)."""
    from ..training.strategies import STRATEGIES

    groups: dict[str, list[str]] = {}
    for strategy in STRATEGIES.values():
        value = app_value * strategy.lr_scale if key == "learning_rate" else strategy.defaults.get(key, app_value)
        groups.setdefault(show(float(value)), []).append(strategy.name)
    if len(groups) == 1:
        return show(float(app_value))
    return "; ".join(f"{value} with {', '.join(names)}" for value, names in groups.items())


def _shown_default(o: ConfigOption, value: Any, strategies: bool) -> Optional[str]:
    """The default help shows for option ``o`` whose effective default is ``value`` (None: show none)."""
    if not o.meta.show_default or o.is_flag:  # an action or a file; a flag is off unless given
        return None
    if value is None:
        return o.meta.unset
    if o.meta.scaled and strategies:
        return _strategy_note(o.key, value)
    return show(value)


# -- options -> Typer parameters -> a configuration layer ---------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One generated command-line option: the Typer parameter, and what its value means."""

    name: str
    annotation: Any
    default: Any
    option: ConfigOption
    role: str  # "config" (a TrainConfig key) | "task" (under extra) | "action" (a RunOptions field)

    def layer_value(self, value: Any) -> Any:
        """The value as a configuration layer holds it (``None``: not given; ``a,b`` a list where the option is one;
        normalised where the option says how: ``--scheme iobes`` is ``BIOES``)."""
        if self.option.is_flag:
            return (not self.option.meta.invert) if value else None
        if self.role == "action" or value is None:
            return value
        value = self.option.coerce(value)
        return None if self.option.is_list and not value else value


def parameter(o: ConfigOption, role: str, help_text: str, view: Optional[View] = None) -> Param:
    """The command-line parameter of a declared option (``role``: config, task or action), worded by ``view``."""
    flags = view.flags if view is not None and view.flags is not None else o.flags
    info = typer.Option(*flags, help=help_text, rich_help_panel=o.meta.panel)
    name = flags[0].lstrip("-").replace("-", "_")
    if o.is_flag:
        return Param(name, Annotated[bool, info], False, o, role)
    base = {int: int, float: float}.get(o.scalar, str)
    if view is not None and view.required:
        return Param(name, Annotated[base, info], inspect.Parameter.empty, o, role)
    return Param(name, Annotated[Optional[base], info], None, o, role)


def training_parameters(
    command: str,
    spec: Optional[AppSpec],
    *,
    views: Mapping[str, View] = {},
    task_options: type[TaskOptions] = TaskOptions,
) -> list[Param]:
    """The command-line options of ``command`` (train, compare, pretrain) for ``spec``: the per-task options in
    ``views`` (in that order), the task's options, then every engine option and action the command takes, each
    help ending with the app's default."""
    defaults = app_defaults(spec)
    strategies = command in options_of(TrainConfig)["lora_r"].meta.commands
    declared = options_of(TrainConfig)
    params = []
    for key, view in views.items():
        o = declared[key]
        text = view.help if view.help is not None else o.meta.help
        shown = _shown_default(o, defaults[key], strategies) if view.show_default and not view.required else None
        params.append(parameter(o, "config", _described(text, shown, lower=True), view))
    extra = defaults.get("extra") or {}
    for key, o in options_of(task_options).items():
        if command in o.meta.commands:
            params.append(
                parameter(o, "task", _described(o.meta.help, _shown_default(o, extra.get(key, o.default), strategies)))
            )
    for key, o in declared.items():
        if command in o.meta.commands and not o.meta.per_task:
            params.append(parameter(o, "config", _described(o.meta.help, _shown_default(o, defaults[key], strategies))))
    for o in options_of(RunOptions).values():
        if command in o.meta.commands:
            params.append(parameter(o, "action", o.meta.help))
    return params


def _described(text: str, shown: Optional[str], *, lower: bool = False) -> str:
    named = "default" in (text.lower() if lower else text)
    return with_default(text, shown) if shown is not None and not named else text


def bind(
    func: Callable[..., Any], *, params: Sequence[Param] = (), retype: Mapping[str, Any] = {}, **bound: Any
) -> Callable[..., Any]:
    """``func`` as a Typer command: ``bound`` values (the app's ``spec``...) are passed as given, ``params`` become
    options whose values reach ``func`` as ``options=RunOptions(...)``; a parameter ``use`` becomes the options of
    :class:`UsedRun` (``--model``, ``--device``, ``--threads``, ``--runs-dir``); ``retype`` replaces the annotation
    (help) of some of ``func``'s own parameters. Parameters are ordered by help panel
    (:data:`~tlsuite_core.config.PANELS`)."""
    signature = inspect.signature(func)
    uses_run = "use" in signature.parameters
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=retype.get(p.name, p.annotation))
        for p in signature.parameters.values()
        if p.name not in bound and p.name not in ("options", "use")
    ]
    if uses_run:  # the run's options last: --model, --device, --threads, --runs-dir
        own += [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a) for n, (a, d) in USE.items()
        ]
    added = [
        inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default, annotation=p.annotation)
        for p in params
    ]
    everything = sorted(own + added, key=_panel_rank)
    generated = {p.name: p for p in params}

    def command(**kwargs: Any) -> Any:
        if generated:
            kwargs["options"] = _run_options({n: kwargs.pop(n) for n in generated}, generated)
        if uses_run:
            kwargs["use"] = UsedRun(**{n: kwargs.pop(n) for n in USE})
            if isinstance(bound.get("spec"), AppSpec) and kwargs["use"].model is not None:
                refuse_other_apps_run(kwargs["use"].model, bound["spec"].name, func.__name__)
        return func(**bound, **kwargs)

    if isinstance(bound.get("spec"), AppSpec):
        command._tlsuite_app = bound["spec"].name  # type: ignore[attr-defined]  (found by command_path)
    command.__name__, command.__doc__, command.__module__ = func.__name__, func.__doc__, func.__module__
    command.__signature__ = signature.replace(parameters=everything, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in everything}
    return command


def refuse_other_apps_run(model: str, app: str, verb: str) -> None:
    """Before anything is read: ``--model`` naming a run of another app is an error that names that app and the
    command to use the run with (its own ``verb``, else its predict / run command)."""
    from ..apps import check_run_app, run_record

    record = run_record(model)
    other = (record or {}).get("app")
    if other and other != app:
        path = command_path(other, (verb, "predict", "run", "evaluate"))
        check_run_app(model, record, app, f"tlsuite {path}" if path else None)


def command_path(app: str, verbs: Sequence[str]) -> Optional[str]:
    """``<group path> <verb>`` of the first of ``verbs`` that ``app``'s command group has, read off the CLI (built
    again: this runs only to word an error)."""
    import typer.main

    from ..cli import build_app

    found: dict[str, str] = {}

    def walk(group: Any, path: list[str]) -> None:
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                walk(cmd, [*path, name])
            elif getattr(cmd.callback, "_tlsuite_app", None) == app:
                found.setdefault(name, " ".join([*path, name]))

    walk(typer.main.get_group(build_app(get_host())), [])
    return next((found[v] for v in verbs if v in found), None)


def _panel_rank(parameter: inspect.Parameter) -> int:
    panel = next((getattr(a, "rich_help_panel", None) for a in getattr(parameter.annotation, "__metadata__", ())), None)
    return PANELS.index(panel) if panel in PANELS else -1


def _run_options(values: dict[str, Any], params: Mapping[str, Param]) -> RunOptions:
    run = RunOptions()
    extra: dict[str, Any] = {}
    for name, value in values.items():
        p = params[name]
        if p.role == "action":
            setattr(run, p.option.key, value)
        elif (layer := p.layer_value(value)) is not None:
            (extra if p.role == "task" else run.overrides)[p.option.key] = layer
        elif p.role == "config":
            run.overrides[p.option.key] = None
    run.overrides["extra"] = extra or None
    return run


def _with_environment(overrides: dict[str, Any]) -> dict[str, Any]:
    """Options not given that their declaration reads from the environment (``runs_dir``: ``$TLSUITE_RUNS_DIR``)."""
    out = dict(overrides)
    for key, o in options_of(TrainConfig).items():
        if o.meta.env and out.get(key) is None:
            out[key] = os.environ.get(o.meta.env) or None
    return out


# -- running ---------------------------------------------------------------------------------------------------------


def run_training(
    spec: AppSpec, options: RunOptions, *, task_options: type[TaskOptions] = TaskOptions, run_path: Path | None = None
) -> Path:
    """Resolve the configuration (or the resumed run's), train (or search, or cross-validate), print the run (study,
    cross-validation) folder on stdout and return it (a plugin that wraps ``train`` continues from it)."""
    from ..config import load_config_file
    from ..training.engine import resolve_training_config
    from ..training.engine import train as engine_train

    if options.config is not None:  # errors in the file's task options name the file, before anything is loaded
        load_config_file(options.config, task_options=task_options)
    overrides = _with_environment(options.overrides) if options.resume is None else options.overrides
    if options.search is not None:
        if options.resume is not None:
            raise ConfigError("--search starts new trials; it cannot --resume a run")
        from ..training.search import run_search

        result = run_search(
            spec,
            trials=options.search,
            config_file=options.config,
            overrides=overrides,
            console=err,
            registry=get_host().registry,
            cv=options.cv,
            cv_seeds=options.cv_seeds,
        )
        err.print(f"[green]search completed[/] {result}")
        typer.echo(str(result))
        return Path(result)
    if options.cv is not None:
        return _cross_validate(spec, options, overrides, strategies=None)
    cfg, resume_run = resolve_training_config(
        spec, config_file=options.config, overrides=overrides, resume=options.resume
    )
    result = engine_train(
        spec,
        cfg,
        registry=get_host().registry,
        resume_run=resume_run,
        console=err,
        run_path=run_path if options.resume is None else None,
    )
    err.print(f"[green]completed[/] {result.path}")
    typer.echo(str(result.path))
    return result.path


def train(spec: AppSpec, task_options: type[TaskOptions], options: RunOptions) -> Path:
    """Fine-tune a pretrained model on the app's training data; writes a run folder (model, metrics, report)."""
    return run_training(spec, options, task_options=task_options)


def compare(spec: AppSpec, task_options: type[TaskOptions], options: RunOptions) -> None:
    """Train several strategies and two baselines on the same data and seed; write a table and a chart."""
    run_comparison(spec, options, task_options=task_options)


def run_comparison(spec: AppSpec, options: RunOptions, *, task_options: type[TaskOptions] = TaskOptions) -> None:
    """``<app> compare``: train each strategy and the baselines; print the report folder on stdout."""
    from ..config import load_config_file
    from ..training.compare import parse_strategies, run_compare

    if options.config is not None:
        load_config_file(options.config, task_options=task_options)
    if options.cv is not None:
        _cross_validate(
            spec, options, _with_environment(options.overrides), strategies=parse_strategies(options.strategies)
        )
        return
    folder = run_compare(
        spec,
        strategies=parse_strategies(options.strategies),
        config_file=options.config,
        overrides=_with_environment(options.overrides),
        test=options.test,
        console=err,
        registry=get_host().registry,
    )
    err.print((folder / "compare.md").read_text(encoding="utf-8"))
    err.print(f"[green]report written[/] {folder}/compare.md, compare.csv, compare.json, compare.png")
    typer.echo(str(folder))


def _cross_validate(
    spec: AppSpec, options: RunOptions, overrides: dict[str, Any], *, strategies: Optional[Sequence[str]]
) -> Path:
    """``--cv K``: the cross-validation table (of one configuration, or of each strategy), the selection and the
    dev set scored once; prints the folder on stdout."""
    from ..training.cv import parse_seeds, run_cv

    if options.resume is not None:
        raise ConfigError("--cv runs its own folds (the same command resumes them); drop --resume")
    folder = run_cv(
        spec,
        k=options.cv,
        seeds=parse_seeds(options.cv_seeds),
        config_file=options.config,
        overrides=overrides,
        console=err,
        registry=get_host().registry,
        strategies=strategies,
        keep_models=options.cv_keep_models,
    )
    err.print((folder / "cv-report.md").read_text(encoding="utf-8"))
    typer.echo(str(folder))
    return folder


# -- the commands that use a trained run -----------------------------------------------------------------------------
UseModelOpt = Annotated[Optional[str], typer.Option(help="Run folder (default: the app's latest completed run).")]
UseDeviceOpt = Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N | mps.")]
UseThreadsOpt = Annotated[Optional[int], typer.Option(help="CPU threads for torch.")]
UseRunsDirOpt = Annotated[Optional[str], typer.Option(help="Where run folders are (default: ./runs).")]
UseBatchSizeOpt = Annotated[int, typer.Option(help="Inference batch size.")]
UseBackendOpt = Annotated[
    str,
    typer.Option(
        help="auto | torch | onnx: onnx runs the run's ONNX export on ONNX Runtime (no PyTorch start-up); auto picks "
        "it on a CPU when the run has one."
    ),
]
#: the options :func:`bind` gives a command's ``use`` parameter: name -> (annotation, default)
USE: dict[str, tuple[Any, Any]] = {
    "model": (UseModelOpt, None),
    "device": (UseDeviceOpt, "auto"),
    "threads": (UseThreadsOpt, None),
    "runs_dir": (UseRunsDirOpt, None),
    "backend": (UseBackendOpt, "auto"),
}


@dataclass(frozen=True)
class UsedRun:
    """The trained run a command uses and how it runs it (``--model``, ``--device``, ``--threads``, ``--runs-dir``,
    ``--backend``): a command function declares ``use: UsedRun`` and :func:`bind` adds the options."""

    model: Optional[str] = None
    device: str = "auto"
    threads: Optional[int] = None
    runs_dir: Optional[str] = None
    backend: str = "auto"

    def load(self, spec: AppSpec) -> Any:
        """The :class:`~tlsuite_core.apps.TrainedApp` of ``--model`` (default: the app's latest completed run)."""
        from ..apps import default_runs_dir, load_app

        return load_app(
            model_for_use(spec, self.model, default_runs_dir(self.runs_dir)),
            device=self.device,
            threads=self.threads,
            backend=self.backend,
        )


def command_group(
    spec: AppSpec,
    *,
    epilogs: Mapping[str, str],
    views: Callable[[AppSpec, str], Mapping[str, View]],
    training: Sequence[Callable[..., Any]],
    using: Sequence[tuple[Callable[..., Any], Mapping[str, Any]]],
    task_options: type[TaskOptions] = TaskOptions,
    command: Optional[str] = None,
    **bound: Any,
) -> typer.Typer:
    """An app's command group: ``training`` commands (train, compare) get the declared training options, worded by
    ``views``, and ``bound`` values; ``using`` commands (evaluate, predict...) their bound values. Each command's
    epilog is ``epilogs[<its name>]`` and the group's ``epilogs["group"]``, with ``{name}`` replaced by ``command``:
    the words after ``tlsuite`` that reach the group (default: the app's name; a plugin that mounts the group under
    its own says so, e.g. ``customer-service slots``)."""
    epilogs = {k: v.replace("{name}", command or spec.name) for k, v in epilogs.items()}
    epilog = epilogs["group"]
    app = typer.Typer(help=spec.description, epilog=epilog, no_args_is_help=True)
    for func in training:
        params = training_parameters(func.__name__, spec, views=views(spec, func.__name__), task_options=task_options)
        app.command(epilog=epilogs[func.__name__])(
            bind(func, params=params, spec=spec, task_options=task_options, **bound)
        )
    for func, extra in using:
        # task options declared for this command too (classification's --long-texts on predict / evaluate)
        params = [p for p in training_parameters(func.__name__, spec, task_options=task_options) if p.role == "task"]
        app.command(epilog=epilogs[func.__name__])(bind(func, params=params, spec=spec, **extra))
    return app


def check_output_folder(output: Optional[Path]) -> None:
    """``--output`` must name a file: a folder is an error; a missing parent folder is created, and said so."""
    if output is None:
        return
    if output.is_dir():
        raise ConfigError(f"--output {output}: is a folder; give a file name in it")
    if not output.parent.exists():
        try:
            output.parent.mkdir(parents=True)
        except OSError as exc:
            raise ConfigError(f"--output {output}: cannot create folder {output.parent}: {exc.strerror}") from None
        err.print(f"created folder {output.parent}")


def emit(text: str, output: Optional[Path], what: str) -> None:
    """``text`` to ``output`` (atomically, then ``<what> written to <output>`` on stderr) or to stdout."""
    from ..files import write_atomically

    check_output_folder(output)
    if output is not None:
        write_atomically(output, text)
        err.print(f"{what} written to {output}")
    else:
        sys.stdout.write(text)


def write_result(output: Optional[Path], metrics: Mapping[str, Any], trained: Any, data: Any) -> None:
    """An evaluation's metrics as JSON at ``output``, with the run and the data described."""
    from ..files import write_atomically

    check_output_folder(output)
    if output is not None:
        result = {**metrics, "model": str(trained.run_dir or trained.model_dir), "data": data.describe()}
        write_atomically(output, json.dumps(result, indent=2, ensure_ascii=False) + "\n")


def data_adapters() -> Mapping[str, Any]:
    """The registered data adapters (core and plugins: ``conll``, ``phrasebank``...), for the readers."""
    return get_host().registry.mapping("data adapter")


def model_for_use(spec: AppSpec, model: str | None, runs_dir: str) -> str:
    from ..training.runs import default_run

    if model is not None:
        return model
    run = default_run(runs_dir, spec.name)
    err.print(f"[dim]using the latest completed {spec.name} run: {run}[/]")
    return str(run)


def read_plain_text(input_file: str) -> tuple[str, str]:
    """The whole text of a UTF-8 file, or of stdin for ``-``."""
    if input_file == "-":
        return sys.stdin.read(), "stdin"
    path = Path(input_file)
    if not path.is_file():
        raise DataError("file not found", path=path)
    try:
        return path.read_bytes().decode("utf-8"), str(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"bytes at offset {exc.start} are not valid UTF-8", path=path) from None


def passed_columns(found: Optional[tuple], keep: Optional[str]) -> list[tuple[str, str, list]]:
    """(input column, output name, values) of the input columns to pass through, in input order."""
    if found is None:
        if keep not in (None, "all", "none"):
            raise ConfigError("--keep needs a CSV/TSV/JSONL --input (texts from arguments or lines have no columns)")
        return []
    table, text_column = found
    if keep in (None, "all"):
        chosen = list(table.columns)
    elif keep == "none":
        chosen = []
    else:
        chosen = [c.strip() for c in keep.split(",") if c.strip()]
        unknown = [c for c in chosen if c not in table.columns]
        if unknown:
            raise ConfigError(
                f"--keep {','.join(unknown)}: not a column of {table.source} (its columns: {', '.join(table.columns)})"
            )
        chosen = [c for c in table.columns if c in chosen]  # input order
    return [(c, c, [row.get(c) for row in table.rows]) for c in chosen] + (
        [] if text_column in chosen else [("", "text", None)]
    )


def input_columns(
    passed: list[tuple[str, str, Any]], k: int, text: str, fields: set[str], text_field: str = "text"
) -> dict[str, Any]:
    """The start of output record ``k``: the passed-through columns in input order (``input_<name>`` where a name
    is one of the output ``fields``), and the text as ``text_field`` unless its own column is among them."""
    passed = passed or [("", "text", None)]
    taken = fields | ({text_field} if any(values is None for _, _, values in passed) else set())
    record: dict[str, Any] = {}
    for _column, name, values in passed:
        if values is None:
            record[text_field] = text
        else:
            record[f"input_{name}" if name in taken else name] = values[k]
    return record


KeepOpt = Annotated[
    Optional[str],
    typer.Option(
        help="Input columns passed through to the output, in input order: all (default), none, or a list "
        "(id,source). A column named like an output field (label, score, entities...) becomes input_<name>."
    ),
]


def read_texts(
    inputs: list[str],
    input_file: str | None,
    text_col: str | None,
    fmt: str | None,
    *,
    strip: bool = True,
    table_out: list[Any] | None = None,
    delimiter: str | None = None,
) -> tuple[list[str], str]:
    """Texts to predict from arguments, a file (txt: one per line; csv/tsv/jsonl: a text column) or stdin.

    ``strip=False`` keeps each text exactly as given (needed where results point into the text by offsets).
    ``table_out``: a list that receives ``(table, text column)`` when the texts came from a table (its other
    columns pass through to the output).
    """
    from ..data import TEXT_COLUMNS, pick_column, read_table

    clean = (lambda t: t.strip()) if strip else (lambda t: t)
    if inputs and input_file:
        raise ConfigError("give texts as arguments or --input FILE, not both")
    if inputs:
        return list(inputs), "arguments"
    if input_file is None:
        if sys.stdin.isatty():
            raise ConfigError("nothing to predict: give texts as arguments, --input FILE, or pipe texts on stdin")
        input_file = "-"
    plain = fmt in (None, "txt") and Path(input_file).suffix.lower() in (".txt", "") and delimiter is None
    if input_file == "-" or plain:
        raw, source = read_plain_text(input_file)
        texts = [clean(line.rstrip("\r")) for line in raw.split("\n") if line.strip()]
        if not texts:
            raise DataError("no texts (every line is empty)", path=source)
        return texts, source
    table = read_table(input_file, fmt, data_adapters(), delimiter=delimiter)
    column = pick_column(table, text_col, TEXT_COLUMNS, "text", "--text-col")
    texts = []
    for row, line in zip(table.rows, table.lines):
        value = row.get(column)
        if not isinstance(value, str) or not value.strip():
            raise DataError("empty text", path=table.source, line=line, field=column)
        texts.append(clean(value))
    if not texts:
        raise DataError("no data rows", path=table.source)
    if table_out is not None:
        table_out.append((table, column))
    return texts, table.source
