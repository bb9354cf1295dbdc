"""Every command of every app that uses a trained run, given a run of every other app (issue 14, item 3): one line
on stderr naming the run's app (and, where the CLI knows it, the command to use it with), exit code 2, nothing
read or written first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import train_base_run

#: options that take the base model, not a run (training starts from it)
TRAINING = {"train", "compare", "train-retriever"}


def _invoke(args: list[Any]):
    from typer.testing import CliRunner

    from tlsuite_core.cli import build_app

    return CliRunner().invoke(build_app(), [str(a) for a in args])


@pytest.fixture(scope="session")
def build_run(tmp_path_factory, tiny_model, tiny_data, ner_model, ner_data):
    """build_run(app) -> a tiny completed run of finance-monitor, ner, translate or summarize (1-4 steps), each built
    once per session."""
    from tests.core.test_generation import _build, _pairs

    base = tmp_path_factory.mktemp("app-runs")
    built: dict[str, Path] = {}

    def build(app: str) -> Path:
        if app in built:
            return built[app]
        if app == "finance-monitor":
            built[app] = train_base_run(base / "fm", tiny_model, tiny_data)
            return built[app]
        if app == "ner":
            args = ["ner", "train", "--model", ner_model, "--train", ner_data["train"], "--dev", ner_data["dev"]]
        else:
            pairs = _pairs(base / "pairs.jsonl", 12, 1)
            args = [app, "train", "--model", _build("t5", base / "t5"), "--train", pairs, "--dev", pairs]
            args += ["--max-length", "32", "--eval-limit", "2"]
        result = _invoke([*args, "--max-steps", "1", "--threads", "1", "--name", "r", "--runs-dir", base / "runs"])
        assert result.exit_code == 0, result.output
        built[app] = base / "runs" / app / "r"
        assert json.loads((built[app] / "run.json").read_text())["app"] == app
        return built[app]

    return build


@pytest.fixture(scope="session")
def app_runs(build_run) -> dict[str, Path]:
    return {app: build_run(app) for app in ("finance-monitor", "ner", "translate", "summarize")}


def commands_using_a_run() -> list[tuple[str, tuple[str, ...], Any]]:
    """(the command's app, its path, the click command) for each app command with --model, training excluded."""
    import typer.main

    from tlsuite_core.cli import build_app
    from tlsuite_core.plugins import get_host

    apps = set(get_host().registry.names("app"))
    found = []

    def walk(group: Any, path: tuple[str, ...]) -> None:
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                walk(cmd, (*path, name))
            elif path and name not in TRAINING and any(p.name == "model" for p in cmd.params):
                app = getattr(cmd.callback, "_tlsuite_app", None) or "-".join(path)
                assert app in apps, (path, name)
                found.append((app, (*path, name), cmd))

    walk(typer.main.get_group(build_app()), ())
    return found


def required_arguments(cmd: Any, workdir: Path) -> list[str]:
    """Values for the command's required parameters: an existing file for each (the run is refused first)."""
    dummy = workdir / "dummy.csv"
    dummy.write_text("text,label\nprofit rose,positive\n", encoding="utf-8")
    args: list[str] = []
    for p in cmd.params:
        if not p.required:
            continue
        if p.param_type_name == "argument":
            args.append(str(dummy))
        else:
            args += [p.opts[0], str(dummy)]
    return args


def test_the_matrix_covers_every_app_command():
    commands = commands_using_a_run()
    apps = {app for app, _, _ in commands}
    assert {"finance-monitor", "ner", "translate", "summarize"} <= apps
    paths = {" ".join(path) for _, path, _ in commands}
    assert {"finance-monitor predict", "finance-monitor evaluate", "finance-monitor monitor", "ner predict"} <= paths
    assert {"translate run", "summarize evaluate"} <= paths


@pytest.mark.slow
def test_every_command_refuses_a_run_of_another_app(app_runs, workdir, monkeypatch):
    monkeypatch.setenv("TLSUITE_MONITOR_DB", str(workdir / "m.db"))
    problems = []
    for app, path, cmd in commands_using_a_run():
        for run_app, run in app_runs.items():
            if run_app == app:
                continue
            result = _invoke([*path, "--model", run, *required_arguments(cmd, workdir)])
            lines = result.stderr.strip().splitlines()
            text = " ".join(result.stderr.split())
            if (
                result.exit_code != 2
                or "Traceback" in result.output
                or len(lines) != 1
                or f"a run of the {run_app} app" not in text
                or f"tlsuite {run_app}" not in text.replace("customer-service slots", "customer-service-slots")
            ):
                problems.append(f"{' '.join(path)} --model <{run_app} run>: exit {result.exit_code}: {text[:300]}")
    assert not problems, "\n".join(problems)


def test_the_error_names_the_right_command(build_run, workdir, monkeypatch):
    """The default run's share of the matrix: a finance-monitor run to ner and back, a generation run to both."""
    monkeypatch.setenv("TLSUITE_MONITOR_DB", str(workdir / "m.db"))
    finance, ner, summarize = build_run("finance-monitor"), build_run("ner"), build_run("summarize")
    result = _invoke(["ner", "predict", "--model", finance, "Ada"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = " ".join(result.stderr.split())
    assert "is a run of the finance-monitor app (task sequence-classification), not of ner" in text
    assert f"use `tlsuite finance-monitor predict --model {finance}`" in text
    for args in (["predict", "Ada"], ["evaluate", "--data", "missing.csv"], ["monitor", "--source", "x.jsonl"]):
        result = _invoke(["finance-monitor", *args[:1], "--model", ner, *args[1:]])
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output
        assert "a run of the ner app (task token-classification)" in " ".join(result.stderr.split())
    result = _invoke(["ner", "evaluate", "--model", summarize, "--data", "missing.txt"])
    assert "use `tlsuite summarize evaluate --model" in " ".join(result.stderr.split())
    result = _invoke(["finance-monitor", "predict", "--model", summarize, "Ada"])
    assert "use `tlsuite summarize run --model" in " ".join(result.stderr.split())  # its prediction command
