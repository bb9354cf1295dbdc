"""Load test of ``tlsuite serve``: dynamic batching against one request per forward pass, then overload.

Starts ``tlsuite serve RUN`` on 127.0.0.1 (a subprocess per phase, exactly as a user would) and drives it with
an ``httpx`` asyncio client in this process; each request is one sentence of the Financial PhraseBank dev set
(``../shared/data``; generated sentences when absent).

1. **closed loop, batching on**: ``--clients`` (32) clients, each sending its next request when the last is
   answered, for ``--duration`` (60) s: requests/s, p50 / p99 latency, errors (any non-200 or exception).
2. **closed loop, batching off** (``--no-batching``, one request per forward): the same; the throughput ratio
   on / off is the acceptance figure (>= 3).
3. **overload**: open-loop arrivals at twice phase 1's throughput in texts per second (requests of
   ``--overload-texts`` texts) for ``--overload`` (30) s against a server with ``--max-queue`` texts of queue: 503s
   must come with ``Retry-After``, the server must not crash; then **recovery**: half the sustainable rate for
   15 s, all answered 200.

    nice -n 10 python bench/bench_serve.py --run runs/finance-monitor/serve-bench       # writes bench/results/serve.json
    python bench/bench_serve.py --run RUN --duration 10 --overload 10 --out /tmp/serve-quick.json
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TLSUITE_SHARED_DATA") or ROOT.parent / "shared" / "data") / "financial_phrasebank"


def sentences() -> tuple[list[str], str]:
    path = DATA / "allagree_dev.csv"
    if path.exists():
        with path.open(encoding="utf-8") as fh:
            return [row["sentence"] for row in csv.DictReader(fh)], str(path.relative_to(DATA.parent))
    rng = random.Random(0)
    words = "the company said profit rose fell quarter sales net operating shares bank group".split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(8, 30))) for _ in range(400)], "generated"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``tlsuite serve`` in a subprocess, ready when ``/readyz`` says so."""

    def __init__(self, run: str, threads: int, extra: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "tlsuite_core", "serve", run, "--port", str(self.port)]
        args += ["--threads", str(threads), "--no-access-log", *SERVE_ARGS, *extra]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        env.pop("TLSUITE_API_KEYS", None)
        self.log = open(ROOT / "bench" / "results" / f".serve-{self.port}.log", "w")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.args = args

    def wait_ready(self, timeout: float = 300) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}: see {self.log.name}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit("server not ready in time")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        self.log.close()
        os.unlink(self.log.name)
        return code


def summary(latencies: list[float], statuses: dict[str, int], seconds: float, errors: list[str]) -> dict:
    ok = statuses.get("200", 0)
    qs = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    return {
        "seconds": round(seconds, 2),
        "requests": sum(statuses.values()) + len(errors),
        "ok": ok,
        "requests_per_s": round(ok / seconds, 2),
        "p50_ms": round(qs[49] * 1000, 1),
        "p99_ms": round(qs[98] * 1000, 1),
        "statuses": statuses,
        "exceptions": len(errors),
        "first_exceptions": errors[:5],
    }


async def closed_loop(url: str, texts: list[str], clients: int, duration: float) -> dict:
    """``clients`` loops sending one text each, back to back, for ``duration`` seconds."""
    import httpx

    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        start = time.perf_counter()
        end = start + duration

        async def loop(i: int) -> None:
            rng = random.Random(i)
            while time.perf_counter() < end:
                t = time.perf_counter()
                try:
                    r = await client.post(PATH, json={"texts": [rng.choice(texts)]})
                    statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
                    if r.status_code == 200:
                        latencies.append(time.perf_counter() - t)
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(loop(i) for i in range(clients)))
        return summary(latencies, statuses, time.perf_counter() - start, errors)


async def open_loop(url: str, texts: list[str], rate: float, duration: float, per_request: int = 1) -> dict:
    """Requests of ``per_request`` texts at ``rate`` per second whatever the answers (each 503 must carry
    Retry-After)."""
    import httpx

    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    retry_after: list[str] = []
    limits = httpx.Limits(max_connections=4000, max_keepalive_connections=512)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        rng = random.Random(1)

        async def one() -> None:
            t = time.perf_counter()
            try:
                r = await client.post(PATH, json={"texts": rng.sample(texts, per_request)})
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
            if r.status_code == 200:
                latencies.append(time.perf_counter() - t)
            elif r.status_code == 503:
                retry_after.append(r.headers.get("retry-after", "MISSING"))

        start = time.perf_counter()
        tasks, n = [], 0
        while (now := time.perf_counter()) < start + duration:
            due = start + n / rate
            if due > now:
                await asyncio.sleep(due - now)
            tasks.append(asyncio.create_task(one()))
            n += 1
        await asyncio.gather(*tasks)
        out = summary(latencies, statuses, time.perf_counter() - start, errors)
    out["offered_requests_per_s"] = round(rate, 2)
    out["offered_texts_per_s"] = round(rate * per_request, 2)
    out["texts_per_request"] = per_request
    out["503_with_retry_after"] = sum(v != "MISSING" for v in retry_after)
    out["503_without_retry_after"] = sum(v == "MISSING" for v in retry_after)
    out["retry_after_values"] = sorted({v for v in retry_after})[:10]
    return out


PATH = ""
SERVE_ARGS: list[str] = []  # --serve-arg: given to every server


def phase_closed(run: str, args: argparse.Namespace, texts: list[str], extra: list[str]) -> dict:
    server = Server(run, args.threads, [*extra, "--max-queue", str(args.max_queue)])
    server.wait_ready()
    asyncio.run(closed_loop(server.url, texts, args.clients, min(5.0, args.duration)))  # warm-up, not counted
    before = batch_counts(server.url)
    result = asyncio.run(closed_loop(server.url, texts, args.clients, args.duration))
    after = batch_counts(server.url)
    batches, batched = after[0] - before[0], after[1] - before[1]
    result["forward_batches"] = int(batches)
    result["mean_texts_per_batch"] = round(batched / batches, 2) if batches else None
    result["server_exit_code"] = server.stop()
    result["server_args"] = server.args[3:]
    return result


def batch_counts(url: str) -> tuple[float, float]:
    """(batches, texts) the server has run so far, from its /metrics."""
    import httpx

    count = total = 0.0
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("tlsuite_batch_size_count"):
            count += float(line.split()[-1])
        elif line.startswith("tlsuite_batch_size_sum"):
            total += float(line.split()[-1])
    return count, total


def model_ceiling(run: str, texts: list[str], threads: int, n: int = 96) -> dict:
    """The model alone, no HTTP, per inference backend (PyTorch; ONNX Runtime when the run has ``onnx/``): ``n``
    texts one per forward, against batches of 32 (length-sorted, in forward slices of 8, as the service runs them on
    CPU) and one forward of 32 padded to its longest text. The ratios bound what batching can gain in the service."""
    import torch

    from tlsuite_core import load_app

    torch.set_num_threads(threads)
    out: dict = {"texts": n}
    for backend in ("torch", "onnx") if (Path(run) / "onnx").is_dir() else ("torch",):
        app = load_app(run, threads=threads, backend=backend)
        sample = texts[:n]
        app.predict(sample[:8])
        timings = {}
        for name, size, forward in (
            ("one_per_forward", 1, 1),
            ("batch32_slices8", 32, 8),
            ("batch32_padded32", 32, 32),
        ):
            start = time.perf_counter()
            for i in range(0, n, size):
                app.predict(sample[i : i + size], batch_size=forward)
            timings[name] = round(n / (time.perf_counter() - start), 2)
        timings["ratio_slices8"] = round(timings["batch32_slices8"] / timings["one_per_forward"], 2)
        timings["ratio_padded32"] = round(timings["batch32_padded32"] / timings["one_per_forward"], 2)
        out["texts_per_s" if backend == "torch" else f"texts_per_s_{backend}"] = timings
    return out


def phase_overload(run: str, args: argparse.Namespace, texts: list[str], sustainable: float) -> dict:
    server = Server(run, args.threads, ["--max-queue", str(args.max_queue)])
    server.wait_ready()
    k = args.overload_texts
    overload = asyncio.run(open_loop(server.url, texts, 2 * sustainable / k, args.overload, k))
    recovery = asyncio.run(open_loop(server.url, texts, 0.5 * sustainable / k, 15.0, k))
    alive = server.proc.poll() is None
    code = server.stop()
    return {"overload": overload, "recovery": recovery, "alive_after": alive, "server_exit_code": code}


def main() -> None:
    global PATH
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="finance-monitor run folder to serve")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--overload", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server")
    parser.add_argument("--max-queue", type=int, default=128)
    parser.add_argument("--ceiling-only", action="store_true", help="only the model-alone batching ceiling")
    parser.add_argument(
        "--overload-texts",
        type=int,
        default=8,
        help="texts per request of the overload phase (the offered rate is in texts: a load generator sharing two "
        "busy cores cannot itself send one-text requests at twice the service's rate)",
    )
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        help="an option for every server, e.g. --serve-arg=--max-wait-ms=20 (repeatable)",
    )
    parser.add_argument(
        "--overload-only",
        type=float,
        metavar="TEXTS_PER_S",
        help="run only phase 3, taking this as the sustainable rate (printed, not written)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "serve.json"))
    args = parser.parse_args()
    run = Path(args.run).resolve()
    SERVE_ARGS[:] = args.serve_arg
    PATH = f"/v1/{json.loads((run / 'run.json').read_text())['app']}/{run.name}/predict"
    texts, source = sentences()
    if args.overload_only:
        print(json.dumps(phase_overload(str(run), args, texts, args.overload_only), indent=2))
        return
    started, load_at_start = time.time(), os.getloadavg()
    ceiling = model_ceiling(str(run), texts, args.threads)
    print(f"model alone (texts/s): {ceiling}", flush=True)
    if args.ceiling_only:
        Path(args.out).write_text(
            json.dumps({"bench": "serve", "run": str(run), "model_alone": ceiling}, indent=2) + "\n"
        )
        return
    on = phase_closed(str(run), args, texts, [])
    print(
        f"batching on : {on['requests_per_s']} req/s p50 {on['p50_ms']} ms p99 {on['p99_ms']} ms, {on['mean_texts_per_batch']} texts/batch",
        flush=True,
    )
    off = phase_closed(str(run), args, texts, ["--no-batching"])
    print(f"batching off: {off['requests_per_s']} req/s p50 {off['p50_ms']} ms p99 {off['p99_ms']} ms", flush=True)
    ratio = on["requests_per_s"] / off["requests_per_s"] if off["requests_per_s"] else float("inf")
    print(f"ratio on/off: {ratio:.2f}", flush=True)
    over = phase_overload(str(run), args, texts, on["requests_per_s"])
    print(f"overload: {over['overload']['statuses']} recovery: {over['recovery']['statuses']}", flush=True)
    print(
        f"503 with Retry-After: {over['overload']['503_with_retry_after']}, without: {over['overload']['503_without_retry_after']}"
    )
    result = {
        "bench": "serve",
        "run": str(run),
        "data": source,
        "clients": args.clients,
        "duration_s": args.duration,
        "server_threads": args.threads,
        "serve_args": args.serve_arg,
        "max_queue": args.max_queue,
        "model_alone": ceiling,
        "batching_on": on,
        "batching_off": off,
        "throughput_ratio_on_off": round(ratio, 2),
        **over,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_at_start": load_at_start,
            "load_avg_at_end": os.getloadavg(),
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "wall_s": round(time.time() - started, 1),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
