"""Parameter groups for discriminative (layer-wise) learning rates.

Layer-wise learning-rate decay (Howard & Ruder 2018, "discriminative fine-tuning"; Sun et al. 2019): the top
transformer layer trains at the base rate, each layer below at ``decay`` times the one above, the embeddings
below the lowest layer. Task heads (classifier, pooler, ...) train at ``base * head_scale``.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

LAYER = re.compile(r"\.(?:layer|layers|h|block|blocks)\.(\d+)\.")
#: module names of task heads (any dotted component of a parameter's name): classifier, pooler, score, qa_outputs,
#: lm_head, cls (BERT's masked-LM head), head (ModernBERT's), pre_classifier (DistilBERT's). The one list every
#: strategy uses to tell the head from the backbone (layer-wise rates, PEFT's modules_to_save, bottleneck adapters).
HEAD_NAMES = frozenset({"classifier", "pooler", "score", "qa_outputs", "lm_head", "cls", "head", "pre_classifier"})


def is_head(name: str) -> bool:
    """A task-head parameter or module (classifier, pooler, score, lm_head, ...), also inside PEFT wrappers."""
    return any(part in HEAD_NAMES for part in name.split("."))


def parameter_depth(name: str, num_layers: int) -> int | None:
    """0 for embeddings, i + 1 for transformer layer i, ``None`` for task-head parameters.

    Names may sit inside wrappers (``base_model.model.bert.encoder.layer.3.attention...lora_A.default.weight``);
    a head is recognised by any dotted component (``classifier``, ``pooler``, ``score``, ...). PEFT's virtual
    tokens (``prompt_encoder``) count as the top layer: they are new weights that need the full rate.
    """
    if is_head(name):
        return None
    if name.split(".", 1)[0] == "prompt_encoder":
        return num_layers
    match = LAYER.search(name)
    if match:
        return int(match.group(1)) + 1
    if "embed" in name:
        return 0
    return num_layers  # other encoder parameters (final norms): treat as top layer


def layerwise_groups(
    model: Any,
    *,
    base_lr: float,
    decay: float,
    head_scale: float,
    weight_decay: float,
    decay_parameter_names: Iterable[str],
) -> list[dict[str, Any]]:
    decay_names = set(decay_parameter_names)
    depths = {n: parameter_depth(n, 0) for n, _ in model.named_parameters()}
    num_layers = max([d for d in depths.values() if d is not None] + [0])
    groups: dict[tuple[float, float], list[Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        depth = parameter_depth(name, num_layers)
        lr = base_lr * head_scale if depth is None else base_lr * decay ** (num_layers - depth)
        wd = weight_decay if name in decay_names else 0.0
        groups.setdefault((lr, wd), []).append(param)
    return [
        {"params": params, "lr": lr, "weight_decay": wd}
        for (lr, wd), params in sorted(groups.items(), key=lambda kv: kv[0])
    ]


def reinit_top_layers(model: Any, n: int) -> int:
    """Re-initialise the top ``n`` transformer layers and the pooler with the model's own initialiser (Zhang et al.
    2021, "Revisiting few-sample BERT fine-tuning": the top layers are the most pretraining-specific). Returns how
    many modules were re-initialised; a model without numbered layers, or fewer than ``n``, is an error."""
    from ..errors import ConfigError

    names = [name for name, _ in model.named_parameters()]
    depths = [d for d in (parameter_depth(name, 0) for name in names) if d]
    if not depths:
        raise ConfigError("--reinit-layers: the model has no numbered transformer layers")
    top = max(depths)
    if n > top:
        raise ConfigError(f"--reinit-layers {n}: the model has only {top} layers")
    count = 0
    for name, module in model.named_modules():
        if not any(True for _ in module.parameters(recurse=False)):
            continue
        depth = parameter_depth(name + ".weight", top)
        if (depth is not None and depth > top - n and LAYER.search(name + ".weight")) or "pooler" in name.split("."):
            for tensor in module.parameters(recurse=False):
                # transformers 5 marks loaded weights as initialised, and its initialisers then leave them alone
                tensor._is_hf_initialized = False
            model._init_weights(module)
            count += 1
    return count
