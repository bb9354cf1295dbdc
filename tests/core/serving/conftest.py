"""One tiny trained finance-monitor run shared by the serving tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import train_base_run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_model, tiny_data) -> Path:
    """A completed finance-monitor run named ``base`` (4 steps of the tiny BERT)."""
    return train_base_run(tmp_path_factory.mktemp("serve-run"), tiny_model, tiny_data)
