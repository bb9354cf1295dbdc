"""Reading and writing the files tlsuite and its plugins own: YAML mappings (config and rule files) and outputs
written atomically. Public: plugins use these instead of their own copies."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["read_yaml_mapping", "write_atomically"]


def read_yaml_mapping(path: str | Path, what: str, expected: str) -> dict[str, Any]:
    """A YAML file whose top level is a mapping, or a one-line :class:`ConfigError` naming the file (and the line of
    a syntax error). ``what``: the file's kind ("config file", "alert rules file"); ``expected``: what its top level
    should hold."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{path}{where}: invalid YAML ({getattr(exc, 'problem', None) or str(exc).splitlines()[0]})"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected {expected}")
    return data


def write_atomically(path: Path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file beside it and a rename, creating the
    folder: a reader never sees a half-written file, and a crash leaves the old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    os.replace(tmp, path)
    return path
