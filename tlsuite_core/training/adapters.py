"""Bottleneck adapters: small trainable down-project -> non-linearity -> up-project blocks in a frozen model.

Two placements (peft has no bottleneck adapters, and the ``adapters`` library pins transformers 4.x):

* ``"houlsby"``: Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP" (ICML): one adapter after
  the attention-output projection and one after the feed-forward output projection of every transformer layer.
* ``"pfeiffer"``: Pfeiffer et al. 2020, "AdapterFusion: Non-Destructive Task Composition for Transfer Learning"
  (the configuration found best there, one adapter per layer): only after the feed-forward output projection.

Both put the adapter inside the residual branch: the projection ``Linear`` is replaced by :class:`AdapterLinear`,
``h = base(x); return h + up(act(down(h)))``, so the adapter acts before the sub-layer's dropout, residual sum
and LayerNorm, as in Houlsby's figure 2. ``up`` starts at zero, so a freshly adapted model computes exactly what
the base model did. The wrapped ``Linear`` stays reachable as ``<projection>.base`` and every adapter parameter
has ``bottleneck_adapter`` in its qualified name.

Trained with the adapters (both kinds, as Houlsby does): the LayerNorms of the adapted transformer layers and the
task head. Those tensors and nothing else are saved (:func:`save_adapters`); :func:`load_adapters` puts them back
on a freshly loaded base model. Bottleneck adapters cannot be merged into the base weights
(:func:`merge_not_supported_reason`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers.activations import ACT2FN

from .optim import is_head

ADAPTER_FILE = "bottleneck_adapters.safetensors"
ADAPTER_CONFIG = "bottleneck_adapters.json"
FORMAT = 1
KINDS = ("houlsby", "pfeiffer")
MARKER = "bottleneck_adapter"  # substring of every adapter parameter's qualified name

# (attention-output projection, feed-forward output projection), as paths relative to a transformer layer.
# A transformer layer is any module whose qualified name ends in a list index (``bert.encoder.layer.3``).
# The first row with matches for both projections is used.
INSERTION_POINTS: tuple[tuple[str, str], ...] = (
    ("attention.output.dense", "output.dense"),  # BERT, RoBERTa, XLM-R, ELECTRA, DeBERTa, MiniLM, ...
    ("attention.attn.o", "output.dense"),  # MPNet
    ("attention.out_lin", "ffn.lin2"),  # DistilBERT
    ("attn.Wo", "mlp.Wo"),  # ModernBERT
    ("self_attn.o_proj", "mlp.down_proj"),  # Llama, Mistral, Qwen2, Gemma, ...
)
_IN_LAYER = re.compile(r"^(?P<layer>.*\.\d+)\.(?P<rest>.+)$")  # greedy: the innermost indexed module


@dataclass
class BottleneckConfig:
    """Placement (``kind``), bottleneck size ``max(1, hidden_size // reduction)`` and activation (ACT2FN name)."""

    kind: str
    reduction: int = 16
    activation: str = "relu"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"bottleneck adapter kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if isinstance(self.reduction, bool) or not isinstance(self.reduction, int) or self.reduction < 1:
            raise ValueError(f"bottleneck adapter reduction must be a positive integer, not {self.reduction!r}")
        if self.activation not in ACT2FN:
            raise ValueError(f"unknown activation {self.activation!r}: use a name from transformers' ACT2FN")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BottleneckConfig:
        """Build from a dict; keys that are not config fields (``base_model``, ``format``, ...) are ignored."""
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


class BottleneckAdapter(nn.Module):
    """``up(act(down(h)))``; ``up`` is zero at start, so the adapter's contribution starts at exactly zero."""

    def __init__(self, features: int, bottleneck: int, activation: str, *, device=None, dtype=None) -> None:
        super().__init__()
        self.down = nn.Linear(features, bottleneck, device=device, dtype=dtype)
        self.act = ACT2FN[activation]
        self.up = nn.Linear(bottleneck, features, device=device, dtype=dtype)
        nn.init.normal_(self.down.weight, std=1e-2)  # near-identity init (Houlsby et al. 2019, section 2.1)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.up(self.act(self.down(h)))


class AdapterLinear(nn.Module):
    """A projection ``Linear`` (kept as ``.base``) followed by a residual bottleneck adapter."""

    def __init__(self, base: nn.Linear, bottleneck: int, activation: str) -> None:
        super().__init__()
        self.base = base
        dtype = base.weight.dtype if base.weight.dtype.is_floating_point else None
        self.bottleneck_adapter = BottleneckAdapter(
            base.out_features, bottleneck, activation, device=base.weight.device, dtype=dtype
        )

    # read-only views of the wrapped Linear, for model code that inspects its projection
    in_features = property(lambda self: self.base.in_features)
    out_features = property(lambda self: self.base.out_features)
    weight = property(lambda self: self.base.weight)
    bias = property(lambda self: self.base.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.base(x)
        return h + self.bottleneck_adapter(h)


def _insertion_points(model: nn.Module, kind: str) -> list[str]:
    """Qualified names of the projections to wrap, in model order."""
    in_layer = [(n, _IN_LAYER.match(n)) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    rest = [(n, m["rest"]) for n, m in in_layer if m]
    for attention, ffn in INSERTION_POINTS:
        if any(r == attention for _, r in rest) and any(r == ffn for _, r in rest):
            wanted = (attention, ffn) if kind == "houlsby" else (ffn,)
            return [n for n, r in rest if r in wanted]
    raise ValueError(
        f"no bottleneck-adapter insertion point found in {type(model).__name__}: expected nn.Linear projections "
        f"named <layer>.<i>.{{{' | '.join(a for a, _ in INSERTION_POINTS)}}} and "
        f"<layer>.<i>.{{{' | '.join(sorted({f for _, f in INSERTION_POINTS}))}}}"
    )


def add_bottleneck_adapters(model: nn.Module, config: BottleneckConfig) -> list[str]:
    """Insert adapters into every transformer layer of ``model`` in place.

    Returns the qualified names of the wrapped projections (now :class:`AdapterLinear`), in model order:
    for Houlsby the attention-output and feed-forward output projection of each layer, for Pfeiffer only the
    latter. Raises ``ValueError`` naming the model class when no insertion point is found, or when the model
    already has bottleneck adapters.
    """
    if _adapted_modules(model):
        raise ValueError(f"{type(model).__name__} already has bottleneck adapters")
    names = _insertion_points(model, config.kind)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        base = getattr(parent, child)
        bottleneck = max(1, base.out_features // config.reduction)
        setattr(parent, child, AdapterLinear(base, bottleneck, config.activation))
    return names


def _adapted_modules(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, AdapterLinear)]


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, (nn.LayerNorm, nn.RMSNorm)) or any(
        k in type(module).__name__ for k in ("LayerNorm", "RMSNorm")
    )


def _by_design(model: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters trained with the adapters: adapters, LayerNorms of adapted layers, task head."""
    adapted = _adapted_modules(model)
    if not adapted:
        raise ValueError(f"{type(model).__name__} has no bottleneck adapters: call add_bottleneck_adapters first")
    layers = tuple({_IN_LAYER.match(n)["layer"] + "." for n in adapted})
    norms = tuple(n + "." for n, m in model.named_modules() if n.startswith(layers) and _is_norm(m))
    chosen = {}
    for name, param in model.named_parameters():
        if MARKER in name or name.startswith(norms) or is_head(name):
            chosen[name] = param
    return chosen


def mark_adapter_trainable(model: nn.Module) -> None:
    """Freeze everything, then unfreeze the adapters, the LayerNorms of the adapted layers and the task head
    (:func:`tlsuite_core.training.optim.is_head`)."""
    trainable = _by_design(model)
    for name, param in model.named_parameters():
        param.requires_grad_(name in trainable)


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors :func:`mark_adapter_trainable` unfreezes (whatever their ``requires_grad`` now), by name."""
    return {name: param.detach() for name, param in _by_design(model).items()}


def save_adapters(
    model: nn.Module,
    folder: str | Path,
    config: BottleneckConfig,
    *,
    base_model: str,
) -> None:
    """Write ``ADAPTER_FILE`` (the :func:`adapter_state_dict`) and ``ADAPTER_CONFIG`` (the config, ``base_model``,
    ``format`` and the adapted module names) to ``folder``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.to("cpu").contiguous() for k, v in adapter_state_dict(model).items()}
    save_file(tensors, str(folder / ADAPTER_FILE), metadata={"format": "pt"})
    meta = {**config.to_dict(), "base_model": base_model, "format": FORMAT, "modules": _adapted_modules(model)}
    (folder / ADAPTER_CONFIG).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def load_adapters(model: nn.Module, folder: str | Path) -> BottleneckConfig:
    """Add the saved adapters to a freshly loaded base ``model`` and load the saved tensors into it.

    Strict: every saved key must be a parameter of the adapted model with the saved shape, every adapter
    parameter must be in the file, and the adapted modules must be the saved ones; ``ValueError`` otherwise.
    ``requires_grad`` is left as it is: call :func:`mark_adapter_trainable` to go on training. On a key or shape
    error the model already has (untrained) adapters: discard it.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{folder / ADAPTER_CONFIG}: unsupported format {meta.get('format')!r} (expected {FORMAT})")
    config = BottleneckConfig.from_dict(meta)
    modules = add_bottleneck_adapters(model, config)
    if "modules" in meta and meta["modules"] != modules:
        raise ValueError(
            f"{folder / ADAPTER_CONFIG}: adapters were saved for modules {meta['modules'][:3]}..., "
            f"but {type(model).__name__} has {modules[:3]}...: wrong base model?"
        )
    path = folder / ADAPTER_FILE
    tensors = load_file(str(path))
    params = dict(model.named_parameters())
    unknown = sorted(set(tensors) - set(params))
    missing = sorted(n for n in params if MARKER in n and n not in tensors)
    shapes = sorted(k for k in tensors if k in params and tensors[k].shape != params[k].shape)
    for problem, keys in (
        ("keys not in the model", unknown),
        ("adapter keys missing", missing),
        ("shape mismatches", shapes),
    ):
        if keys:
            raise ValueError(
                f"{path}: {problem} ({type(model).__name__}): {', '.join(keys[:5])}"
                + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            )
    with torch.no_grad():
        for key, tensor in tensors.items():
            params[key].copy_(tensor)
    return config


def merge_not_supported_reason() -> str:
    return (
        "Bottleneck adapters add non-linear modules (down-projection, activation, up-projection) to the "
        "network, so unlike LoRA they cannot be merged into the base model's weights."
    )
