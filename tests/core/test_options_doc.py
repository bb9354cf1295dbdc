"""docs/options.md is generated from the option declarations; it fails here when an option changed and the file
was not regenerated (``python docs/generate_options.py``)."""

from __future__ import annotations

from pathlib import Path

from tlsuite_core.config import TrainConfig, core_task_options, options_markdown, options_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "options.md"


def test_options_md_is_generated_from_the_declarations():
    assert DOC.read_text(encoding="utf-8") == options_markdown(core_task_options()), (
        "docs/options.md is stale: run `python docs/generate_options.py`"
    )


def test_options_md_lists_every_option():
    text = DOC.read_text(encoding="utf-8")
    for cls in (TrainConfig, *core_task_options()):
        for key, o in options_of(cls).items():
            assert f"| `{key}`" in text, key
            for flag in o.flags if o.meta.commands else ():
                assert f"`{flag}`" in text, flag
