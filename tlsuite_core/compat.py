"""Bridges between library releases that disagree, each with the versions it covers and why it exists.

Keep this module small: a bridge is removed as soon as the known-good set (``constraints.txt``) no longer needs it.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from .errors import ConfigError


def accept_past_key_values(model: Any) -> Any:
    """Let peft's prefix tuning pass its key/value prefixes to a model that calls them ``cache``.

    peft (0.21) hands the prefixes to the task model's ``forward`` (or, for classification heads, to the
    backbone's) as ``past_key_values`` and refuses a model whose ``forward`` signature lacks that parameter.
    transformers 5.24 renamed it to ``cache`` in BERT-style models (the old keyword is deprecated, to go in
    5.40), so peft refuses models that work. This gives each module peft may call (the model and its direct
    sub-models) a ``forward`` that accepts ``past_key_values`` and passes it on as ``cache``; modules that still
    take ``past_key_values`` are left alone. The weights, the state dict and the saved adapter are unchanged, so
    adapters stay portable. Returns ``model``.

    Raises :class:`ConfigError` naming the versions when neither the model nor a sub-model takes key/value
    prefixes under either name (prefix tuning cannot work there).
    """
    candidates = [
        model,
        *(m for _, m in model.named_children() if hasattr(m, "config") and callable(getattr(m, "forward", None))),
    ]
    supported = False
    for module in candidates:
        params = inspect.signature(module.forward).parameters
        if "past_key_values" in params:
            supported = True
        elif "cache" in params:
            _rename_keyword(module, "past_key_values", "cache")
            supported = True
    if not supported:
        raise ConfigError(
            f"--strategy prefix: {type(model).__name__} takes no key/value cache, which prefix tuning needs "
            f"({_versions()}); use lora, ia3 or prompt"
        )
    return model


def _rename_keyword(module: Any, old: str, new: str) -> None:
    forward = module.forward
    signature = inspect.signature(forward)

    @functools.wraps(forward)
    def renamed(*args: Any, **kwargs: Any) -> Any:
        if old in kwargs:
            value = kwargs.pop(old)
            if kwargs.get(new) is None:
                kwargs[new] = value
        return forward(*args, **kwargs)

    extra = inspect.Parameter(old, inspect.Parameter.KEYWORD_ONLY, default=None)
    params = list(signature.parameters.values())
    var_kw = [i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD]
    params.insert(var_kw[0] if var_kw else len(params), extra)
    renamed.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    del renamed.__wrapped__  # inspect must read the new signature
    module.forward = renamed


def _versions() -> str:
    from importlib.metadata import version

    return f"transformers {version('transformers')}, peft {version('peft')}"
