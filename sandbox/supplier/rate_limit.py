"""Printful v2's rate limiting, as the spec's "Rate Limiting" section documents it, for the sandbox.

A leaky bucket per token: `limit` requests burst, refilled one drop at a time at
`limit / window` per second (defaults 120 and 60 s: 2/s). Every answer carries
`X-Ratelimit-Policy: 120;w=60;`, `X-Ratelimit-Limit`, `X-Ratelimit-Remaining` and
`X-Ratelimit-Reset` (seconds until the bucket is full again); a request finding the bucket
empty is answered 429 with `Retry-After` (seconds until one drop is back) and not processed.
The clock is injectable, so tests and benchmarks can run it on their own time.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class RateLimiter:
    """The server's buckets, one per token."""

    limit: int = 120
    window_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    enabled: bool = True
    refused: int = 0  # 429s answered so far
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # token -> (drops, at)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def rate(self) -> float:
        """Drops per second."""
        return self.limit / self.window_seconds

    def take(self, token: str) -> tuple[bool, dict[str, str]]:
        """(allowed, headers): one drop for this request if there is one, and the X-Ratelimit-* headers."""
        with self._lock:
            now = self.clock()
            drops, at = self._buckets.get(token, (float(self.limit), now))
            drops = min(float(self.limit), drops + (now - at) * self.rate)
            allowed = drops >= 1.0 or not self.enabled
            if allowed and self.enabled:
                drops -= 1.0
            self._buckets[token] = (drops, now)
            if not allowed:
                self.refused += 1
        headers = {
            "X-Ratelimit-Policy": f"{self.limit};w={self.window_seconds:g};",
            "X-Ratelimit-Limit": str(self.limit),
            "X-Ratelimit-Remaining": str(int(drops)),
            "X-Ratelimit-Reset": f"{(self.limit - drops) / self.rate:.2f}",
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil((1.0 - drops) / self.rate)))
        return allowed, headers

    def reset(self) -> None:
        """Every bucket full again, no refusals counted."""
        with self._lock:
            self._buckets.clear()
            self.refused = 0
