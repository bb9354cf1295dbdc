"""The transfer report: ``tlsuite <app> compare --strategies full,frozen,lora,...`` on the user's own data.

Every strategy trains on the same data with the same seed and options, each in its own process (so peak memory is
that run's alone: the child's ``ru_maxrss``, and the accelerator's peak when there is one). Two baselines are
always added, so the gain from transfer is explicit:

* ``majority``: no model, the most frequent training label for every example (for entity tagging: all ``O``);
* ``scratch``: the same architecture and recipe as ``full``, from random weights (``--from-scratch``).

The folder (``<runs_dir>/<app>/<name>``) gets ``compare.json``, ``compare.csv``, ``compare.md`` (the table and the
command that made it), ``compare.png`` and ``runs/`` (every strategy's ordinary run folder). A strategy whose dev
metric is not above the scratch baseline is flagged as negative transfer. The same command again continues an
interrupted comparison: completed strategies are kept, the interrupted one starts over (so its wall time and peak
memory stay whole-run figures).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..apps import AppSpec
from ..config import load_config_file
from ..errors import ConfigError
from ..registry import Registry
from .runs import now_iso, read_json, write_json
from .strategies import STRATEGIES

DEFAULT_STRATEGIES = ("full", "frozen", "partial", "gradual", "lora", "ia3", "prefix")
BASELINES = ("majority", "scratch")


def parse_strategies(value: str | None) -> list[str]:
    names = [s.strip() for s in (value or ",".join(DEFAULT_STRATEGIES)).split(",") if s.strip()]
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise ConfigError(f"--strategies: unknown {', '.join(unknown)} (choose from {', '.join(STRATEGIES)})")
    if len(set(names)) != len(names):
        raise ConfigError("--strategies: each strategy once")
    return names


def run_compare(
    spec: AppSpec,
    *,
    strategies: Sequence[str],
    config_file: str | None,
    overrides: dict[str, Any],
    test: str | None,
    console: Any,
    registry: Registry,
) -> Path:
    """Train every strategy and the scratch baseline, score the majority baseline, write the report.

    ``registry``: what plugins registered (the app's task, data adapters, model aliases).
    """
    from .engine import resolve_training_config

    base, _ = resolve_training_config(spec, config_file=config_file, overrides=dict(overrides), resume=None)
    if base.dev is None and base.train is not None and not base.dev_split:
        raise ConfigError("compare needs a dev set (--dev FILE or --dev-split): strategies are compared on it")
    name = base.name or datetime.now().strftime("compare-%Y%m%d-%H%M%S")
    folder = Path(base.runs_dir) / spec.name / name
    done: dict[str, dict[str, Any]] = {}
    if folder.exists() and any(folder.iterdir()):
        if not (folder / "compare.json").is_file():
            raise ConfigError(f"{folder}: folder exists and is not empty (pick another --name)")
        # the same command again continues an interrupted comparison: completed strategies are kept
        previous = read_json(folder / "compare.json")
        done = {row["strategy"]: row for row in previous.get("rows", []) if row.get("status") == "completed"}
        console.print(f"continuing {folder}: {', '.join(done) or 'nothing'} already done")
    (folder / "configs").mkdir(parents=True, exist_ok=True)
    given = dict(load_config_file(config_file)) if config_file else {}
    given.update({k: v for k, v in overrides.items() if v is not None and k not in ("name", "runs_dir")})
    console.print(
        f"compare: {', '.join(strategies)} + baselines {', '.join(BASELINES)} on {base.train or 'the demo data'}; folder {folder}"
    )

    task = registry.task(spec.task)
    rows: list[dict[str, Any]] = [_majority_row(spec, task, base, test)]
    plan = [(s, {"strategy": s}) for s in strategies] + [("scratch", {"strategy": "full", "from_scratch": True})]
    for label, options in plan:
        if label in done and (folder / "runs" / spec.name / label / "run.json").is_file():
            rows.append(done[label])
            continue
        # an interrupted strategy starts over rather than resuming its checkpoint: the row's wall time and peak
        # memory must be one whole run's, measured in one process
        shutil.rmtree(folder / "runs" / spec.name / label, ignore_errors=True)
        layer = {**given, **options, "name": label, "runs_dir": str(folder / "runs"), "keep_checkpoints": False}
        config_path = folder / "configs" / f"{label}.yaml"
        config_path.write_text(yaml.safe_dump(layer, sort_keys=False), encoding="utf-8")
        console.print(f"[bold]{label}[/]: training ({len(rows)}/{len(plan) + 1})")
        rows.append(
            _train_row(spec, task, label, config_path, folder / "runs" / spec.name / label, base, test, console)
        )
        _write(folder, spec, base, rows, strategies, test, task.lower_is_better(base.metric))
    _write(folder, spec, base, rows, strategies, test, task.lower_is_better(base.metric), chart=True)
    return folder


def _majority_row(spec: AppSpec, task: Any, base: Any, test: str | None) -> dict[str, Any]:
    task.configure(base)
    train_path = base.train or (str(spec.demo_train) if spec.demo_train else None)
    dev_path = base.dev or (str(spec.demo_dev) if base.train is None and spec.demo_dev else None)
    train = task.load_data(train_path, base)
    dev = task.load_data(dev_path, base) if dev_path else None
    if dev is None:  # --dev-split: the same held-out rows the engine uses
        from .sampling import split

        train, dev = split(train, base.dev_split, base.seed)
    labels = task.label_names(train, [dev], base, spec.default_labels)
    row = {
        "strategy": "majority",
        "kind": "baseline",
        "dev": _scalars(task.majority_baseline(train, dev, labels)),
        "trainable": 0,
        "total": 0,
        "status": "completed",
    }
    if test:
        row["test"] = _scalars(task.majority_baseline(train, task.load_data(test, base), labels))
    return row


def _train_row(
    spec: AppSpec, task: Any, label: str, config_path: Path, run_dir: Path, base: Any, test: str | None, console: Any
) -> dict[str, Any]:
    command = [sys.executable, "-m", "tlsuite_core", spec.name, "train", "--config", str(config_path)]
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=None, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    row: dict[str, Any] = {
        "strategy": label,
        "kind": "baseline" if label == "scratch" else "strategy",
        "wall_seconds": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "run": str(run_dir),
    }
    if proc.returncode != 0 or not (run_dir / "run.json").is_file():
        record = read_json(run_dir / "run.json") if (run_dir / "run.json").is_file() else {}
        row.update(status="failed", error=record.get("error") or f"exit code {proc.returncode}")
        console.print(f"[red]{label} failed:[/] {row['error']}")
        return row
    record = read_json(run_dir / "run.json")
    params = record.get("parameters") or {}
    timings = record.get("timings") or {}
    row.update(
        status=record.get("status"),
        dev=record.get("metrics") or {},
        trainable=params.get("trainable"),
        total=params.get("total"),
        trainable_share=params.get("trainable_share"),
        train_seconds=timings.get("train_seconds"),
        tokens_per_second=timings.get("real_tokens_per_second"),
        cuda_peak_mb=(record.get("peak_memory") or {}).get("cuda_peak_allocated_mb"),
        learning_rate=(record.get("config") or {}).get("learning_rate"),
        # which weights the dev figure scores (best on dev, last, or averaged checkpoints)
        model=read_json(run_dir / "metrics.json").get("model") if (run_dir / "metrics.json").is_file() else None,
    )
    if test:
        from ..apps import load_app

        trained = load_app(run_dir, device=base.device, threads=base.threads, registry=task.registry)
        data = trained.task.load_data(test, base)
        row["test"] = _scalars(trained.evaluate(data))
    return row


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _write(
    folder: Path,
    spec: AppSpec,
    base: Any,
    rows: list[dict[str, Any]],
    strategies: Sequence[str],
    test: str | None,
    lower_is_better: bool,
    chart: bool = False,
) -> None:
    metric = base.metric
    scratch = next((r for r in rows if r["strategy"] == "scratch" and r.get("status") == "completed"), None)
    scratch_value = (scratch or {}).get("dev", {}).get(metric)
    for row in rows:
        value = (row.get("dev") or {}).get(metric)
        if row["kind"] == "strategy" and value is not None and scratch_value is not None:
            sign = -1 if lower_is_better else 1  # a gain is always "better than scratch" when positive
            row["gain_over_scratch"] = round(sign * (value - scratch_value), 6)
            row["negative_transfer"] = row["gain_over_scratch"] <= 0
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""
    write_json(
        folder / "compare.json",
        {
            "app": spec.name,
            "metric": metric,
            "test": test,
            "command": command,
            "updated_at": now_iso(),
            "config": base.to_dict(),
            "rows": rows,
        },
    )
    columns = [
        "strategy",
        "status",
        f"dev_{metric}",
        f"test_{metric}",
        "trainable",
        "total",
        "trainable_share",
        "gain_over_scratch",
        "negative_transfer",
        "wall_seconds",
        "train_seconds",
        "peak_rss_mb",
        "cuda_peak_mb",
        "tokens_per_second",
        "learning_rate",
        "run",
    ]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row, c, metric) for c in columns])
    (folder / "compare.csv").write_text(buf.getvalue(), encoding="utf-8")
    (folder / "compare.md").write_text(_markdown(spec, base, rows, metric, test, command), encoding="utf-8")
    if chart:
        _chart(folder / "compare.png", rows, metric, spec.name)


def _cell(row: dict[str, Any], column: str, metric: str) -> Any:
    if column == f"dev_{metric}":
        return (row.get("dev") or {}).get(metric)
    if column == f"test_{metric}":
        return (row.get("test") or {}).get(metric)
    return row.get(column)


def _markdown(spec: AppSpec, base: Any, rows: list[dict[str, Any]], metric: str, test: str | None, command: str) -> str:
    lines = [
        f"# {spec.name}: transfer report",
        "",
        f"Command: `{command}`",
        "",
        f"Data: train `{base.train or 'demo'}`, dev `{base.dev or ('split ' + str(base.dev_split) if base.dev_split else 'demo')}`"
        + (f", test `{test}`" if test else "")
        + f"; model `{base.model}`; seed {base.seed}; metric {metric}.",
        "",
    ]
    head = (
        ["strategy", f"dev {metric}"]
        + ([f"test {metric}"] if test else [])
        + ["trainable", "share", "gain vs scratch", "wall s", "peak RSS MB", "tokens/s"]
    )
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        dev = (row.get("dev") or {}).get(metric)
        cells = [
            row["strategy"] + (" (baseline)" if row["kind"] == "baseline" else ""),
            f"{dev:.4f}" if dev is not None else row.get("status", "-"),
        ]
        if test:
            value = (row.get("test") or {}).get(metric)
            cells.append(f"{value:.4f}" if value is not None else "-")
        gain = row.get("gain_over_scratch")
        cells += [
            f"{row['trainable']:,}" if row.get("trainable") else "0",
            f"{100 * row['trainable_share']:.2f} %" if row.get("trainable_share") is not None else "-",
            (f"{gain:+.4f}" + (" (negative transfer)" if row.get("negative_transfer") else ""))
            if gain is not None
            else "-",
            f"{row['wall_seconds']:.0f}" if row.get("wall_seconds") else "-",
            f"{row['peak_rss_mb']:.0f}" if row.get("peak_rss_mb") else "-",
            f"{row['tokens_per_second']:.0f}" if row.get("tokens_per_second") else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    scored = sorted({row["model"] for row in rows if row.get("model")})
    if scored:
        note = " (the dev set also selected it: optimistic)" if "best checkpoint on dev" in scored else ""
        lines += ["", f"Each trained row's dev figure scores its {' / '.join(scored)}{note}."]
    return "\n".join(lines) + "\n"


def _chart(path: Path, rows: list[dict[str, Any]], metric: str, app: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r.get("dev") and r["dev"].get(metric) is not None]
    if not done:
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [r["strategy"] for r in done]
    values = [r["dev"][metric] for r in done]
    colours = [
        "#999999" if r["kind"] == "baseline" else ("#d62728" if r.get("negative_transfer") else "#1f77b4") for r in done
    ]
    ax1.bar(names, values, color=colours)
    ax1.set_ylabel(f"dev {metric}")
    ax1.set_title(f"{app}: dev {metric} (grey: baselines)")
    ax1.tick_params(axis="x", rotation=45)
    trained = [r for r in done if r.get("trainable")]
    ax2.bar([r["strategy"] for r in trained], [r["trainable"] for r in trained], color="#2ca02c")
    ax2.set_yscale("log")
    ax2.set_ylabel("trainable parameters")
    ax2.set_title("trainable parameters (log scale)")
    ax2.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
