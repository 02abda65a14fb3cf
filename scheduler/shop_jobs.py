"""The embedded runner of per-shop units (shopify_app/jobs/fanout.py): a dispatcher tick and a thread pool.

Every DISPATCH_EVERY the scheduler asks which shops' units are due (one query per job for
the shops with work, one for the claimed slots) and hands them to a small pool: a unit waits
on Shopify or a supplier most of its time, and one slow shop holds one thread, never the
others' turn. A unit is claimed when its thread starts it, so the lag it records is the real
wait from its slot; the in-flight set keeps the next tick from queueing it again meanwhile.
"""
from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import threading
import time
from typing import Callable, Iterable

from shopify_app.jobs.fanout import ShopJob, Unit, due_units, run_unit
from shopify_app.models import utcnow

log = logging.getLogger(__name__)

DISPATCH_EVERY = dt.timedelta(seconds=5)  # the resolution of the shops' offsets: a unit starts at most this late when a thread is free
SHOP_JOB_THREADS = 8  # units are I/O-bound (Shopify, suppliers); SQLite's one writer is shared anyway


class ShopJobPool:
    """Runs due per-shop units on a pool of threads: earliest deadline first, each unit once (claimed) and at most once in flight here.

    Earliest deadline (slot + interval) first: after a restart every shop's six-hourly catalog
    refresh is due at once, and the stock feeds due every minute must not wait behind them.
    A unit already queued or running here is not queued again for its next slot (as
    APScheduler's coalesce): a shop that cannot keep up misses slots, it does not pile them up.
    """

    def __init__(self, services, jobs: Iterable[ShopJob], *, threads: int = SHOP_JOB_THREADS, now: Callable[[], dt.datetime] = utcnow):
        self.services = services
        self.jobs = tuple(jobs)
        self.now = now
        self.queue: list[tuple[dt.datetime, int, Unit]] = []  # a heap by deadline
        self.in_flight: set[str] = set()  # unit names queued or running here
        self.counter = itertools.count()
        self.lock = threading.Condition()
        self.stopping = False
        self.threads = [threading.Thread(target=self._serve, name=f"shop-jobs-{n}", daemon=True) for n in range(threads)]
        for thread in self.threads:
            thread.start()

    def dispatch(self) -> int:
        """Queue every due unit not already queued or running here; how many were queued."""
        queued = 0
        for unit in due_units(self.services, self.jobs, self.now()):
            with self.lock:
                if self.stopping:
                    break
                if unit.name in self.in_flight:
                    continue
                self.in_flight.add(unit.name)
                heapq.heappush(self.queue, (unit.slot + unit.job.interval, next(self.counter), unit))
                self.lock.notify()
            queued += 1
        return queued

    def _serve(self) -> None:
        while True:
            with self.lock:
                while not self.queue and not self.stopping:
                    self.lock.wait()
                if self.stopping:
                    return
                _, _, unit = heapq.heappop(self.queue)
            try:
                run_unit(self.services, unit)
            except Exception:  # noqa: BLE001 - run_slot records the unit's own failures; this is the claim's database
                log.exception("per-shop unit %s could not run", unit.name)
            finally:
                with self.lock:
                    self.in_flight.discard(unit.name)
                    self.lock.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until nothing is queued or running here (tests, the benchmark); False on timeout."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while self.in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(left)
        return True

    def shutdown(self) -> None:
        """Drop queued units (their slots stay unclaimed for the next process); running ones finish their unit."""
        with self.lock:
            self.stopping = True
            for _, _, unit in self.queue:
                self.in_flight.discard(unit.name)
            self.queue.clear()
            self.lock.notify_all()
