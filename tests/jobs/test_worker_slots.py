"""A worker process's procrastinate slots on a real PostgreSQL: all of them run jobs at once, one worker serves both queues."""
from __future__ import annotations

import asyncio
import threading
import time

import procrastinate
import psycopg

from conftest import _fresh_postgres_db
from scheduler.distributed import JOBS_QUEUE, WORK_QUEUE, conninfo, serve


def procrastinate_app(postgres_server, url: str | None = None) -> procrastinate.App:
    """A procrastinate App on a fresh database of the test server (or `url`'s), with its schema."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(url or _fresh_postgres_db(postgres_server))))
    with app.open():
        app.schema_manager.apply_schema()
    return app


def serve_until_empty(app: procrastinate.App, concurrency: int) -> None:
    """serve() as run_worker does, until both queues are empty and their jobs done."""
    asyncio.run(serve(app, concurrency=concurrency, install_signal_handlers=False, wait=False))


def test_a_worker_runs_as_many_synchronous_jobs_at_once_as_it_has_slots(postgres_server) -> None:
    """Our jobs are synchronous: procrastinate runs them in the loop's executor, which Python caps at CPUs + 4 threads."""
    slots = 10
    app = procrastinate_app(postgres_server)
    together = threading.Barrier(slots, timeout=15)
    met = []

    @app.task(name="wait-for-the-others", queue=JOBS_QUEUE)
    def wait_for_the_others(n: int) -> None:
        together.wait()  # passes only when all `slots` jobs are running at the same time
        met.append(n)

    with app.open():
        for n in range(slots):
            wait_for_the_others.defer(n=n)
    serve_until_empty(app, concurrency=slots)
    assert sorted(met) == list(range(slots))


def test_one_worker_serves_the_jobs_queue_and_an_older_releases_drain_jobs(postgres_server) -> None:
    """The order lanes are threads of their own: one procrastinate worker takes both queues' jobs (it registers once)."""
    url = _fresh_postgres_db(postgres_server)
    app = procrastinate_app(postgres_server, url)
    ran: list[tuple[str, int]] = []

    def registered_workers() -> int:
        with psycopg.connect(conninfo(url)) as conn:
            return conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0]

    @app.task(name="periodic-job", queue=JOBS_QUEUE)
    def periodic_job() -> None:
        ran.append(("jobs", registered_workers()))

    @app.task(name="drain-inbox", queue=WORK_QUEUE)
    def drain_inbox() -> None:  # what an older web release still defers
        ran.append(("work", registered_workers()))

    with app.open():
        periodic_job.defer()
        drain_inbox.defer()
    serve_until_empty(app, concurrency=1)
    assert sorted(ran) == [("jobs", 1), ("work", 1)]
