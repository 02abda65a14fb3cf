"""Client-side pacing for Printful v2's leaky bucket, one bucket per token, shared by the whole process.

Printful v2 (spec, "Rate Limiting"): every token has a bucket of 120 requests that refills
one drop at a time, 120 per 60 s (2/s); each answer carries `X-Ratelimit-Limit`,
`X-Ratelimit-Remaining`, `X-Ratelimit-Reset` (seconds until the bucket is full again) and
`X-Ratelimit-Policy` (`120;w=60;`); a 429 carries `Retry-After`. We keep our own copy of the
bucket and take a drop before every request, waiting when it is empty, so a stock pull or
a burst of orders goes out at the allowed rate instead of meeting a 429. Every answer
corrects the copy (another process may share the token), and a 429 stops everyone using
the token until Retry-After has passed.

Drops are reserved under a lock and waited for outside it, so threads queue fairly and
none sleeps while holding the lock.
"""
from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

DEFAULT_LIMIT = 120
DEFAULT_WINDOW_SECONDS = 60.0
POLICY = re.compile(r"^\s*(\d+)\s*;\s*w=(\d+(?:\.\d+)?)")


def _number(headers: Mapping[str, str], name: str) -> float | None:
    try:
        value = float(headers[name])
    except (KeyError, TypeError, ValueError):
        return None
    return value if value >= 0 else None


@dataclass
class LeakyBucket:
    """Printful's bucket as the client sees it: `capacity` drops, refilled `rate` per second."""

    capacity: float = DEFAULT_LIMIT
    rate: float = DEFAULT_LIMIT / DEFAULT_WINDOW_SECONDS
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    tokens: float = field(init=False)
    blocked_until: float = field(init=False, default=0.0)
    waited_seconds: float = field(init=False, default=0.0)  # total time callers spent waiting, for benchmarks
    in_flight: int = field(init=False, default=0)  # requests sent whose answers have not been observed
    _updated: float = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.capacity)
        self._updated = self.clock()

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self) -> float:
        """Take one drop, waiting until it is there; returns how long this caller waited."""
        with self._lock:
            now = self.clock()
            self._refill(now)
            self.tokens -= 1  # reserved now, even if it only exists later: later callers queue behind
            self.in_flight += 1
            wait = max(-self.tokens / self.rate if self.tokens < 0 else 0.0, self.blocked_until - now)
            self.waited_seconds += wait
        if wait > 0:
            self.sleep(wait)
        return wait

    def release(self) -> None:
        """A request taken with acquire() got no answer (transport error): it is no longer in flight."""
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)

    def observe(self, headers: Mapping[str, str], status: int) -> None:
        """Correct the bucket from an answer's X-Ratelimit-* headers (and Retry-After on a 429); ends one request in flight."""
        limit = _number(headers, "X-Ratelimit-Limit")
        remaining = _number(headers, "X-Ratelimit-Remaining")
        policy = POLICY.match(headers.get("X-Ratelimit-Policy") or "")
        with self._lock:
            now = self.clock()
            self._refill(now)
            self.in_flight = max(0, self.in_flight - 1)
            if policy and float(policy.group(2)) > 0:
                self.capacity = float(policy.group(1))
                self.rate = float(policy.group(1)) / float(policy.group(2))
            elif limit:
                self.capacity = limit
            if remaining is not None:
                # The server has not counted our other requests in flight yet; and only ever lower our count.
                self.tokens = min(self.tokens, remaining - self.in_flight)
            if status == 429:
                retry_after = _number(headers, "Retry-After")
                if retry_after is None:
                    retry_after = _number(headers, "X-Ratelimit-Reset") or 1.0 / self.rate
                self.tokens = min(self.tokens, 0.0)
                self.blocked_until = max(self.blocked_until, now + retry_after)


_buckets: dict[str, LeakyBucket] = {}
_buckets_lock = threading.Lock()


def bucket_for(token: str, base_url: str) -> LeakyBucket:
    """The process-wide bucket of this token at this API (created on first use)."""
    key = hashlib.sha256(f"{base_url}\0{token}".encode()).hexdigest()  # the token itself is not kept as a key
    with _buckets_lock:
        bucket = _buckets.get(key)
        if bucket is None:
            bucket = _buckets[key] = LeakyBucket()
        return bucket
