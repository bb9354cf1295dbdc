"""Callbacks the strategies need during training: gradual unfreezing and AdaLoRA's rank allocation.

Kept apart from :mod:`tlsuite_core.training.strategies` so that choosing and validating a strategy does not import
``transformers.Trainer`` (and with it peft), which takes seconds.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from .strategies import freeze_below


class GradualUnfreezing(TrainerCallback):
    """ULMFiT-style gradual unfreezing: the head trains from the start; every ``every`` optimiser steps the next
    layer group from the top (top layer first, embeddings last) joins.

    What is trainable is a function of the global step alone, so a resumed run unfreezes exactly like an
    uninterrupted one. The optimiser holds every parameter from the start; a frozen one has no gradient, so AdamW
    skips it (no update, no weight decay, no moment state) until it is unfrozen.
    """

    def __init__(self, model: Any, layers: int, every: int) -> None:
        self.model = model
        self.layers = layers
        self.every = max(1, int(every))
        self.stage = -1

    def trainable_from(self, step: int) -> int:
        """The lowest trainable layer group at ``step`` (``layers + 1``: head only)."""
        return max(0, self.layers + 1 - step // self.every)

    def _apply(self, step: int) -> None:
        lowest = self.trainable_from(step)
        if lowest != self.stage:
            freeze_below(self.model, lowest)
            self.stage = lowest

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._apply(state.global_step)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._apply(state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # the model leaves training with every weight trainable (its state no longer depends on the schedule)
        freeze_below(self.model, 0)


class AdaLoraAllocation(TrainerCallback):
    """AdaLoRA re-allocates ranks from gradient-based importance after every backward pass and before the
    optimiser step (``update_and_allocate``).

    The rank pattern is held here, not in the adapter's config: peft masks pruned ranks to zero in place, and with a
    pattern in the config it would also *resize* the tensors it saves, which a checkpoint can then not be loaded
    back from (``load_best_model_at_end``, ``--resume``), and a fully pruned matrix (rank 0) fails to save. Saved
    full-size with zeros, the adapter computes exactly the same function. The importance statistics and the
    pattern are saved with each checkpoint, so a resumed run allocates exactly like an uninterrupted one.
    """

    FILE = "adalora_state.safetensors"

    def __init__(self) -> None:
        self.pattern: dict[str, Any] | None = None

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        base = _peft_base(model)
        if base is None:
            return
        config = base.peft_config[base.trainable_adapter_name]
        config.rank_pattern = self.pattern
        try:
            base.update_and_allocate(state.global_step)
            self.pattern = config.rank_pattern
        finally:
            config.rank_pattern = None

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        from pathlib import Path

        from safetensors.torch import save_file

        base = _peft_base(model)
        if base is None or not args.should_save:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir():
            tensors, metadata = _allocator_state(base, self.pattern)
            save_file(tensors, str(folder / self.FILE), metadata=metadata)

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        from pathlib import Path

        from safetensors import safe_open
        from safetensors.torch import load_file

        base = _peft_base(model)
        resume = _resumed_from(args, state)
        if base is None or not resume:
            return
        path = Path(resume) / self.FILE
        if path.is_file():
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
            self.pattern = _load_allocator_state(base, load_file(str(path)), metadata)


def _resumed_from(args: Any, state: Any) -> str | None:
    from pathlib import Path

    if state.global_step:
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        return str(folder) if folder.is_dir() else None
    return None


def _peft_base(model: Any) -> Any:
    base = getattr(model, "base_model", None)
    return base if base is not None and hasattr(base, "update_and_allocate") else None


def _allocator_state(base: Any, pattern: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, str]]:
    """AdaLoRA's importance statistics (tensors) and its current rank pattern (metadata)."""
    import json

    allocator = base.rankallocator
    out = {}
    for key in ("ipt", "exp_avg_ipt", "exp_avg_unc"):
        for name, tensor in getattr(allocator, key).items():
            out[f"{key}::{name}"] = tensor.detach().cpu().contiguous()
    plain = {k: [bool(x) for x in (v.tolist() if hasattr(v, "tolist") else v)] for k, v in (pattern or {}).items()}
    return out, {"rank_pattern": json.dumps(plain)}


def _load_allocator_state(base: Any, tensors: dict[str, Any], metadata: dict[str, str]) -> dict[str, Any] | None:
    import json

    allocator = base.rankallocator
    for key in ("ipt", "exp_avg_ipt", "exp_avg_unc"):
        getattr(allocator, key).clear()
    for full, tensor in tensors.items():
        key, name = full.split("::", 1)
        getattr(allocator, key)[name] = tensor
    return json.loads(metadata.get("rank_pattern") or "{}") or None


# -- steps -----------------------------------------------------------------------------------------------------
