"""The scaled-out engine: procrastinate on PostgreSQL runs the same job functions as the embedded scheduler.

Each periodic job is a procrastinate periodic task (procrastinate defers it once per cron
tick across all workers), and its body goes through the same `run_claimed` as the
embedded clock, keyed by the tick's timestamp: even an embedded scheduler left running
beside the workers cannot run a slot twice. The inbox and supplier deliveries are drained
by tasks too: deferred by the web process when work arrives (`wake`), and every minute
as a safety net; both drains claim rows with leases, so any number of workers is safe.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
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
SCHEDULED_JOBS_POLL = 0.5  # seconds: the work queue's scheduled jobs (forwarding retries) start at most this late
WORKERS_PER_PROCESS = 2  # serve() runs one procrastinate worker for the work queue and one for the jobs queue
JOBS_POLL = 5.0  # seconds: the same for the jobs queue (procrastinate's default)
WORK_QUEUE = "work"
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


class AbortRequested:
    """A drain's `stopping` flag (threading.Event-shaped) that is set while any job running the drain was asked to abort.

    procrastinate asks running jobs to abort when the worker shuts down (SIGTERM, see
    run_worker's shutdown_graceful_timeout); a synchronous job must check for it itself.
    The drains check `stopping.is_set()` between rows, so they stop after the row in hand
    and give back the leases of the rest, exactly like the embedded pumps.
    """

    def __init__(self):
        self._contexts: dict[int, object] = {}  # by id(): procrastinate's JobContext is not hashable
        self._lock = threading.Lock()
        self._set = False

    @contextlib.contextmanager
    def watching(self, context):
        """Count this job's abort request while the block runs."""
        with self._lock:
            self._contexts[id(context)] = context
        try:
            yield
        finally:
            with self._lock:
                self._contexts.pop(id(context), None)

    def is_set(self) -> bool:
        """True when stopped explicitly or a watched job should abort."""
        with self._lock:
            contexts = list(self._contexts.values())
        return self._set or any(context.should_abort() for context in contexts)

    def set(self) -> None:
        """Stop every drain of this worker (as threading.Event.set)."""
        self._set = True


# Rows one inbox drain claims at a time. Drains run side by side (every intake wakes one, on
# any worker with a free slot), and a drain works its claimed rows one after another: with
# 100 a time one drain leased a whole burst and the others found nothing (bench/peak_orders.py,
# PostgreSQL: p50 12 s at 10 orders/s). Small batches let every free slot take a share.
INBOX_DRAIN_BATCH = 10


class CoalescedDrain:
    """Runs a drain at most once at a time in this process; a call while it runs makes it go once more, and returns at once.

    The forwarding drain keeps claiming while its supplier calls are in flight, up to the
    process's FORWARDING_THREADS: a second drain beside it only queued more rows behind the
    same threads (their leases running) and held a second worker slot waiting on them.
    Every wake-up still counts: the running drain makes one more pass after it, so rows
    committed while it was finishing are not left for the every-minute drain.
    """

    def __init__(self, drain):
        self.drain = drain
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def __call__(self) -> bool:
        """Drain (or hand the pass to the running drain); True when this call did the draining."""
        with self._lock:
            if self._running:
                self._again = True
                return False
            self._running = True
        try:
            while True:
                self.drain()
                with self._lock:
                    if not self._again:
                        self._running = False
                        return True
                    self._again = False
        except BaseException:
            with self._lock:
                self._running = self._again = False
            raise


class PerThread:
    """One drain object per thread: drains running side by side in a process each lease rows as their own owner.

    A row whose lease ran out in one drain's batch and was claimed again by a sibling then
    fails the first drain's ownership check (as the embedded lane's threads each have their own).
    """

    def __init__(self, make):
        self._make = make
        self._local = threading.local()

    def get(self):
        """This thread's drain object (made on first use)."""
        drain = getattr(self._local, "drain", None)
        if drain is None:
            drain = self._local.drain = self._make()
        return drain


def build_app(services) -> procrastinate.App:
    """A procrastinate App whose tasks run the app's periodic jobs and drains with these services."""
    from scheduler.embedded import PERIODIC_JOBS, SHOP_JOBS
    from shopify_app.suppliers.amendments import AmendmentWorker
    from scheduler.forwarding_capacity import forwarding_worker
    from shopify_app.webhooks.worker import InboxWorker

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

    inbox_stopping = AbortRequested()  # shared: a worker's shutdown stops every thread's inbox drain

    def new_inbox_worker() -> InboxWorker:
        worker = InboxWorker(services.session_factory, services.settings, services)
        worker.stopping = inbox_stopping
        return worker

    inboxes = PerThread(new_inbox_worker)
    forwarding = forwarding_worker(services)  # FORWARDING_THREADS / FORWARDING_CALLS_PER_SUPPLIER
    amendments = AmendmentWorker(services.session_factory, services.box, wake_forwarding=services.wake_forwarding)
    for drain in (forwarding, amendments):
        drain.stopping = AbortRequested()

    @app.periodic(cron="* * * * *", periodic_id="drain-inbox")
    @app.task(name="drain-inbox", queue=WORK_QUEUE, queueing_lock="drain-inbox", pass_context=True)
    def drain_inbox(context, timestamp: int | None = None) -> None:
        with inbox_stopping.watching(context):
            inboxes.get().drain(batch_size=INBOX_DRAIN_BATCH)

    def forwarding_pass() -> None:
        forwarding.drain()
        amendments.drain()  # order changes for suppliers that already have the order
        schedule_forwarding_at(app, forwarding.next_due_in())  # the earliest retry, not the next minute

    forward = CoalescedDrain(forwarding_pass)

    @app.periodic(cron="* * * * *", periodic_id="drain-forwarding")
    @app.task(name="drain-forwarding", queue=WORK_QUEUE, queueing_lock="drain-forwarding", pass_context=True)
    def drain_forwarding(context, timestamp: int | None = None) -> None:
        # While this process's drain runs, the job only asks it for one more pass: its slot is free at once.
        with forwarding.stopping.watching(context), amendments.stopping.watching(context):
            forward()

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
    """Give these services an open procrastinate App, so their wake-ups defer drains to the workers."""
    if services.job_engine is None:
        services.job_engine = build_app(services)
        services.job_engine.open()


def wake(app: procrastinate.App, task_name: str) -> None:
    """Ask a worker to drain now (a queueing lock keeps it to one waiting job)."""
    try:
        app.tasks[task_name].configure(queueing_lock=task_name).defer()
    except procrastinate.exceptions.AlreadyEnqueued:
        pass  # one is already waiting: it will see the new rows
    except Exception as exc:  # the rows are committed: the every-minute drain still finds them
        log.warning("could not defer %s: %s", task_name, type(exc).__name__)


def schedule_forwarding_at(app: procrastinate.App, seconds: float | None) -> None:
    """Defer a forwarding drain for when the earliest waiting delivery is due (None: nothing waits).

    One job per due second (its queueing lock names the second), so every retry time gets
    its drain and a burst of retries due in the same second shares one.
    """
    if seconds is None:
        return
    due = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=max(0.0, seconds))
    lock = f"drain-forwarding-at-{int(due.timestamp())}"
    try:
        app.tasks["drain-forwarding"].configure(queueing_lock=lock, schedule_at=due).defer()
    except procrastinate.exceptions.AlreadyEnqueued:
        pass  # a drain for that second is already waiting
    except Exception as exc:  # the every-minute drain still finds the row
        log.warning("could not schedule a forwarding drain: %s", type(exc).__name__)


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


def run_worker(services, *, concurrency: int = 4, work_concurrency: int | None = None) -> None:
    """Serve the jobs and work queues until stopped (the `worker` role).

    `concurrency` slots serve the periodic jobs (queue "jobs"), `work_concurrency` slots
    (WORKER_WORK_CONCURRENCY, default 8) the order work (queue "work": inbox and forwarding
    drains), in two procrastinate workers of this process: a sale's orders never wait for a
    slot held by a thousand shops' reconciliations, and those still run while orders pour in.
    """
    from scheduler.forwarding_capacity import work_concurrency as work_slots

    work = work_slots() if work_concurrency is None else work_concurrency
    app = build_app(services)
    ensure_schema(services.settings.database_url)
    # The worker's own wake-ups must defer drains too: the inbox drain routes an order and calls
    # wake_forwarding(); without an engine here that only set an Event nobody waits on, and
    # the order waited for the every-minute drain (bench/peak_orders.py: p50 12 s at 10 orders/s).
    attach(services)
    asyncio.run(serve(app, work_concurrency=work, jobs_concurrency=concurrency))


async def serve(app: procrastinate.App, *, work_concurrency: int, jobs_concurrency: int, install_signal_handlers: bool = True, wait: bool = True) -> None:
    """Run the work-queue and jobs-queue workers side by side on this loop until a signal (wait=False: until both queues are empty)."""
    # procrastinate runs a synchronous task in the loop's default executor, which Python sizes
    # min(32, CPUs + 4): 6 threads on 2 cores, so a worker never ran more than 6 of our (all
    # synchronous) jobs at once whatever its concurrency. Size it to the slots.
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=work_concurrency + jobs_concurrency + 2, thread_name_prefix="procrastinate-job")
    loop.set_default_executor(executor)
    # On SIGTERM procrastinate stops fetching and, after shutdown_graceful_timeout, asks the running
    # jobs to abort: at 0 the drains stop between rows at once (the row in hand finishes, the
    # rest are released); other jobs finish their unit, and the worker waits for them.
    # Retries are scheduled jobs, which a worker finds by polling (new jobs come by LISTEN/NOTIFY):
    # poll often enough that a retry due in half a second is not run five seconds late.
    # The jobs queue polls less often: its scheduled jobs (shop units spread over their interval)
    # may start a few seconds late, and each poll is a query from every worker process.
    common = dict(shutdown_graceful_timeout=0, install_signal_handlers=False, wait=wait)
    workers = [
        procrastinate.worker.Worker(app=app, queues=[WORK_QUEUE], concurrency=work_concurrency, name="dropship-work",
                                    fetch_job_polling_interval=SCHEDULED_JOBS_POLL, **common),
        procrastinate.worker.Worker(app=app, queues=[JOBS_QUEUE], concurrency=jobs_concurrency, name="dropship-jobs",
                                    fetch_job_polling_interval=JOBS_POLL, **common),
    ]

    def stop() -> None:
        for worker in workers:
            worker.stop()

    stopping = procrastinate.signals.on_stop(stop) if install_signal_handlers else contextlib.nullcontext()
    try:
        async with app.open_async():
            with stopping:
                runs = [asyncio.create_task(worker.run()) for worker in workers]
                if wait:  # one worker failing (its side tasks died) stops the other: the process exits and is restarted
                    await asyncio.wait(runs, return_when=asyncio.FIRST_COMPLETED)
                    stop()
                await asyncio.gather(*runs)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
