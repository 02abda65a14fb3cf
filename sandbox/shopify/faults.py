"""Fault injection for the sandbox's HTTP endpoints: make the next N calls fail on purpose."""
from __future__ import annotations

import threading
from dataclasses import dataclass

FAULT_BODIES = {
    429: {"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."},
    500: {"errors": "Internal Server Error"},
    502: {"errors": "Bad Gateway"},
    503: {"errors": "Service Unavailable"},
    504: {"errors": "Gateway Timeout"},
}


@dataclass
class Fault:
    """One queued failure."""

    status: int
    retry_after: float | None = None
    after_processing: bool = False  # the request is carried out, then its answer is lost

    def body(self) -> dict:
        """A JSON body like the one Shopify (or its edge) sends with this status."""
        return FAULT_BODIES.get(self.status, {"errors": f"HTTP {self.status}"})

    def headers(self) -> dict[str, str]:
        """Retry-After for 429s."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": f"{self.retry_after:g}"}


class Faults:
    """Queued failures per route ("graphql" or "oauth"); each request consumes at most one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, list[Fault]] = {}
        self.served: dict[str, int] = {}

    def fail_next(self, count: int = 1, status: int = 503, *, retry_after: float | None = None, route: str = "graphql") -> None:
        """Make the next `count` calls to `route` answer `status` (429 gets Retry-After, default 1 s)."""
        if status == 429 and retry_after is None:
            retry_after = 1.0
        with self._lock:
            self._queues.setdefault(route, []).extend(Fault(status, retry_after) for _ in range(count))

    def lose_answer_next(self, count: int = 1, status: int = 502, *, route: str = "graphql") -> None:
        """Carry out the next `count` calls to `route`, then answer `status` instead (a proxy timing out after Shopify acted)."""
        with self._lock:
            self._queues.setdefault(route, []).extend(Fault(status, None, after_processing=True) for _ in range(count))

    def throttle_next(self, count: int = 1, retry_after: float = 1.0) -> None:
        """Shorthand: the next `count` GraphQL calls answer 429 with Retry-After."""
        self.fail_next(count, 429, retry_after=retry_after)

    def take(self, route: str, *, after_processing: bool = False) -> Fault | None:
        """The fault queued for this request at this stage (before it is carried out, or after), if any."""
        with self._lock:
            queue = self._queues.get(route)
            if not queue or queue[0].after_processing != after_processing:
                return None
            self.served[route] = self.served.get(route, 0) + 1
            return queue.pop(0)

    def pending(self, route: str = "graphql") -> int:
        """How many failures are still queued."""
        with self._lock:
            return len(self._queues.get(route, ()))

    def clear(self) -> None:
        """Drop every queued failure."""
        with self._lock:
            self._queues.clear()
