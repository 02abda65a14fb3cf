"""Misbehaviour on demand for the sandbox supplier: latency, errors, lost answers, garbage answers.

Two kinds of fault:
  - *refusals* (`fail_next`, random `failure_rate`): the request is NOT processed; the
    answer is an error status (5xx, 429 with Retry-After, or any 4xx);
  - *lost answers* (`time_out_next`, `garble_next`): the request IS processed (the order
    exists), then the answer is held past the client's timeout, or replaced by a 200 whose
    body is not JSON. This is the "placed, but we never heard back" case.
Queued faults are consumed one per matching request, in order. `route` narrows a fault to
requests whose "METHOD /path" starts with it, e.g. "POST /v2/orders".
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass

DEFAULT_HOLD_SECONDS = 35.0  # longer than the adapter's default 30 s read timeout
GARBAGE_BODY = b"<html><body><h1>502 Bad Gateway</h1></body></html"


@dataclass(frozen=True)
class Fault:
    """One queued misbehaviour."""

    kind: str  # "status" | "timeout" | "garbage"
    status: int = 503
    retry_after: float | None = None
    hold_seconds: float = DEFAULT_HOLD_SECONDS
    route: str | None = None

    def matches(self, route: str) -> bool:
        """Whether this fault applies to a request on `route` ("METHOD /path")."""
        return self.route is None or route.startswith(self.route)

    @property
    def processes_request(self) -> bool:
        """Lost answers happen after the work is done; refusals before."""
        return self.kind in ("timeout", "garbage")


class SupplierFaults:
    """Thread-safe fault queue plus steady latency and a random failure rate (seeded)."""

    def __init__(self, *, latency: float = 0.0, failure_rate: float = 0.0, seed: int = 7):
        self.latency = latency
        self.failure_rate = failure_rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self.served: list[tuple[str, Fault]] = []

    def fail_next(self, status: int = 503, count: int = 1, *, retry_after: float | None = None, route: str | None = None) -> None:
        """The next `count` requests are refused with `status` (429 gets Retry-After: 1 unless told)."""
        if status == 429 and retry_after is None:
            retry_after = 1.0
        self._push(Fault("status", status=status, retry_after=retry_after, route=route), count)

    def time_out_next(self, hold_seconds: float = DEFAULT_HOLD_SECONDS, count: int = 1, *, route: str | None = None) -> None:
        """The next `count` requests are processed, then answered only after `hold_seconds`."""
        self._push(Fault("timeout", hold_seconds=hold_seconds, route=route), count)

    def garble_next(self, count: int = 1, *, route: str | None = None) -> None:
        """The next `count` requests are processed, then answered 200 with a body that is not JSON."""
        self._push(Fault("garbage", status=200, route=route), count)

    def take(self, route: str) -> Fault | None:
        """The fault this request suffers: the first queued one that matches, else maybe a random 5xx."""
        with self._lock:
            for index, fault in enumerate(self._queue):
                if fault.matches(route):
                    del self._queue[index]
                    self.served.append((route, fault))
                    return fault
            if self.failure_rate and self._random.random() < self.failure_rate:
                fault = Fault("status", status=self._random.choice((500, 502, 503)))
                self.served.append((route, fault))
                return fault
        return None

    def pending(self) -> int:
        """How many queued faults have not struck yet."""
        with self._lock:
            return len(self._queue)

    def clear(self) -> None:
        """No queued faults, no latency, no random failures."""
        with self._lock:
            self._queue.clear()
            self.served.clear()
            self.latency = 0.0
            self.failure_rate = 0.0

    def _push(self, fault: Fault, count: int) -> None:
        with self._lock:
            self._queue.extend([fault] * count)


class FaultControls:
    """The fault knobs every sandbox supplier offers tests and demos (needs `self.faults`)."""

    faults: SupplierFaults

    def fail_next(self, status: int = 503, count: int = 1, *, retry_after: float | None = None, route: str | None = None) -> None:
        """Refuse the next `count` requests with `status` without processing them."""
        self.faults.fail_next(status, count, retry_after=retry_after, route=route)

    def time_out_next(self, hold_seconds: float = DEFAULT_HOLD_SECONDS, count: int = 1, *, route: str | None = None) -> None:
        """Process the next `count` requests, then hold each answer for `hold_seconds`."""
        self.faults.time_out_next(hold_seconds, count, route=route)

    def garble_next(self, count: int = 1, *, route: str | None = None) -> None:
        """Process the next `count` requests, then answer 200 with a body that is not JSON."""
        self.faults.garble_next(count, route=route)

    def set_latency(self, seconds: float) -> None:
        """Delay every request by `seconds`."""
        self.faults.latency = seconds

    def set_failure_rate(self, rate: float) -> None:
        """Refuse this fraction of requests with a random 5xx (seeded, so runs replay)."""
        self.faults.failure_rate = rate
