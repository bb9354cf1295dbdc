"""Prometheus metrics of the service (``prometheus-client``), in a registry of their own per service."""

from __future__ import annotations

from typing import Callable

__all__ = ["ServiceMetrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServiceMetrics:
    """Requests by route and status, request latency, batch sizes and durations, queue depth, model load time and
    readiness, requests refused before reaching a model (queue full, timeout, rate limit)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "tlsuite_requests", "HTTP requests by route template and status.", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "tlsuite_request_seconds",
            "Request latency by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "tlsuite_batch_size", "Texts per forward pass, by run.", ["run"], buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "tlsuite_batch_seconds",
            "Forward-pass time per batch, by run.",
            ["run"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("tlsuite_queue_depth", "Texts waiting for a batch, by run.", ["run"], registry=r)
        self.load_seconds = Gauge(
            "tlsuite_model_load_seconds", "Time to load and warm up each run's model.", ["run"], registry=r
        )
        self.ready = Gauge(
            "tlsuite_model_ready", "1 when the run's model is loaded and warmed up.", ["run"], registry=r
        )
        self.refused = Counter(
            "tlsuite_refused",
            "Requests refused by reason (queue_full, timeout, rate_limit).",
            ["run", "reason"],
            registry=r,
        )

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def batch_observer(self, run: str) -> Callable[[int, float], None]:
        size, seconds = self.batch_size.labels(run=run), self.batch_seconds.labels(run=run)

        def observe(texts: int, took: float) -> None:
            size.observe(texts)
            seconds.observe(took)

        return observe

    def watch_queue(self, run: str, depth: Callable[[], float]) -> None:
        self.queue_depth.labels(run=run).set_function(depth)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
