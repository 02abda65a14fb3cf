"""A worker process's slots on a real PostgreSQL: all of them run jobs at once, and order work has its own."""
from __future__ import annotations

import asyncio
import threading
import time

import procrastinate

from conftest import _fresh_postgres_db
from scheduler.distributed import JOBS_QUEUE, WORK_QUEUE, conninfo, serve


def procrastinate_app(postgres_server) -> procrastinate.App:
    """A procrastinate App on a fresh database of the test server, with its schema."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(_fresh_postgres_db(postgres_server))))
    with app.open():
        app.schema_manager.apply_schema()
    return app


def serve_until_empty(app: procrastinate.App, **slots) -> None:
    """serve() as run_worker does, until both queues are empty and their jobs done."""
    asyncio.run(serve(app, install_signal_handlers=False, wait=False, **slots))


def test_a_worker_runs_as_many_synchronous_jobs_at_once_as_it_has_slots(postgres_server) -> None:
    """Our jobs are synchronous: procrastinate runs them in the loop's executor, which Python caps at CPUs + 4 threads."""
    slots = 10
    app = procrastinate_app(postgres_server)
    together = threading.Barrier(slots, timeout=15)
    met = []

    @app.task(name="wait-for-the-others", queue=WORK_QUEUE)
    def wait_for_the_others(n: int) -> None:
        together.wait()  # passes only when all `slots` jobs are running at the same time
        met.append(n)

    with app.open():
        for n in range(slots):
            wait_for_the_others.defer(n=n)
    serve_until_empty(app, work_concurrency=slots, jobs_concurrency=1)
    assert sorted(met) == list(range(slots))


def test_order_work_runs_while_periodic_jobs_hold_every_jobs_slot(postgres_server) -> None:
    """Reconciliations filling the jobs slots never keep an orders drain waiting: the work queue has slots of its own."""
    app = procrastinate_app(postgres_server)
    order_done = threading.Event()
    seen_by_jobs: list[bool] = []

    @app.task(name="slow-periodic-job", queue=JOBS_QUEUE)
    def slow_periodic_job() -> None:
        seen_by_jobs.append(order_done.wait(timeout=15))  # a long reconciliation: it ends once the order is through

    @app.task(name="order-drain", queue=WORK_QUEUE)
    def order_drain() -> None:
        order_done.set()

    with app.open():
        for _ in range(4):  # more than the jobs slots: the queue stays full
            slow_periodic_job.defer()
        time.sleep(0.05)
        order_drain.defer()  # deferred last
    started = time.monotonic()
    serve_until_empty(app, work_concurrency=1, jobs_concurrency=2)
    assert order_done.is_set()
    assert seen_by_jobs == [True] * 4  # the first two were still running when the order went through
    assert time.monotonic() - started < 15
