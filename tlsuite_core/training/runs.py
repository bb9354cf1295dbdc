"""Run folders: ``<runs_dir>/<app>/<name>/`` with model/, metrics.json, config.yaml, run.json and report/.

``run.json`` carries a ``status``: ``running`` while training, then ``completed``, ``failed`` or
``interrupted``. Only ``completed`` runs are used as models; files are written to a temporary name and renamed,
so a crash never leaves a half-written file behind that looks finished.

A name is taken once a run has used it, with one exception: a run that stopped (interrupted, failed, or killed
while ``running``) before writing its first checkpoint has nothing to resume, so a new run may start over in its
folder under the same name (:meth:`RunFolder.create`). A completed run, or one with a checkpoint (``--resume``
continues it), keeps its folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError, ModelError
from ..files import write_atomically

RUN_FILE = "run.json"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (:func:`write_atomically`)."""
    write_atomically(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


class RunFolder:
    """One run's folder and its status record."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        #: what an earlier run under this name was, when this one started over in its folder (see :meth:`create`)
        self.replaced: dict[str, Any] | None = None

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
        """A new run folder ``<runs_dir>/<app>/<name>`` (name: a timestamp when ``None``).

        An existing run under that name is refused, except one that stopped before its first checkpoint: its
        folder is emptied and the new run starts there (what it was is kept in :attr:`replaced`)."""
        name = name or datetime.now().strftime("%Y%m%d-%H%M%S")
        if not re.fullmatch(r"[\w.@+-]+", name):
            raise ConfigError(f"--name {name!r}: use letters, digits and . _ - @ + only")
        return cls._new(Path(runs_dir) / app / name, other="pick another --name")

    @classmethod
    def at(cls, path: str | Path) -> "RunFolder":
        """A new run in exactly ``path`` (``tlsuite pretrain --out DIR``); an existing run there is treated as by
        :meth:`create`."""
        return cls._new(Path(path), other="pick another folder")

    @classmethod
    def _new(cls, path: Path, *, other: str) -> "RunFolder":
        run = cls(path)
        run.replaced = None
        if path.exists():
            if run.record_path.exists():
                run.replaced = run._start_over(other)
            elif any(path.iterdir()):
                raise ConfigError(f"{path}: folder exists and is not empty")
        path.mkdir(parents=True, exist_ok=True)
        return run

    def _start_over(self, other: str) -> dict[str, Any]:
        """Empty the folder of a run that stopped before its first checkpoint, for a new start under its name;
        returns what the old run was. Anything else there is refused with what to do instead."""
        path = self.path
        try:
            old = self.record()
        except (OSError, ValueError):
            raise ConfigError(
                f"{path}: a run with this name exists and its {RUN_FILE} is unreadable ({other})"
            ) from None
        status = old.get("status")
        if status == "completed":
            raise ConfigError(f"{path}: a completed run has this name ({other})")
        checkpoint = self.latest_checkpoint()
        if checkpoint is not None:
            raise ConfigError(
                f"{path}: a {status} run with this name has a checkpoint ({checkpoint.name}); "
                f"continue it with --resume {path}, or {other}"
            )
        if status not in ("running", "interrupted", "failed"):
            raise ConfigError(f"{path}: a run with this name exists (status {status!r}; {other})")
        if status == "running" and process_alive(old):
            raise ConfigError(f"{path}: a run with this name is still running (process {old.get('pid')}); {other}")
        for child in path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        return {k: old.get(k) for k in ("status", "created_at", "finished_at", "updated_at", "error")}

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


def this_process() -> dict[str, Any]:
    """Who is running a run: recorded in run.json, so a second start under the same name can tell a live run
    from a killed one."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def process_alive(record: dict[str, Any]) -> bool:
    """Whether the process ``record`` names (``pid`` on ``host``) still runs. Another host's process cannot be
    checked and counts as alive; a record without a pid (an older run) as gone; this process is not running it."""
    pid, host = record.get("pid"), record.get("host")
    if not isinstance(pid, int):
        return False
    if host != socket.gethostname():
        return True
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Timer:
    """Wall time of one attempt at a run (a start or a ``--resume``): since creation, and of the training loop
    (from :meth:`training` until :meth:`trained`, or until now while it runs)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.train_start: float | None = None
        self.train_end: float | None = None

    def seconds(self) -> float:
        return round(time.perf_counter() - self.start, 3)

    def training(self) -> None:
        self.train_start = time.perf_counter()

    def trained(self) -> None:
        self.train_end = time.perf_counter()

    def train_seconds(self) -> float:
        if self.train_start is None:
            return 0.0
        return round((self.train_end or time.perf_counter()) - self.train_start, 3)


class Attempts:
    """The run's attempts (``run.json`` → ``attempts``): its start and each ``--resume``, with their wall times.

    Each attempt records ``started_at``, ``ended_at``, ``status`` (``running`` while it runs; one still ``running``
    when the run is resumed was killed: ``killed``), ``resumed_from``, ``first_step`` / ``last_step``,
    ``train_seconds`` (the training loop) and ``total_seconds`` (the whole command). A killed attempt's times run to
    its last checkpoint, when run.json was last written."""

    def __init__(
        self, earlier: Sequence[dict[str, Any]], timer: Timer, *, resumed_from: str | None, first_step: int
    ) -> None:
        self.timer = timer
        self.earlier = [dict(a, status="killed") if a.get("status") == "running" else dict(a) for a in earlier]
        self.step = first_step
        self.current: dict[str, Any] = {
            "started_at": now_iso(),
            "ended_at": None,
            "status": "running",
            "resumed_from": resumed_from,
            "first_step": first_step,
        }

    def as_list(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every attempt, this one's times as of now (``status``: it ended so)."""
        if status is not None:
            self.current.update(status=status, ended_at=now_iso())
        self.current.update(
            last_step=self.step, train_seconds=self.timer.train_seconds(), total_seconds=self.timer.seconds()
        )
        return [*self.earlier, dict(self.current)]

    def total(self, key: str) -> float:
        return round(sum(float(a.get(key) or 0.0) for a in self.as_list()), 3)
