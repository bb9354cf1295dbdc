"""tlsuite: adapt pretrained models to business tasks, measure them honestly, run them in business systems.

Public API::

    from tlsuite_core import load_app
    app = load_app("runs/finance-monitor/20261123-101500")   # or load_app("finance-monitor"): latest run
    app.predict(["Operating profit rose 20 % year on year"])
"""

from __future__ import annotations

from .apps import AppSpec, Prediction, TrainedApp, load_app
from .config import TrainConfig
from .errors import ConfigError, DataError, ModelError, PluginError, TlsuiteError
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
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
