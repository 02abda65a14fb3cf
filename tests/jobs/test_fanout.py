"""Per-shop units: stable offsets spread over the interval, idle shops skipped by one query, each unit once, one shop never holding up the others."""
from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from sqlalchemy import event, func, select

from conftest import install_shop
from scheduler.shop_jobs import ShopJobPool
from shopify_app.jobs.claims import EPOCH
from shopify_app.jobs.fanout import FIRST_SLOT_GRACE, ShopJob, due_units, purge_unit_runs, run_due, shop_offset, shop_slot, unit_name
from shopify_app.jobs.models import JobRun
from shopify_app.models import Shop, ShopStatus
from shopify_app.suppliers.models import Alert

QUARTER = dt.timedelta(minutes=15)
T0 = dt.datetime(2026, 11, 27, 10, 0, 0, tzinfo=dt.timezone.utc)  # Black Friday


def shops(n: int) -> list[str]:
    return [f"shop-{i:04d}.myshopify.com" for i in range(n)]


def test_offsets_are_stable_and_spread_the_shops_over_the_interval() -> None:
    domains = shops(1000)
    offsets = [shop_offset("reconcile", d, QUARTER) for d in domains]
    assert offsets == [shop_offset("reconcile", d, QUARTER) for d in domains]  # every process computes the same
    assert all(dt.timedelta(0) <= o < QUARTER for o in offsets)
    per_minute = Counter(int(o.total_seconds() // 60) for o in offsets)
    assert len(per_minute) == 15 and max(per_minute.values()) < 2 * 1000 / 15  # no minute holds the crowd
    assert len({o.total_seconds() for o in offsets}) > 500  # not all at the same second either
    # Another job puts the same shop elsewhere: one shop's jobs do not all start together.
    assert sum(shop_offset("reconcile", d, QUARTER) == shop_offset("kpi-check", d, QUARTER) for d in domains) < 10


def test_a_shops_slot_holds_the_moment_and_is_on_its_shifted_grid() -> None:
    shop = "shop-0001.myshopify.com"
    offset = shop_offset("reconcile", shop, QUARTER)
    for seconds in range(0, 3600, 97):
        moment = T0 + dt.timedelta(seconds=seconds)
        slot = shop_slot("reconcile", shop, QUARTER, moment)
        assert slot <= moment < slot + QUARTER
        assert (slot - offset - EPOCH).total_seconds() % QUARTER.total_seconds() == 0


@pytest.fixture
def world(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    return app, app.extensions["services"]


def recording_job(calls: list, name: str = "reconcile", with_work=None, fail: set | None = None, interval: dt.timedelta = QUARTER, first_run_now: bool = True) -> ShopJob:
    lock = threading.Lock()

    def run(services, shop: str) -> None:
        with lock:
            calls.append(shop)
        if fail and shop in fail:
            raise RuntimeError("this shop's Shopify answers 500")

    return ShopJob(name, interval, run, with_work, first_run_now)


def test_only_installed_shops_with_work_are_due_found_by_one_query_per_job(world) -> None:
    app, services = world
    domains = shops(60)
    install_shop(app, *domains)
    with services.session_factory.begin() as session:
        session.scalar(select(Shop).where(Shop.domain == domains[0])).status = ShopStatus.UNINSTALLED.value
    busy = set(domains[:10])
    jobs = [recording_job([], "reconcile"), recording_job([], "stock-feeds", with_work=lambda services: busy, interval=dt.timedelta(minutes=1))]
    statements: list[str] = []
    engine = services.session_factory.kw["bind"]
    listener = lambda conn, cursor, statement, *args: statements.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        units = due_units(services, jobs, T0)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 4  # the shops' fingerprint, installed shops, then the claimed slots of each job: not a query per shop
    by_job = Counter(u.job.name for u in units)
    assert by_job == {"reconcile": 59, "stock-feeds": 9}  # the uninstalled shop is out of both
    assert {u.shop for u in units if u.job.name == "stock-feeds"} == busy - {domains[0]}


def test_each_unit_runs_once_per_slot_and_a_failing_shop_fails_alone(world) -> None:
    app, services = world
    domains = shops(5)
    install_shop(app, *domains)
    calls: list[str] = []
    job = recording_job(calls, fail={domains[2]})
    assert run_due(services, [job], T0) == 5
    assert run_due(services, [job], T0) == 0  # the same slots: claimed, a second scheduler tick runs nothing
    assert sorted(calls) == domains
    with services.session_factory() as session:
        runs = {r.job: r for r in session.scalars(select(JobRun))}
        alerts = session.scalars(select(Alert).where(Alert.kind == "job_failed")).all()
    assert runs[unit_name("reconcile", domains[2])].status == "failed"
    assert "RuntimeError" in runs[unit_name("reconcile", domains[2])].error
    assert [runs[unit_name("reconcile", d)].status for d in domains if d != domains[2]] == ["done"] * 4
    assert [(a.shop_domain, a.kind) for a in alerts] == [(domains[2], "job_failed")]
    # The next quarter every shop runs again, the failed one too.
    assert run_due(services, [job], T0 + QUARTER) == 5
    assert len(calls) == 10


def test_each_shop_runs_at_its_own_moment_in_the_interval(world) -> None:
    app, services = world
    domains = shops(30)
    install_shop(app, *domains)
    calls: list[str] = []
    job = recording_job(calls)
    run_due(services, [job], T0)  # the first sight: every shop's current slot
    started = {}
    for second in range(0, int(QUARTER.total_seconds()) + 1, 20):  # a tick every 20 s through the next quarter
        moment = T0 + dt.timedelta(seconds=second)
        for unit in due_units(services, [job], moment):
            started[unit.shop] = (moment, unit.slot)
        run_due(services, [job], moment)
    assert set(started) == set(domains)  # every shop once more within one interval
    assert all(dt.timedelta(0) <= moment - slot < dt.timedelta(seconds=20) for moment, slot in started.values())
    assert len({slot for _, slot in started.values()}) > 20  # at their own moments, not one burst


def test_one_slow_shop_does_not_delay_the_others(world) -> None:
    app, services = world
    domains = shops(12)
    install_shop(app, *domains)
    release = threading.Event()
    done: list[str] = []
    lock = threading.Lock()

    def run(services, shop: str) -> None:
        if shop == domains[0]:
            assert release.wait(30), "never released"
        with lock:
            done.append(shop)

    pool = ShopJobPool(services, [ShopJob("reconcile", QUARTER, run, first_run_now=True)], threads=3, now=lambda: T0)
    try:
        assert pool.dispatch() == 12
        assert pool.dispatch() == 0  # in flight or claimed: not queued twice
        deadline = threading.Event()
        for _ in range(300):
            with lock:
                if len(done) == 11:
                    break
            deadline.wait(0.05)
        with lock:
            assert sorted(done) == domains[1:]  # everyone else finished while the slow shop still runs
        with services.session_factory() as session:
            assert session.scalar(select(JobRun.status).where(JobRun.job == unit_name("reconcile", domains[0]))) == "running"
        release.set()
        assert pool.wait_idle()
        assert sorted(done) == domains
    finally:
        release.set()
        pool.shutdown()


def test_two_schedulers_share_the_units_and_run_each_once(world, sqlite_url) -> None:
    from shopify_app.db import make_engine, make_session_factory

    app, services = world
    domains = shops(40)
    install_shop(app, *domains)
    calls: list[str] = []
    job = recording_job(calls)

    class Other:  # a second process: its own engine on the same database
        session_factory = make_session_factory(make_engine(sqlite_url))

    pools = [ShopJobPool(services, [job], threads=4, now=lambda: T0), ShopJobPool(Other, [job], threads=4, now=lambda: T0)]
    try:
        threads = [threading.Thread(target=pool.dispatch) for pool in pools]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(pool.wait_idle() for pool in pools)
    finally:
        for pool in pools:
            pool.shutdown()
    assert sorted(calls) == domains  # each shop once, though both schedulers saw all 40 due
    with services.session_factory() as session:
        assert session.scalar(select(JobRun.id).where(JobRun.status != "done").limit(1)) is None


def test_the_embedded_scheduler_runs_per_shop_jobs_for_installed_shops(app_factory, sqlite_url) -> None:
    from scheduler.embedded import SHOP_JOBS

    app = app_factory(sqlite_url, run_scheduler=True)
    services = app.extensions["services"]
    install_shop(app, "a-shop.myshopify.com")
    ids = services.scheduler.shop_job_ids("a-shop.myshopify.com")
    assert unit_name("reconcile", "a-shop.myshopify.com") in ids and unit_name("kpi-check", "a-shop.myshopify.com") in ids
    assert unit_name("stock-feeds", "a-shop.myshopify.com") not in ids  # no supplier feeds its stock: nothing to do
    assert {job.name for job in SHOP_JOBS} == {job.name for job in services.scheduler.shop_jobs.jobs}
    assert services.scheduler.shop_job_ids("not-installed.myshopify.com") == []


def test_the_pool_runs_the_earliest_deadline_first_and_never_queues_a_unit_twice(world) -> None:
    app, services = world
    domains = shops(3)
    install_shop(app, *domains)
    order: list[str] = []
    gate = threading.Event()
    lock = threading.Lock()

    def recorder(kind: str):
        def run(services, shop: str) -> None:
            if kind == "gate":
                assert gate.wait(30)
            with lock:
                order.append(f"{kind}:{shop}")
        return run

    blocker = ShopJob("gate", QUARTER, recorder("gate"), lambda services: {domains[0]}, first_run_now=True)
    slow = ShopJob("catalog-refresh", dt.timedelta(hours=6), recorder("catalog-refresh"), first_run_now=True)
    quick = ShopJob("stock-feeds", dt.timedelta(minutes=1), recorder("stock-feeds"), first_run_now=True)
    pool = ShopJobPool(services, [blocker], threads=1, now=lambda: T0)
    try:
        assert pool.dispatch() == 1  # the only thread is now held by the gate
        pool.jobs = (slow, quick)
        assert pool.dispatch() == 6
        assert pool.dispatch() == 0  # all queued: not again
        gate.set()
        assert pool.wait_idle()
    finally:
        gate.set()
        pool.shutdown()
    assert order[0] == f"gate:{domains[0]}"
    # Every stock feed (deadline within the minute) before any six-hourly catalog refresh.
    assert [entry.split(":")[0] for entry in order[1:]] == ["stock-feeds"] * 3 + ["catalog-refresh"] * 3


def test_on_a_first_start_shops_begin_at_their_own_slot_not_all_at_once(world) -> None:
    app, services = world
    domains = shops(30)
    install_shop(app, *domains)
    calls: list[str] = []
    job = recording_job(calls, first_run_now=False)
    first = {}
    for second in range(0, int(QUARTER.total_seconds()) + 1, 5):  # the embedded tick, through one interval
        moment = T0 + dt.timedelta(seconds=second)
        for unit in due_units(services, [job], moment):
            first.setdefault(unit.shop, (moment, unit.slot))
        run_due(services, [job], moment)
    assert set(calls) == set(domains) and max(Counter(calls).values()) <= 2  # each shop in its first interval (twice only if its slot began at the grace's edge)
    assert all(moment - slot <= FIRST_SLOT_GRACE for moment, slot in first.values())  # at its slot start (or just after, at start-up)
    assert sum(moment - slot <= dt.timedelta(seconds=5) for moment, slot in first.values()) > 20
    assert len({moment for moment, _ in first.values()}) > 20  # spread, not a burst at start-up
    # A unit that ran before catches up a missed slot at once (not only at a slot start).
    later = T0 + 3 * QUARTER
    assert {u.shop for u in due_units(services, [job], later)} == set(domains)


def test_units_waiting_on_the_network_run_side_by_side_and_never_hold_up_database_units(world) -> None:
    """The network lane has many threads (20 shops' units wait at once, not 8 at a time); the database lane has its own."""
    app, services = world
    domains = shops(20)
    install_shop(app, *domains)
    waiting = threading.Barrier(len(domains) + 1)  # passes only when every shop's network unit waits at the same time
    released = threading.Event()
    local_ran = threading.Event()

    def on_network(services, shop: str) -> None:
        waiting.wait(30)
        assert released.wait(30)

    network = ShopJob("stock-feeds", dt.timedelta(minutes=1), on_network, first_run_now=True)
    local = ShopJob("kpi-snapshots", QUARTER, lambda services, shop: local_ran.set(), lambda services: {domains[0]}, first_run_now=True, waits_on_network=False)
    pool = ShopJobPool(services, [network, local], threads=24, local_threads=1, now=lambda: T0)
    try:
        assert pool.dispatch() == len(domains) + 1
        waiting.wait(30)  # raises BrokenBarrierError if the lane ran fewer at once
        assert local_ran.wait(30)  # while all network threads are busy
        released.set()
        assert pool.wait_idle()
    finally:
        released.set()
        pool.shutdown()
    with services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(JobRun).where(JobRun.status == "done")) == len(domains) + 1


def test_per_shop_runs_are_kept_two_intervals_and_failures_the_week(world) -> None:
    _, services = world
    feeds = ShopJob("stock-feeds", dt.timedelta(minutes=1), lambda services, shop: None)
    daily = ShopJob("kpi-check", dt.timedelta(days=1), lambda services, shop: None)
    now = T0 + dt.timedelta(days=3)
    with services.session_factory.begin() as session:
        for name, age, status in (("stock-feeds:a", dt.timedelta(minutes=90), "done"), ("stock-feeds:a", dt.timedelta(minutes=30), "done"),
                                  ("stock-feeds:b", dt.timedelta(hours=5), "failed"), ("kpi-check:a", dt.timedelta(hours=30), "done"),
                                  ("stock-feeds", dt.timedelta(hours=5), "done")):  # a global job of the same name prefix: not a unit
            session.add(JobRun(job=name, slot=now - age, owner="t", status=status, started_at=now - age, finished_at=now - age))
    assert purge_unit_runs(services.session_factory, [feeds, daily], now=now) == 1
    with services.session_factory() as session:
        left = sorted((job, status) for job, status in session.execute(select(JobRun.job, JobRun.status)))
    assert left == [("kpi-check:a", "done"), ("stock-feeds", "done"), ("stock-feeds:a", "done"), ("stock-feeds:b", "failed")]
