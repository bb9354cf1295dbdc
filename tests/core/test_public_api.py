"""The public API: what plugins (first- and third-party) may import from tlsuite_core, checked both ways.

The customer-service and recommend apps are built on this surface only; anything else in tlsuite_core may change
without notice.
"""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: modules plugins may import from; each declares its public names in a sorted ``__all__``
PUBLIC_MODULES = (
    "tlsuite_core",
    "tlsuite_core.apps",
    "tlsuite_core.commands.classification",
    "tlsuite_core.commands.generation",
    "tlsuite_core.commands.token_classification",
    "tlsuite_core.data",
    "tlsuite_core.errors",
    "tlsuite_core.files",
    "tlsuite_core.hookspecs",
    "tlsuite_core.metrics",
    "tlsuite_core.models",
    "tlsuite_core.pairs",
    "tlsuite_core.retrieval",
    "tlsuite_core.serving",
    "tlsuite_core.tagging",
    "tlsuite_core.tasks",
    "tlsuite_core.tasks.ranking",
    "tlsuite_core.tasks.token_classification",
    "tlsuite_core.training.calibration",
)

TOP_LEVEL = [
    "AppSpec",
    "ConfigError",
    "DataError",
    "ModelError",
    "PluginError",
    "Prediction",
    "TlsuiteError",
    "TrainConfig",
    "TrainedApp",
    "__version__",
    "hookimpl",
    "load_app",
]


def core_imports_of_plugins():
    """(file, line, module, name) for every ``from tlsuite_core... import name`` / ``import tlsuite_core...``."""
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tlsuite_core":
                for alias in node.names:
                    yield path.relative_to(ROOT), node.lineno, node.module, alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "tlsuite_core":
                        yield path.relative_to(ROOT), node.lineno, alias.name, None


def test_the_top_level_api_is_exactly_the_documented_one():
    import tlsuite_core

    assert sorted(tlsuite_core.__all__) == sorted(TOP_LEVEL)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_each_public_module_lists_what_it_exports(module):
    mod = importlib.import_module(module)
    names = mod.__all__
    assert names == sorted(names)
    assert [n for n in names if not hasattr(mod, n)] == []
    assert [n for n in names if n.startswith("_") and n != "__version__"] == []


def test_plugins_import_no_private_name_of_the_core():
    private = [
        f"{path}:{line} {module}{'.' + name if name else ''}"
        for path, line, module, name in core_imports_of_plugins()
        if any(part.startswith("_") for part in module.split(".")) or (name or "").startswith("_")
    ]
    assert private == []


def test_plugins_use_only_the_public_api():
    outside = []
    for path, line, module, name in core_imports_of_plugins():
        if module not in PUBLIC_MODULES:
            outside.append(f"{path}:{line} {module} is not a public module")
        elif name is not None and name not in importlib.import_module(module).__all__:
            outside.append(f"{path}:{line} {module}.{name} is not in its __all__")
    assert outside == []


def test_hookspec_docstrings_state_the_signatures_the_code_uses():
    """The plugin contract's prose names the same call signatures the core makes."""
    import inspect

    from tlsuite_core import hookspecs
    from tlsuite_core.data import DataAdapter, read_csv
    from tlsuite_core.metrics import exact_match_metrics

    adapter_doc = inspect.getdoc(hookspecs.tlsuite_register_data_adapters)
    read_params = list(inspect.signature(read_csv).parameters)
    assert f"read({', '.join(read_params)}) -> Table" in adapter_doc
    assert "read(path) -> Table" in inspect.getdoc(DataAdapter)

    metric_doc = inspect.getdoc(hookspecs.tlsuite_register_metrics)
    metric_params = list(inspect.signature(exact_match_metrics).parameters)
    assert f"fn({', '.join(metric_params)}) -> dict" in metric_doc
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert f"fn({', '.join(metric_params)}) -> dict" in docs and "read(path) -> Table" in docs


def test_every_registered_metric_takes_references_predictions_and_options():
    import inspect

    from tlsuite_core.plugins import PluginHost

    host = PluginHost()
    names = host.registry.names("metric")
    assert {"exact_match", "translation", "summarization"} <= set(names)
    for name in names:
        metric = host.registry.get("metric", name)
        assert list(inspect.signature(metric.fn).parameters) == ["references", "predictions", "options"], name
        assert set(metric.lower_is_better) <= set(metric.keys), name
    assert host.registry.get("metric", "translation").lower_is_better == ("ter",)
