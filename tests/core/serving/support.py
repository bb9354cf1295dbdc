"""A real uvicorn server in a background thread on a free port, and fake trained apps for service behaviour that
does not need a model (queue, timeouts, plugin routes, names from a NER run)."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``create_app(service)`` on uvicorn in a thread (the CLI's settings), logs captured as JSON lines."""

    def __init__(self, service: Any, routes: Any = (), loader: Any = None) -> None:
        import uvicorn

        from tlsuite_core.serving import create_app
        from tlsuite_core.serving.logs import configure_logging
        from tlsuite_core.serving.server import uvicorn_config

        self.logs = io.StringIO()
        self.handler = configure_logging(service.masker.mask_text, stream=self.logs)
        self.service = service
        service.config = service.config.replace(port=free_port())
        self.url = f"http://127.0.0.1:{service.config.port}"
        self.server = uvicorn.Server(uvicorn_config(create_app(service, routes, loader=loader), service.config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return self

    def wait_ready(self, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            body = httpx.get(self.url + "/readyz").json()
            if all(r["status"] != "loading" for r in body["runs"].values()):
                return body
            assert time.monotonic() < deadline, body
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        import logging

        from tlsuite_core.serving.logs import ACCESS_LOGGER, SERVICE_LOGGER

        for name in (SERVICE_LOGGER, ACCESS_LOGGER, "uvicorn.error"):
            logger = logging.getLogger(name)
            logger.removeHandler(self.handler)
            logger.propagate = True  # as before the service configured it

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.logs.getvalue().splitlines() if line.strip()]


def fake_run(base: Path, app: str, name: str, task: str) -> Path:
    """A run folder whose run.json names its app and task (a fake loader loads it)."""
    folder = base / app / name
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"app": app, "task": task, "status": "completed"}), encoding="utf-8")
    return folder


class FakeTask:
    def __init__(self, name: str) -> None:
        self.name = name


class FakeApp:
    """Stands in for a TrainedApp: classification results after ``delay`` seconds per call; ``calls`` records
    each call's texts."""

    device = "cpu"

    def __init__(self, task: str = "sequence-classification", delay: float = 0.0) -> None:
        self.task = FakeTask(task)
        self.delay = delay
        self.calls: list[list[str]] = []
        self.labels = ["negative", "positive"]

    def predict(self, texts: list[str], batch_size: int = 64) -> list[Any]:
        from tlsuite_core.apps import Prediction
        from tlsuite_core.tasks.token_classification import Entity

        self.calls.append(list(texts))
        time.sleep(self.delay)
        if self.task.name == "generation":
            from tlsuite_core.tasks.generation import Generated

            return [Generated(text[::-1], truncated=False, tokens=len(text.split())) for text in texts]
        if self.task.name == "ranking":  # (query, candidate) pairs: the words they share
            return [float(len(set(q.split()) & set(c.split()))) for q, c in texts]
        if self.task.name == "token-classification":
            out = []
            for text in texts:
                at = text.find("John Smith")
                out.append([Entity(at, at + 10, "PER", "John Smith", 0.9)] if at >= 0 else [])
            return out
        return [Prediction("positive" if "rose" in t else "negative", 0.9, {"positive": 0.9}) for t in texts]


def fake_loader(apps: dict[str, FakeApp]):
    """A ``load_app`` stand-in: the fake app registered under the run folder's name; anything else fails."""

    def load(path: Path, **kwargs: Any) -> FakeApp:
        if path.name not in apps:
            raise OSError(f"{path}: no model weights (model.safetensors is missing)")
        return apps[path.name]

    return load
