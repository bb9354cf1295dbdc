"""Cached features for ``--strategy frozen --cache-features``: feature extraction without re-running the backbone.

With the backbone frozen, its output for an input never changes, so it is computed once (in eval mode, without
gradients) and every later epoch, and every evaluation after the first, trains and scores the head on the stored
features. The model object stays the model: only its backbone's ``forward`` is replaced by a lookup, so the Trainer,
the head, the loss, checkpoints and ``save_pretrained`` are untouched, and the saved folder is a plain transformers
model.

What differs from plain ``frozen``: the backbone runs without its internal dropout (the features are the backbone's
deterministic output: classic feature extraction). The head's own dropout still applies. A backbone pooler (BERT's
``pooler``, a trainable part of the head) runs live on the cached hidden states, so it keeps training.

Memory: one float32 vector per real token of every distinct input (examples x tokens x hidden size x 4 bytes);
``stats()`` reports it, and the engine logs it with the run.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from ..errors import ConfigError


class FeatureCache:
    """Replace ``backbone.forward`` with a per-input cache of its last hidden states."""

    def __init__(self, backbone: Any) -> None:
        self.backbone = backbone
        self.compute = backbone.forward
        self.pooler = getattr(backbone, "pooler", None)
        self.store: dict[bytes, Any] = {}
        self.output_class: Any = None
        self.hits = 0
        self.misses = 0
        self.bytes = 0

    def install(self) -> FeatureCache:
        self.backbone.forward = self
        return self

    def stats(self) -> dict[str, Any]:
        return {
            "cached_inputs": len(self.store),
            "cache_mb": round(self.bytes / 2**20, 1),
            "hits": self.hits,
            "misses": self.misses,
        }

    def __call__(
        self, input_ids: Any = None, attention_mask: Any = None, token_type_ids: Any = None, **kwargs: Any
    ) -> Any:
        import torch

        if (
            input_ids is None
            or attention_mask is None
            or any(kwargs.get(k) is not None for k in ("inputs_embeds", "position_ids"))
        ):
            return self.compute(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, **kwargs
            )
        real = attention_mask.bool()
        keys = []
        for row in range(input_ids.shape[0]):
            ids = input_ids[row][real[row]]
            key = ids.cpu().numpy().tobytes()
            if token_type_ids is not None:
                key += b"|" + token_type_ids[row][real[row]].cpu().numpy().tobytes()
            keys.append(key)
        missing = [row for row, key in enumerate(keys) if key not in self.store]
        self.hits += input_ids.shape[0] - len(missing)
        self.misses += len(missing)
        if missing:
            index = torch.tensor(missing, device=input_ids.device)
            was_training = self.backbone.training
            self.backbone.eval()
            try:
                with torch.no_grad():
                    out = self.compute(
                        input_ids=input_ids[index],
                        attention_mask=attention_mask[index],
                        token_type_ids=token_type_ids[index] if token_type_ids is not None else None,
                        **kwargs,
                    )
            finally:
                self.backbone.train(was_training)
            self.output_class = type(out)
            hidden = out[0]
            for i, row in enumerate(missing):
                features = hidden[i][real[row]].detach().float().cpu().clone()
                self.store[keys[row]] = features
                self.bytes += features.numel() * 4
        sample = self.store[keys[0]]
        dtype = next(self.backbone.parameters()).dtype
        hidden = torch.zeros(
            (input_ids.shape[0], input_ids.shape[1], sample.shape[-1]), dtype=dtype, device=input_ids.device
        )
        for row, key in enumerate(keys):
            hidden[row][real[row]] = self.store[key].to(device=input_ids.device, dtype=dtype)
        if self.pooler is not None:  # trainable: runs live on the cached states
            return self.output_class(last_hidden_state=hidden, pooler_output=self.pooler(hidden))
        return self.output_class(last_hidden_state=hidden)


class FeatureCacheReport(TrainerCallback):
    """Carries the cache to the engine, which records its size and hit count with the run."""

    def __init__(self, cache: FeatureCache) -> None:
        self.cache = cache


def install_feature_cache(model: Any) -> FeatureCache:
    """Cache the frozen backbone of ``model`` (a ``*For...`` model with a base model inside)."""
    config = getattr(model, "config", None)
    if getattr(config, "is_encoder_decoder", False):
        raise ConfigError(
            "--cache-features: encoder-decoder models run their decoder on every step; train with --strategy frozen without it"
        )
    prefix = getattr(model, "base_model_prefix", None)
    backbone = getattr(model, prefix, None) if prefix else None
    if backbone is None or backbone is model:
        raise ConfigError(f"--cache-features: {type(model).__name__} has no separate backbone to cache")
    pooler = getattr(backbone, "pooler", None)
    if pooler is not None and not type(pooler).__name__.endswith("Pooler"):
        raise ConfigError(
            f"--cache-features: {type(backbone).__name__}'s pooler ({type(pooler).__name__}) cannot run on cached features"
        )
    trainable = [n for n, p in backbone.named_parameters() if p.requires_grad and not n.startswith("pooler.")]
    if trainable:
        raise ConfigError(f"--cache-features needs a frozen backbone, but {trainable[0]} trains")
    return FeatureCache(backbone).install()
