"""``--help`` tells the truth: no type beside flags, the effective default of every training option, and examples
that name the command they stand under."""

from __future__ import annotations

import pytest

from tests.core.test_api import COMMAND_PATHS


@pytest.fixture
def wide(monkeypatch):
    """A wide terminal, so no help line wraps."""
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("TERMINAL_WIDTH", "250")


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(("tlsuite", *p)))
def test_no_type_placeholder_beside_flags(cli, wide, path):
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout
    assert "--help" in result.stdout


def test_options_that_take_a_value_keep_their_type(cli, wide):
    lines = cli("finance-monitor", "train", "--help").stdout.splitlines()
    assert any("--epochs" in line and "<float>" in line for line in lines)
    assert any(
        "--keep-checkpoints" in line and "<" not in line.split("--keep-checkpoints")[1].split("Keep")[0]
        for line in lines
    )


# --------------------------------------------------------------------------------------------------
# examples: each names the command it stands under, and only options that command has
# --------------------------------------------------------------------------------------------------


def _commands() -> dict[tuple[str, ...], object]:
    import typer.main

    from tlsuite_core.cli import build_app

    found: dict[tuple[str, ...], object] = {}

    def walk(command: object, path: tuple[str, ...]) -> None:
        found[path] = command
        for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
            walk(sub, (*path, name))

    walk(typer.main.get_command(build_app()), ())
    return found


COMMANDS = _commands()


def examples_of(epilog: str) -> list[str]:
    """The command lines of an epilog ``Example(s): a  |  b   (note)  |  cat x | c``: notes dropped, and of a shell
    pipeline only the tlsuite part."""
    assert epilog.startswith(("Example: ", "Examples: ")), epilog
    body = epilog.split(": ", 1)[1]
    lines = []
    for item in body.split("  |  "):
        line = item.split("   (")[0].strip()
        lines.append(line.split(" | ")[-1].strip())
    return lines


def test_examples_of_parses_notes_and_pipelines():
    assert examples_of("Examples: tlsuite a b --x 1   (note)  |  cat f.txt | tlsuite a b") == [
        "tlsuite a b --x 1",
        "tlsuite a b",
    ]


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(("tlsuite", *p)))
def test_every_example_runs_the_command_it_documents(path):
    import shlex

    command = COMMANDS[path]
    epilog = getattr(command, "epilog", None)
    assert epilog, f"`tlsuite {' '.join(path)}` has no example"
    for line in examples_of(epilog):
        words = shlex.split(line)
        assert words[: len(path) + 1] == ["tlsuite", *path], (
            f"`tlsuite {' '.join(path)}` shows an example of another command: {line}"
        )
        # the deepest command the example names (a group's example names one of its commands)
        target, depth = path, len(path) + 1
        while depth < len(words) and (*target, words[depth]) in COMMANDS:
            target, depth = (*target, words[depth]), depth + 1
        options = {opt for param in COMMANDS[target].params for opt in (*param.opts, *param.secondary_opts)}
        for word in words[depth:]:
            if word.startswith("--"):
                assert word.split("=")[0] in options, f"{line}: `tlsuite {' '.join(target)}` has no option {word}"


def test_no_example_names_a_model_that_is_not_a_hub_id_or_an_alias():
    import re

    from tlsuite_core.plugins import PluginHost

    aliases = set(PluginHost().registry.names("model"))  # the core's and the installed plugins' aliases
    for path, command in COMMANDS.items():
        for model in re.findall(r"--model (\S+)", getattr(command, "epilog", None) or ""):
            assert model in aliases or "/" in model, (
                f"tlsuite {' '.join(path)}: --model {model} is neither an alias nor org/name"
            )


def test_generation_examples_name_each_apps_own_data():
    summarize = COMMANDS[("summarize", "train")].epilog
    translate = COMMANDS[("translate", "train")].epilog
    assert (
        "--src-lang" not in summarize
        and "google-t5/t5-small" in summarize
        and "t5-small " not in summarize.replace("google-t5/t5-small", "")
    )
    assert "--src-lang en --tgt-lang de" in translate
    assert "riding a bike" not in COMMANDS[("summarize", "run")].epilog
    assert ".csv" not in COMMANDS[("ner", "compare")].epilog


# --------------------------------------------------------------------------------------------------
# defaults: every training option's help shows the default a run really gets
# --------------------------------------------------------------------------------------------------

TRAINING_COMMANDS = [p for p in COMMANDS if p[-1:] in (("train",), ("compare",)) or p == ("pretrain",)]
#: options that name an action or a file, not a setting
NO_DEFAULT = {"config", "resume", "search", "init_from", "test"}


def _value_options(path):
    for param in COMMANDS[path].params:
        if (
            getattr(param, "is_flag", False)
            or param.name in NO_DEFAULT
            or param.required
            or param.param_type_name != "option"
        ):
            continue
        yield param


@pytest.mark.parametrize("path", TRAINING_COMMANDS, ids=lambda p: " ".join(("tlsuite", *p)))
def test_every_training_option_shows_its_default(path):
    missing = [
        param.opts[0]
        for param in _value_options(path)
        if "default" not in (param.help or "").lower() and not getattr(param, "show_default", False)
    ]
    assert not missing, f"`tlsuite {' '.join(path)} --help` shows no default for {', '.join(missing)}"


def _shown_default(path, name: str) -> str:
    import re

    param = next(p for p in COMMANDS[path].params if p.name == name)
    match = re.search(r"\(default: ([^)]*)\)", param.help or "")
    assert match, f"{param.opts[0]}: {param.help}"
    return match.group(1)


@pytest.mark.parametrize("app", ["finance-monitor", "ner", "summarize", "translate"])
def test_shown_defaults_are_the_ones_a_run_gets(app):
    from tlsuite_core.commands.common import show
    from tlsuite_core.config import TrainConfig, options_of
    from tlsuite_core.plugins import get_host
    from tlsuite_core.training.engine import resolve_training_config

    key_of = {o.param: key for key, o in options_of(TrainConfig).items()}  # --fgm sets fgm_epsilon

    spec = get_host().app(app)
    # help shows the defaults of a run on the user's data; the bare run on the demo data gets the demo's own recipe
    # where the app has one, and the --train help names each of its values
    config, _ = resolve_training_config(spec, config_file=None, overrides={"train": "yours.csv"}, resume=None)
    demo, _ = resolve_training_config(spec, config_file=None, overrides={}, resume=None)
    train_help = next(p for p in COMMANDS[(app, "train")].params if p.name == "train").help
    for key, value in spec.demo_defaults.items():
        assert f"{key} {show(value)}" in train_help and demo.get(key) == value, key
    assert config.strategy == "full"
    names = [
        "metric",
        "max_length",
        "epochs",
        "batch_size",
        "warmup",
        "weight_decay",
        "scheduler",
        "grad_accum",
        "seed",
        "label_smoothing",
        "evals_per_epoch",
        "lora_r",
        "lora_alpha",
        "lora_dropout",
        "virtual_tokens",
        "strategy",
        "adapter_reduction",
        "class_weights",
        "early_stopping",
        "replay",
        "dev_split",
        "device",
        "precision",
        "fgm",
    ]
    for name in names:
        value = config.get(key_of[name])
        assert _shown_default((app, "train"), name) == show(value), name
    for name in ("learning_rate", "head_lr_scale", "layer_lr_decay"):
        shown = _shown_default((app, "train"), name)
        value = show(config.get(name))
        assert shown == value or shown.startswith(f"{value} with full,"), (name, shown, value)


def test_finance_monitor_selects_on_accuracy_and_ner_on_f1():
    assert _shown_default(("finance-monitor", "train"), "metric") == "accuracy"
    assert _shown_default(("ner", "train"), "metric") == "f1"
    assert _shown_default(("summarize", "train"), "metric") == "rougeL"
    assert _shown_default(("translate", "train"), "metric") == "chrf"
    assert _shown_default(("pretrain",), "metric") == "loss"


def test_strategy_defaults_in_help_follow_the_strategy_table():
    from tlsuite_core.commands.common import show
    from tlsuite_core.plugins import get_host
    from tlsuite_core.training.engine import resolve_training_config

    spec = get_host().app("finance-monitor")
    shown = _shown_default(("finance-monitor", "train"), "learning_rate")
    for strategy in ("lora", "prefix", "frozen"):
        overrides = {"strategy": strategy, "train": "yours.csv"}  # the defaults help shows: a run on your data
        config, _ = resolve_training_config(spec, config_file=None, overrides=overrides, resume=None)
        group = next(part for part in shown.split("; ") if strategy in part.split(" with ")[1].split(", "))
        assert group.split(" with ")[0] == show(config.learning_rate), (strategy, shown)


def test_user_guide_table_of_app_defaults_is_true():
    """docs/user-guide.md lists what differs between the apps' defaults; it must match the AppSpecs."""
    from pathlib import Path

    from tlsuite_core.commands.common import app_defaults, show
    from tlsuite_core.commands.pretrain import PRETRAIN
    from tlsuite_core.plugins import get_host

    text = (Path(__file__).resolve().parents[2] / "docs" / "user-guide.md").read_text(encoding="utf-8")
    header = "| app | `--metric` | `--lr` | `--epochs` | `--batch-size` | `--max-length` | `--evals-per-epoch` |"
    assert header in text
    rows = text.split(header, 1)[1].split("\n\n", 1)[0].strip().splitlines()[1:]
    fields = ("metric", "learning_rate", "epochs", "batch_size", "max_length", "evals_per_epoch")
    seen = set()
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        name = cells[0].removesuffix(" (its cross-encoder)")
        spec = (
            PRETRAIN
            if name == "pretrain"
            else None
            if name.startswith("an app that sets none")
            else get_host().app(name)
        )
        defaults = app_defaults(spec)
        for field, cell in zip(fields, cells[1:]):
            expected = defaults[field]
            assert (cell == expected) if field == "metric" else (float(cell) == expected), (name, field, cell)
        seen.add(name)
    assert {"finance-monitor", "ner", "customer-service", "recommend", "summarize", "translate", "pretrain"} <= seen
    assert (
        "| `--metric` | accuracy |" in text
        and show(app_defaults(get_host().app("finance-monitor"))["metric"]) == "accuracy"
    )
