"""The known-good dependency set and `tlsuite doctor`'s drift report."""

import json
from pathlib import Path

from typer.testing import CliRunner

from tlsuite_core.versions import drift, known_good, parse_constraints

ROOT = Path(__file__).resolve().parents[2]


def test_the_packaged_set_is_the_constraints_file_the_readme_installs_with():
    packaged = known_good()
    assert packaged == parse_constraints((ROOT / "constraints.txt").read_text(encoding="utf-8"))
    assert {"transformers", "peft", "datasets", "accelerate"} <= set(packaged)
    assert "torch" not in packaged  # users bring their own build
    assert 'pip install -e ".[test]" -c constraints.txt' in (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'pip install -q -e ".[test]" -c constraints.txt' in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_drift_names_the_installed_and_the_known_good_version():
    import transformers

    rows = drift({"transformers": "0.0.1", "no-such-distribution-here": "1.0"})
    assert [(d.name, d.installed, d.known_good) for d in rows] == [
        ("no-such-distribution-here", None, "1.0"),
        ("transformers", transformers.__version__, "0.0.1"),
    ]


def test_doctor_reports_versions_that_differ_from_the_known_good_set(monkeypatch):
    from tlsuite_core import cli, versions

    monkeypatch.setattr(versions, "known_good", lambda: {"transformers": "0.0.1"})
    app = cli.build_app()
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert [d["name"] for d in info["known_good_drift"]] == ["transformers"]
    result = CliRunner().invoke(app, ["doctor"])
    assert "untested transformers" in result.output and "known-good 0.0.1" in result.output
