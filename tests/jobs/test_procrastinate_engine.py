"""The scaled-out engine on a real PostgreSQL: procrastinate tasks run the same jobs, each slot once."""
from __future__ import annotations

import datetime as dt

import procrastinate
import pytest
from sqlalchemy import select

from conftest import _fresh_postgres_db, make_settings, sample, webhook_headers
from scheduler.distributed import build_app, conninfo, cron_for, wake
from shopify_app.jobs.models import JobRun
from shopify_app.migrate import upgrade_to_head
from shopify_app.models import WebhookDelivery


@pytest.fixture
def postgres_app(postgres_server, app_factory):
    url = _fresh_postgres_db(postgres_server)
    upgrade_to_head(url)
    app = app_factory(url)
    services = app.extensions["services"]
    engine = build_app(services)
    with engine.open():
        engine.schema_manager.apply_schema()
        yield app, services, engine


def test_cron_lines_and_conninfo() -> None:
    assert cron_for(dt.timedelta(seconds=30)) == "* * * * *"
    assert cron_for(dt.timedelta(minutes=15)) == "*/15 * * * *"
    assert cron_for(dt.timedelta(hours=6)) == "0 */6 * * *"
    assert conninfo("postgresql+psycopg://u:p@127.0.0.1:5433/db") == "postgresql://u:p@127.0.0.1:5433/db"
    with pytest.raises(ValueError):
        conninfo("sqlite:///x.db")


def test_two_workers_deferring_the_same_tick_run_the_job_once(postgres_app) -> None:
    _, services, engine = postgres_app
    tick = int(dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.timezone.utc).timestamp())
    for _ in range(2):  # two workers' periodic deferrers, or a deferrer and an embedded clock
        engine.tasks["alert-notifications"].defer(timestamp=tick)  # a global job (stock feeds are per shop now: test_procrastinate_fanout.py)
    engine.run_worker(queues=["jobs"], wait=False, install_signal_handlers=False)
    slot = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.timezone.utc)
    with services.session_factory() as session:
        runs = session.scalars(select(JobRun).where(JobRun.job == "alert-notifications", JobRun.slot == slot)).all()
        # The worker's own periodic deferrer also fired for the current minute: the real clock at work.
        now_runs = session.scalars(select(JobRun).where(JobRun.job == "alert-notifications", JobRun.slot > slot)).all()
    assert len(runs) == 1 and runs[0].status == "done"
    assert len(now_runs) <= 1


def test_the_inbox_is_drained_by_a_worker_when_woken_once(postgres_app) -> None:
    app, services, engine = postgres_app
    body = sample("orders_create")
    assert app.test_client().post("/webhooks", data=body, headers=webhook_headers("orders/create", body)).status_code == 200
    wake(engine, "drain-inbox")
    wake(engine, "drain-inbox")  # already waiting: the queueing lock keeps one
    engine.run_worker(queues=["work"], wait=False, install_signal_handlers=False)
    with services.session_factory() as session:
        # Handled by the worker (the shop is not installed here, so Shopify's order waits for its install).
        assert [row.status for row in session.scalars(select(WebhookDelivery))] == ["waiting"]
    assert isinstance(engine, procrastinate.App)


def test_a_web_process_on_the_procrastinate_engine_defers_the_drain(postgres_server, app_factory) -> None:
    url = _fresh_postgres_db(postgres_server)
    upgrade_to_head(url)
    app = app_factory(url, job_engine="procrastinate")
    services = app.extensions["services"]
    from scheduler.distributed import ensure_schema

    ensure_schema(url)
    body = sample("orders_create")
    assert app.test_client().post("/webhooks", data=body, headers=webhook_headers("orders/create", body)).status_code == 200
    services.wake_inbox_worker()  # what intake does after the commit
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        waiting = conn.execute(text("SELECT task_name, status FROM procrastinate_jobs WHERE task_name = 'drain-inbox'")).all()
    engine.dispose()
    assert waiting == [("drain-inbox", "todo")]


def test_two_worker_processes_started_together_share_one_schema_and_drain_the_inbox(postgres_server, app_factory, tmp_path) -> None:
    """`python -m shopify_app.cli worker`, twice at once, as a deployment starts them: both come up and work."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from conftest import API_KEY, API_SECRET, FERNET_KEY

    url = _fresh_postgres_db(postgres_server)
    upgrade_to_head(url)
    env = dict(os.environ, SHOPIFY_API_KEY=API_KEY, SHOPIFY_API_SECRET=API_SECRET, ENCRYPTION_KEYS=FERNET_KEY, DATABASE_URL=url,
               APP_URL="http://127.0.0.1:9", JOB_ENGINE="procrastinate", RUN_SCHEDULER="0")
    repo = Path(__file__).resolve().parents[2]
    logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
    workers = [subprocess.Popen([sys.executable, "-m", "shopify_app.cli", "worker", "--concurrency", "2"], cwd=repo, env=env,
                                stdout=log.open("wb"), stderr=subprocess.STDOUT) for log in logs]
    try:
        app = app_factory(url, job_engine="procrastinate")
        services = app.extensions["services"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the schema is the workers' to create
            with services.engine.connect() as conn:
                from sqlalchemy import text

                if conn.execute(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar():
                    break
            time.sleep(0.2)
        body = sample("orders_create")
        assert app.test_client().post("/webhooks", data=body, headers=webhook_headers("orders/create", body)).status_code == 200
        services.wake_inbox_worker()
        status = None
        while time.monotonic() < deadline + 30 and status != "waiting":
            with services.session_factory() as session:
                status = session.scalar(select(WebhookDelivery.status))
            time.sleep(0.2)
        alive = [w.poll() is None for w in workers]
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=20)
    output = "\n".join(log.read_text(errors="replace") for log in logs)
    assert alive == [True, True], output[-3000:]
    assert status == "waiting", output[-3000:]
    assert "Traceback" not in output, output[-3000:]


def test_a_forwarding_retry_gets_a_drain_scheduled_for_when_it_is_due(postgres_app) -> None:
    from sqlalchemy import text

    from scheduler.distributed import schedule_forwarding_at

    _, services, engine = postgres_app
    before = dt.datetime.now(dt.timezone.utc)
    schedule_forwarding_at(engine, 12.0)
    schedule_forwarding_at(engine, 12.0)  # the same second: one drain serves both
    schedule_forwarding_at(engine, 40.0)
    schedule_forwarding_at(engine, None)  # nothing waits: nothing scheduled
    with services.engine.connect() as conn:
        jobs = conn.execute(text("SELECT scheduled_at FROM procrastinate_jobs WHERE task_name = 'drain-forwarding' AND status = 'todo' ORDER BY scheduled_at")).scalars().all()
    assert [round((at - before).total_seconds()) for at in jobs] == [12, 40]  # at the retries' due times, not the next minute


def test_a_worker_process_defers_the_forwarding_drain_its_own_inbox_drain_asks_for(postgres_server, app_factory, monkeypatch) -> None:
    """An order routed inside a worker is forwarded at once, not at the next minute's drain."""
    from sqlalchemy import text

    from scheduler.distributed import run_worker

    url = _fresh_postgres_db(postgres_server)
    upgrade_to_head(url)
    services = app_factory(url).extensions["services"]
    async def serve_nothing(app, **kwargs) -> None:
        pass

    monkeypatch.setattr("scheduler.distributed.serve", serve_nothing)  # set up as `cli worker` does, serve nothing
    assert services.job_engine is None
    try:
        run_worker(services)
        services.wake_forwarding()  # what the orders handler does, here inside the worker
        with services.engine.connect() as conn:
            waiting = conn.execute(text("SELECT task_name, status FROM procrastinate_jobs WHERE task_name = 'drain-forwarding'")).all()
    finally:
        if services.job_engine is not None:
            services.job_engine.close()
            services.job_engine = None
    assert waiting == [("drain-forwarding", "todo")]


def test_an_inbox_drain_claims_a_small_batch_so_drains_side_by_side_share_a_burst(postgres_app, monkeypatch) -> None:
    """Each drain-inbox job leases at most INBOX_DRAIN_BATCH rows at a time, not the whole burst."""
    from shopify_app.webhooks.worker import InboxWorker
    from scheduler.distributed import INBOX_DRAIN_BATCH

    app, services, engine = postgres_app
    asked: list[int] = []
    original = InboxWorker.drain

    def drain(self, batch_size: int = 100, max_batches: int = 100):
        asked.append(batch_size)
        return original(self, batch_size=batch_size, max_batches=max_batches)

    monkeypatch.setattr(InboxWorker, "drain", drain)
    body = sample("orders_create")
    for n in range(3):
        headers = webhook_headers("orders/create", body, webhook_id=f"burst-{n}")
        assert app.test_client().post("/webhooks", data=body, headers=headers).status_code == 200
    wake(engine, "drain-inbox")
    engine.run_worker(queues=["work"], wait=False, install_signal_handlers=False)
    with services.session_factory() as session:
        statuses = [row.status for row in session.scalars(select(WebhookDelivery))]
    assert asked and set(asked) == {INBOX_DRAIN_BATCH} and INBOX_DRAIN_BATCH <= 10
    assert statuses == ["waiting"] * 3  # drained all the same (the shop is not installed: they wait for it)
