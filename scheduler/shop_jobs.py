"""The embedded runner of per-shop units (shopify_app/jobs/fanout.py): a dispatcher tick and a thread pool.

Every DISPATCH_EVERY the scheduler asks which shops' units are due (one query per job for
the shops with work, one for the claimed slots) and hands them to a small pool: a unit waits
on Shopify or a supplier most of its time, and one slow shop holds one thread, never the
others' turn. A unit is claimed when its thread starts it, so the lag it records is the real
wait from its slot; the in-flight set keeps the next tick from queueing it twice meanwhile.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

from shopify_app.jobs.fanout import ShopJob, Unit, due_units, run_unit
from shopify_app.models import utcnow

log = logging.getLogger(__name__)

DISPATCH_EVERY = dt.timedelta(seconds=5)  # the resolution of the shops' offsets: a unit starts at most this late when a thread is free
SHOP_JOB_THREADS = 8  # units are I/O-bound (Shopify, suppliers); SQLite's one writer is shared anyway


class ShopJobPool:
    """Runs due per-shop units on a pool of threads, each unit once (claimed) and each at most once in flight here."""

    def __init__(self, services, jobs: Iterable[ShopJob], *, threads: int = SHOP_JOB_THREADS, now: Callable[[], dt.datetime] = utcnow):
        self.services = services
        self.jobs = tuple(jobs)
        self.now = now
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="shop-jobs")
        self.in_flight: set[tuple[str, dt.datetime]] = set()
        self.lock = threading.Lock()

    def dispatch(self) -> int:
        """Queue every due unit not already queued here; how many were queued."""
        queued = 0
        for unit in due_units(self.services, self.jobs, self.now()):
            key = (unit.name, unit.slot)
            with self.lock:
                if key in self.in_flight:
                    continue
                self.in_flight.add(key)
            try:
                self.pool.submit(self._run, unit, key)
            except RuntimeError:  # shutting down: the next process's tick takes the unit
                with self.lock:
                    self.in_flight.discard(key)
                break
            queued += 1
        return queued

    def _run(self, unit: Unit, key: tuple[str, dt.datetime]) -> None:
        try:
            run_unit(self.services, unit)
        except Exception:  # noqa: BLE001 - run_slot records the unit's own failures; this is the claim's database
            log.exception("per-shop unit %s could not run", unit.name)
        finally:
            with self.lock:
                self.in_flight.discard(key)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until nothing is queued or running here (tests, the benchmark); False on timeout."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.in_flight:
                    return True
            time.sleep(0.01)
        return False

    def shutdown(self) -> None:
        """Drop queued units (their slots stay unclaimed for the next process) and let running ones finish."""
        self.pool.shutdown(wait=False, cancel_futures=True)
