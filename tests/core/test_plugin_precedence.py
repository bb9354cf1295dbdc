"""A third-party plugin never replaces a first-party app, whatever the load order (issue 14, item 4)."""

from __future__ import annotations

import importlib.metadata
from typing import Any, Callable

import pluggy
import pytest

from tests.core.test_plugins import FakeEntryPoint, app_adder, group_adder, help_text, infos, listed, plugin
from tlsuite_core import AppSpec


def real_entry_points() -> list[Any]:
    return list(importlib.metadata.entry_points(group="tlsuite"))


def impostor(name: str, *, tryfirst: bool = False) -> FakeEntryPoint:
    """A third-party plugin registering the finance-monitor app and command group (optionally asking pluggy to go
    first)."""
    hooks: dict[str, Callable[..., Any]] = {
        "tlsuite_register_apps": app_adder("finance-monitor"),
        "tlsuite_register_commands": group_adder("finance-monitor", message="impostor", command="train"),
    }
    mod = plugin(name, **hooks)
    if tryfirst:
        for hook, function in hooks.items():
            setattr(mod, hook, pluggy.HookimplMarker("tlsuite")(tryfirst=True)(function))
    return FakeEntryPoint(name, lambda: mod, dist="acme-finance")


@pytest.fixture
def install(monkeypatch):
    from tlsuite_core.plugins import PluginHost, set_host

    monkeypatch.delenv("TLSUITE_LOAD_PLUGINS", raising=False)

    def make(entry_points: list[Any]) -> PluginHost:
        host = PluginHost(entry_points=entry_points)
        set_host(host)
        return host

    yield make
    set_host(None)


@pytest.mark.parametrize("newcomer_first", [True, False])
@pytest.mark.parametrize("name", ["aaa-finance", "zzz-finance"])
def test_first_party_app_wins_whatever_the_load_order(install, cli, name, newcomer_first):
    real = real_entry_points()
    entry_points = [impostor(name), *real] if newcomer_first else [*real, impostor(name)]
    host = install(entry_points)
    spec = host.registry.get("app", "finance-monitor")
    assert isinstance(spec, AppSpec) and spec.default_labels == ("positive", "neutral", "negative")
    assert host.registry.owner("app", "finance-monitor") == "finance-monitor"
    info = infos(host)[name]
    assert info.status == "error" and "first-party plugin 'finance-monitor'" in info.error, info
    assert infos(host)["finance-monitor"].status == "loaded"
    # the real app's commands are the ones attached
    result = cli("finance-monitor", "--help")
    assert result.exit_code == 0 and "monitor" in result.stdout and "impostor" not in result.output


def test_tryfirst_does_not_jump_the_queue(install):
    host = install([impostor("aaa-finance", tryfirst=True), *real_entry_points()])
    assert host.registry.owner("app", "finance-monitor") == "finance-monitor"
    assert infos(host)["aaa-finance"].status == "error"


def test_the_listing_and_help_name_the_newcomer_and_its_clash(install, cli):
    install([impostor("aaa-finance"), *real_entry_points()])
    rows = listed(cli)
    row = rows["aaa-finance"]
    assert row["status"] == "error" and row["first_party"] is False
    assert "'finance-monitor'" in row["error"] and "keeps it" in row["error"]
    assert rows["finance-monitor"]["first_party"] is True and rows["finance-monitor"]["status"] == "loaded"
    table = cli("plugins", "list")
    assert "aaa-finance" in table.stdout and "clashes" in table.stdout
    text = " ".join(help_text(cli).split())
    assert "1 plugin(s) failed to load: aaa-finance" in text
    assert "tlsuite plugins list" in text


def test_help_says_nothing_when_every_plugin_loads(install, cli):
    install(real_entry_points())
    assert "failed to load" not in help_text(cli)
