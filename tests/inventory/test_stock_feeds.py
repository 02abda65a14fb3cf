"""Stock feeds into our records: full and delta feeds, unknown SKUs, the bad-feed guard, staleness."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory_kit import SHOP, add_supplier, session_factory_for, stock_of
from integrations.suppliers.base import StockLevel, TransientSupplierError
from shopify_app.inventory.feeds import apply_feed, check_stale_feeds, confirm_held_feed, discard_held_feed, pull_supplier_stock
from shopify_app.inventory.models import FeedStatus, StockFeedRun
from shopify_app.suppliers.models import Alert, Supplier

SKUS = [f"SKU-{n}" for n in range(10)]


@pytest.fixture
def world(database_url):
    factory = session_factory_for(database_url)
    supplier_id = add_supplier(factory, SKUS)
    with factory.begin() as session:
        apply_feed(session, session.get(Supplier, supplier_id), [StockLevel(s, True, 10) for s in SKUS], source="file", full=True)
    return factory, supplier_id


def _feed(factory, supplier_id, levels, **kw) -> StockFeedRun:
    with factory.begin() as session:
        run = apply_feed(session, session.get(Supplier, supplier_id), levels, **kw)
        session.flush()
        session.expunge(run)
        return run


def _open_alerts(factory, kind):
    with factory() as session:
        return session.scalars(select(Alert).where(Alert.kind == kind, Alert.resolved_at.is_(None))).all()


def test_a_full_feed_sets_every_sku_and_reports_unknown_ones(world) -> None:
    factory, supplier_id = world
    run = _feed(factory, supplier_id, [StockLevel(s, True, 12) for s in SKUS] + [StockLevel("NOT-MAPPED", True, 3)], source="file", full=True)
    assert run.status == FeedStatus.APPLIED and run.skus_changed == 10 and run.skus_dropped == 0
    assert run.errors == [{"row": None, "sku": "NOT-MAPPED", "error": "unknown SKU: no product is mapped to it for this supplier"}]
    assert set(stock_of(factory, supplier_id).values()) == {(12, True)}


@pytest.mark.parametrize("full", [True, False])
def test_a_count_no_stock_column_holds_is_refused_for_its_sku_alone(world, full) -> None:
    """A supplier's 10**30 (or 2**31 on PostgreSQL's INTEGER) failed the whole feed's write: every SKU kept its old stock, every pull again."""
    factory, supplier_id = world
    absurd = [StockLevel(SKUS[0], True, 10**30), StockLevel(SKUS[1], True, 2**31), StockLevel(SKUS[2], True, -1)]
    run = _feed(factory, supplier_id, absurd + [StockLevel(s, True, 12) for s in SKUS[3:]], source="pull", full=full)
    assert run.status == FeedStatus.APPLIED and run.rows_refused == 3
    assert [e["sku"] for e in run.errors] == SKUS[:3] and "not a stock count from 0 to 2147483647" in run.errors[0]["error"]
    stock = stock_of(factory, supplier_id)
    assert {stock[s] for s in SKUS[3:]} == {(12, True)}
    assert {stock[s] for s in SKUS[:3]} == {(10, True)}  # kept as they were, not zeroed as unlisted by the snapshot


def test_a_delta_feed_leaves_unlisted_skus_alone_but_a_full_feed_zeroes_them(world) -> None:
    factory, supplier_id = world
    _feed(factory, supplier_id, [StockLevel("SKU-0", True, 3)], source="webhook", full=False)
    stock = stock_of(factory, supplier_id)
    assert stock["SKU-0"] == (3, True) and stock["SKU-1"] == (10, True)
    run = _feed(factory, supplier_id, [StockLevel(s, True, 10) for s in SKUS if s != "SKU-9"], source="file", full=True)
    assert run.status == FeedStatus.APPLIED and run.skus_dropped == 1
    assert stock_of(factory, supplier_id)["SKU-9"] == (0, False)


def test_a_feed_that_drops_half_the_catalog_is_held_until_confirmed(world) -> None:
    factory, supplier_id = world
    run = _feed(factory, supplier_id, [StockLevel(s, True, 10) for s in SKUS[:5]], source="url", full=True)
    assert run.status == FeedStatus.NEEDS_CONFIRMATION and run.skus_dropped == 5
    assert set(stock_of(factory, supplier_id).values()) == {(10, True)}  # nothing changed
    assert len(_open_alerts(factory, "stock_feed_held")) == 1
    with factory.begin() as session:
        applied = confirm_held_feed(session, session.get(StockFeedRun, run.id))
        assert applied.status == FeedStatus.CONFIRMED
    stock = stock_of(factory, supplier_id)
    assert [stock[s] for s in SKUS[5:]] == [(0, False)] * 5
    assert _open_alerts(factory, "stock_feed_held") == []
    with factory.begin() as session, pytest.raises(ValueError):
        confirm_held_feed(session, session.get(StockFeedRun, run.id))  # only once


def test_a_held_feed_can_be_discarded(world) -> None:
    factory, supplier_id = world
    run = _feed(factory, supplier_id, [StockLevel(s, False, 0) for s in SKUS], source="file", full=True)
    assert run.status == FeedStatus.NEEDS_CONFIRMATION
    with factory.begin() as session:
        discard_held_feed(session, session.get(StockFeedRun, run.id))
    assert set(stock_of(factory, supplier_id).values()) == {(10, True)}


def test_the_guard_share_is_configurable(database_url) -> None:
    factory = session_factory_for(database_url)
    supplier_id = add_supplier(factory, SKUS, terms={"guard_share": 1.0})
    _feed(factory, supplier_id, [StockLevel(s, True, 10) for s in SKUS], source="file", full=True)
    run = _feed(factory, supplier_id, [StockLevel(s, False, 0) for s in SKUS], source="file", full=True)
    assert run.status == FeedStatus.APPLIED  # this merchant accepts whole-catalog swings


def test_an_empty_snapshot_changes_nothing(world) -> None:
    factory, supplier_id = world
    run = _feed(factory, supplier_id, [], source="pull", full=True)
    assert run.status == FeedStatus.FAILED
    assert set(stock_of(factory, supplier_id).values()) == {(10, True)}


def test_a_feed_stamps_its_time_on_the_skus_it_covers(world) -> None:
    factory, supplier_id = world
    as_of = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.timezone.utc)
    _feed(factory, supplier_id, [StockLevel("SKU-0", True, 4)], source="webhook", full=False, as_of=as_of)
    from shopify_app.suppliers.models import ProductMapping

    with factory() as session:
        stamps = dict(session.execute(select(ProductMapping.supplier_sku, ProductMapping.stock_as_of).where(ProductMapping.supplier_id == supplier_id)).all())
    assert stamps["SKU-0"].astimezone(dt.timezone.utc) == as_of
    assert stamps["SKU-1"].astimezone(dt.timezone.utc) != as_of


class _Adapter:
    def __init__(self, levels=None, error=None):
        self.levels, self.error, self.calls = levels or {}, error, []

    def get_stock(self, skus):
        self.calls.append(list(skus))
        if self.error:
            raise self.error
        return [self.levels[s] for s in skus if s in self.levels]


def test_a_pull_asks_for_every_mapped_sku_in_chunks(world) -> None:
    factory, supplier_id = world
    adapter = _Adapter({s: StockLevel(s, True, 2) for s in SKUS})
    run = pull_supplier_stock(factory, supplier_id, adapter)
    assert run.status == FeedStatus.APPLIED and run.source == "pull"
    assert sorted(sku for call in adapter.calls for sku in call) == sorted(SKUS)
    assert set(stock_of(factory, supplier_id).values()) == {(2, True)}


def test_a_failed_pull_is_recorded_and_changes_nothing(world) -> None:
    factory, supplier_id = world
    run = pull_supplier_stock(factory, supplier_id, _Adapter(error=TransientSupplierError("HTTP 503")))
    assert run.status == FeedStatus.FAILED and "503" in run.message
    assert set(stock_of(factory, supplier_id).values()) == {(10, True)}


def test_a_stale_feed_raises_one_alert_and_a_fresh_one_resolves_it(world) -> None:
    factory, supplier_id = world
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=4)  # default: stale after 3 h
    with factory.begin() as session:
        assert check_stale_feeds(session, now=later) == [supplier_id]
    with factory.begin() as session:
        check_stale_feeds(session, now=later)
    alerts = _open_alerts(factory, "stock_feed_stale")
    assert len(alerts) == 1 and alerts[0].count == 2 and alerts[0].shop_domain == SHOP
    _feed(factory, supplier_id, [StockLevel("SKU-0", True, 1)], source="webhook", full=False)
    assert _open_alerts(factory, "stock_feed_stale") == []


def test_an_edi_partner_is_never_pulled_as_a_full_snapshot_nor_alerted_as_stale(database_url) -> None:
    """An 846 is a delta: the hourly pull would zero every SKU it did not advise (review item 4)."""
    from shopify_app.inventory.feeds import pull_due

    factory = session_factory_for(database_url)
    edi_id = add_supplier(factory, SKUS, name="EDI partner", kind="edi_x12")
    rest_id = add_supplier(factory, ["R-1"], name="REST supplier")
    _feed(factory, edi_id, [StockLevel("SKU-0", True, 3)], source="edi", full=False)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=4)
    with factory.begin() as session:
        assert pull_due(session, session.get(Supplier, rest_id), now=later)  # the rule still pulls the others
        assert not pull_due(session, session.get(Supplier, edi_id), now=later)
        stale = check_stale_feeds(session, now=later)
    assert rest_id in stale and edi_id not in stale
    assert [a.dedupe_key for a in _open_alerts(factory, "stock_feed_stale")] == [f"stock_stale:{rest_id}"]
