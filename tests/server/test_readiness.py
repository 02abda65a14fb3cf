"""/healthz is liveness without the database; /readyz fails when the database is gone, migrations are behind, or nobody runs the jobs."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from alembic import command

from conftest import _fresh_postgres_db
from pg_server import PostgresUnavailable, start_postgres
from shopify_app.jobs.claims import run_claimed
from shopify_app.migrate import alembic_config, upgrade_to_head
from shopify_app.web import health


def ready(app):
    answer = app.test_client().get("/readyz")
    return answer.status_code, answer.get_json()


def test_ready_with_the_embedded_scheduler_then_not_when_the_sqlite_file_is_gone(app_factory, sqlite_url):
    app = app_factory(sqlite_url, run_scheduler=True)
    status, body = ready(app)
    assert status == 200 and body["status"] == "ready", body
    assert body["checks"]["clock"]["engine"] == "embedded" and body["checks"]["migrations"]["ok"]
    Path(sqlite_url.split("///", 1)[1]).unlink()
    status, body = ready(app)
    assert status == 503 and body["status"] == "not ready"
    assert "database" in body["reason"] and "missing" in body["reason"]
    # Liveness does not touch the database: the process is alive and says so.
    live = app.test_client().get("/healthz")
    assert live.status_code == 200 and live.get_json()["scheduler"]["running"] is True


def test_not_ready_while_migrations_are_behind(app_factory, sqlite_url):
    app = app_factory(sqlite_url, run_scheduler=True)
    command.downgrade(alembic_config(sqlite_url), "-1")
    status, body = ready(app)
    assert status == 503 and body["reason"].startswith("migrations: schema at"), body
    assert body["checks"]["migrations"]["head"] == list(health.alembic_heads())
    upgrade_to_head(sqlite_url)  # the migrate role ran
    assert ready(app)[0] == 200


def test_a_stuck_pump_makes_the_process_not_ready(app_factory, sqlite_url, monkeypatch):
    app = app_factory(sqlite_url, run_scheduler=True)
    pump = app.extensions["services"].scheduler.lanes.forwarding_pump
    release = threading.Event()
    entered = threading.Event()
    real_work = pump.work

    def stuck():
        entered.set()
        release.wait(30)

    pump.work = stuck
    try:
        pump.wakeup.set()
        assert entered.wait(10)
        monkeypatch.setattr(health, "PUMP_SILENT_SECONDS", 0.2)
        deadline = time.monotonic() + 10
        while ready(app)[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        status, body = ready(app)
        assert status == 503 and "has not finished a pass" in body["reason"], body
    finally:
        pump.work = real_work
        release.set()


def test_a_busy_pump_whose_drain_finishes_rows_stays_ready(app_factory, sqlite_url, monkeypatch):
    """A pass longer than the silence limit is busy, not stuck, while its drain keeps finishing rows."""
    app = app_factory(sqlite_url, run_scheduler=True)
    scheduler = app.extensions["services"].scheduler
    pump, worker = scheduler.lanes.forwarding_pump, scheduler.lanes.forwarding_worker
    entered, finished, statuses = threading.Event(), threading.Event(), []
    real_work = pump.work

    def busy():  # each row takes a while; all together longer than PUMP_SILENT_SECONDS
        entered.set()
        for _ in range(30):
            time.sleep(0.1)
            worker.beat()  # what the drain does per finished row
        finished.set()

    monkeypatch.setattr(health, "PUMP_SILENT_SECONDS", 1.5)  # idle pumps beat every 1 s poll
    pump.work = busy
    try:
        pump.wakeup.set()
        assert entered.wait(10)
        while not finished.wait(0.05) and entered.is_set() and len(statuses) < 200:
            statuses.append(ready(app)[0])
    finally:
        pump.work = real_work
    assert finished.is_set() and statuses and set(statuses) == {200}
    assert all(w.beat == p.beat for w, p in zip(scheduler.lanes.orders_lane_workers, (scheduler.lanes.pump, *scheduler.lanes.more_inbox_pumps)))
    assert scheduler.lanes.supplier_events_worker.beat == scheduler.lanes.supplier_events_pump.beat


def test_with_the_clock_in_another_process_ready_only_after_a_job_ran(app_factory, sqlite_url):
    import datetime as dt

    app = app_factory(sqlite_url)  # RUN_SCHEDULER=0 (the tests' default)
    status, body = ready(app)
    assert status == 503 and "no job ran" in body["reason"], body
    run_claimed(app.extensions["services"].session_factory, "alert-notifications", dt.timedelta(minutes=1), lambda: None)
    assert ready(app)[0] == 200


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test's own (the test stops it)."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


def fresh_database(server) -> str:
    url = _fresh_postgres_db(server)
    upgrade_to_head(url)
    return url


@pytest.mark.postgres
def test_postgresql_stopped_makes_it_not_ready(app_factory, own_postgres):
    app = app_factory(fresh_database(own_postgres), run_scheduler=True)
    assert ready(app)[0] == 200
    own_postgres.stop()
    status, body = ready(app)
    assert status == 503 and body["reason"].startswith("database: database unreachable (OperationalError)"), body
    assert app.test_client().get("/healthz").status_code == 200


@pytest.mark.postgres
def test_scaled_out_web_is_ready_only_while_a_procrastinate_worker_beats(app_factory, postgres_server):
    from scheduler.distributed import conninfo, ensure_schema

    url = fresh_database(postgres_server)
    ensure_schema(url)
    app = app_factory(url, job_engine="procrastinate")
    status, body = ready(app)
    assert status == 503 and "no procrastinate worker heartbeat" in body["reason"], body
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("INSERT INTO procrastinate_workers DEFAULT VALUES")  # what a starting worker registers
        status, body = ready(app)
        assert status == 200 and body["checks"]["clock"] == {"ok": True, "engine": "procrastinate", "workers": 1}, body
        conn.execute("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '5 minutes'")  # a worker that died without deregistering
    assert ready(app)[0] == 503


def test_a_database_never_migrated_is_not_ready(app_factory, tmp_path):
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").close()  # the file exists, with no tables
    app = app_factory(f"sqlite:///{tmp_path / 'empty.db'}")
    status, body = ready(app)
    assert status == 503 and "cannot read the schema version" in body["reason"] and "migrate" in body["reason"], body


def test_a_sqlite_write_lock_held_elsewhere_makes_it_not_ready(app_factory, sqlite_url, monkeypatch):
    import sqlite3

    app = app_factory(sqlite_url, run_scheduler=True)
    assert ready(app)[0] == 200
    monkeypatch.setattr(health, "SQLITE_WRITE_PROBE_SECONDS", 0.2)
    holder = sqlite3.connect(sqlite_url.split("///", 1)[1], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process stuck in a write transaction
    try:
        status, body = ready(app)
        assert status == 503 and body["reason"].startswith("database: database is locked for writing"), body
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ready(app)[0] == 200
