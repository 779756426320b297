"""Per-key rate limits, and per-address limits on failed authentication: a token bucket per key (or
address) and process, refilled continuously.

Why per key and in memory: a runaway bot should slow down itself, not the other bots; an in-process
bucket costs nothing on the hot path. With several API processes (``serve --workers N``) each process
holds 1/N of the limit, so a key never gets more than the limit in total.
"""

from __future__ import annotations

import math
import threading
import time

MAX_BUCKETS = 100_000
"""Buckets kept before the full ones are forgotten (see ``RateLimiter._forget_full``)."""


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(max(per_minute // 6, 1))  # bursts of up to 10 s worth
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> float:
        """0 if allowed, else seconds until the next request would be."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
                self._forget_full(now)
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (they hold nothing a new one would not): failed authentications
        come from any number of addresses, and their buckets must not grow without bound."""
        self._buckets = {
            k: (t, last) for k, (t, last) in self._buckets.items() if t + (now - last) * self.rate < self.capacity
        }

    def waiting(self, key: str, now: float | None = None) -> float:
        """Seconds until ``key`` has a token again (0 if it has one), without taking it."""
        now = time.monotonic() if now is None else now
        with self._lock:
            found = self._buckets.get(key)
            if found is None:
                return 0.0
            tokens = min(self.capacity, found[0] + (now - found[1]) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
