"""Run folders: ``<runs_dir>/<app>/<name>/`` with model/, metrics.json, config.yaml, run.json and report/.

``run.json`` carries a ``status``: ``running`` while training, then ``completed``, ``failed`` or
``interrupted``. Only ``completed`` runs are used as models; files are written to a temporary name and renamed,
so a crash never leaves a half-written file behind that looks finished.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ModelError

RUN_FILE = "run.json"
STATUSES = ("running", "completed", "failed", "interrupted")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


class RunFolder:
    """One run's folder and its status record."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def record_path(self) -> Path:
        return self.path / RUN_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def report_dir(self) -> Path:
        return self.path / "report"

    @classmethod
    def create(cls, runs_dir: str | Path, app: str, name: str | None) -> "RunFolder":
        name = name or datetime.now().strftime("%Y%m%d-%H%M%S")
        if not re.fullmatch(r"[\w.@+-]+", name):
            raise ConfigError(f"--name {name!r}: use letters, digits and . _ - @ + only")
        path = Path(runs_dir) / app / name
        if path.exists():
            if name and (path / RUN_FILE).exists():
                raise ConfigError(f"{path}: a run with this name exists (pick another --name, or --resume {path})")
            if any(path.iterdir()):
                raise ConfigError(f"{path}: folder exists and is not empty")
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    @classmethod
    def at(cls, path: str | Path) -> "RunFolder":
        """A new run in exactly ``path`` (``tlsuite pretrain --out DIR``)."""
        path = Path(path)
        if path.exists() and (path / RUN_FILE).exists():
            raise ConfigError(f"{path}: a run exists there (pick another folder, or --resume {path})")
        if path.exists() and any(path.iterdir()):
            raise ConfigError(f"{path}: folder exists and is not empty")
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    def record(self) -> dict[str, Any]:
        return read_json(self.record_path) if self.record_path.exists() else {}

    def update(self, **fields: Any) -> dict[str, Any]:
        data = self.record()
        data.update(fields)
        write_json(self.record_path, data)
        return data

    def latest_checkpoint(self) -> Path | None:
        if not self.checkpoints.is_dir():
            return None
        found = [
            (int(m.group(1)), p)
            for p in self.checkpoints.iterdir()
            if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)) and (p / "trainer_state.json").exists()
        ]
        return max(found)[1] if found else None

    def finish_model(self, staging: Path) -> None:
        """Move a fully written model folder into place."""
        if self.model_dir.exists():
            shutil.rmtree(self.model_dir)
        os.replace(staging, self.model_dir)

    def finish_folder(self, staging: Path, name: str) -> None:
        """Move another fully written folder (e.g. ``merged/``) into place."""
        target = self.path / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)

    def drop_checkpoints(self) -> None:
        shutil.rmtree(self.checkpoints, ignore_errors=True)


def latest_completed(runs_dir: str | Path, app: str) -> Path | None:
    """The most recently finished completed run of ``app``."""
    base = Path(runs_dir) / app
    if not base.is_dir():
        return None
    best: tuple[str, float, Path] | None = None
    for record in base.glob(f"*/{RUN_FILE}"):
        try:
            data = read_json(record)
        except (OSError, ValueError):
            continue
        if data.get("status") != "completed":
            continue
        key = (str(data.get("finished_at", "")), record.stat().st_mtime, record.parent)
        if best is None or key[:2] > best[:2]:
            best = key
    return None if best is None else best[2]


def default_run(runs_dir: str | Path, app: str) -> Path:
    run = latest_completed(runs_dir, app)
    if run is None:
        raise ModelError(
            f"no completed {app} run under {Path(runs_dir) / app}; train one with `tlsuite {app} train` "
            "or pass --model RUN_FOLDER"
        )
    return run


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return round(time.perf_counter() - self.start, 3)
