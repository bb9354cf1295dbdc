"""``tlsuite export RUN``: a completed sequence-classification run exported for ONNX Runtime (``RUN/onnx/``), for
runs trained with ``--no-export-onnx`` or before training exported them (:mod:`tlsuite_core.export`)."""
# no `from __future__ import annotations`: Typer reads these annotations at runtime

from pathlib import Path
from typing import Annotated

import typer

from .common import err

EPILOG = "Example: tlsuite export runs/finance-monitor/NAME   (then predict runs on ONNX Runtime)"


def export(
    run: Annotated[Path, typer.Argument(help="A completed run folder.", show_default=False)],
) -> None:
    """Export a trained classification run to ONNX (RUN/onnx/model.onnx), verified against PyTorch's logits."""
    from ..apps import load_app
    from ..export import export_onnx
    from ..training.runs import RunFolder

    record = export_onnx(load_app(run, device="cpu", backend="torch"))
    RunFolder(run).update(
        onnx={"exported": True, "folder": "onnx", **{k: record[k] for k in ("verified_max_abs_diff",)}}
    )
    err.print(
        f"[green]exported[/] {run / 'onnx' / 'model.onnx'} (largest logit difference {record['verified_max_abs_diff']:.1e})"
    )
    typer.echo(str(run / "onnx"))


def register(cli: typer.Typer) -> None:
    """Add ``tlsuite export`` to the root CLI."""
    cli.command(epilog=EPILOG)(export)
