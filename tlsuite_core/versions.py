"""The known-good dependency set (``constraints.txt``, shipped as ``known_good.txt``) and drift from it.

``tlsuite doctor`` lists every installed distribution whose version differs from the set the test suite last passed
with, so a user who installed without the constraints sees what is untested before it bites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import PackageNotFoundError, version

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


@dataclass(frozen=True)
class Drift:
    """One distribution whose installed version is not the known-good one (``installed`` None: not installed)."""

    name: str
    known_good: str
    installed: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "known_good": self.known_good, "installed": self.installed}


def known_good() -> dict[str, str]:
    """Distribution name -> pinned version, from the packaged constraints file."""
    text = resources.files("tlsuite_core").joinpath("known_good.txt").read_text(encoding="utf-8")
    return parse_constraints(text)


def parse_constraints(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def drift(pins: dict[str, str] | None = None) -> list[Drift]:
    """Installed versions that differ from ``pins`` (default: the known-good set); missing optional ones too."""
    out = []
    for name, pinned in sorted((pins if pins is not None else known_good()).items(), key=lambda kv: kv[0].lower()):
        try:
            installed: str | None = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            out.append(Drift(name, pinned, installed))
    return out
