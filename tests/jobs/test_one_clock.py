"""One clock: two schedulers on one database run each periodic job once per slot."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from shopify_app.db import make_engine, make_session_factory
from shopify_app.jobs.claims import purge_old_runs, run_claimed, slot_for
from shopify_app.jobs.models import JobRun

MINUTE = dt.timedelta(minutes=1)
T0 = dt.datetime(2026, 11, 22, 10, 0, 0, tzinfo=dt.timezone.utc)


def test_slots_are_epoch_aligned_so_every_process_computes_the_same_one() -> None:
    assert slot_for(T0 + dt.timedelta(seconds=59), MINUTE) == T0
    assert slot_for(T0 + dt.timedelta(seconds=60), MINUTE) == T0 + MINUTE
    assert slot_for(T0 + dt.timedelta(minutes=7), dt.timedelta(minutes=5)) == T0 + dt.timedelta(minutes=5)
    with pytest.raises(ValueError):
        slot_for(T0, dt.timedelta(0))


def test_two_processes_firing_the_same_slot_run_the_job_once(database_url) -> None:
    # Two engines stand for two app processes sharing the database.
    factories = [make_session_factory(make_engine(database_url)) for _ in range(2)]
    calls: list[str] = []
    lock = threading.Lock()

    def job(who: str) -> None:
        with lock:
            calls.append(who)

    fired = [T0 + dt.timedelta(seconds=s) for s in (5, 35, 65, 95, 125)]  # each process fires at its own offset
    barrier = threading.Barrier(2)

    def scheduler(n: int) -> None:
        for moment in fired:
            barrier.wait()
            run_claimed(factories[n], "stock-feeds", MINUTE, job, f"process-{n}", now=lambda moment=moment: moment, owner=f"process-{n}")

    threads = [threading.Thread(target=scheduler, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Five firings each, in three minutes: three runs in all, one per minute, never two at once.
    assert len(calls) == 3
    with factories[0]() as session:
        runs = session.execute(select(JobRun.slot, JobRun.status).order_by(JobRun.slot)).all()
    assert [(slot.astimezone(dt.timezone.utc), status) for slot, status in runs] == [(T0, "done"), (T0 + MINUTE, "done"), (T0 + 2 * MINUTE, "done")]


def test_a_failing_run_is_recorded_and_the_next_slot_runs_again(database_url) -> None:
    factory = make_session_factory(make_engine(database_url))

    def broken() -> None:
        raise RuntimeError("supplier down")

    assert run_claimed(factory, "poll-shipments", MINUTE, broken, now=lambda: T0) is True
    assert run_claimed(factory, "poll-shipments", MINUTE, broken, now=lambda: T0 + dt.timedelta(seconds=30)) is False
    ran = []
    assert run_claimed(factory, "poll-shipments", MINUTE, ran.append, 1, now=lambda: T0 + MINUTE) is True
    assert ran == [1]
    with factory() as session:
        first = session.scalar(select(JobRun).order_by(JobRun.id).limit(1))
        assert first.status == "failed" and "supplier down" in first.error
    assert purge_old_runs(factory, now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=8)) == 2


def test_the_embedded_scheduler_claims_every_periodic_job(app_factory, sqlite_url) -> None:
    app = app_factory(sqlite_url, run_scheduler=True)
    scheduler = app.extensions["services"].scheduler
    jobs = [job for job in scheduler.scheduler.get_jobs() if job.id != "shop-jobs"]
    assert len(jobs) >= 7 and all(job.func is run_claimed for job in jobs)
    assert {job.args[1] for job in jobs} >= {"return-authorizations", "poll-shipments"}
    # Per-shop jobs are found by the dispatcher tick; each unit is claimed by run_slot (tests/jobs/test_fanout.py).
    [tick] = [job for job in scheduler.scheduler.get_jobs() if job.id == "shop-jobs"]
    assert tick.func == scheduler.shop_jobs.dispatch
    assert {job.name for job in scheduler.shop_jobs.jobs} >= {"stock-feeds", "inventory-sync", "reconcile", "kpi-check", "token-refresh", "shop-profile"}
