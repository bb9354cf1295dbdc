"""What plugins registered, by kind and name: the one object core modules receive instead of the plugin host.

The plugin host (:mod:`tlsuite_core.plugins`) fills a :class:`Registry` while it loads plugins; the boundary (the
CLI, ``load_app``) hands it to the engine, tasks and readers, which look things up in it and never reach for the
host themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: the kinds of things plugins register (the registration hook of each is ``tlsuite_register_<kind>s``)
KINDS = ("task", "model", "data adapter", "metric", "app", "route")


@dataclass
class Registered:
    """A registered item and the plugin that owns it."""

    kind: str
    name: str
    value: Any
    owner: str


class Registry:
    """Names -> registered objects, per kind, remembering the owning plugin."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Registered]] = {k: {} for k in KINDS}

    def get(self, kind: str, name: str) -> Any:
        item = self._items[kind].get(name)
        return None if item is None else item.value

    def owner(self, kind: str, name: str) -> str | None:
        item = self._items[kind].get(name)
        return None if item is None else item.owner

    def names(self, kind: str) -> list[str]:
        return sorted(self._items[kind])

    def values(self, kind: str) -> list[Any]:
        return [self._items[kind][n].value for n in self.names(kind)]

    def drop_owner(self, owner: str) -> None:
        for items in self._items.values():
            for name in [n for n, item in items.items() if item.owner == owner]:
                del items[name]

    def _commit(self, items: list[Registered]) -> None:
        for item in items:
            self._items[item.kind][item.name] = item

    def mapping(self, kind: str) -> dict[str, Any]:
        """Every registered ``kind``, name -> object."""
        return {name: self._items[kind][name].value for name in self.names(kind)}

    def task(self, name: str) -> Any:
        """A fresh instance of the task registered as ``name``, bound to this registry."""
        from .errors import PluginError

        cls = self.get("task", name)
        if cls is None:
            raise PluginError(f"unknown task '{name}' (known: {', '.join(self.names('task'))})")
        return cls(self)
