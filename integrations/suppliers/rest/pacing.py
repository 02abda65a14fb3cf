"""A per-account request pace (settings.rate_limit): every call for one supplier account waits its turn.

Suppliers such as CJdropshipping limit each account (1 request/s on its free level) and
answer a burst with errors. Spacing calls evenly is the simplest pace that never bursts; the
pacer is shared by every adapter in the process built for the same base URL and account, so
a stock pull and an order placement share one budget. (Processes do not share it: run
one worker per account, or configure a lower rate.)
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any, Callable, Mapping

from ..base import REFRESHED_CREDENTIAL_KEYS as TOKEN_KEYS  # change on refresh; not the account


HEADROOM = 1.05  # spacing 5% wider than the limit: requests sent evenly do not arrive evenly


class Pacer:
    """Hands out evenly spaced start times, `interval` seconds apart."""

    def __init__(self, requests_per_second: float, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.interval = HEADROOM / requests_per_second
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def wait(self) -> float:
        """Block until this call's turn; the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        delay = start - now
        if delay > 0:
            self._sleep(delay)
        return delay


_pacers: dict[tuple[str, str, float], Pacer] = {}
_lock = threading.Lock()


def pacer_for(base_url: str, credentials: Mapping[str, Any], requests_per_second: float) -> Pacer:
    """The process's pacer for this account at this base URL."""
    account = hashlib.sha256(json.dumps({k: v for k, v in credentials.items() if k not in TOKEN_KEYS}, sort_keys=True, default=str).encode()).hexdigest()
    key = (base_url, account, requests_per_second)
    with _lock:
        pacer = _pacers.get(key)
        if pacer is None:
            pacer = _pacers[key] = Pacer(requests_per_second)
        return pacer
