"""The service's options, each declared once (:func:`tlsuite_core.config.option` fields of :class:`ServeConfig`):
``tlsuite serve``'s command-line options, the keys of a ``--config serve.yaml`` file, their checks and
``docs/serving.md``'s table all derive from these fields.

Precedence: the defaults here < ``--config FILE`` < options given on the command line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

from ..config import option, options_of, unknown_key
from ..errors import ConfigError
from ..files import read_yaml_mapping

__all__ = ["SERVE", "ServeConfig", "build_serve_config", "load_serve_config", "serve_options_markdown"]

#: the command whose options these are (``Option.commands``)
SERVE = "serve"
METRICS_ACCESS = ("open", "key", "off")


@dataclass
class ServeConfig:
    """Everything ``tlsuite serve`` can be told, besides the runs it serves."""

    #: every option here is one of ``tlsuite serve``'s
    commands: ClassVar[tuple[str, ...]] = (SERVE,)

    host: str = option(
        "127.0.0.1",
        panel="Server",
        help="Address to bind; keep 127.0.0.1 behind a reverse proxy (a public address requires API keys).",
    )
    port: int = option(8000, panel="Server", ge=1, le=65535, help="TCP port to listen on.")
    runs_dir: str | None = option(
        None,
        panel="Server",
        env="TLSUITE_RUNS_DIR",
        unset="$TLSUITE_RUNS_DIR, else ./runs",
        help="Where an app name given as RUN finds its latest completed run.",
    )
    device: str = option("auto", panel="Server", help="Device for every model: auto, cpu, cuda, mps.")
    backend: str = option(
        "auto",
        panel="Server",
        choices=("auto", "torch", "onnx"),
        help="Inference backend of every run: torch, onnx (the run's ONNX export on ONNX Runtime) or auto (onnx on CPU "
        "when the run has an export).",
    )
    threads: int | None = option(None, panel="Server", ge=1, unset="torch's default", help="CPU threads for inference.")
    graceful_timeout_s: float = option(
        30.0, panel="Server", ge=0, help="On SIGTERM / Ctrl-C, seconds to let in-flight requests finish before closing."
    )
    batching: bool = option(
        True,
        panel="Batching",
        flags=("--no-batching",),
        help="Run each request in its own forward pass instead of gathering concurrent requests (a baseline).",
    )
    max_batch_size: int = option(
        32, panel="Batching", ge=1, help="Most texts in one forward pass (gathered across requests)."
    )
    max_wait_ms: float = option(
        5.0,
        panel="Batching",
        ge=0,
        help="How long the first waiting text waits for others to fill a batch, in milliseconds.",
    )
    forward_batch_size: int | None = option(
        None,
        panel="Batching",
        ge=1,
        unset="8 on CPU, --max-batch-size on GPU",
        help="Texts per padded forward inside a gathered batch: the batch is sorted by length and run in slices of "
        "this size, each padded to its own longest text (on CPU, padding costs more than small matrices save).",
    )
    max_queue: int = option(
        1024,
        panel="Batching",
        ge=1,
        help="Most texts waiting per run; beyond it requests get 503 with Retry-After instead of queueing.",
    )
    request_timeout_s: float = option(30.0, panel="Batching", gt=0, help="A request not answered within it gets 504.")
    api_keys: str | None = option(
        None,
        panel="Security",
        help="File of API keys, one per line: KEY or sha256:HEX, then optional scopes=APP or APP/RUN,... and rate=N/min "
        "(also read: $TLSUITE_API_KEYS, comma-separated; both are used).",
    )
    allow_no_keys: bool = option(
        False, panel="Security", help="Serve without API keys on a non-loopback address (refused otherwise)."
    )
    max_body_bytes: int = option(
        1024 * 1024, panel="Limits", ge=1, help="Largest request body in bytes (413 above it)."
    )
    max_text_chars: int = option(100_000, panel="Limits", ge=1, help="Longest text in characters (413 above it).")
    max_texts: int = option(1024, panel="Limits", ge=1, help="Most texts in one request (413).")
    metrics: str = option(
        "open",
        panel="Observability",
        choices=METRICS_ACCESS,
        help="/metrics access: open, key (any valid API key) or off.",
    )
    access_log: bool = option(
        True,
        panel="Observability",
        flags=("--no-access-log",),
        help="Write one JSON line per request on stderr (request id, route, status, latency; never texts or keys).",
    )
    pii_regions: list[str] = option(
        ["US", "GB", "DE", "FR", "CN"],
        panel="PII",
        help="Regions whose national phone-number formats are recognised (international +CC numbers always are).",
    )
    pii_ner_run: str | None = option(
        None,
        panel="PII",
        unset="the first served ner run",
        help="Served run (APP/RUN) whose person entities are masked as names.",
    )
    pii_person_labels: list[str] = option(
        ["PER", "PERSON"], panel="PII", help="Entity labels of the NER run that are person names."
    )

    def replace(self, **values: Any) -> ServeConfig:
        return dataclasses.replace(self, **values)


def load_serve_config(path: str | Path) -> dict[str, Any]:
    """A ``serve.yaml`` file as a layer of checked values (errors name the file and the key)."""
    data = read_yaml_mapping(Path(path), "config file", "a mapping of option: value at the top level")
    return _checked(data, str(path))


def _checked(values: Mapping[str, Any], source: str | None) -> dict[str, Any]:
    declared = options_of(ServeConfig)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in declared:
            raise unknown_key(str(key), list(declared), "serve option", source)
        value = declared[key].coerce(value, source)
        problem = declared[key].problem(value)
        if problem is not None:
            raise ConfigError(f"{source + ': ' if source else ''}invalid configuration: {problem}")
        out[key] = value
    return out


def build_serve_config(*layers: Mapping[str, Any] | None) -> ServeConfig:
    """Merge layers (later wins; ``None``: not given) over the defaults into a checked :class:`ServeConfig`."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update({k: v for k, v in _checked(layer or {}, None).items() if v is not None})
    return ServeConfig(**merged)


def serve_options_markdown() -> str:
    """The options table of ``docs/serving.md`` (kept in sync by a test)."""
    rows = ["| YAML key | command line | default | meaning |", "|---|---|---|---|"]
    for key, o in options_of(ServeConfig).items():
        shown = o.meta.unset if o.default is None else _shown(o.default)
        text = o.meta.help.replace("|", "\\|")
        rows.append(f"| `{key}` | {', '.join(f'`{f}`' for f in o.flags)} | {shown or ''} | {text} |")
    return "\n".join(rows) + "\n"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, list):
        return "`" + ",".join(value) + "`"
    return f"`{value}`"
