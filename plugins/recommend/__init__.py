"""recommend: interest scoring from item text and user history, fused with collaborative signals, and ranking.

Python API::

    from tlsuite_recommend import Recommender
    rec = Recommender.train(data="ml-100k/", max_steps=150)          # or interactions=..., items=...
    rec = Recommender.load("runs/recommend/NAME")
    rec.rank("196", k=10)            # items the user has not seen, best first
    rec.explain("196", "242")        # which history items and features drove the score
"""

from __future__ import annotations

from pathlib import Path

from tlsuite_core.apps import AppSpec

__all__ = ["APP", "Recommender"]

APP = AppSpec.from_file(Path(__file__).parent / "app.yaml")


def __getattr__(name: str):
    if name == "Recommender":
        from .recommender import Recommender

        return Recommender
    raise AttributeError(name)
