"""Fine-tuning strategies: how much of a pretrained model a run adapts, and how.

One table (:data:`STRATEGIES`) lists every strategy ``--strategy`` accepts; :func:`prepare_model` applies one to a
freshly loaded task model (freezing, PEFT wrapping, bottleneck adapters) and returns the callbacks it needs during
training (gradual unfreezing, AdaLoRA's rank allocation). Saving and loading adapter runs lives in
:mod:`tlsuite_core.models` (``load_model`` reads what :func:`save_trained` writes).

==========  ==================================================================  ==========================
strategy    what trains                                                         the saved model loads with
==========  ==================================================================  ==========================
full        every weight                                                        transformers
frozen      the task head only (backbone frozen: feature extraction)            transformers
partial     the head and the top layers (embeddings + bottom K layers frozen)   transformers
gradual     the head first, then one more layer group from the top at a time    transformers
lora        low-rank updates of attention query/value + the head                peft (merged: transformers)
adalora     LoRA with rank budget re-allocated during training + the head      peft (merged: transformers)
ia3         learned rescaling of keys, values and feed-forward + the head       peft (merged: transformers)
prefix      trainable key/value prefixes in every layer + the head              peft
prompt      trainable virtual input tokens + the head                           peft
houlsby     bottleneck adapters after attention and feed-forward + the head     tlsuite
pfeiffer    bottleneck adapters after the feed-forward only + the head          tlsuite
==========  ==================================================================  ==========================

Layer-wise learning-rate decay (``--layer-lr-decay``) and the head's own rate (``--head-lr-scale``) combine with
every strategy: they act on whatever is trainable.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import ConfigError
from .optim import is_head, parameter_depth


@dataclass(frozen=True)
class Strategy:
    """One fine-tuning strategy.

    Args:
        name: the ``--strategy`` value.
        description: one line for help and reports.
        kind: ``weights`` (freezing choices over the model's own weights), ``peft`` or ``bottleneck``.
        lr_scale: default learning rate relative to the app's (tuned for full fine-tuning) when the user gives
            none; parameter-efficient methods train few, freshly initialised weights and want larger steps.
        defaults: other option defaults applied when the user gives none (e.g. the head's rate).
        mergeable: the adapter folds into the base weights, so a plain-transformers copy can be exported.
    """

    name: str
    description: str
    kind: str = "weights"
    lr_scale: float = 1.0
    defaults: Mapping[str, Any] = field(default_factory=dict)
    mergeable: bool = False

    @property
    def loads_with(self) -> str:
        return {"weights": "transformers", "peft": "peft", "bottleneck": "tlsuite"}[self.kind]


#: new, freshly initialised weights want the plain (not layer-decayed) rate, and the head no extra boost
_PEFT_DEFAULTS = {"head_lr_scale": 1.0, "layer_lr_decay": 1.0}

STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("full", "fine-tune every weight"),
        Strategy(
            "frozen",
            "feature extraction: freeze the backbone, train the task head",
            lr_scale=10.0,
            defaults=_PEFT_DEFAULTS,
        ),
        Strategy("partial", "freeze the embeddings and the bottom --freeze-layers layers"),
        Strategy("gradual", "unfreeze one layer group from the top every epoch (or --unfreeze-every steps)"),
        Strategy(
            "lora",
            "LoRA: low-rank updates of the backbone's linear layers",
            kind="peft",
            lr_scale=8.0,
            defaults=_PEFT_DEFAULTS,
            mergeable=True,
        ),
        Strategy(
            "adalora",
            "AdaLoRA: LoRA with an adaptive rank budget",
            kind="peft",
            lr_scale=8.0,
            defaults=_PEFT_DEFAULTS,
            mergeable=True,
        ),
        Strategy(
            "ia3",
            "IA3: learned rescaling of keys, values and feed-forward activations",
            kind="peft",
            lr_scale=30.0,
            defaults=_PEFT_DEFAULTS,
            mergeable=True,
        ),
        Strategy(
            "prefix",
            "prefix tuning: trainable key/value prefixes in every layer",
            kind="peft",
            lr_scale=100.0,
            defaults=_PEFT_DEFAULTS,
        ),
        Strategy(
            "prompt",
            "prompt tuning: trainable virtual tokens before the input",
            kind="peft",
            lr_scale=300.0,
            defaults=_PEFT_DEFAULTS,
        ),
        Strategy(
            "houlsby",
            "bottleneck adapters after attention and feed-forward (Houlsby et al. 2019)",
            kind="bottleneck",
            lr_scale=10.0,
            defaults=_PEFT_DEFAULTS,
        ),
        Strategy(
            "pfeiffer",
            "bottleneck adapters after the feed-forward only (Pfeiffer et al. 2020)",
            kind="bottleneck",
            lr_scale=10.0,
            defaults=_PEFT_DEFAULTS,
        ),
    )
}


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(f"--strategy {name}: unknown (choose from {', '.join(STRATEGIES)})") from None


def apply_strategy_defaults(config: Any, given: set[str]) -> None:
    """Strategy defaults for options the user did not set (``given``: option names set in a file or the CLI)."""
    strategy = get_strategy(config.strategy)
    if "learning_rate" not in given and strategy.lr_scale != 1.0:
        config.learning_rate = config.learning_rate * strategy.lr_scale
    for key, value in strategy.defaults.items():
        if key not in given:
            setattr(config, key, value)


# -- model anatomy ----------------------------------------------------------------------------------------------


def num_layers(model: Any) -> int:
    depths = [parameter_depth(n, 0) for n, _ in model.named_parameters()]
    return max([d for d in depths if d is not None] + [0])


def layer_group(name: str, layers: int) -> int | None:
    """0 for embeddings, i + 1 for transformer layer i, ``None`` for the head (see :func:`parameter_depth`)."""
    if is_head(name):
        return None
    return parameter_depth(name, layers)


def count_parameters(model: Any) -> dict[str, Any]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "total": total, "trainable_share": round(trainable / total, 6) if total else 0.0}


def set_dropout(model: Any, p: float) -> int:
    """Set every dropout layer's probability to ``p`` (``--dropout``); returns how many were changed."""
    import torch

    changed = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p
            changed += 1
    for key in (
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "dropout",
        "attention_dropout",
        "classifier_dropout",
    ):
        if getattr(model.config, key, None) is not None:
            setattr(model.config, key, p)
    return changed


def freeze_below(model: Any, trainable_from: int) -> None:
    """Train the head and layer groups >= ``trainable_from`` (0: embeddings, i + 1: layer i); freeze the rest."""
    layers = num_layers(model)
    for name, param in model.named_parameters():
        group = layer_group(name, layers)
        param.requires_grad = group is None or group >= trainable_from


def _head_modules(model: Any) -> list[str]:
    """Qualified names of the head's leaf modules (what PEFT must keep trainable and save)."""
    return sorted({name.rsplit(".", 1)[0] for name, _ in model.named_parameters() if is_head(name)})


def _default_lora_targets(model: Any) -> list[str]:
    """peft's own default for the architecture (attention query and value, as in the LoRA paper), else every
    backbone linear layer. Query/value keeps LoRA's training memory below full fine-tuning's on CPU
    (docs/results/transfer.md); ``--target-modules all-linear`` adapts every linear layer instead."""
    from peft.utils import (
        TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as defaults,
    )

    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type == "encoder-decoder":  # bert2bert: the encoder's names also name the decoder's layers
        model_type = getattr(getattr(config, "encoder", None), "model_type", None)
    names = defaults.get(model_type or "")
    if names and any(n.rsplit(".", 1)[-1] in names for n in _backbone_linears(model)):
        return list(names)
    return _backbone_linears(model)


def _backbone_linears(model: Any) -> list[str]:
    import torch

    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and not is_head(n)]


# -- applying a strategy ---------------------------------------------------------------------------------------


def prepare_model(
    model: Any, config: Any, task: Any, *, total_steps: int, steps_per_epoch: int
) -> tuple[Any, list[Any]]:
    """Apply ``config.strategy`` to ``model``; return the (possibly wrapped) model and the training callbacks."""
    strategy = get_strategy(config.strategy)
    if config.dropout is not None:
        set_dropout(model, config.dropout)
    callbacks: list[Any] = []
    layers = num_layers(model)
    if strategy.name == "frozen":
        freeze_below(model, layers + 1)
        if config.frozen.cache_features:
            from .feature_cache import FeatureCacheReport, install_feature_cache

            callbacks.append(FeatureCacheReport(install_feature_cache(model)))
    elif strategy.name == "partial":
        k = config.partial.freeze_layers if config.partial.freeze_layers is not None else layers // 2
        if not 0 <= k <= layers:
            raise ConfigError(f"--freeze-layers {k}: the model has {layers} layers")
        freeze_below(model, k + 1)
    elif strategy.name == "gradual":
        every = config.gradual.unfreeze_every or steps_per_epoch
        from .strategy_callbacks import GradualUnfreezing

        callbacks.append(GradualUnfreezing(model, layers, every))
    elif strategy.kind == "peft":
        model, extra = _wrap_peft(model, strategy, config, task, total_steps)
        callbacks += extra
    elif strategy.kind == "bottleneck":
        from .adapters import (
            BottleneckConfig,
            add_bottleneck_adapters,
            mark_adapter_trainable,
        )

        add_bottleneck_adapters(model, BottleneckConfig(kind=strategy.name, reduction=config.adapter.reduction))
        mark_adapter_trainable(model)
    return model, callbacks


def peft_config_for(strategy: Strategy, config: Any, task: Any, model: Any, total_steps: int) -> Any:
    import peft

    task_type = task.peft_task_type
    common: dict[str, Any] = {"task_type": task_type}
    heads = _head_modules(model) if task.new_head else []
    targets = config.peft.target_modules or None
    if strategy.name in ("lora", "adalora"):
        if targets is None:
            targets = _default_lora_targets(model)
        elif targets == ["all-linear"]:
            targets = _backbone_linears(model)
        kwargs = dict(
            common,
            r=config.lora.r,
            lora_alpha=config.lora.alpha,
            lora_dropout=config.lora.dropout,
            target_modules=targets,
            modules_to_save=heads or None,
        )
        if strategy.name == "lora":
            return peft.LoraConfig(**kwargs)
        if total_steps < 10:
            raise ConfigError(f"--strategy adalora needs at least 10 optimiser steps (this run has {total_steps})")
        kwargs.pop("r")
        # AdaLoRA: start every matrix at rank 1.5 r, prune to an average of r between 10 % and 80 % of training
        return peft.AdaLoraConfig(
            **kwargs,
            init_r=max(2, int(round(config.lora.r * 1.5))),
            target_r=config.lora.r,
            total_step=total_steps,
            tinit=max(1, int(total_steps * 0.1)),
            tfinal=max(1, int(total_steps * 0.2)),
            deltaT=max(1, total_steps // 50),
        )
    if strategy.name == "ia3":
        kwargs = dict(common, modules_to_save=heads or None)
        if targets is not None:
            kwargs.update(
                target_modules=targets,
                feedforward_modules=[t for t in targets if re.search(r"output|down|fc2|lin2|wo", t)],
            )
        return peft.IA3Config(**kwargs)
    if strategy.name in ("prefix", "prompt"):
        if strategy.name == "prompt" and task_type == "TOKEN_CLS":
            raise ConfigError(
                "--strategy prompt does not fit token classification (peft prepends virtual tokens to the output "
                "sequence); use prefix, which conditions every layer without adding output positions"
            )
        cls = peft.PrefixTuningConfig if strategy.name == "prefix" else peft.PromptTuningConfig
        return cls(**common, num_virtual_tokens=config.prompt_learning.virtual_tokens, modules_to_save=heads or None)
    raise ConfigError(f"--strategy {strategy.name}: not a PEFT method")


def _wrap_peft(model: Any, strategy: Strategy, config: Any, task: Any, total_steps: int) -> tuple[Any, list[Any]]:
    import peft

    pc = peft_config_for(strategy, config, task, model, total_steps)
    if strategy.name == "prefix":
        from ..compat import accept_past_key_values

        accept_past_key_values(model)
    try:
        wrapped = peft.get_peft_model(model, pc)
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(
            f"--strategy {strategy.name}: peft cannot wrap {type(model).__name__} ({str(exc).splitlines()[0][:200]})"
        ) from None
    from .strategy_callbacks import AdaLoraAllocation

    callbacks = [AdaLoraAllocation()] if strategy.name == "adalora" else []
    return wrapped, callbacks


def planned_steps(examples: int, config: Any) -> tuple[int, int]:
    """(optimiser steps per epoch, total optimiser steps) for ``examples`` training rows: ``--max-steps`` when set,
    else ``--epochs`` of them, raised to ``--min-steps`` (single process)."""
    per_epoch = max(1, math.ceil(math.ceil(examples / config.batch_size) / config.grad_accum))
    total = config.max_steps or max(1, math.ceil(per_epoch * config.epochs), getattr(config, "min_steps", 0))
    return per_epoch, total
