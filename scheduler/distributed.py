"""The scaled-out engine: procrastinate on PostgreSQL runs the same job functions as the embedded scheduler.

Each periodic job is a procrastinate periodic task (procrastinate defers it once per cron
tick across all workers), and its body goes through the same `run_claimed` as the
embedded clock, keyed by the tick's timestamp: even an embedded scheduler left running
beside the workers cannot run a slot twice.

The order hot path is NOT procrastinate jobs (issue 19, session 28): the inbox and the
supplier orders are durable queues with leases already, and a job per wake-up cost a
defer, a fetch per worker and a finish per drain (198 transactions per order with 4
workers). Each worker process runs the same order lanes as the embedded scheduler
(scheduler/lanes.py), woken by PostgreSQL NOTIFY (scheduler/lane_listener.py) and by its
own wake-ups; the lanes poll as a safety net. The `drain-inbox` / `drain-forwarding` tasks
stay registered (an older web release may still defer them during a rolling deploy) but
only ring this process's lanes; they are no longer periodic (the lanes' poll and the ring
of every lane when the listener (re)connects do what their every-minute run did).
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor

import procrastinate
import procrastinate.schema
import procrastinate.signals
import procrastinate.worker

from shopify_app.jobs.claims import run_claimed
from shopify_app.jobs.fanout import ShopJob, Unit, due_units, run_unit
from shopify_app.models import utcnow

log = logging.getLogger(__name__)

JOBS_QUEUE = "jobs"
# A worker's lanes are woken by NOTIFY; their first threads poll this often as the safety net:
# for inbox retries coming due (backoff uniform(0, 4 s) at first: a 2 s poll adds at most half of
# it) and a notification missed while the listener reconnects (its reconnection rings every lane
# anyway). Every worker process polls, so one second (embedded) would cost 3 claims a second per worker idle.
WORKER_LANE_POLL_SECONDS = 2.0
WORKERS_PER_PROCESS = 1  # serve() runs one procrastinate worker for both queues
JOBS_POLL = 5.0  # seconds: how often a worker looks for scheduled jobs (procrastinate's default)
WORK_QUEUE = "work"  # only an older web release's drain jobs now (they ring the lanes)
FAN_OUT_AHEAD = dt.timedelta(minutes=1)  # the fan-out ticks each minute: it defers the units whose slot begins before the next tick


def conninfo(database_url: str) -> str:
    """A libpq connection string from our SQLAlchemy URL (postgresql+psycopg://... -> postgresql://...)."""
    if not database_url.startswith(("postgresql", "postgres")):
        raise ValueError("the procrastinate engine needs PostgreSQL (DATABASE_URL=postgresql+psycopg://...)")
    scheme, rest = database_url.split("://", 1)
    return f"postgresql://{rest}"


def cron_for(interval: dt.timedelta) -> str:
    """A cron line firing about every `interval` (at least once a minute, whole minutes or hours)."""
    minutes = max(1, int(interval.total_seconds() // 60))
    if minutes < 60:
        return f"*/{minutes} * * * *" if minutes > 1 else "* * * * *"
    hours = minutes // 60
    return f"0 */{hours} * * *" if hours < 24 else "0 0 * * *"


def build_app(services) -> procrastinate.App:
    """A procrastinate App whose tasks run the app's periodic jobs (and ring the order lanes) with these services."""
    from scheduler.embedded import PERIODIC_JOBS, SHOP_JOBS

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(services.settings.database_url)))
    for job_id, interval, fn in PERIODIC_JOBS:
        def run(timestamp: int, job_id=job_id, interval=interval, fn=fn) -> None:
            moment = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
            run_claimed(services.session_factory, job_id, interval, fn, services, now=lambda: moment)

        task = app.task(name=job_id, queue=JOBS_QUEUE)(run)
        app.periodic(cron=cron_for(interval), periodic_id=job_id)(task)

    shop_jobs = {job.name: job for job in SHOP_JOBS}

    @app.task(name="shop-unit", queue=JOBS_QUEUE)
    def shop_unit(job: str, shop: str, slot: int) -> None:
        if job not in shop_jobs:  # deferred by an older release that had this job
            log.warning("shop-unit: no per-shop job %s any more", job)
            return
        run_unit(services, Unit(shop_jobs[job], shop, dt.datetime.fromtimestamp(slot, dt.timezone.utc)))

    @app.periodic(cron="* * * * *", periodic_id="fan-out")
    @app.task(name="fan-out", queue=JOBS_QUEUE, queueing_lock="fan-out")
    def fan_out(timestamp: int) -> None:
        defer_due_units(app, services, SHOP_JOBS, utcnow())

    # Kept for jobs deferred by an older web release: they ring this process's lanes (services
    # of a worker do not NOTIFY: the lanes are here). Not periodic any more: the lanes poll.
    @app.task(name="drain-inbox", queue=WORK_QUEUE, queueing_lock="drain-inbox")
    def drain_inbox(timestamp: int | None = None) -> None:
        services.wake_inbox_worker()

    @app.task(name="drain-forwarding", queue=WORK_QUEUE, queueing_lock="drain-forwarding")
    def drain_forwarding(timestamp: int | None = None) -> None:
        services.wake_forwarding()

    return app


def defer_due_units(app: procrastinate.App, services, jobs: tuple[ShopJob, ...], now: dt.datetime) -> int:
    """Defer one `shop-unit` job per unit due now or before the next tick, at its slot; how many were deferred.

    The queueing lock names the unit and its slot: a unit still waiting from the last tick is
    not deferred twice, and whichever worker takes it claims the slot (job_runs) before it
    runs, so even a duplicate job cannot run a unit twice.
    """
    deferred = 0
    for unit in due_units(services, jobs, now, horizon=FAN_OUT_AHEAD):
        slot = int(unit.slot.timestamp())
        try:
            app.tasks["shop-unit"].configure(queueing_lock=f"{unit.name}@{slot}", schedule_at=max(unit.slot, now)).defer(job=unit.job.name, shop=unit.shop, slot=slot)
            deferred += 1
        except procrastinate.exceptions.AlreadyEnqueued:
            pass
    return deferred


def attach(services) -> None:
    """A web process beside the workers: its wake-ups NOTIFY the workers' lanes (shopify_app/jobs/lane_notices.py)."""
    services.notify_workers = True


SCHEMA_LOCK = 0x70726F63  # advisory lock id: workers starting together create procrastinate's schema once


def ensure_schema(database_url: str) -> None:
    """Create procrastinate's tables once (its schema is not ours to migrate with Alembic)."""
    import psycopg

    # One transaction under an advisory lock: two workers starting at once must not both
    # find the schema missing and apply it (the second would fail on its types).
    with psycopg.connect(conninfo(database_url)) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        if not conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()[0]:
            conn.execute(procrastinate.schema.SchemaManager.get_schema())


def run_worker(services, *, concurrency: int = 4, poll_seconds: float = WORKER_LANE_POLL_SECONDS) -> None:
    """Run the order lanes and serve procrastinate's queues until stopped (the `worker` role).

    The order lanes (inbox orders lane, way back, forwarding) run on threads of this process,
    woken by NOTIFY; one procrastinate worker with `concurrency` slots serves the periodic jobs
    and per-shop units (queue "jobs") and an older release's drain jobs (queue "work", which
    only ring the lanes). On SIGTERM the lanes stop between rows and give back the leases of
    rows claimed but not started; procrastinate stops its jobs.
    """
    app = build_app(services)
    ensure_schema(services.settings.database_url)
    lanes = services.worker_lanes = WorkerLanes(services, poll_seconds=poll_seconds)  # its health: the worker's /readyz
    lanes.start()
    try:
        asyncio.run(serve(app, concurrency=concurrency, on_stop=lanes.request_stop))
    finally:
        lanes.stop()


def worker_readiness(services) -> tuple[bool, dict]:
    """(ready, details) of a worker process: its lanes once started (not ready before)."""
    lanes = services.worker_lanes
    if lanes is None:
        return False, {"reason": "the order lanes have not started"}
    return lanes.readiness()


class WorkerLanes:
    """A worker process's order lanes (scheduler/lanes.py) and the listener that rings them on NOTIFY."""

    def __init__(self, services, *, poll_seconds: float = WORKER_LANE_POLL_SECONDS, process: str | None = None):
        """`process`: the worker's id for its leases, order holds and lane channel (default this OS process's; tests run several in one)."""
        from scheduler.lane_listener import LaneListener, lane_wakeups
        from scheduler.lanes import OrderLanes
        from shopify_app.jobs.lane_notices import process_id

        process = process or process_id()
        # Every worker process looks at the same inbox rows: each row is leased by the claim that
        # wins it, so the other processes' claims skip it instead of reading, prefetching and
        # trying to take it themselves (bench/peak_orders.py --statements, session 28 part T).
        # The claim also holds the rows' orders for this process (shopify_app/jobs/order_holds.py).
        self.lanes = OrderLanes(services, poll_seconds=poll_seconds, lease_on_claim=True, process=process)
        self.listener = LaneListener(conninfo(services.settings.database_url), lane_wakeups(services), process=process)

    def start(self) -> None:
        """Listen, then start the pumps (the listener rings every lane once it listens: rows committed before the start)."""
        self.listener.start()
        self.lanes.start()

    def request_stop(self) -> None:
        """Ask the lanes to stop between rows (at SIGTERM; returns at once); the listener stops being picked first."""
        # First: a wake-up picking this worker now would wait for another worker's poll (its lanes take nothing new).
        self.listener.leave()
        self.lanes.request_stop()

    def stop(self) -> None:
        """Stop the lanes (leases of unstarted rows given back) and then the listener (which passes wake-ups on meanwhile)."""
        self.listener.leave()
        self.lanes.stop()
        self.listener.stop()

    def status(self) -> dict:
        """The pumps' and the listener's threads (the listener counts as up while it reconnects: the lanes poll)."""
        return {**self.lanes.status(), "listener": self.listener.alive, "listening": self.listener.listening.is_set()}

    def silent_seconds(self) -> float:
        """How long the quietest pump has gone without a beat."""
        return self.lanes.silent_seconds()

    def readiness(self) -> tuple[bool, dict]:
        """(ready, details) for the worker's /readyz: every pump and the listener thread run, no pump stuck in a pass."""
        from shopify_app.web.health import pumps_check

        return pumps_check(self, ("inbox_pump", "forwarding_pump", "listener"), "an order lane's pump or the lane listener")


async def serve(app: procrastinate.App, *, concurrency: int, install_signal_handlers: bool = True, wait: bool = True, on_stop=None) -> None:
    """Run one procrastinate worker over both queues (jobs, and an older release's drain jobs) on this loop until a signal (wait=False: until they are empty)."""
    # procrastinate runs a synchronous task in the loop's default executor, which Python sizes
    # min(32, CPUs + 4): 6 threads on 2 cores, so a worker never ran more than 6 of our (all
    # synchronous) jobs at once whatever its concurrency. Size it to the slots.
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=concurrency + 2, thread_name_prefix="procrastinate-job")
    loop.set_default_executor(executor)
    # On SIGTERM procrastinate stops fetching and, after shutdown_graceful_timeout, asks the running
    # jobs to abort: at 0 the drains stop between rows at once (the row in hand finishes, the
    # rest are released); other jobs finish their unit, and the worker waits for them.
    # New jobs come by procrastinate's LISTEN/NOTIFY; scheduled ones (shop units spread over their
    # interval) are found by polling: they may start a few seconds late, and each poll is a query
    # from every worker process. The order work is not procrastinate's (the lanes): a second
    # worker with slots of its own for it only polled and listened for the drain jobs.
    worker = procrastinate.worker.Worker(app=app, queues=[JOBS_QUEUE, WORK_QUEUE], concurrency=concurrency, name="dropship-jobs",
                                         fetch_job_polling_interval=JOBS_POLL, shutdown_graceful_timeout=0, install_signal_handlers=False, wait=wait)

    def stop() -> None:
        if on_stop is not None:  # the order lanes stop between rows at the same moment
            on_stop()
        worker.stop()

    stopping = procrastinate.signals.on_stop(stop) if install_signal_handlers else contextlib.nullcontext()
    try:
        async with app.open_async():
            with stopping:
                await worker.run()
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
