"""Write docs/options.md from the option declarations: ``python docs/generate_options.py``."""

from pathlib import Path

from tlsuite_core.config import core_task_options, options_markdown

if __name__ == "__main__":
    target = Path(__file__).resolve().parent / "options.md"
    target.write_text(options_markdown(core_task_options()), encoding="utf-8")
    print(f"wrote {target}")
