"""The embedded runner of per-shop units (shopify_app/jobs/fanout.py): a dispatcher tick and two lanes of threads.

Every DISPATCH_EVERY the scheduler asks which shops' units are due (one query per job for
the shops with work, one for the claimed slots) and hands them to a lane. Most units wait on
Shopify or a supplier nearly all their time (a stock pull at 0.3 s a request, a reconciliation
paging orders): they go to the network lane, many threads (SHOP_JOB_NETWORK_THREADS, default
32), because a thread waiting on a socket costs no CPU and 8 of them left 1,000 shops' stock
feeds minutes late. Units that only read and write our database (KPI snapshots, recounts) go
to the local lane, a couple of threads: more would only queue on the CPU and SQLite's one
writer. Long units (a shop's catalog export: a bulk operation polled for seconds) go to the
bulk lane, a few threads of their own, so however many shops export at once (a first start
with 1,000 shops) the short units' threads are never all held by them. Database writes stay short and go through the process's writer queue (shopify_app/db.py)
whichever lane makes them. A unit is claimed when its thread starts it, so the lag it records
is the real wait from its slot; the in-flight set keeps the next tick from queueing it again.
"""
from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import threading
import time
from typing import Callable, Iterable

from shopify_app.config import SHOP_JOB_NETWORK_THREADS
from shopify_app.jobs.fanout import ShopJob, Unit, due_units, run_unit
from shopify_app.models import utcnow

log = logging.getLogger(__name__)

DISPATCH_EVERY = dt.timedelta(seconds=5)  # the resolution of the shops' offsets: a unit starts at most this late when a thread is free
NETWORK_THREADS = SHOP_JOB_NETWORK_THREADS  # the default: units waiting on Shopify or a supplier
LOCAL_THREADS = 2  # units that only compute from our database: about the cores there are
BULK_THREADS = 4  # long units (catalog exports): they wait on Shopify's bulk operation, a few at a time is plenty


class ShopJobPool:
    """Runs due per-shop units on two lanes of threads: earliest deadline first, each unit once (claimed) and at most once in flight here.

    Earliest deadline (slot + interval) first within a lane: after a restart every shop's
    six-hourly catalog refresh is due at once, and the stock feeds due every minute must not
    wait behind them. A unit already queued or running here is not queued again for its next
    slot (as APScheduler's coalesce): a shop that cannot keep up misses slots, it does not pile them up.
    """

    def __init__(self, services, jobs: Iterable[ShopJob], *, threads: int | None = None, local_threads: int = LOCAL_THREADS,
                 bulk_threads: int = BULK_THREADS, now: Callable[[], dt.datetime] = utcnow):
        self.services = services
        self.jobs = tuple(jobs)
        self.now = now
        if threads is None:
            threads = getattr(services.settings, "shop_job_network_threads", NETWORK_THREADS)
        self.queues: dict[str, list[tuple[dt.datetime, int, Unit]]] = {"network": [], "local": [], "bulk": []}  # heaps by deadline, per lane (ShopJob.lane_name)
        self.in_flight: set[str] = set()  # unit names queued or running here
        self.counter = itertools.count()
        self.lock = threading.Condition()
        self.stopping = False
        lanes = [("network", "shop-jobs", max(1, threads)), ("local", "shop-jobs-local", max(1, local_threads)), ("bulk", "shop-jobs-bulk", max(1, bulk_threads))]
        self.threads = [threading.Thread(target=self._serve, args=(lane,), name=f"{name}-{n}", daemon=True)
                        for lane, name, count in lanes for n in range(count)]
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
                heapq.heappush(self.queues[unit.job.lane_name], (unit.slot + unit.job.interval, next(self.counter), unit))
                self.lock.notify_all()
            queued += 1
        return queued

    def _serve(self, lane: str) -> None:
        queue = self.queues[lane]
        while True:
            with self.lock:
                while not queue and not self.stopping:
                    self.lock.wait()
                if self.stopping:
                    return
                _, _, unit = heapq.heappop(queue)
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
            for queue in self.queues.values():
                for _, _, unit in queue:
                    self.in_flight.discard(unit.name)
                queue.clear()
            self.lock.notify_all()
