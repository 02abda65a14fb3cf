"""The scaled-out engine on a real PostgreSQL: procrastinate tasks run the same jobs, each slot once."""
from __future__ import annotations

import datetime as dt

import procrastinate
import pytest
from sqlalchemy import select

from conftest import _fresh_postgres_db, make_settings, sample, webhook_headers
from scheduler.distributed import build_app, conninfo, cron_for
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


def test_a_web_process_on_the_procrastinate_engine_notifies_the_workers_instead_of_deferring_a_drain(postgres_server, app_factory) -> None:
    """The hot path is no procrastinate job any more (tests/jobs/test_worker_lanes.py has the workers' side)."""
    import psycopg

    from shopify_app.jobs.lane_notices import CHANNEL

    url = _fresh_postgres_db(postgres_server)
    upgrade_to_head(url)
    app = app_factory(url, job_engine="procrastinate")
    services = app.extensions["services"]
    from scheduler.distributed import ensure_schema

    ensure_schema(url)
    body = sample("orders_create")
    with psycopg.connect(conninfo(url), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        assert app.test_client().post("/webhooks", data=body, headers=webhook_headers("orders/create", body)).status_code == 200
        services.wake_inbox_worker()  # an install completing: both inbox lanes
        services.wake_forwarding()  # a hold released on the web: the forwarding lane
        heard = [n.payload for n in listener.notifies(timeout=10, stop_after=4)]
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        waiting = conn.execute(text("SELECT task_name, status FROM procrastinate_jobs WHERE task_name LIKE 'drain-%'")).all()
    engine.dispose()
    assert heard == ["orders", "orders", "way-back", "forwarding"]
    assert waiting == []


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
        registered = 0  # both up (a SIGTERM before a worker's signal handler is in place would kill it): one procrastinate worker each
        while time.monotonic() < deadline + 60 and registered < 2:
            with services.engine.connect() as conn:
                registered = conn.execute(text("SELECT count(*) FROM procrastinate_workers")).scalar()
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
    assert [w.returncode for w in workers] == [0, 0], output[-3000:]  # SIGTERM: lanes and procrastinate stopped, a clean exit
