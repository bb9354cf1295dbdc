"""The plugin host with fake entry points: a broken plugin is marked ``error`` with its reason, the CLI keeps working.

Each test builds a :class:`tlsuite_core.plugins.PluginHost` from fake entry points (objects with ``name``,
``value``, ``dist`` and ``load()``), installs it as the process-wide host and drives the CLI through it.
"""

from __future__ import annotations

import json
import sys
import types
from typing import Any, Callable

import pytest
import typer

from tlsuite_core import AppSpec, hookimpl
from tlsuite_core.plugins import PluginHost, set_host

# --------------------------------------------------------------------------------------------------
# fakes
# --------------------------------------------------------------------------------------------------


class FakeDist:
    def __init__(self, name: str, version: str) -> None:
        self.name = name
        self.version = version


class FakeEntryPoint:
    """Looks like an ``importlib.metadata.EntryPoint`` to the host."""

    def __init__(
        self, name: str, loader: Callable[[], Any], *, dist: str | None = None, version: str = "1.2.3"
    ) -> None:
        self.name = name
        self.value = f"tlsuite_{name.replace('-', '_')}.plugin"
        self.group = "tlsuite"
        self.dist = FakeDist(dist or f"tlsuite-{name}", version)
        self._loader = loader
        self.loaded = 0

    def load(self) -> Any:
        self.loaded += 1
        return self._loader()


def plugin(name: str, **hooks: Callable[..., Any]) -> types.ModuleType:
    """A plugin module whose attributes are the given hook implementations."""
    mod = types.ModuleType(f"fake_{name.replace('-', '_')}")
    for hook_name, fn in hooks.items():
        setattr(mod, hook_name, hookimpl(fn))
    return mod


def ep(name: str, **hooks: Callable[..., Any]) -> FakeEntryPoint:
    mod = plugin(name, **hooks)
    return FakeEntryPoint(name, lambda: mod)


def group_adder(group: str, message: str = "hello", command: str = "greet") -> Callable[[Any], None]:
    """A ``tlsuite_register_commands`` implementation adding ``tlsuite <group> <command> [WHO]``."""

    def tlsuite_register_commands(cli: Any) -> None:
        sub = typer.Typer(help=f"The {group} app.", no_args_is_help=True)

        @sub.command(command, epilog=f"Example: tlsuite {group} {command} Ada")
        def run(who: str = typer.Argument("world", help="Who.")) -> None:
            """Say something."""
            typer.echo(f"{message} {who}")

        cli.add_typer(sub, name=group, help=f"The {group} app.")

    return tlsuite_register_commands


def command_adder(name: str) -> Callable[[Any], None]:
    def tlsuite_register_commands(cli: Any) -> None:
        @cli.command(name)
        def cmd() -> None:
            """A plugin command."""
            typer.echo(f"plugin {name}")

    return tlsuite_register_commands


def app_adder(*names: str) -> Callable[[Any], None]:
    def tlsuite_register_apps(register: Callable[[Any], None]) -> None:
        for name in names:
            register(AppSpec(name=name, task="sequence-classification", description=f"{name} app"))

    return tlsuite_register_apps


@pytest.fixture
def install(monkeypatch):
    """install(*entry_points, **kwargs) -> a PluginHost installed as the process-wide host (restored afterwards)."""
    monkeypatch.delenv("TLSUITE_LOAD_PLUGINS", raising=False)

    def make(*entry_points: FakeEntryPoint, **kwargs: Any) -> PluginHost:
        host = PluginHost(entry_points=list(entry_points), **kwargs)
        set_host(host)
        return host

    try:
        yield make
    finally:
        set_host(None)


def infos(host: PluginHost) -> dict[str, Any]:
    return {p.name: p for p in host.plugins()}


def listed(cli) -> dict[str, dict[str, Any]]:
    result = cli("plugins", "list", "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def help_text(cli) -> str:
    result = cli("--help")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout


def assert_cli_works(cli) -> None:
    text = help_text(cli)
    for core in ("doctor", "models", "plugins"):
        assert core in text
    rows = listed(cli)
    assert rows["core"]["status"] == "loaded" and rows["core"]["builtin"] is True


# --------------------------------------------------------------------------------------------------
# a working third-party plugin
# --------------------------------------------------------------------------------------------------


def test_working_plugin_adds_a_command_that_runs(install, cli):
    hello = ep("hello", tlsuite_register_commands=group_adder("hello"))
    host = install(hello)
    assert infos(host)["hello"].status == "loaded"
    assert "hello" in help_text(cli)
    result = cli("hello", "greet", "Ada")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "hello Ada"
    row = listed(cli)["hello"]
    assert row["status"] == "loaded" and row["error"] is None
    assert row["version"] == "1.2.3" and row["distribution"] == "tlsuite-hello"
    assert row["module"] == "tlsuite_hello.plugin"
    assert row["hooks"] == ["tlsuite_register_commands"]
    assert row["builtin"] is False
    assert hello.loaded == 1


def test_working_plugin_registers_an_app(install):
    host = install(ep("shop", tlsuite_register_apps=app_adder("shop-intent")))
    assert host.app("shop-intent").name == "shop-intent"
    assert host.registry.owner("app", "shop-intent") == "shop"


def test_a_plugin_command_raising_a_tlsuite_error_prints_one_line(install, cli):
    from tlsuite_core import DataError

    def tlsuite_register_commands(cli: Any) -> None:
        @cli.command("check")
        def check() -> None:
            """Fails on purpose."""
            raise DataError("empty text", path="in.csv", line=3, field="text")

    install(ep("checker", tlsuite_register_commands=tlsuite_register_commands))
    result = cli("check")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "error: in.csv:3, field 'text': empty text"
    ]


# --------------------------------------------------------------------------------------------------
# plugins that fail to load
# --------------------------------------------------------------------------------------------------


def test_plugin_whose_import_raises(install, cli):
    def boom() -> Any:
        raise ImportError("No module named 'pandas_ta'")

    host = install(FakeEntryPoint("broken", boom), ep("hello", tlsuite_register_commands=group_adder("hello")))
    info = infos(host)["broken"]
    assert info.status == "error"
    assert "import" in info.error and "ImportError" in info.error and "pandas_ta" in info.error
    assert_cli_works(cli)
    assert "hello" in help_text(cli)
    row = listed(cli)["broken"]
    assert row["status"] == "error" and "pandas_ta" in row["error"]
    assert row["version"] == "1.2.3" and row["distribution"] == "tlsuite-broken"
    assert cli("hello", "greet").exit_code == 0


@pytest.mark.parametrize("code", [0, 3, "plugin says bye"])
def test_plugin_that_calls_sys_exit_at_import(install, cli, code):
    def leave() -> Any:
        sys.exit(code)

    host = install(FakeEntryPoint("quitter", leave), ep("hello", tlsuite_register_commands=group_adder("hello")))
    info = infos(host)["quitter"]
    assert info.status == "error" and "SystemExit" in info.error
    assert_cli_works(cli)
    assert listed(cli)["quitter"]["status"] == "error"
    assert infos(host)["hello"].status == "loaded"


def test_plugin_with_a_misspelled_hook(install, cli):
    bad = ep("typo", tlsuite_register_comands=group_adder("typo-app"))
    host = install(bad, ep("hello", tlsuite_register_commands=group_adder("hello")))
    text = help_text(cli)
    info = infos(host)["typo"]
    assert info.status == "error", info
    assert "unknown hook" in info.error and "tlsuite_register_comands" in info.error
    assert "typo-app" not in text and "hello" in text
    row = listed(cli)["typo"]
    assert row["status"] == "error" and "tlsuite_register_comands" in row["error"]


def test_plugin_with_a_hook_taking_unknown_arguments(install, cli):
    def tlsuite_register_apps(registrar: Any) -> None:  # the argument must be called 'register'
        pass

    host = install(ep("badargs", tlsuite_register_apps=tlsuite_register_apps))
    info = infos(host)["badargs"]
    assert info.status == "error" and "registrar" in info.error
    assert_cli_works(cli)


def test_plugin_whose_register_hook_raises(install, cli):
    def tlsuite_register_apps(register: Callable[[Any], None]) -> None:
        raise RuntimeError("cannot find my label file")

    host = install(
        ep("raiser", tlsuite_register_apps=tlsuite_register_apps, tlsuite_register_commands=group_adder("raiser-app")),
        ep("hello", tlsuite_register_commands=group_adder("hello")),
    )
    info = infos(host)["raiser"]
    assert info.status == "error"
    assert "RuntimeError" in info.error and "cannot find my label file" in info.error
    text = help_text(cli)
    assert "raiser-app" not in text and "hello" in text
    assert listed(cli)["raiser"]["status"] == "error"


def test_a_failed_plugin_leaves_nothing_registered(install):
    """A plugin whose later hook raises is 'left out': what its earlier hooks registered is dropped too."""
    from tlsuite_core.models import ModelAlias

    def tlsuite_register_models(register: Callable[[Any], None]) -> None:
        register(ModelAlias("half-model", "registered before the plugin failed", lambda: None, "pip install nothing"))

    def tlsuite_register_apps(register: Callable[[Any], None]) -> None:
        register(AppSpec(name="half-app", task="sequence-classification"))
        raise RuntimeError("second app is broken")

    host = install(
        ep("half", tlsuite_register_models=tlsuite_register_models, tlsuite_register_apps=tlsuite_register_apps)
    )
    assert infos(host)["half"].status == "error"
    assert "half-app" not in host.registry.names("app")
    assert "half-model" not in host.registry.names("model")


def test_plugin_registering_something_without_a_name(install):
    def tlsuite_register_apps(register: Callable[[Any], None]) -> None:
        register(object())

    host = install(ep("nameless", tlsuite_register_apps=tlsuite_register_apps))
    info = infos(host)["nameless"]
    assert info.status == "error" and "name" in info.error


# --------------------------------------------------------------------------------------------------
# clashes
# --------------------------------------------------------------------------------------------------


def test_two_plugins_registering_the_same_app(install, cli):
    host = install(
        ep("beta", tlsuite_register_apps=app_adder("same-app")),
        ep("alpha", tlsuite_register_apps=app_adder("same-app")),
    )
    # plugins load in entry-point name order: alpha first, so beta is the one that clashes
    assert infos(host)["alpha"].status == "loaded"
    beta = infos(host)["beta"]
    assert beta.status == "error", beta
    assert "'same-app'" in beta.error and "'alpha'" in beta.error and "'beta'" in beta.error
    assert host.registry.owner("app", "same-app") == "alpha"
    assert_cli_works(cli)


def test_two_plugins_adding_the_same_command(install, cli):
    host = install(
        ep("alpha", tlsuite_register_commands=group_adder("shared", message="from alpha")),
        ep("beta", tlsuite_register_commands=group_adder("shared", message="from beta")),
    )
    help_text(cli)  # commands are collected when the CLI is built
    assert infos(host)["alpha"].status == "loaded"
    beta = infos(host)["beta"]
    assert beta.status == "error", beta
    assert "'shared'" in beta.error and "'alpha'" in beta.error and "'beta'" in beta.error
    result = cli("shared", "greet", "Ada")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "from alpha Ada"


def test_plugin_adding_the_same_command_twice(install, cli):
    def tlsuite_register_commands(cli: Any) -> None:
        command_adder("twice")(cli)
        command_adder("twice")(cli)

    host = install(ep("doubler", tlsuite_register_commands=tlsuite_register_commands))
    assert "twice" not in help_text(cli)
    info = infos(host)["doubler"]
    assert info.status == "error" and "'twice'" in info.error


@pytest.mark.parametrize("core_command", ["doctor", "models", "plugins", "pretrain"])
def test_plugin_command_clashing_with_a_core_command(install, cli, core_command):
    host = install(
        ep("greedy", tlsuite_register_commands=command_adder(core_command)),
        ep("hello", tlsuite_register_commands=group_adder("hello")),
    )
    help_text(cli)
    info = infos(host)["greedy"]
    assert info.status == "error"
    assert f"'{core_command}'" in info.error and "core" in info.error and "'greedy'" in info.error
    result = cli(core_command, "--help")
    assert result.exit_code == 0 and "plugin " + core_command not in result.output
    assert_cli_works(cli)
    assert "hello" in help_text(cli)


def test_plugin_model_alias_clashing_with_the_core(install):
    """The built-in plugin loads first; a plugin re-registering 'minilm' is the one in error, never the core."""
    from tlsuite_core.models import MINILM, ModelAlias

    def tlsuite_register_models(register: Callable[[Any], None]) -> None:
        register(ModelAlias("minilm", "an impostor", lambda: None, "pip install impostor"))

    host = install(ep("impostor", tlsuite_register_models=tlsuite_register_models))
    assert infos(host)["core"].status == "loaded"
    info = infos(host)["impostor"]
    assert info.status == "error" and "'minilm'" in info.error and "'core'" in info.error
    assert host.registry.get("model", "minilm") is MINILM
    assert host.registry.task("sequence-classification") is not None


def test_duplicate_entry_point_names(install):
    first = ep("dup", tlsuite_register_apps=app_adder("dup-one"))
    second = ep("dup", tlsuite_register_apps=app_adder("dup-two"))
    second.value = "other_package.plugin"
    host = install(first, second)
    statuses = sorted(p.status for p in host.plugins() if p.name.startswith("dup"))
    assert statuses == ["error", "loaded"]
    broken = next(p for p in host.plugins() if p.name.startswith("dup") and p.status == "error")
    assert "already taken" in broken.error


def test_plugin_command_with_a_broken_signature(install, cli):
    def tlsuite_register_commands(cli: Any) -> None:
        sub = typer.Typer(help="Broken.")

        @sub.command("go")
        def go(x: "NoSuchTypeAnywhere") -> None:  # noqa: F821 - the point of the test
            """Never built."""

        cli.add_typer(sub, name="broken-app")

    host = install(
        ep("broken", tlsuite_register_commands=tlsuite_register_commands),
        ep("hello", tlsuite_register_commands=group_adder("hello")),
    )
    text = help_text(cli)
    info = infos(host)["broken"]
    assert info.status == "error" and "NoSuchTypeAnywhere" in info.error
    assert "broken-app" not in text and "hello" in text
    assert_cli_works(cli)
    result = cli("hello", "greet", "Bo")
    assert result.exit_code == 0 and result.stdout.strip() == "hello Bo"


# --------------------------------------------------------------------------------------------------
# TLSUITE_LOAD_PLUGINS
# --------------------------------------------------------------------------------------------------


def test_allow_list_disables_other_plugins(install, cli, monkeypatch):
    monkeypatch.setenv("TLSUITE_LOAD_PLUGINS", " good , ")
    other = ep("other", tlsuite_register_commands=group_adder("other-app"))
    host = install(ep("good", tlsuite_register_commands=group_adder("good-app")), other)
    assert infos(host)["good"].status == "loaded"
    info = infos(host)["other"]
    assert info.status == "disabled" and "TLSUITE_LOAD_PLUGINS" in info.error
    assert other.loaded == 0  # not even imported
    text = help_text(cli)
    assert "good-app" in text and "other-app" not in text
    assert cli("other-app", "greet").exit_code != 0
    assert listed(cli)["other"]["status"] == "disabled"
    assert infos(host)["core"].status == "loaded"


def test_empty_allow_list_loads_only_the_builtins(install, cli, monkeypatch):
    monkeypatch.setenv("TLSUITE_LOAD_PLUGINS", "")
    host = install(ep("good", tlsuite_register_commands=group_adder("good-app")))
    assert infos(host)["good"].status == "disabled"
    assert infos(host)["core"].status == "loaded"
    assert "good-app" not in help_text(cli)
    assert host.registry.names("model") == ["minilm"]  # the core's own alias only (smollm2-135m is a plugin's)


def test_allow_argument_overrides_the_environment(install, monkeypatch):
    monkeypatch.setenv("TLSUITE_LOAD_PLUGINS", "nothing")
    host = install(ep("good", tlsuite_register_apps=app_adder("good-app")), allow=["good"])
    assert infos(host)["good"].status == "loaded"


def test_app_manifest_reads_like_an_app_spec(tmp_path):
    (tmp_path / "demo").mkdir()
    manifest = tmp_path / "app.yaml"
    manifest.write_text(
        "name: reviews\ntask: sequence-classification\ndefault_labels: [good, bad]\n"
        "demo_train: demo/train.csv\ndefaults: {learning_rate: 3.0e-5, extra: {long_texts: windows}}\n"
    )
    app = AppSpec.from_file(manifest)
    assert app == AppSpec(
        name="reviews",
        task="sequence-classification",
        default_labels=("good", "bad"),
        demo_train=tmp_path / "demo" / "train.csv",
        defaults={"learning_rate": 3e-5, "extra": {"long_texts": "windows"}},
    )


@pytest.mark.parametrize(
    ("given", "config_file", "expected"),
    [
        ({}, None, (1e-4, 5.0, 0.85)),  # no --train: the demo data with its own recipe
        ({"learning_rate": 2e-5}, None, (2e-5, 5.0, 0.85)),  # the command line still wins over it
        ({"train": "mine.csv"}, None, (5e-5, 3.0, 1.0)),  # the user's data: the app's defaults
        ({}, "train: mine.csv\n", (5e-5, 3.0, 1.0)),  # the same, named in a --config file
    ],
)
def test_the_demo_recipe_applies_only_to_the_demo_data(tmp_path, given, config_file, expected):
    from tlsuite_core.training.engine import resolve_training_config

    app = AppSpec(
        name="reviews",
        task="sequence-classification",
        demo_train=tmp_path / "train.csv",
        defaults={"learning_rate": 5e-5, "epochs": 3.0},
        demo_defaults={"learning_rate": 1e-4, "epochs": 5.0, "layer_lr_decay": 0.85},
    )
    if config_file:
        (tmp_path / "c.yaml").write_text(config_file)
    config, _ = resolve_training_config(
        app, config_file=str(tmp_path / "c.yaml") if config_file else None, overrides=given, resume=None
    )
    assert (config.learning_rate, config.epochs, config.layer_lr_decay) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name: a\ntask: b\nlabels: [x]\n", "key 'labels': unknown"),
        ("task: b\n", "key 'name': missing"),
        ("- a\n", "mapping"),
    ],
)
def test_app_manifest_errors_name_the_file_and_the_key(tmp_path, text, reason):
    from tlsuite_core.errors import ConfigError

    manifest = tmp_path / "app.yaml"
    manifest.write_text(text)
    with pytest.raises(ConfigError) as err:
        AppSpec.from_file(manifest)
    assert str(err.value).startswith(f"{manifest}: ") and reason in str(err.value)
