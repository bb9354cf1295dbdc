"""The ``tlsuite`` command line: the root app, the core commands, and every plugin's commands.

The CLI parses and prints; the work happens in the library. Errors tlsuite raises on purpose
(:class:`tlsuite_core.errors.TlsuiteError`) print as one line on stderr and exit with code 2.
"""

import json
import sys
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from .errors import RunInterrupted, TlsuiteError
from .plugins import PluginHost, get_host

err = Console(stderr=True)


class RootGroup(TyperGroup):
    """Turns tlsuite's own errors into one line on stderr and exit code 2, for every (plugin) command."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TlsuiteError as exc:
            Console(stderr=True, highlight=False, soft_wrap=True).print(
                f"[bold red]error:[/] {escape(str(exc))}", markup=True
            )
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            # a training run says how to go on: the --resume command, or that it can start again under its name
            hint = f": {exc}" if isinstance(exc, RunInterrupted) and str(exc) else ""
            Console(stderr=True, highlight=False, soft_wrap=True).print(escape(f"interrupted{hint}"), markup=True)
            raise typer.Exit(130) from None


def _hide_flag_types() -> None:
    """No ``<bool>`` beside a flag in ``--help``.

    Typer's rich help (0.29) prints every option's type in a column, flags included, so ``--keep-checkpoints``
    and ``--help`` itself read ``<bool>`` as if they took a value; its plain-text help already leaves flags without
    a type. Flags (and counters) get no type column here either; options that take a value keep theirs.
    """
    from typer.core import TyperOption

    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_tlsuite_flags_untyped", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> Any:
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None
        return original(self, ctx)

    display_type_rich._tlsuite_flags_untyped = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def build_app(host: PluginHost | None = None) -> typer.Typer:
    """A fresh root CLI with the core commands and the commands of every plugin ``host`` loaded."""
    host = host or get_host()
    app = core_app(host)
    host.add_commands(app)
    failed = host.failed()
    if failed:
        names = ", ".join(info.name for info in failed)
        app.info.help = (
            f"{app.info.help}\n\n[red]{len(failed)} plugin(s) failed to load: {escape(names)}[/] "
            "(reasons: tlsuite plugins list)."
        )
    return app


def root(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False) -> None:
    if version:
        from . import __version__

        typer.echo(f"tlsuite {__version__}")
        raise typer.Exit(0)


def doctor(host: PluginHost, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Versions (and any that differ from the known-good set in constraints.txt), devices, precision support,
    plugins and model availability."""
    from . import devices
    from .models import list_models
    from .versions import drift

    info = devices.describe_environment()
    info["plugins"] = [p.as_dict() for p in host.plugins()]
    info["models"] = list_models(host.registry.mapping("model"))
    info["apps"] = host.registry.names("app")
    differ = drift()
    info["known_good_drift"] = [d.as_dict() for d in differ if d.installed is not None]
    info["known_good_missing"] = [d.name for d in differ if d.installed is None]
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    table = Table(title="tlsuite doctor", show_header=False)
    for key in (
        "tlsuite",
        "python",
        "platform",
        "torch",
        "transformers",
        "accelerate",
        "datasets",
        "peft",
        "cpu_cores",
        "torch_threads",
    ):
        table.add_row(key, str(info.get(key)))
    table.add_row("cuda", "yes" if info["cuda_available"] else "no")
    for dev in info["cuda_devices"]:
        table.add_row(
            f"cuda:{dev['index']}",
            f"{dev['name']} {dev['memory_gib']} GiB bf16={'yes' if dev['bf16'] else 'no'} fp16=yes",
        )
    table.add_row("mps", "yes" if info["mps_available"] else "no")
    table.add_row("precision (auto)", "bf16 on GPUs that support it, else fp16 on GPU; fp32 on CPU")
    for p in info["plugins"]:
        table.add_row(f"plugin {p['name']}", p["status"] + (f": {p['error']}" if p["error"] else ""))
    for m in info["models"]:
        table.add_row(f"model {m['alias']}", "available" if m["available"] else f"missing ({m['install']})")
    table.add_row("apps", ", ".join(info["apps"]) or "none")
    if info["known_good_drift"]:
        for d in info["known_good_drift"]:
            table.add_row(
                f"[yellow]untested {d['name']}[/]",
                f"{d['installed']} (known-good {d['known_good']}; pip install -c constraints.txt)",
            )
    else:
        table.add_row("known-good versions", "every installed dependency matches constraints.txt")
    Console().print(table)


def models_list(host: PluginHost, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Model aliases usable with --model: where they resolve, size and availability."""
    from .models import list_models

    def cells(r: dict) -> list[str]:
        note = f" ({r['note']})" if r.get("note") else ""
        available = "yes" + note if r["available"] else f"no: {r.get('note') or r['install']}"
        return [r["alias"], available, _fmt_bytes(r["size_bytes"]), r["path"] or "-", r["description"]]

    _listing(
        list_models(host.registry.mapping("model")),
        as_json,
        "model aliases (--model also takes a model folder, a run folder or a hub id org/name)",
        ("alias", "available", "size", "path", "description"),
        cells,
        width=160,
    )


def plugins_list(
    host: PluginHost, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Every plugin found: name, version, hooks, status and the error of a plugin that failed to load."""

    def cells(r: dict) -> list[str]:
        style = {"loaded": "green", "error": "red", "disabled": "yellow"}.get(r["status"], "")
        hooks = ", ".join(h.removeprefix("tlsuite_") for h in r["hooks"]) or "-"
        name = r["name"] + (" (built-in)" if r["builtin"] else "")
        return [name, r["version"] or "-", f"[{style}]{r['status']}[/]", hooks, r["error"] or ""]

    _listing(
        [p.as_dict() for p in host.plugins()],
        as_json,
        "tlsuite plugins (entry-point group 'tlsuite'; TLSUITE_LOAD_PLUGINS limits which load)",
        ("name", "version", "status", "hooks", "error"),
        cells,
        width=140,
    )


def _listing(rows: list[dict], as_json: bool, title: str, columns: tuple[str, ...], cells: Any, *, width: int) -> None:
    """A ``list`` command's output: the rows as JSON, or a table of ``cells(row)`` under ``columns``."""
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*cells(r))
    Console(width=max(Console().width, width)).print(table)


def core_app(host: PluginHost) -> typer.Typer:
    """The root CLI with the core's own commands only (their names are the ones no plugin may take)."""
    from .commands import export, pretrain, serve
    from .commands.common import bind

    _hide_flag_types()
    app = typer.Typer(
        cls=RootGroup,
        name="tlsuite",
        help="tlsuite: fine-tune pretrained models for business tasks, evaluate them honestly, run them.",
        epilog="Example: tlsuite finance-monitor train   (fine-tunes the default model on the demo data)",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(root)
    app.command(epilog="Example: tlsuite doctor --json")(bind(doctor, host=host))
    for name, func, title in (
        ("models", models_list, "Pretrained models: aliases and where they resolve."),
        ("plugins", plugins_list, "Installed plugins and what they register."),
    ):
        group = typer.Typer(help=title, epilog=f"Example: tlsuite {name} list --json", no_args_is_help=True)
        group.command("list", epilog=f"Example: tlsuite {name} list --json")(bind(func, host=host))
        app.add_typer(group, name=name)
    pretrain.register(app)
    export.register(app)
    serve.register(app)
    return app


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point."""
    app = build_app()
    app(args=argv if argv is not None else sys.argv[1:], prog_name="tlsuite")
