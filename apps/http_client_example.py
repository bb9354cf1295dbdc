"""A business system calling ``tlsuite serve`` over HTTP with httpx.

A CRM-style job: it sends customer notes in batches to a served finance-monitor run, asks the service to mask PII
before the model sees them, stores the masked text with the label, honours ``Retry-After`` on 429 / 503 and
gives up cleanly on other errors (the service's JSON error names the problem and the request id).

    tlsuite finance-monitor train --name base
    TLSUITE_API_KEYS=crm-demo-key tlsuite serve runs/finance-monitor/base &
    TLSUITE_KEY=crm-demo-key python apps/http_client_example.py --url http://127.0.0.1:8000 --run finance-monitor/base
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from typing import Any, Iterable

import httpx

NOTES = [
    "Client says operating profit rose 20 % year on year; call back on +44 20 7946 0958.",
    "Customer jane.doe@example.com worried: shares fell 12 % after the outlook cut.",
    "Payment from IBAN GB82 WEST 1234 5698 7654 32 received; the interim report is due on 3 May.",
]


class ServiceError(Exception):
    """The service refused a request (status, its message and request id)."""


class TlsuiteClient:
    """A small client of one served run: batches, retries with ``Retry-After``, request ids."""

    def __init__(self, url: str, run: str, key: str | None, *, timeout: float = 30.0, retries: int = 5) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=url, headers=headers, timeout=timeout)
        self.run = run
        self.path = f"/v1/{run}/predict"
        self.retries = retries

    def predict(self, texts: list[str], *, mask_pii: bool = True) -> dict[str, Any]:
        request_id = f"crm-{uuid.uuid4().hex[:12]}"
        for attempt in range(self.retries + 1):
            r = self.http.post(
                self.path, json={"texts": texts, "mask_pii": mask_pii}, headers={"X-Request-ID": request_id}
            )
            if r.status_code == 200:
                return r.json()
            if r.status_code in (429, 503) and "retry-after" in r.headers and attempt < self.retries:
                time.sleep(float(r.headers["retry-after"]))  # the service says when it has room again
                continue
            error = (
                r.json().get("error", {}) if r.headers.get("content-type", "").startswith("application/json") else {}
            )
            raise ServiceError(f"{r.status_code} {error.get('message', r.text)} (request {request_id})")
        raise AssertionError("unreachable")

    def ready(self) -> bool:
        """Whether this client's run is loaded (``/readyz`` speaks for every served run; ``/v1/runs`` per run)."""
        r = self.http.get("/v1/runs")
        r.raise_for_status()
        return any(f"{x['app']}/{x['run']}" == self.run and x["status"] == "ready" for x in r.json()["runs"])

    def close(self) -> None:
        self.http.close()


def batches(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--run", default="finance-monitor/base", help="APP/RUN as served (GET /v1/runs lists them)")
    parser.add_argument("--batch", type=int, default=16, help="texts per request")
    args = parser.parse_args()
    client = TlsuiteClient(args.url, args.run, os.environ.get("TLSUITE_KEY"))
    try:
        if not client.ready():
            print("the service is not ready yet (models loading); try again shortly", file=sys.stderr)
            return 1
        for chunk in batches(NOTES, args.batch):
            answer = client.predict(chunk)
            for masked, result in zip(answer["masked"], answer["results"]):
                # store what the model saw (PII masked) with its label: no raw e-mail or IBAN in the CRM's index
                print(f"{result['label']:>9} {result['score']:.2f}  {masked['text']}")
    except (ServiceError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
