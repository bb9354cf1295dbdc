"""Rules of the house that a review would otherwise have to remember (docs/architecture.md)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "tlsuite_core"

#: where the plugin host may be used: the CLI, the Python-API entry, and the plugin machinery itself
BOUNDARY = {"cli.py", "apps.py", "plugins.py", "builtin.py", "commands"}


def _modules(folder: Path):
    for path in sorted(folder.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_no_core_module_below_the_boundary_reaches_for_the_plugin_host():
    offenders = []
    for path, tree in _modules(CORE):
        rel = path.relative_to(CORE)
        if rel.parts[0] in BOUNDARY:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "get_host":
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_the_engine_reads_only_what_the_task_declares():
    """No ``getattr(task, "x", default)`` probing: every attribute the engine reads is declared on ``Task``."""
    from tlsuite_core.tasks import Task

    probes = []
    for path, tree in _modules(CORE / "training"):
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "getattr"
                and node.args
                and getattr(node.args[0], "id", None) == "task"
            ):
                probes.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if (
                isinstance(node, ast.Attribute)
                and getattr(node.value, "id", None) == "task"
                and isinstance(node.ctx, ast.Load)
            ):
                assert hasattr(Task, node.attr), (
                    f"{path.relative_to(ROOT)}:{node.lineno}: Task declares no '{node.attr}'"
                )
    assert probes == []


def test_no_metric_name_of_a_plugin_is_known_to_the_core():
    """Whether lower is better is declared by the metric (translate's TER), not listed in the engine."""
    for path, tree in _modules(CORE):
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in ("ter", "bleu", "chrf", "rougeL"):
                raise AssertionError(
                    f"{path.relative_to(ROOT)}:{node.lineno}: the core names a plugin's metric {node.value!r}"
                )


def test_no_function_is_longer_than_a_hundred_lines():
    long = []
    for root in (CORE, ROOT / "plugins"):
        for path, tree in _modules(root):
            for node in ast.walk(tree):
                if (
                    isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and node.end_lineno - node.lineno + 1 > 100
                ):
                    long.append(
                        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
                    )
    assert long == []


def test_every_data_class_shares_one_implementation_of_the_engine_contract():
    """Labelled, tagged, paired and corpus data: one Protocol, one shared subset / concat / describe."""
    from tlsuite_core.data import ExampleData, Examples, LabelledData
    from tlsuite_core.pairs import PairedData
    from tlsuite_core.tagging import TaggedData
    from tlsuite_core.tasks.language_modeling import Corpus

    for cls in (LabelledData, PairedData, TaggedData, Corpus):
        assert issubclass(cls, Examples), cls
        for method in ("subset", "concat", "describe", "__len__"):
            assert getattr(cls, method) is getattr(Examples, method), (cls, method)
    data = LabelledData("a.csv", ["x", "y", "z"], ["p", "n", "p"], [2, 3, 4], "text", "label", "csv", "f1")
    other = LabelledData("b.csv", ["w"], ["n"], [2], "text", "label", "csv", "f2")
    assert isinstance(data, ExampleData)
    both = data.subset([2, 0]).concat(other)
    assert (both.texts, both.labels, both.lines, both.source) == (
        ["z", "x", "w"],
        ["p", "p", "n"],
        [4, 2, 2],
        "a.csv + b.csv",
    )
    assert both.describe()["label_counts"] == {"n": 1, "p": 2} and len(both) == 3
