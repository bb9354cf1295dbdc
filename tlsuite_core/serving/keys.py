"""API keys: read from a file and/or ``$TLSUITE_API_KEYS``, held only as SHA-256 digests, compared in constant
time; each key's scopes (apps, or app/run pairs) and its rate limit (a token bucket per key).

Key file format, one key per line (``#`` starts a comment)::

    s3cret-key-for-crm                                  # every app, no rate limit
    sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 scopes=finance-monitor rate=600/min
    another-key scopes=ner/conll-base,translate rate=60/min

In ``$TLSUITE_API_KEYS`` (comma-separated keys) separate scopes with ``;``: ``key1 scopes=ner;translate,key2``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

__all__ = ["ENV_KEYS", "ApiKey", "KeyRing", "RateLimiter", "digest"]

#: the environment variable of comma-separated keys (used together with ``--api-keys FILE``)
ENV_KEYS = "TLSUITE_API_KEYS"
_HEX = re.compile(r"^[0-9a-f]{64}$")
_RATE = re.compile(r"^(\d+)/(s|sec|second|min|minute|h|hour)$")
_PER = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass(frozen=True)
class ApiKey:
    """One key: its digest, where it came from (``keys.txt:3``; never the key), its scopes and rate."""

    digest: bytes
    source: str
    scopes: tuple[str, ...] = ()  # empty: every app
    rate_per_minute: float | None = None

    @property
    def id(self) -> str:
        """What logs and metrics may show: the first 8 hex digits of the digest."""
        return self.digest.hex()[:8]

    def allows(self, app: str, run: str) -> bool:
        return not self.scopes or any(scope in (app, f"{app}/{run}") for scope in self.scopes)


def _parse_line(text: str, source: str) -> ApiKey:
    key, *fields = text.split()
    scopes: tuple[str, ...] = ()
    rate: float | None = None
    for item in fields:
        name, _, value = item.partition("=")
        if name == "scopes" and value:
            scopes = tuple(s.strip().strip("/") for s in re.split(r"[,;]", value) if s.strip())
        elif name == "rate" and (m := _RATE.match(value)):
            rate = int(m.group(1)) * 60 / _PER[m.group(2)]
        else:
            raise ConfigError(f"{source}: expected scopes=app[/run],... or rate=N/min after the key, got {item!r}")
    if key.startswith("sha256:"):
        hexdigest = key.removeprefix("sha256:").lower()
        if not _HEX.match(hexdigest):
            raise ConfigError(f"{source}: sha256: must be followed by 64 hex digits")
        return ApiKey(bytes.fromhex(hexdigest), source, scopes, rate)
    return ApiKey(digest(key), source, scopes, rate)


@dataclass
class KeyRing:
    """The accepted keys. Empty: no authentication (the service refuses that on a public address)."""

    keys: list[ApiKey] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path | None = None, env: str | None = None) -> KeyRing:
        """Keys from ``path`` and from ``env`` (default ``$TLSUITE_API_KEYS``): the union of both."""
        keys: list[ApiKey] = []
        if path is not None:
            path = Path(path)
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"{path}: cannot read the API key file ({exc.strerror or exc})") from None
            for number, line in enumerate(lines, start=1):
                text = line.split("#", 1)[0].strip()
                if text:
                    keys.append(_parse_line(text, f"{path}:{number}"))
            if not keys:
                raise ConfigError(f"{path}: no API keys in the file")
        env_value = os.environ.get(ENV_KEYS, "") if env is None else env
        for number, item in enumerate(v.strip() for v in env_value.split(",")):
            if item:
                keys.append(_parse_line(item, f"${ENV_KEYS}[{number}]"))
        return cls(keys)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def find(self, presented: str) -> ApiKey | None:
        """The key whose digest matches ``presented``; every digest is compared (in constant time)."""
        candidate = digest(presented)
        found = None
        for key in self.keys:
            if hmac.compare_digest(key.digest, candidate):
                found = key
        return found


class RateLimiter:
    """A token bucket per key: ``rate_per_minute`` tokens a minute, bursts up to a tenth of a minute's worth (>= 1)."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[bytes, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: ApiKey) -> float:
        """0 when the request may go on, else the seconds until it may (the ``Retry-After``)."""
        if key.rate_per_minute is None:
            return 0.0
        per_second = key.rate_per_minute / 60
        capacity = max(1.0, key.rate_per_minute / 10)
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key.digest, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * per_second)
            if tokens >= 1:
                self._buckets[key.digest] = (tokens - 1, now)
                return 0.0
            self._buckets[key.digest] = (tokens, now)
            return max(1.0, math.ceil((1 - tokens) / per_second))
