"""``tlsuite serve`` as a user runs it: a subprocess on a free port, called over HTTP, stopped with SIGTERM while a
request is in flight (the request is answered, then the process ends)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.core.serving.support import free_port


@pytest.mark.slow
def test_tlsuite_serve_answers_and_stops_gracefully_on_sigterm(tiny_run, tmp_path):
    port = free_port()
    config = tmp_path / "serve.yaml"
    config.write_text("max_wait_ms: 1500\nthreads: 1\n", encoding="utf-8")  # a request waits 1.5 s for company
    env = {**os.environ, "TLSUITE_API_KEYS": "cli-key", "HF_HUB_OFFLINE": "1"}
    args = [sys.executable, "-m", "tlsuite_core", "serve", str(tiny_run), "--port", str(port), "--config", str(config)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer cli-key"}
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "not ready in 120 s"
            time.sleep(0.2)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(
                httpx.post,
                url + "/v1/finance-monitor/base/predict",
                json={"texts": ["profit rose"]},
                headers=auth,
                timeout=60,
            )
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            answer = pending.result(60)
        assert answer.status_code == 200 and len(answer.json()["results"]) == 1
        out, err = proc.communicate(timeout=60)
        # uvicorn re-raises the signal it caught once shutdown is complete: the process ends by SIGTERM, as
        # service managers expect (systemd counts it as a clean stop)
        assert proc.returncode in (0, -signal.SIGTERM), err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "serving 1 run(s) on http://127.0.0.1:" in err and "cli-key" not in err
    assert '"message": "Finished server process' in err
