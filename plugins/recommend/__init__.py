"""recommend: interest scoring from item text and user history, fused with collaborative signals, and ranking.

Python API::

    from tlsuite_recommend import Recommender
    rec = Recommender.train(data="ml-100k/", max_steps=150)          # or interactions=..., items=...
    rec = Recommender.load("runs/recommend/NAME")
    rec.rank("196", k=10)            # items the user has not seen, best first
    rec.explain("196", "242")        # which history items and features drove the score
"""

from __future__ import annotations

from tlsuite_core.apps import AppSpec

__all__ = ["APP", "Recommender"]

APP = AppSpec(
    name="recommend",
    task="ranking",
    description="Recommendations: text interest model (cross-encoder, two-tower) fused with collaborative signals.",
    default_model="minilm",
    # the cross-encoder's engine defaults: a short run (CPU), one evaluation at the end, the dev MRR selects; its
    # one-output head starts random and near zero, so it learns 10x faster than the encoder (at 5e-5 for both, 40
    # steps left the listwise loss at ln 8: the scores had not moved apart)
    defaults={
        "learning_rate": 5e-5,
        "head_lr_scale": 10.0,
        "batch_size": 8,
        "max_length": 160,
        "warmup": 0.1,
        "weight_decay": 0.01,
        "epochs": 1.0,
        "evals_per_epoch": 1,
        "metric": "mrr",
    },
)


def __getattr__(name: str):
    if name == "Recommender":
        from .recommender import Recommender

        return Recommender
    raise AttributeError(name)
