"""Writing a trained model folder, whatever the strategy, so it loads outside tlsuite as well as inside.

* ``full`` / ``frozen`` / ``partial`` / ``gradual``: a plain ``transformers`` folder (config with ``id2label``,
  safetensors weights, tokenizer).
* PEFT strategies: peft's adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``, the task head
  included through ``modules_to_save``) and the tokenizer. ``base_model_name_or_path`` is portable: the hub id of
  an alias's model (``sentence-transformers/all-MiniLM-L6-v2`` for ``minilm``), a hub id, or the path as the user
  gave it, never this machine's cache path. Mergeable methods (LoRA, AdaLoRA, IA3) also get ``merged/``: the
  adapter folded into the base weights, a plain ``transformers`` folder.
* Bottleneck adapters: tlsuite's adapter files (:mod:`.adapters`) and the tokenizer.

Every folder carries ``tlsuite.json``: task, app, labels, and for adapter folders the base model reference tlsuite
resolves (the alias itself, so it works offline), and ``training_args.json``: the Trainer's arguments, as JSON
where transformers would pickle them (``training_args.bin``; see :func:`write_training_args`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from ..files import write_atomically
from .runs import write_json
from .strategies import get_strategy

META = "tlsuite.json"
#: where Trainer pickles its arguments, and the JSON tlsuite writes instead
TRAINING_ARGS_PICKLE = "training_args.bin"
TRAINING_ARGS_JSON = "training_args.json"


def write_training_args(folder: Path, args: Any) -> None:
    """``training_args.json`` in ``folder`` (written atomically), and no ``training_args.bin``."""
    write_atomically(folder / TRAINING_ARGS_JSON, args.to_json_string() + "\n")
    (folder / TRAINING_ARGS_PICKLE).unlink(missing_ok=True)


def base_reference(ref: str, resolved: Any) -> dict[str, Any]:
    """How an adapter folder names its base model: ``ref`` for tlsuite (alias, hub id, or the path as given),
    ``portable`` for plain peft (an alias's hub id when it has one)."""
    portable = ref
    if resolved.kind == "alias":
        from ..models import alias_hub_id

        portable = alias_hub_id(ref, resolved.aliases) or ref
    return {"ref": ref, "kind": resolved.kind, "portable": portable}


def save_trained(
    trainer: Any,
    tokenizer: Any,
    staging: Path,
    *,
    config: Any,
    resolved: Any,
    task: Any,
    app: str,
    labels: Sequence[str],
) -> dict[str, Any]:
    """Write the trained model into ``staging``; returns what was written (for run.json). A merged copy, when
    made, is written next to it as ``.merged.tmp`` (the caller moves both into place)."""
    strategy = get_strategy(config.strategy)
    model = trainer.model
    meta: dict[str, Any] = {
        "task": task.name,
        "app": app,
        "labels": list(labels),
        "max_length": config.max_length,
        "strategy": strategy.name,
        **task.model_meta(),
    }
    info: dict[str, Any] = {"adapter": None, "merged": None}
    if strategy.kind == "weights":
        trainer.save_model(str(staging))
        write_json(staging / META, meta)
        return info
    base = base_reference(config.init_from or config.model, resolved)
    meta["base_model"] = base
    info["base_model"] = base["ref"]
    if strategy.kind == "peft":
        trainer.save_model(str(staging))
        adapter_config = staging / "adapter_config.json"
        data = json.loads(adapter_config.read_text(encoding="utf-8"))
        data["base_model_name_or_path"] = base["portable"]
        adapter_config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        info["adapter"] = "peft"
        if strategy.mergeable and config.export_merged:
            merged_dir = staging.parent / ".merged.tmp"
            import shutil

            shutil.rmtree(merged_dir, ignore_errors=True)
            merged = model.merge_and_unload()
            merged.save_pretrained(str(merged_dir))
            tokenizer.save_pretrained(str(merged_dir))
            write_json(
                merged_dir / META, {k: v for k, v in meta.items() if k != "base_model"} | {"merged_from": strategy.name}
            )
            info["merged"] = ".merged.tmp"
    else:
        from .adapters import BottleneckConfig, save_adapters

        staging.mkdir(parents=True, exist_ok=True)
        save_adapters(
            model,
            staging,
            BottleneckConfig(kind=strategy.name, reduction=config.adapter.reduction),
            base_model=base["portable"],
        )
        tokenizer.save_pretrained(str(staging))
        write_training_args(staging, trainer.args)  # (trainer.save_model writes them for the other kinds)
        info["adapter"] = "bottleneck"
    write_json(staging / META, meta)
    return info
