"""A shop's stock-feeds unit each minute: nothing due and every feed fresh means no write at all; a stale alert to close still gets its write."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from sqlalchemy import event, select, update

from integrations.suppliers.base import StockLevel
from shopify_app.alerts import raise_alert
from shopify_app.db import make_engine, make_session_factory
from shopify_app.inventory import jobs as inventory_jobs
from shopify_app.inventory.feeds import feeds_have_work, pull_due, stale_alert_key, stale_check_needed
from shopify_app.models import utcnow
from shopify_app.suppliers.models import Alert, ProductMapping, Supplier

SHOP = "feeds-fast.myshopify.com"
WRITES = ("INSERT", "UPDATE", "DELETE")


class Adapter:
    calls = 0

    def get_stock(self, skus):
        self.calls += 1
        return [StockLevel(s, True, 5) for s in skus]


@pytest.fixture
def world(database_url, monkeypatch):
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="Acme", kind="rest", settings={}, inventory_terms={"pull_every_minutes": 60})
        session.add(supplier)
        session.flush()
        session.add(ProductMapping(shop_domain=SHOP, sku="SKU-1", supplier_id=supplier.id, supplier_sku="SKU-1"))
        supplier_id = supplier.id
    adapter = Adapter()
    monkeypatch.setattr(inventory_jobs, "adapter_from_record", lambda supplier, box: adapter)
    writes: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda conn, cursor, statement, *rest: writes.append(statement) if statement.lstrip().upper().startswith(WRITES) else None)
    # SQLite's BEGIN runs on the DBAPI connection (db.py), without a statement event: a write transaction is seen by its begin.
    event.listen(engine, "begin", lambda conn: writes.append("BEGIN IMMEDIATE")
                 if conn.dialect.name == "sqlite" and conn.get_execution_options().get("sqlite_begin", "IMMEDIATE") == "IMMEDIATE" else None)
    yield SimpleNamespace(session_factory=factory, box=None), supplier_id, adapter, writes
    engine.dispose()


def test_a_minute_with_nothing_due_and_fresh_feeds_writes_nothing(world) -> None:
    services, _, adapter, writes = world
    assert inventory_jobs.pull_due_stock_feeds(services, SHOP) == 1  # never pulled: due
    assert adapter.calls == 1 and writes  # the feed run and the stock were written
    writes.clear()
    assert inventory_jobs.pull_due_stock_feeds(services, SHOP) == 0  # pulled a moment ago, every hour
    assert writes == []


def test_an_open_stale_alert_is_still_closed_by_the_next_fresh_minute(world) -> None:
    services, supplier_id, _, writes = world
    assert inventory_jobs.pull_due_stock_feeds(services, SHOP) == 1
    with services.session_factory.begin() as session:  # raised while the supplier was silent, before this pull
        raise_alert(session, SHOP, "stock_feed_stale", stale_alert_key(supplier_id), "No stock feed", severity="warning", subject="Acme")
    writes.clear()
    assert inventory_jobs.pull_due_stock_feeds(services, SHOP) == 0
    assert writes  # the check ran in a write transaction
    with services.session_factory() as session:
        assert session.scalar(select(Alert.resolved_at).where(Alert.dedupe_key == stale_alert_key(supplier_id))) is not None


def test_the_one_read_agrees_with_the_full_rules(world) -> None:
    """feeds_have_work: a pull due, a stale feed, an open stale alert -> work; fresh and alert-free -> none; delta feeds are never pulled."""
    services, supplier_id, _, _ = world
    with services.session_factory() as session:
        assert feeds_have_work(session, SHOP)  # never pulled
        assert not feeds_have_work(session, "other.myshopify.com")  # no supplier at all
    inventory_jobs.pull_due_stock_feeds(services, SHOP)
    now = utcnow()
    with services.session_factory() as session:
        supplier = session.get(Supplier, supplier_id)
        for later, expected in ((dt.timedelta(minutes=1), False), (dt.timedelta(minutes=61), True), (dt.timedelta(minutes=200), True)):
            assert feeds_have_work(session, SHOP, now + later) is expected
            full = pull_due(session, supplier, now + later) or stale_check_needed(session, now + later, SHOP)
            assert full is expected
    with services.session_factory.begin() as session:
        session.get(Supplier, supplier_id).inventory_terms = {"pull_every_minutes": 0, "stale_after_minutes": 600}  # feeds by webhook only
    with services.session_factory() as session:
        assert not feeds_have_work(session, SHOP, now + dt.timedelta(minutes=200))
    with services.session_factory.begin() as session:
        raise_alert(session, SHOP, "stock_feed_stale", stale_alert_key(supplier_id), "No stock feed", severity="warning", subject="Acme")
    with services.session_factory() as session:
        assert feeds_have_work(session, SHOP)  # the open alert must be closed by the full path
    with services.session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        supplier.kind = "edi_x12"  # a delta feed: never pulled, never stale
        session.execute(update(Alert).values(resolved_at=utcnow()))
    with services.session_factory() as session:
        assert not feeds_have_work(session, SHOP, now + dt.timedelta(days=3))


def test_the_stale_read_agrees_with_the_write_path_for_one_shop_and_for_every_shop(world) -> None:
    """stale_check_needed (one Core read) answers True exactly when check_stale_feeds (the ORM write path) would change something."""
    from shopify_app.inventory.feeds import check_stale_feeds

    services, supplier_id, _, _ = world
    inventory_jobs.pull_due_stock_feeds(services, SHOP)  # a good feed now
    with services.session_factory.begin() as session:
        other = Supplier(shop_domain="fresh.myshopify.com", name="Fresh", kind="rest", settings={}, inventory_terms={"stale_after_minutes": 600})
        session.add(other)
        session.flush()
        session.add(ProductMapping(shop_domain="fresh.myshopify.com", sku="F-1", supplier_id=other.id, supplier_sku="F-1"))
    now = utcnow()
    for later in (dt.timedelta(minutes=1), dt.timedelta(hours=25), dt.timedelta(days=3)):
        for shop in (SHOP, "fresh.myshopify.com", None):
            with services.session_factory() as session:
                needed = stale_check_needed(session, now + later, shop)
            with services.session_factory() as session:  # the write path, rolled back
                stale = check_stale_feeds(session, now + later, shop_domain=shop)
                open_alerts = session.scalar(select(Alert.id).where(Alert.kind == "stock_feed_stale", Alert.resolved_at.is_(None)).limit(1))
                session.rollback()
            assert needed is bool(stale), (later, shop)
            assert open_alerts is None or stale
    # An open alert is work for its shop's check (to close it) and for the all-shops check, not for the other shop.
    with services.session_factory.begin() as session:
        raise_alert(session, SHOP, "stock_feed_stale", stale_alert_key(supplier_id), "No stock feed", severity="warning", subject="Acme")
    with services.session_factory() as session:
        assert stale_check_needed(session, now, SHOP) and stale_check_needed(session, now, None)
        assert not stale_check_needed(session, now, "fresh.myshopify.com")
