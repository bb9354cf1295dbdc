"""Options declared once (tlsuite_core/config.py, the task options classes): the command line, the override merge,
YAML checks and the saved layout all come from the declarations; config files and runs written before the options
were typed still load, resume and predict."""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import ClassVar

import pytest
import typer
import yaml
from typer.testing import CliRunner

from tests.core.test_config import one_line_error, write_yaml
from tlsuite_core import AppSpec
from tlsuite_core.config import (
    COMPARE,
    TRAIN,
    TaskOptions,
    TrainConfig,
    build_config,
    load_config_file,
    option,
    options_of,
    save_config,
)
from tlsuite_core.errors import ConfigError
from tlsuite_core.tasks import SequenceClassification

# --------------------------------------------------------------------------------------------------
# the layout written before the options were typed (a ner run's config.yaml, literally), and an older
# generation run's (the warm-start test's, with the task options a generation app sets)
# --------------------------------------------------------------------------------------------------

OLD_NER_CONFIG = """\
model: {model}
train: {train}
dev: {dev}
text_col: null
label_col: null
format: null
labels: null
max_length: 256
epochs: 2.0
batch_size: 2
eval_batch_size: 128
learning_rate: 0.001
warmup: 0.1
weight_decay: 0.01
scheduler: linear
grad_accum: 1
max_grad_norm: 1.0
layer_lr_decay: 0.85
head_lr_scale: 5.0
label_smoothing: 0.0
seed: 42
early_stopping: 0
metric: f1
class_weights: none
max_steps: null
max_train_samples: null
evals_per_epoch: 1
save_steps: 4
eval_steps: null
save_total_limit: 2
group_by_length: true
device: auto
precision: auto
threads: 1
allow_pickle: false
skip_bad_rows: false
name: old
runs_dir: runs
keep_checkpoints: false
logging_steps: 20
strategy: full
freeze_layers: null
unfreeze_every: null
lora_r: 8
lora_alpha: 16.0
lora_dropout: 0.0
target_modules: null
virtual_tokens: 20
adapter_reduction: 16
export_merged: true
dropout: null
fgm_epsilon: 0.0
cache_features: false
oversample: false
init_from: null
replay: 0.0
dev_split: 0.0
from_scratch: false
max_train_minutes: null
extra:
  context: document
  decode: viterbi
  label_all_subtokens: true
  stride: 4
"""

OLD_GENERATION_CONFIG = """\
# tlsuite gen-test train: resolved configuration of run /tmp/runs/gen-test/warm
# re-run: tlsuite gen-test train --config /tmp/runs/gen-test/warm/config.yaml --name NEW_NAME
model: minilm
train: /tmp/train.jsonl
dev: /tmp/dev.jsonl
text_col: null
label_col: null
format: null
labels: null
max_length: 32
epochs: 3.0
batch_size: 8
eval_batch_size: 128
learning_rate: 0.003
warmup: 0.0
weight_decay: 0.01
scheduler: linear
grad_accum: 1
max_grad_norm: 1.0
layer_lr_decay: 1.0
head_lr_scale: 1.0
label_smoothing: 0.0
seed: 1
early_stopping: 0
metric: exact_match
class_weights: none
max_steps: 2
max_train_samples: null
evals_per_epoch: 1
save_steps: null
eval_steps: null
save_total_limit: 2
group_by_length: true
device: auto
precision: auto
threads: 1
allow_pickle: false
skip_bad_rows: false
name: warm
runs_dir: /tmp/runs
keep_checkpoints: false
logging_steps: 20
strategy: lora
freeze_layers: null
unfreeze_every: null
lora_r: 4
lora_alpha: 32.0
lora_dropout: 0.1
target_modules:
- query
- value
virtual_tokens: 20
adapter_reduction: 8
export_merged: true
dropout: null
fgm_epsilon: 0.0
cache_features: false
oversample: false
init_from: null
replay: 0.0
dev_split: 0.0
from_scratch: false
max_train_minutes: null
extra:
  metrics: exact_match
  max_new_tokens: 6
  num_beams: 1
  max_target_length: 8
  encoder: /tmp/bert
"""


def test_an_old_config_file_loads_with_typed_settings_and_saves_in_the_same_layout(tmp_path):
    from tlsuite_core.tasks.generation import Generation, GenerationOptions

    path = write_yaml(tmp_path / "config.yaml", OLD_GENERATION_CONFIG)
    config = build_config(load_config_file(path))
    # flat keys land in the strategy's settings class
    assert (config.lora.r, config.lora.alpha, config.lora.dropout) == (4, 32.0, 0.1)
    assert config.peft.target_modules == ["query", "value"] and config.adapter.reduction == 8
    assert config.prompt_learning.virtual_tokens == 20 and config.partial.freeze_layers is None
    # the task options are typed by the task's class
    task = Generation()
    task.configure(config)
    assert isinstance(task.options, GenerationOptions)
    assert (task.options.encoder, task.options.max_new_tokens, task.options.num_beams) == ("/tmp/bert", 6, 1)
    assert task.options.min_new_tokens is None  # not set: the task's default
    # saved again: the old file's keys, values and order; options added since then follow with their defaults
    save_config(config, tmp_path / "again.yaml", "header")
    old = yaml.safe_load(OLD_GENERATION_CONFIG)
    again = yaml.safe_load((tmp_path / "again.yaml").read_text())
    assert_old_layout(again, old)
    assert_old_layout(config.to_dict(), old)


def assert_old_layout(saved: dict, old: dict, app: str | None = None) -> None:
    """``saved`` has ``old``'s keys, values and order (task options too); keys of options added since then hold
    their defaults (``app``'s, when a run of that app wrote ``saved``)."""
    from tlsuite_core.commands.common import app_defaults
    from tlsuite_core.plugins import get_host

    assert {k: saved[k] for k in old} == old and [k for k in saved if k in old] == list(old)
    assert list(saved["extra"]) == list(old["extra"])
    defaults = app_defaults(get_host().app(app)) if app else TrainConfig().to_dict()
    assert {k: v for k, v in saved.items() if k not in old} == {k: defaults[k] for k in saved if k not in old}


def test_an_old_run_record_configures_the_task_for_inference():
    from tlsuite_core.tasks.token_classification import TokenClassification

    old = yaml.safe_load(OLD_NER_CONFIG.format(model="m", train="t", dev="d"))
    record = {"config": {**old, "a_key_from_a_newer_version": 1}}  # unknown keys in a saved run are ignored
    task = TokenClassification()
    task.configure_for_inference(record)
    assert (task.context, task.decode, task.stride, task.label_all_subtokens, task.scheme) == (
        "document",
        "viterbi",
        4,
        True,
        "auto",
    )
    assert task.inference_options(record) == {"stride": 4, "context": "document", "decode": "viterbi"}


@pytest.mark.slow
def test_an_old_ner_run_resumes_and_predicts(cli, workdir, ner_model, ner_data, monkeypatch):
    from tests.core.test_run_folder import _interrupting

    args = [
        "ner",
        "train",
        "--model",
        ner_model,
        "--train",
        ner_data["train"],
        "--dev",
        ner_data["dev"],
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--lr",
        "1e-3",
        "--threads",
        "1",
        "--save-steps",
        "4",
        "--stride",
        "4",
        "--label-all-subtokens",
        "--name",
        "old",
    ]
    _interrupting(monkeypatch, 6)
    assert cli(*args).exit_code == 130
    run = workdir / "runs" / "ner" / "old"
    old_text = OLD_NER_CONFIG.format(model=ner_model, train=ner_data["train"], dev=ner_data["dev"])
    # the run wrote the layout runs have always had, key for key (options added since: their defaults)
    saved = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    assert_old_layout(saved, yaml.safe_load(old_text), app="ner")
    assert saved["select_checkpoint"] == "last"  # an option added since, at the ner app's default
    # a run folder whose config.yaml and run.json hold the old text resumes with it...
    (run / "config.yaml").write_text("# an old run\n" + old_text, encoding="utf-8")
    record = json.loads((run / "run.json").read_text())
    record["config"] = yaml.safe_load(old_text)
    (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
    resumed = cli("ner", "train", "--resume", run)
    assert resumed.exit_code == 0, resumed.output
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed" and record["config"]["extra"]["stride"] == 4
    # ...and predicts with the options it was trained with (document context, Viterbi, stride 4)
    predicted = cli("ner", "predict", "--model", run, "angela merkel visited paris")
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout.splitlines()[0])["text"] == "angela merkel visited paris"


def test_every_apps_defaults_are_declared_options_of_its_task():
    from tlsuite_core.commands.pretrain import PRETRAIN
    from tlsuite_core.plugins import get_host

    host = get_host()
    for app in [*(host.app(name) for name in host.registry.names("app")), PRETRAIN]:
        # the demo data's recipe too (over the defaults, as when no --train is given)
        config = build_config({"model": app.default_model}, dict(app.defaults), dict(app.demo_defaults))
        options = host.registry.task(app.task).options_class.of(config.extra)  # strict: unknown keys fail
        extra = {**dict(app.defaults).get("extra", {}), **dict(app.demo_defaults).get("extra", {})}
        for key, value in extra.items():
            assert getattr(options, key) == value, (app.name, key)


# --------------------------------------------------------------------------------------------------
# checks come from the real types and the declared bounds; errors name the file and the key
# --------------------------------------------------------------------------------------------------


def test_types_are_the_annotations():
    declared = options_of(TrainConfig)
    assert declared["epochs"].kind is float and declared["batch_size"].kind is int
    assert declared["threads"].kind == int | None and declared["labels"].scalar == list[str]
    assert declared["lora_r"].path == ("lora", "r") and declared["lora_r"].kind is int
    hints = typing.get_type_hints(TrainConfig)
    for key, o in declared.items():
        owner_hints = typing.get_type_hints(o.owner)
        assert o.kind == owner_hints[o.path[-1]], key
    assert hints["lora"].__name__ == "LoraSettings"


@pytest.mark.parametrize(
    "text, message",
    [
        ("epochs: x\n", "invalid value for epochs: 'x' (expected float)"),
        ("lora_r: 2.5\n", "invalid value for lora_r: 2.5 (expected int)"),
        ("group_by_length: 'no'\n", "invalid value for group_by_length: 'no' (expected bool)"),
        ("target_modules: 5\n", "invalid value for target_modules: 5"),
        ("extra: [a]\n", "invalid value for extra: ['a'] (expected a mapping)"),
        ("learning_rat: 0.1\n", "unknown option 'learning_rat' (did you mean 'learning_rate'?)"),
        ("lora_rank: 4\n", "unknown option 'lora_rank' (did you mean 'lora_r'?)"),
    ],
)
def test_yaml_errors_name_the_file_and_the_key(tmp_path, text, message):
    path = write_yaml(tmp_path / "run.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_task_options_are_checked_against_the_tasks_class(tmp_path):
    from tlsuite_core.tasks.token_classification import TokenClassificationOptions

    path = write_yaml(tmp_path / "run.yaml", "extra:\n  strid: 4\n")
    with pytest.raises(
        ConfigError, match=r"run.yaml: unknown task option of token-classification 'strid' \(did you mean 'stride'\?\)"
    ):
        load_config_file(path, task_options=TokenClassificationOptions)
    path = write_yaml(tmp_path / "run.yaml", "extra:\n  stride: many\n")
    with pytest.raises(ConfigError, match=r"run.yaml: invalid value for stride: 'many' \(expected int\)"):
        load_config_file(path, task_options=TokenClassificationOptions)
    assert TokenClassificationOptions.of({"scheme": "iobes", "stride": "3"}) == TokenClassificationOptions(
        scheme="BIOES", stride=3
    )
    with pytest.raises(ConfigError, match="context must be one of sentence, document"):
        TokenClassificationOptions.of({"context": "page"})
    with pytest.raises(ConfigError, match="unknown task option"):
        SequenceClassification().configure(build_config({"extra": {"stride": 3}}))  # classification takes none


def test_bad_task_options_in_a_config_file_are_one_line_errors_before_training(cli, workdir):
    path = write_yaml(workdir / "run.yaml", "extra:\n  contxt: document\n")
    line = one_line_error(
        cli("ner", "train", "--config", path, "--train", "x.txt"), str(path), "did you mean 'context'?"
    )
    assert "unknown task option" in line
    assert not (workdir / "runs").exists()


def test_bounds_and_choices_come_from_the_declarations():
    with pytest.raises(ConfigError) as info:
        build_config(
            {
                "lora_r": 0,
                "virtual_tokens": 0,
                "adapter_reduction": 0,
                "lora_dropout": 1.0,
                "layer_lr_decay": 0,
                "strategy": "bitfit",
                "warmup": -1,
            }
        )
    for problem in (
        "lora_r must be >= 1",
        "virtual_tokens must be >= 1",
        "adapter_reduction must be >= 1",
        "lora_dropout must be in [0, 1)",
        "layer_lr_decay must be in (0, 1]",
        "strategy must be one of full,",
        "warmup must be >= 0 (a ratio below 1, or a number of steps)",
    ):
        assert problem in str(info.value)


def test_updated_replaces_flat_keys_without_touching_the_original():
    base = build_config({"lora_r": 8, "extra": {"stride": 2}})
    trial = base.updated(lora_r=16, name="trial-1")
    assert (trial.lora.r, trial.name, base.lora.r, base.name) == (16, "trial-1", 8, None)
    trial.extra["stride"] = 5
    assert base.extra == {"stride": 2}


# --------------------------------------------------------------------------------------------------
# the command line: spellings, inversions, lists, and which commands take which option
# --------------------------------------------------------------------------------------------------


def _capture(command: str, *args: str, task_options: type[TaskOptions] = TaskOptions, views: dict | None = None):
    """The RunOptions a command built from the declarations receives for ``args``."""
    from tlsuite_core.commands.common import RunOptions, bind, training_parameters

    seen: list[RunOptions] = []

    def probe(spec: AppSpec, options: RunOptions) -> None:
        """Record."""
        seen.append(options)

    app = typer.Typer()
    spec = AppSpec(name="probe", task="sequence-classification")
    params = training_parameters(command, spec, views=views or {}, task_options=task_options)
    app.command()(bind(probe, params=params, spec=spec))
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["probe", *args])
    assert result.exit_code == 0, result.output
    return seen[0]


def test_command_line_spellings_and_inversions():
    from tlsuite_core.tasks.token_classification import TokenClassificationOptions

    given = _capture(
        TRAIN,
        "--lr",
        "0.001",
        "--no-group-by-length",
        "--fgm",
        "0.5",
        "--target-modules",
        "query, value",
        "--no-merged",
        "--lora-r",
        "4",
        "--allow-pickle",
        "--scheme",
        "iobes",
        "--stride",
        "3",
        "--config",
        "run.yaml",
        task_options=TokenClassificationOptions,
    )
    layer = given.overrides
    assert (layer["learning_rate"], layer["group_by_length"], layer["fgm_epsilon"]) == (0.001, False, 0.5)
    assert (layer["target_modules"], layer["export_merged"], layer["lora_r"], layer["allow_pickle"]) == (
        ["query", "value"],
        False,
        4,
        True,
    )
    assert layer["extra"] == {"scheme": "BIOES", "stride": 3} and given.config == "run.yaml"
    # not given: None, so the app's defaults and --config decide
    assert layer["epochs"] is None and layer["skip_bad_rows"] is None and layer["oversample"] is None
    config = build_config(layer)
    assert (config.lora.r, config.peft.target_modules, config.group_by_length, config.export_merged) == (
        4,
        ["query", "value"],
        False,
        False,
    )
    assert config.extra == {"scheme": "BIOES", "stride": 3}
    assert _capture(TRAIN).overrides["extra"] is None


# what the options lists of each command used to be (ENGINE_OPTIONS less NOT_FOR_COMPARE / NOT_FOR_PRETRAINING)
ENGINE = {
    "--config",
    "--resume",
    "--allow-pickle",
    "--from-scratch",
    "--max-train-samples",
    "--dev-split",
    "--skip-bad-rows",
    "--strategy",
    "--freeze-layers",
    "--unfreeze-every",
    "--lora-r",
    "--lora-alpha",
    "--lora-dropout",
    "--target-modules",
    "--virtual-tokens",
    "--adapter-reduction",
    "--no-merged",
    "--cache-features",
    "--epochs",
    "--batch-size",
    "--learning-rate",
    "--lr",
    "--warmup",
    "--weight-decay",
    "--scheduler",
    "--grad-accum",
    "--layer-lr-decay",
    "--head-lr-scale",
    "--seed",
    "--early-stopping",
    "--max-steps",
    "--min-steps",
    "--max-train-minutes",
    "--no-group-by-length",
    "--label-smoothing",
    "--dropout",
    "--fgm",
    "--class-weights",
    "--oversample",
    "--init-from",
    "--replay",
    "--search",
    "--evals-per-epoch",
    "--save-steps",
    "--eval-steps",
    "--keep-checkpoints",
    "--select-checkpoint",
    "--average-checkpoints",
    "--average-k",
    "--rdrop",
    "--reinit-layers",
    "--distill-from",
    "--distill-alpha",
    "--distill-temperature",
    "--final-fit",
    "--cv",
    "--cv-seeds",
    "--cv-keep-models",
    "--no-export-onnx",
    "--device",
    "--precision",
    "--threads",
    "--name",
    "--runs-dir",
}
NOT_FOR_COMPARE = {
    "--final-fit",
    "--no-export-onnx",
    "--strategy",
    "--search",
    "--resume",
    "--init-from",
    "--replay",
    "--from-scratch",
    "--cache-features",
}
NOT_FOR_PRETRAINING = {
    "--rdrop",
    "--reinit-layers",
    "--distill-from",
    "--distill-alpha",
    "--distill-temperature",
    "--final-fit",
    "--cv",
    "--cv-seeds",
    "--cv-keep-models",
    "--no-export-onnx",
    "--strategy",
    "--freeze-layers",
    "--unfreeze-every",
    "--lora-r",
    "--lora-alpha",
    "--lora-dropout",
    "--target-modules",
    "--virtual-tokens",
    "--adapter-reduction",
    "--no-merged",
    "--label-smoothing",
    "--fgm",
    "--class-weights",
    "--oversample",
    "--init-from",
    "--replay",
    "--search",
    "--head-lr-scale",
}
OWN = {
    ("finance-monitor", "train"): {
        "--model",
        "--train",
        "--dev",
        "--text-col",
        "--label-col",
        "--format",
        "--labels",
        "--max-length",
        "--metric",
        "--delimiter",
        "--long-texts",
        "--window-aggregation",
        "--window-stride",
        "--scores",
    },
    ("ner", "train"): {
        "--model",
        "--train",
        "--dev",
        "--tokens-col",
        "--tag-col",
        "--format",
        "--labels",
        "--max-length",
        "--metric",
        "--scheme",
        "--repair-tags",
        "--label-all-subtokens",
        "--stride",
        "--context",
    },
    ("ner", "compare"): {
        "--model",
        "--train",
        "--dev",
        "--tokens-col",
        "--tag-col",
        "--format",
        "--labels",
        "--max-length",
        "--metric",
        "--scheme",
        "--repair-tags",
        "--context",
        "--strategies",
        "--test",
    },
    ("translate", "train"): {
        "--model",
        "--encoder",
        "--decoder",
        "--instruction",
        "--train",
        "--dev",
        "--source-col",
        "--target-col",
        "--format",
        "--src-lang",
        "--tgt-lang",
        "--max-length",
        "--max-target-length",
        "--max-new-tokens",
        "--min-new-tokens",
        "--num-beams",
        "--length-penalty",
        "--no-repeat-ngram-size",
        "--eval-limit",
        "--metric",
    },
    ("pretrain",): {
        "--corpus",
        "--out",
        "--model",
        "--dev",
        "--text-col",
        "--format",
        "--max-length",
        "--objective",
        "--mlm-probability",
        "--no-whole-word-mask",
        "--metric",
    },
}
EXPECTED = {
    ("finance-monitor", "train"): ENGINE,
    ("ner", "train"): ENGINE,
    ("ner", "compare"): ENGINE - NOT_FOR_COMPARE,
    ("translate", "train"): ENGINE,
    ("pretrain",): ENGINE - NOT_FOR_PRETRAINING,
}


@pytest.mark.parametrize("path", sorted(EXPECTED), ids=" ".join)
def test_each_command_takes_the_options_it_always_took(path):
    from tests.core.test_help import COMMANDS

    found = {opt for param in COMMANDS[path].params for opt in param.opts if opt != "--help"}
    assert found == EXPECTED[path] | OWN[path]


def test_every_declared_option_is_where_its_declaration_says():
    from tests.core.test_help import COMMANDS
    from tlsuite_core.commands.common import RunOptions

    for path in (("finance-monitor", "train"), ("finance-monitor", "compare"), ("pretrain",)):
        command = path[-1]
        opts = {opt for param in COMMANDS[path].params for opt in param.opts}
        for cls in (TrainConfig, RunOptions):
            for key, o in options_of(cls).items():
                if o.meta.per_task:
                    continue
                assert (o.flags[0] in opts) == (command in o.meta.commands), (path, key)


# --------------------------------------------------------------------------------------------------
# acceptance: one option added to a (test-only) config class is in --help, accepted from YAML and the
# command line, checked, and saved in the run's config.yaml
# --------------------------------------------------------------------------------------------------


@dataclass
class ProbeOptions(TaskOptions):
    """A test-only task's options: the one declaration of ``probe_depth``."""

    task: ClassVar[str] = "probe-classification"
    probe_depth: int = option(
        3, panel="Data", commands=(TRAIN, COMPARE), ge=1, help="Test only: how many layers the probe reads."
    )


class ProbeClassification(SequenceClassification):
    name: ClassVar[str] = "probe-classification"
    options_class: ClassVar[type[TaskOptions]] = ProbeOptions
    seen: ClassVar[list[ProbeOptions]] = []

    def configure(self, config):  # noqa: ANN001
        super().configure(config)
        ProbeClassification.seen.append(self.options)


@pytest.fixture
def probe_app(monkeypatch):
    from tests.core.test_plugins import ep
    from tlsuite_core.commands.classification import classification_commands
    from tlsuite_core.plugins import PluginHost, set_host

    app = AppSpec(
        name="probe",
        task="probe-classification",
        description="A test-only app.",
        default_labels=("positive", "neutral", "negative"),
    )
    plugin = ep(
        "probe",
        tlsuite_register_tasks=lambda register: register(ProbeClassification),
        tlsuite_register_apps=lambda register: register(app),
        tlsuite_register_commands=lambda cli: cli.add_typer(
            classification_commands(app, task_options=ProbeOptions), name="probe", help=app.description
        ),
    )
    monkeypatch.delenv("TLSUITE_LOAD_PLUGINS", raising=False)
    set_host(PluginHost(entry_points=[plugin]))
    ProbeClassification.seen.clear()
    try:
        yield app
    finally:
        set_host(None)


@pytest.mark.slow
def test_an_option_declared_once_reaches_help_yaml_and_the_saved_config(
    probe_app, cli, workdir, tiny_model, tiny_data, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "250")
    shown = cli("probe", "train", "--help")
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.stdout.splitlines() if "--probe-depth" in line)
    assert "<int>" in line and "Test only: how many layers the probe reads (default: 3)." in line
    assert "--probe-depth" in cli("probe", "compare", "--help").stdout

    run_yaml = write_yaml(
        workdir / "run.yaml",
        f"model: {tiny_model}\ntrain: {tiny_data['train']}\ndev: {tiny_data['dev']}\nmax_steps: 2\nbatch_size: 8\nthreads: 1\n"
        "extra:\n  probe_depth: 5\n",
    )
    done = cli("probe", "train", "--config", run_yaml, "--name", "from-yaml")
    assert done.exit_code == 0, done.output
    saved = yaml.safe_load((workdir / "runs" / "probe" / "from-yaml" / "config.yaml").read_text())
    assert saved["extra"] == {"probe_depth": 5}
    assert ProbeClassification.seen[-1] == ProbeOptions(probe_depth=5)

    done = cli("probe", "train", "--config", run_yaml, "--probe-depth", "7", "--name", "from-cli")
    assert done.exit_code == 0, done.output
    assert yaml.safe_load((workdir / "runs" / "probe" / "from-cli" / "config.yaml").read_text())["extra"] == {
        "probe_depth": 7
    }
    assert ProbeClassification.seen[-1].probe_depth == 7

    # and it is checked like every option
    typo = write_yaml(workdir / "typo.yaml", "extra:\n  probe_dept: 5\n")
    one_line_error(cli("probe", "train", "--config", typo), str(typo), "did you mean 'probe_depth'?")
    one_line_error(
        cli("probe", "train", "--probe-depth", "0", "--train", str(tiny_data["train"])), "probe_depth must be >= 1"
    )
    assert not (workdir / "runs" / "probe" / "typo").exists()
