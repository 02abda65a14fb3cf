"""1,000 shops (issue 19 part E): first catalog mirrors spread over their window, long units on a lane of their own, and a tick that remembers what it saw claimed."""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import Counter

import pytest
from sqlalchemy import event, insert, select

from conftest import install_shop
from scheduler.embedded import FIRST_MIRROR_EVERY, SHOP_JOBS
from scheduler.shop_jobs import ShopJobPool
from shopify_app.inventory.jobs import shops_to_mirror_of, shops_to_sync_of
from shopify_app.inventory.models import CatalogVariant
from shopify_app.jobs.fanout import FIRST_SLOT_GRACE, ShopJob, due_units, forget_installed_shops, run_unit, unit_name
from shopify_app.jobs.models import JobRun
from shopify_app.models import Shop, ShopStatus
from shopify_app.suppliers.models import ProductMapping, Supplier

T0 = dt.datetime(2026, 11, 27, 10, 0, 3, tzinfo=dt.timezone.utc)
TICK = dt.timedelta(seconds=5)


def shops(n: int, prefix: str = "shop") -> list[str]:
    return [f"{prefix}-{i:04d}.myshopify.com" for i in range(n)]


def the_job(name: str) -> ShopJob:
    [job] = [job for job in SHOP_JOBS if job.name == name]
    return job


@pytest.fixture
def world(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    return app, app.extensions["services"]


def selects_during(services, fn):
    statements: list[str] = []
    engine = services.session_factory.kw["bind"]
    listener = lambda conn, cursor, statement, *args: statements.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        result = fn()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return result, [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def test_first_catalog_mirrors_spread_over_their_window_on_a_cold_start(world) -> None:
    app, services = world
    domains = shops(300)
    install_shop(app, *domains)
    with services.session_factory.begin() as session:  # installed long ago: the scheduler's first start on an existing deployment
        for shop in session.scalars(select(Shop).where(Shop.domain.in_(domains))):
            shop.installed_at = T0 - dt.timedelta(days=30)
    mirror = the_job("catalog-mirror")
    assert mirror.lane_name == "bulk" and mirror.one_off and not mirror.first_run_now
    started: dict[str, dt.datetime] = {}
    lock = threading.Lock()
    moment = T0

    def record(services, shop: str) -> None:
        with lock:
            assert shop not in started, "a shop's first mirror ran twice"
            started[shop] = moment

    # Every shop lacks its catalog from the first tick: the scheduler's first start with 300 shops.
    job = dataclasses.replace(mirror, run=record, with_work=lambda services: set(domains) - set(started))
    while moment <= T0 + FIRST_MIRROR_EVERY + TICK:
        for unit in due_units(services, [job], moment):
            run_unit(services, unit)
        moment += TICK
    assert set(started) == set(domains)  # every shop's first mirror within one window (and its grace)
    first_minute = sum(1 for at in started.values() if at < T0 + dt.timedelta(minutes=1))
    assert first_minute < len(domains) * 2 / 3  # not the crowd at once
    assert first_minute < len(domains) * (dt.timedelta(minutes=1) + FIRST_SLOT_GRACE) / FIRST_MIRROR_EVERY * 2  # about its share of the window
    per_minute = Counter(int((at - T0).total_seconds() // 60) for at in started.values())
    assert len(per_minute) >= 14 and max(per_minute.values()) < 3 * len(domains) / 15


def fed_and_mirrored(services, fed: str, mirrored: str) -> None:
    """Both shops get a feeding supplier; only `mirrored` has a catalog mirror."""
    with services.session_factory.begin() as session:
        for shop in (fed, mirrored):
            supplier = Supplier(shop_domain=shop, name="Printful", kind="printful", settings={})
            session.add(supplier)
            session.flush()
            session.add(ProductMapping(shop_domain=shop, sku="MUG", supplier_id=supplier.id, supplier_sku="MUG", cost="4.00"))
        session.add(CatalogVariant(shop_domain=mirrored, variant_gid="gid://shopify/ProductVariant/1", inventory_item_gid="gid://shopify/InventoryItem/1", sku="MUG"))


def test_a_shop_is_mirrored_first_then_synced_and_refreshed(world) -> None:
    app, services = world
    fed, mirrored, idle = "fed.myshopify.com", "mirrored.myshopify.com", "idle.myshopify.com"
    install_shop(app, fed, mirrored, idle)
    fed_and_mirrored(services, fed, mirrored)
    assert shops_to_mirror_of(services) == [fed]
    assert shops_to_sync_of(services) == [mirrored]
    jobs = {job.name: job.with_work for job in SHOP_JOBS}
    assert jobs["catalog-mirror"] is shops_to_mirror_of and jobs["inventory-sync"] is shops_to_sync_of and jobs["catalog-refresh"] is shops_to_sync_of


def test_long_first_mirrors_never_hold_up_other_shops_stock_feed_slots(world) -> None:
    app, services = world
    domains = shops(12)
    install_shop(app, *domains)
    release = threading.Event()
    mirroring: list[str] = []
    fed: list[str] = []
    lock = threading.Lock()

    def slow_mirror(services, shop: str) -> None:
        with lock:
            mirroring.append(shop)
        assert release.wait(30), "never released"

    def feed(services, shop: str) -> None:
        with lock:
            fed.append(shop)

    mirror = dataclasses.replace(the_job("catalog-mirror"), run=slow_mirror, with_work=None, first_run_now=True)
    feeds = dataclasses.replace(the_job("stock-feeds"), run=feed, with_work=None, first_run_now=True)
    # Fewer threads than shops on every lane: 12 exports that never end would hold any shared lane.
    pool = ShopJobPool(services, [mirror, feeds], threads=2, bulk_threads=2, now=lambda: T0 + dt.timedelta(minutes=20))
    try:
        assert pool.dispatch() == 24
        gate = threading.Event()
        for _ in range(600):  # both conditions: under load a bulk thread may start its export after the feeds ran
            with lock:
                if len(fed) == 12 and len(mirroring) >= 2:
                    break
            gate.wait(0.05)
        with lock:
            assert sorted(fed) == domains  # every shop's stock feed ran while the exports still hold their lane
            assert len(mirroring) == 2  # the bulk lane: two at a time, the rest wait their turn there
    finally:
        release.set()
        assert pool.wait_idle()
        pool.shutdown()
    assert len(mirroring) == 12


def test_the_installed_shops_are_read_again_after_an_install_or_uninstall(world) -> None:
    app, services = world
    domains = shops(3)
    install_shop(app, *domains)
    job = ShopJob("reconcile", dt.timedelta(minutes=15), lambda services, shop: None, first_run_now=True)
    assert {u.shop for u in due_units(services, [job], T0)} == set(domains)
    install_shop(app, "new.myshopify.com")  # another process's install: the shops' fingerprint moves
    assert {u.shop for u in due_units(services, [job], T0)} == set(domains) | {"new.myshopify.com"}
    with services.session_factory.begin() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == domains[0]))
        shop.status, shop.uninstalled_at = ShopStatus.UNINSTALLED.value, T0
    assert domains[0] not in {u.shop for u in due_units(services, [job], T0)}  # its work stops at the next tick
    # This process's own install hook forgets the list at once, even when the fingerprint would not move.
    from shopify_app.jobs import fanout

    memory = fanout.fanout_memory(services)
    memory.installed = frozenset({"stale.myshopify.com"})
    forget_installed_shops(services)
    assert "stale.myshopify.com" not in {u.shop for u in due_units(services, [job], T0)}


def test_a_tick_asks_the_database_only_about_units_not_seen_claimed(world) -> None:
    app, services = world
    domains = shops(40)
    install_shop(app, *domains)
    calls: list[str] = []
    shared = lambda services: set(domains[:20])  # noqa: E731 - one function behind two jobs: asked once a tick
    asked = Counter()

    def with_work(services):
        asked["n"] += 1
        return shared(services)

    jobs = [ShopJob("reconcile", dt.timedelta(minutes=15), lambda services, shop: calls.append(shop), first_run_now=True),
            ShopJob("stock-feeds", dt.timedelta(minutes=1), lambda services, shop: calls.append(shop), with_work, first_run_now=True),
            ShopJob("inventory-sync", dt.timedelta(minutes=2), lambda services, shop: calls.append(shop), with_work, first_run_now=True)]
    units = due_units(services, jobs, T0)
    assert asked["n"] == 1
    assert Counter(u.job.name for u in units) == {"reconcile": 40, "stock-feeds": 20, "inventory-sync": 20}
    for unit in units:
        assert run_unit(services, unit)
    # Every unit's current slot is claimed: another tick in the same slots reads one row (the shops' fingerprint), nothing per job.
    again, selects = selects_during(services, lambda: due_units(services, jobs, T0))
    assert again == [] and len(selects) == 1
    # Another process claims a unit's next slot: this process reads it when that slot begins and does not run it.
    shop = sorted(domains[:20])[0]
    nxt = next(u for u in due_units(services, jobs, T0 + dt.timedelta(minutes=1, seconds=59)) if u.name == unit_name("stock-feeds", shop))
    with services.session_factory.begin() as session:
        session.execute(insert(JobRun.__table__).values(job=nxt.name, slot=nxt.slot, owner="other-host:1", status="done"))
    later = due_units(services, jobs, nxt.slot + TICK)
    assert nxt.name not in {u.name for u in later if u.slot == nxt.slot}


def test_a_shop_that_never_ran_waits_for_its_next_slot_and_is_not_asked_about_again(world) -> None:
    app, services = world
    domains = shops(50)
    install_shop(app, *domains)
    job = ShopJob("reconcile", dt.timedelta(minutes=15), lambda services, shop: None)  # no first_run_now: shops spread
    first = due_units(services, [job], T0)
    assert len(first) < 10  # only the shops whose slot began within the grace
    _, selects = selects_during(services, lambda: due_units(services, [job], T0 + TICK))
    assert len(selects) <= 2  # the fingerprint (and the claims of the few still due): the passed-over ones are remembered


# The shop's profile (read at install) and its first catalog mirror (a merchant who just installed sees stock synced in
# minutes) run at once for a shop installed within the interval; month-old shops keep their own moment in it.
@pytest.mark.parametrize("job_name", ["shop-profile", "catalog-mirror"])
def test_a_new_shops_first_unit_runs_at_once_and_old_shops_spread(world, job_name) -> None:
    app, services = world
    old = shops(60, "old")
    install_shop(app, *old)
    with services.session_factory.begin() as session:  # installed a month ago; their units went due together
        for shop in session.scalars(select(Shop).where(Shop.domain.in_(old))):
            shop.installed_at = T0 - dt.timedelta(days=30)
    install_shop(app, "new.myshopify.com")
    with services.session_factory.begin() as session:
        session.scalar(select(Shop).where(Shop.domain == "new.myshopify.com")).installed_at = T0 - dt.timedelta(seconds=40)
    job = dataclasses.replace(the_job(job_name), with_work=None)
    assert job.first_run_now_if_new and not job.first_run_now
    due = {u.shop for u in due_units(services, [job], T0)}
    assert "new.myshopify.com" in due  # at install, not at its slot in the interval
    assert len(due - {"new.myshopify.com"}) < 10  # the month-old shops at their own moments in the interval


def test_one_tick_reads_the_stock_feed_shops_by_catalog_once_for_its_three_jobs(world) -> None:
    app, services = world
    fed, mirrored = "fed-once.myshopify.com", "mirrored-once.myshopify.com"
    install_shop(app, fed, mirrored)
    fed_and_mirrored(services, fed, mirrored)
    jobs = [the_job("inventory-sync"), the_job("catalog-mirror"), the_job("catalog-refresh")]
    units, selects = selects_during(services, lambda: due_units(services, jobs, T0, horizon=dt.timedelta(days=2)))
    assert {(u.job.name, u.shop) for u in units} >= {("catalog-mirror", fed), ("inventory-sync", mirrored), ("catalog-refresh", mirrored)}
    assert not {u.shop for u in units if u.job.name != "catalog-mirror"} & {fed}
    assert sum("catalog_variants" in s for s in selects) == 1  # the split, read once for the three jobs
    # Outside a tick each probe still reads afresh.
    _, selects = selects_during(services, lambda: (shops_to_mirror_of(services), shops_to_sync_of(services)))
    assert sum("catalog_variants" in s for s in selects) == 2
