"""Plugin manager: entry points, per-plugin guards, allow-list, registries and the listing.

Every plugin, first-party ones included, is found through the ``tlsuite`` entry-point group. Each entry point is
imported and each of its registration hooks is called inside its own guard: a plugin that fails to import, uses an
unknown hook, raises while registering, or registers a name another plugin already owns is marked ``error`` with
the reason and left out; the rest of the CLI works.

Precedence does not depend on load order: the built-ins register first, then the first-party plugins (shipped in
the ``tlsuite`` distribution), then third-party plugins, each group in entry-point name order, whatever order the
entry points come in and whatever ``tryfirst`` a plugin asks for. So a third-party plugin that registers a name a
first-party plugin owns (an app, a command group such as ``finance-monitor``) is the one left out, listed with the
clash, and ``tlsuite --help`` says that a plugin failed to load. ``TLSUITE_LOAD_PLUGINS`` (comma-separated entry-point names)
limits which plugins load; an empty value loads none but the built-ins.
"""

from __future__ import annotations

import importlib.metadata
import os
import traceback
from dataclasses import dataclass, field
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .errors import PluginError
from .registry import Registered, Registry

ENTRY_POINT_GROUP = "tlsuite"
FIRST_PARTY_DISTRIBUTION = "tlsuite"  # the distribution that ships tlsuite_core and the first-party plugins
ALLOW_ENV = "TLSUITE_LOAD_PLUGINS"

REGISTRATION_HOOKS = {
    "tlsuite_register_tasks": "task",
    "tlsuite_register_models": "model",
    "tlsuite_register_data_adapters": "data adapter",
    "tlsuite_register_metrics": "metric",
    "tlsuite_register_apps": "app",
    "tlsuite_register_routes": "route",
}


@dataclass
class PluginInfo:
    """What ``tlsuite plugins list`` shows for one plugin."""

    name: str
    module: str
    version: str | None = None
    distribution: str | None = None
    hooks: list[str] = field(default_factory=list)
    status: str = "loaded"  # loaded | error | disabled
    error: str | None = None
    builtin: bool = False
    first_party: bool = False

    @property
    def rank(self) -> int:
        """Registration precedence: built-ins, then first-party plugins, then third-party ones."""
        return 0 if self.builtin else 1 if self.first_party else 2

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "version": self.version,
            "distribution": self.distribution,
            "hooks": self.hooks,
            "status": self.status,
            "error": self.error,
            "builtin": self.builtin,
            "first_party": self.first_party,
        }


def _name_of(kind: str, obj: Any) -> str:
    name = getattr(obj, "name", None)
    if not name or not isinstance(name, str):
        raise PluginError(f"registered {kind} {obj!r} has no 'name'")
    return name


class PluginHost:
    """Loads plugins once and exposes what they registered.

    :param entry_points: entry points to load (defaults to the installed ``tlsuite`` group); tests pass fakes.
    :param builtins: ``(name, module_or_object)`` pairs always loaded first (the core's own registrations).
    :param allow: entry-point names allowed to load; ``None`` reads ``TLSUITE_LOAD_PLUGINS`` (unset = all).
    """

    def __init__(
        self,
        entry_points: Iterable[Any] | None = None,
        builtins: Iterable[tuple[str, Any]] | None = None,
        allow: Iterable[str] | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager("tlsuite")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.registry = Registry()
        self._commands: list[Any] | None = None
        self._position: dict[str, int] = {}
        if builtins is None:
            from . import builtin

            builtins = [("core", builtin)]
        if entry_points is None:
            entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        if allow is None:
            env = os.environ.get(ALLOW_ENV)
            allow = None if env is None else [p.strip() for p in env.split(",") if p.strip()]
        self._allow = None if allow is None else set(allow)
        for name, obj in builtins:
            self._add(name, obj, PluginInfo(name=name, module=getattr(obj, "__name__", repr(obj)), builtin=True))
        for ep in sorted(entry_points, key=lambda e: (not _is_first_party(e), e.name)):
            self._load_entry_point(ep)
        self._collect_registrations()

    # -- loading -----------------------------------------------------------------------------------
    def _load_entry_point(self, ep: Any) -> None:
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            module=getattr(ep, "value", "?"),
            version=getattr(dist, "version", None),
            distribution=getattr(dist, "name", None) if dist is not None else None,
            first_party=_is_first_party(ep),
        )
        if ep.name in self.infos:
            info.status, info.error = (
                "error",
                f"plugin name '{ep.name}' is already taken by {self.infos[ep.name].module}",
            )
            self.infos[f"{ep.name} ({info.module})"] = info
            return
        if self._allow is not None and ep.name not in self._allow:
            info.status, info.error = "disabled", f"not in {ALLOW_ENV}"
            self.infos[ep.name] = info
            return
        try:
            obj = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a plugin's import (even a sys.exit in it) must never take the CLI down
            info.status, info.error = "error", f"import failed: {_describe(exc)}"
            self.infos[ep.name] = info
            return
        self._add(ep.name, obj, info)

    def _add(self, name: str, obj: Any, info: PluginInfo) -> None:
        self.infos[name] = info
        self._position[name] = len(self._position)
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:
            info.status, info.error = "error", f"registration failed: {_describe(exc)}"
            return
        implemented = sorted(caller.name for caller in self.pm.get_hookcallers(obj) or [])
        unknown = [hook for hook in implemented if not self._is_spec(hook)]
        info.hooks = [hook for hook in implemented if self._is_spec(hook)]
        if unknown:
            self._fail(name, f"unknown hook(s) {', '.join(sorted(unknown))} (misspelled?)")

    def _is_spec(self, hook_name: str) -> bool:
        # pluggy creates a caller even for unknown names when a plugin implements them; only specs count
        return getattr(getattr(self.pm.hook, hook_name, None), "spec", None) is not None

    def _fail(self, name: str, error: str) -> None:
        info = self.infos[name]
        info.status, info.error = "error", error
        self.registry.drop_owner(name)
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin, name=name)

    # -- registrations -----------------------------------------------------------------------------
    def _collect_registrations(self) -> None:
        for hook_name, kind in REGISTRATION_HOOKS.items():
            caller = getattr(self.pm.hook, hook_name)
            # the first plugin in precedence order to register a name keeps it
            for impl in self._in_precedence(caller):
                owner = impl.plugin_name
                if self.infos[owner].status != "loaded":
                    continue
                staged: list[Registered] = []

                def register(
                    value: Any, _kind: str = kind, _owner: str = owner, _staged: list[Registered] = staged
                ) -> None:
                    name = _name_of(_kind, value)
                    previous = self.registry.owner(_kind, name)
                    if previous is not None or any(s.name == name and s.kind == _kind for s in _staged):
                        raise PluginError(_clash(_kind, name, _owner, previous or _owner, self.infos))
                    _staged.append(Registered(_kind, name, value, _owner))

                try:
                    impl.function(register=register)
                except Exception as exc:
                    self._fail(owner, _describe(exc))
                    continue
                self.registry._commit(staged)

    def _in_precedence(self, caller: Any) -> list[Any]:
        """A hook's implementations: built-ins, first-party, third-party, each in load order (never pluggy's
        ``tryfirst``/``trylast`` or the order entry points were found in)."""
        impls = [impl for impl in caller.get_hookimpls() if impl.plugin_name in self.infos]
        return sorted(impls, key=lambda i: (self.infos[i.plugin_name].rank, self._position[i.plugin_name]))

    def failed(self) -> list[PluginInfo]:
        """Plugins that failed to load (import, hooks or a clash), their reasons in ``error``."""
        return [info for info in self.plugins() if info.status == "error"]

    def add_commands(self, root: Any) -> None:
        """Add every loaded plugin's commands to ``root`` (a ``typer.Typer``), rejecting name clashes.

        Plugins are asked once per host; later calls (a fresh root app in tests) reuse what they added.
        """
        import typer.main

        if self._commands is None:
            # the core's command names are whatever the root app holds before any plugin is added
            self._commands = self._collect_commands(set(typer.main.get_group(root).commands))
        for staging in self._commands:
            root.add_typer(staging)  # a Typer added without a name merges its commands and groups into root

    def _collect_commands(self, core_commands: set[str]) -> list[Any]:
        """Each loaded plugin's staged ``typer.Typer``, checked for clashes with the core and earlier plugins."""
        import typer
        import typer.main

        owners: dict[str, str] = {name: "tlsuite (core)" for name in core_commands}
        collected: list[Any] = []
        caller = self.pm.hook.tlsuite_register_commands
        for impl in self._in_precedence(caller):
            owner = impl.plugin_name
            if self.infos[owner].status != "loaded":
                continue
            staging = typer.Typer()
            try:
                impl.function(cli=staging)
                names = [(_group_name(g), g, "group") for g in staging.registered_groups]
                names += [(_command_name(c), c, "command") for c in staging.registered_commands]
                seen: set[str] = set()
                for name, _, _ in names:
                    if not name:
                        raise PluginError("a command group was added without a name")
                    holder = owners.get(name) or (owner if name in seen else None)
                    if holder is not None:
                        raise PluginError(_clash("command", name, owner, holder, self.infos))
                    seen.add(name)
                if names:
                    # build the click commands now, so a plugin whose command signatures are broken fails here
                    typer.main.get_command(staging)
            except Exception as exc:
                self._fail(owner, _describe(exc))
                continue
            for name, _, _ in names:
                owners[name] = owner
            if names:
                collected.append(staging)
        return collected

    # -- queries -----------------------------------------------------------------------------------
    def plugins(self) -> list[PluginInfo]:
        if self._commands is None:  # command clashes are part of a plugin's status
            import typer.main

            from .cli import core_app

            self._commands = self._collect_commands(set(typer.main.get_group(core_app(self)).commands))
        return list(self.infos.values())

    def app(self, name: str) -> Any:
        spec = self.registry.get("app", name)
        if spec is None:
            known = ", ".join(self.registry.names("app")) or "none"
            raise PluginError(f"unknown app '{name}' (installed apps: {known}; see `tlsuite plugins list`)")
        return spec


def _is_first_party(ep: Any) -> bool:
    return getattr(getattr(ep, "dist", None), "name", None) == FIRST_PARTY_DISTRIBUTION


def _clash(kind: str, name: str, owner: str, holder: str, infos: dict[str, PluginInfo]) -> str:
    held = infos.get(holder)
    if held is not None and held.rank < infos[owner].rank:
        which = "the built-in" if held.builtin else "first-party plugin"
        return f"{kind} '{name}' from plugin '{owner}' clashes with {which} '{holder}', which keeps it"
    return f"{kind} '{name}' from plugin '{owner}' clashes with plugin '{holder}', which registered it first"


def _group_name(info: Any) -> str | None:
    return info.name or getattr(getattr(info.typer_instance, "info", None), "name", None)


def _command_name(info: Any) -> str | None:
    if info.name:
        return info.name
    callback = info.callback
    return callback.__name__.lower().replace("_", "-") if callback is not None else None


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
    return _HOST


def set_host(host: PluginHost | None) -> None:
    """Replace the process-wide host (tests)."""
    global _HOST
    _HOST = host
