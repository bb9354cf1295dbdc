"""``--help`` tells the truth: no type beside flags, the effective default of every training option, and examples
that name the command they stand under."""

from __future__ import annotations

import pytest

from .test_api import COMMAND_PATHS


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
    assert any("--keep-checkpoints" in line and "<" not in line.split("--keep-checkpoints")[1].split("Keep")[0] for line in lines)
