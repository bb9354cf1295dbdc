"""finance-monitor: financial news sentiment (positive / neutral / negative), a first-party tlsuite plugin.

The app is declared in ``app.yaml`` (name, task, demo data and the tuned training defaults, with their reasons).
"""

from __future__ import annotations

from pathlib import Path

from tlsuite_core.apps import AppSpec

APP = AppSpec.from_file(Path(__file__).parent / "app.yaml")
