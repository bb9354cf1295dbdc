"""Checkpoint averaging: one model whose weights are the element-wise mean of several checkpoints of one run.

Two ways of choosing the checkpoints, both without looking at any evaluation data:

* ``last-k``: the last ``k`` checkpoints (with ``--evals-per-epoch 2`` and k = 2: the last epoch);
* ``swa``: every checkpoint from a fraction of training on (default: the second half), as in stochastic weight
  averaging (Izmailov et al. 2018). tlsuite averages the checkpoints of the run's own schedule (tail averaging);
  it does not switch to a constant or cyclic rate.

Weights are read from each checkpoint's ``model.safetensors`` (or a peft ``adapter_model.safetensors``); floating
tensors are averaged in float32, other tensors (integer buffers) are taken from the last checkpoint. No pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError

__all__ = [
    "AVERAGING_MODES",
    "WEIGHT_FILES",
    "average_weights",
    "checkpoint_step",
    "checkpoints_of",
    "load_averaged",
    "pick_checkpoints",
]

#: how the checkpoints to average are chosen (``none``: no averaging)
AVERAGING_MODES = ("none", "last-k", "swa")
#: the weight files a checkpoint may hold (full model, or a peft adapter)
WEIGHT_FILES = ("model.safetensors", "adapter_model.safetensors")


def checkpoint_step(path: Path) -> int:
    """The optimiser step of a ``checkpoint-N`` folder."""
    return int(path.name.rsplit("-", 1)[1])


def checkpoints_of(folder: Path) -> list[Path]:
    """The ``checkpoint-N`` folders under ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith("checkpoint-") and p.name[11:].isdigit()]
    return sorted(found, key=checkpoint_step)


def pick_checkpoints(checkpoints: Sequence[Path], mode: str, *, k: int = 2, start: float = 0.5) -> list[Path]:
    """The checkpoints ``mode`` averages: ``last-k`` the last ``k``; ``swa`` those at or after ``start`` of the
    last checkpoint's step (at least the last one); ``none`` the last one alone."""
    if not checkpoints:
        raise ConfigError("checkpoint averaging: the run saved no checkpoints")
    ordered = sorted(checkpoints, key=checkpoint_step)
    if mode == "none":
        return ordered[-1:]
    if mode == "last-k":
        if k < 1:
            raise ConfigError(f"checkpoint averaging: k must be at least 1 (got {k})")
        return ordered[-k:]
    if mode == "swa":
        if not 0 <= start < 1:
            raise ConfigError(f"checkpoint averaging: the SWA start must be in [0, 1) (got {start})")
        last = checkpoint_step(ordered[-1])
        return [p for p in ordered if checkpoint_step(p) >= start * last] or ordered[-1:]
    raise ConfigError(f"checkpoint averaging: unknown mode {mode!r} (choose from {', '.join(AVERAGING_MODES)})")


def _weights_file(checkpoint: Path) -> Path:
    for name in WEIGHT_FILES:
        if (checkpoint / name).is_file():
            return checkpoint / name
    raise ConfigError(f"{checkpoint}: no {' or '.join(WEIGHT_FILES)} to average")


def average_weights(checkpoints: Sequence[Path]) -> dict[str, Any]:
    """The element-wise mean of the checkpoints' weights (float tensors in float32, cast back to their dtype)."""
    from safetensors.torch import load_file

    if not checkpoints:
        raise ConfigError("checkpoint averaging: no checkpoints given")
    total: dict[str, Any] = {}
    dtypes: dict[str, Any] = {}
    for path in checkpoints:
        weights = load_file(str(_weights_file(path)))
        if total and set(weights) != set(total):
            raise ConfigError(f"{path}: its weights do not match the other checkpoints' (cannot average)")
        for name, tensor in weights.items():
            if tensor.is_floating_point():
                dtypes[name] = tensor.dtype
                total[name] = total[name] + tensor.float() if name in total else tensor.float().clone()
            else:
                total[name] = tensor
    count = float(len(checkpoints))
    return {name: (t / count).to(dtypes[name]) if name in dtypes else t for name, t in total.items()}


def load_averaged(model: Any, checkpoints: Sequence[Path]) -> Any:
    """Load the mean of the checkpoints' weights into ``model`` (in place) and return it; a key the model lacks is
    an error (tied weights the checkpoints do not store may be missing)."""
    from safetensors.torch import load_file

    weights = average_weights(checkpoints) if len(checkpoints) > 1 else load_file(str(_weights_file(checkpoints[0])))
    if _weights_file(checkpoints[0]).name == "adapter_model.safetensors":
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, weights)
        return model
    result = model.load_state_dict(weights, strict=False)
    if result.unexpected_keys:
        raise ConfigError(f"{checkpoints[0]}: weights the model does not have: {', '.join(result.unexpected_keys[:5])}")
    return model
