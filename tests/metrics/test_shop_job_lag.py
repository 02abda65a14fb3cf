"""Per-shop jobs' lag for the shops that have work: a busy shop whose unit stops running shows more than an interval; an idle, skipped shop shows nothing."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from conftest import install_shop
from metrics_kit import TOKEN, samples, value
from shopify_app.jobs.fanout import ShopJob, due_units, purge_unit_runs, run_unit, shop_slot, unit_name
from shopify_app.jobs.models import JobRun
from shopify_app.metrics.shop_job_lag import shop_job_lags

MINUTE = dt.timedelta(minutes=1)
T0 = dt.datetime(2026, 11, 27, 10, 0, 0, tzinfo=dt.timezone.utc)
BUSY, OTHER, IDLE = "busy.myshopify.com", "other.myshopify.com", "idle.myshopify.com"


@pytest.fixture
def world(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    install_shop(app, BUSY, OTHER, IDLE)
    return app, app.extensions["services"]


def feeds_job(ran: list, with_work) -> ShopJob:
    """A stock-feeds-like job: every minute, only for the shops its probe names."""
    return ShopJob("stock-feeds", MINUTE, lambda services, shop: ran.append(shop), with_work, first_run_now=True)


def tick(services, job: ShopJob, now: dt.datetime, *, skip: set[str] = frozenset()) -> list[str]:
    """What the dispatcher does at `now`: run every due unit (but those of `skip`, whose runs stopped)."""
    return [unit.shop for unit in due_units(services, [job], now) if unit.shop not in skip and run_unit(services, unit)]


def test_a_busy_shop_whose_job_stops_running_is_more_than_an_interval_late_and_named(world) -> None:
    _, services = world
    ran: list[str] = []
    job = feeds_job(ran, lambda services: {BUSY, OTHER})
    moments = [T0 + n * 20 * dt.timedelta(seconds=1) for n in range(12)]  # a tick every 20 s for 4 minutes
    for now in moments[:6]:
        tick(services, job, now)
        [lag] = shop_job_lags(services, [job], now)
        assert (lag.with_work, lag.behind) == (2, 0)
        assert lag.lag < MINUTE.total_seconds()  # each busy shop's slot claimed, or begun less than an interval ago
    assert set(ran) == {BUSY, OTHER}
    stopped = moments[5]
    for now in moments[6:]:
        tick(services, job, now, skip={BUSY})  # BUSY's unit no longer runs; OTHER's still does
    now = stopped + 3 * MINUTE
    tick(services, job, now, skip={BUSY})
    [lag] = shop_job_lags(services, [job], now)
    assert (lag.with_work, lag.behind, lag.shop) == (2, 1, BUSY)
    assert lag.lag > MINUTE.total_seconds()
    # The lag is the slot it missed: since its previous slot began.
    assert lag.lag == (now - (shop_slot(job.name, BUSY, MINUTE, now) - MINUTE)).total_seconds()
    # Once it runs again, it is on time.
    run_unit(services, next(u for u in due_units(services, [job], now) if u.shop == BUSY))
    [lag] = shop_job_lags(services, [job], now)
    assert (lag.behind, lag.lag, lag.shop) == (0, 0.0, None)


def test_a_skipped_idle_shop_raises_nothing_however_long_it_stays_idle(world) -> None:
    _, services = world
    ran: list[str] = []
    work = {BUSY, IDLE}
    job = feeds_job(ran, lambda services: set(work))
    tick(services, job, T0)
    assert sorted(ran) == [BUSY, IDLE]
    work.discard(IDLE)  # IDLE's supplier stops feeding stock: the dispatcher skips it from now on
    for minutes in range(1, 240):
        now = T0 + minutes * MINUTE + dt.timedelta(seconds=59)
        tick(services, job, now)
    [lag] = shop_job_lags(services, [job], now)
    assert (lag.with_work, lag.behind) == (1, 0)
    assert lag.shop in (None, BUSY) and lag.lag < MINUTE.total_seconds()
    assert ran.count(IDLE) == 1 and ran.count(BUSY) >= 239
    # A job with no shop with work at all: nothing late, nothing counted.
    [nobody] = shop_job_lags(services, [feeds_job([], lambda services: set())], now)
    assert (nobody.with_work, nobody.behind, nobody.lag, nobody.shop) == (0, 0, 0.0, None)


def test_a_shop_whose_work_comes_back_after_days_is_late_only_until_the_next_tick(world) -> None:
    """Its old runs are purged, yet the newest is kept: the unit is known to have run, so it runs at once and is on time."""
    _, services = world
    ran: list[str] = []
    work: set[str] = {IDLE}
    job = feeds_job(ran, lambda services: set(work))
    tick(services, job, T0)
    tick(services, job, T0 + MINUTE)
    work.clear()
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)  # runs are stamped with the wall clock: three days after them
    assert purge_unit_runs(services.session_factory, [job], now=later) == 1  # the older of its two runs
    with services.session_factory() as session:
        assert session.scalars(select(JobRun.slot).where(JobRun.job == unit_name(job.name, IDLE))).all() != []  # the newest run stays
    work.add(IDLE)
    [lag] = shop_job_lags(services, [job], later)
    assert lag.behind == 1  # a slot passed with work and no run: seen at once...
    assert tick(services, job, later) == [IDLE]  # ...and the dispatcher's next tick runs it (it ran before: no wait for a slot start)
    [lag] = shop_job_lags(services, [job], later)
    assert (lag.behind, lag.lag) == (0, 0.0)


def test_a_new_shops_first_run_waits_for_its_slot_start_and_is_not_late(world) -> None:
    _, services = world
    job = ShopJob("catalog-refresh", dt.timedelta(hours=6), lambda services, shop: None, lambda services: {OTHER})  # first run at a slot start
    now = T0 + dt.timedelta(hours=5)
    assert due_units(services, [job], now) == []  # its slot began long ago: it waits for the next one
    [lag] = shop_job_lags(services, [job], now)
    assert lag.with_work == 1 and lag.behind == 0 and lag.lag < job.interval.total_seconds()


def test_metrics_export_every_per_shop_jobs_lag_from_its_own_work_probe(app_factory, sqlite_url) -> None:
    """Through /metrics with the scheduler's real jobs: reconcile (every installed shop) late for a shop that stopped, token-refresh with no shop due."""
    from scheduler.embedded import SHOP_JOBS

    app = app_factory(sqlite_url, metrics_token=TOKEN)
    install_shop(app, BUSY, OTHER)
    services = app.extensions["services"]
    reconcile = next(job for job in SHOP_JOBS if job.name == "reconcile")
    now = dt.datetime.now(dt.timezone.utc)
    with services.session_factory.begin() as session:
        # OTHER ran in its current slot; BUSY last ran three slots ago.
        for shop, slot in ((OTHER, shop_slot("reconcile", OTHER, reconcile.interval, now)),
                           (BUSY, shop_slot("reconcile", BUSY, reconcile.interval, now) - 3 * reconcile.interval)):
            session.add(JobRun(job=unit_name("reconcile", shop), slot=slot, owner="t", status="done", started_at=slot, finished_at=slot))
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    figures = samples(response.get_data(as_text=True))
    for job in SHOP_JOBS:
        assert ("dropship_shop_jobs_with_work", (("job", job.name),)) in figures, job.name
    assert value(figures, "dropship_shop_jobs_with_work", job="reconcile") == 2
    assert value(figures, "dropship_shop_jobs_behind", job="reconcile") == 1
    assert value(figures, "dropship_shop_job_lag_intervals", job="reconcile") > 1
    assert value(figures, "dropship_shop_jobs_with_work", job="token-refresh") == 0  # no token expiring: nobody due, nobody late
    assert value(figures, "dropship_shop_job_lag_seconds", job="token-refresh") == 0
    # Per-shop jobs are judged per shop here, not by their kind's newest run of any shop (which hid BUSY behind OTHER).
    assert ("dropship_job_last_success_timestamp_seconds", (("job", "reconcile"),)) not in figures
