"""Issue 12, item 4: one shop's absurd setting or failing supplier never breaks a periodic job for the others.

Absurd values are written straight into the database (as if stored before the bounds
existed, or around the API); the jobs must still run for every other shop, and the
failing shop gets an alert.
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from integrations.suppliers.base import StockLevel
from shopify_app.db import make_engine, make_session_factory
from shopify_app.inventory import jobs as inventory_jobs
from shopify_app.inventory.feeds import check_stale_feeds, pull_due
from shopify_app.inventory.models import StockFeedRun
from shopify_app.inventory.terms import inventory_terms, validate_inventory_terms
from shopify_app.kpis.targets import _check as check_kpi_target
from shopify_app.models import Shop, ShopStatus, utcnow
from shopify_app.orders.delays import shipment_time
from shopify_app.reconcile.models import ReconcileRun
from shopify_app.reconcile.runner import reconcile_installed_shops
from shopify_app.returns.policy import policy_from, supplier_terms_from, validate_policy, validate_supplier_terms
from shopify_app.suppliers.models import Alert, ProductMapping, Supplier

HUGE = 10**30
SHOP_BAD, SHOP_GOOD = "absurd.myshopify.com", "ordinary.myshopify.com"


@pytest.fixture
def factory(database_url):
    return make_session_factory(make_engine(database_url))


def add_supplier(factory, shop: str, name: str) -> int:
    with factory.begin() as session:
        supplier = Supplier(shop_domain=shop, name=name, kind="rest", settings={}, inventory_terms={})
        session.add(supplier)
        session.flush()
        session.add(ProductMapping(shop_domain=shop, sku="SKU-1", supplier_id=supplier.id, supplier_sku="SKU-1"))
        return supplier.id


class Adapter:
    def __init__(self, error: Exception | None = None):
        self.error, self.calls = error, 0

    def get_stock(self, skus):
        self.calls += 1
        if self.error is not None:
            raise self.error
        return [StockLevel(s, True, 5) for s in skus]


def job_alerts(factory, shop: str) -> list[Alert]:
    with factory() as session:
        return list(session.scalars(select(Alert).where(Alert.shop_domain == shop, Alert.kind == "job_failed", Alert.resolved_at.is_(None))))


def pulls(factory, supplier_id: int) -> int:
    with factory() as session:
        return len(session.scalars(select(StockFeedRun.id).where(StockFeedRun.supplier_id == supplier_id, StockFeedRun.source == "pull")).all())


def test_stored_absurd_pull_and_stale_intervals_do_not_stop_stock_feeds_for_other_shops(factory, monkeypatch):
    bad, good = add_supplier(factory, SHOP_BAD, "Absurd"), add_supplier(factory, SHOP_GOOD, "Ordinary")
    with factory.begin() as session:  # straight into the database, around every validator
        session.execute(update(Supplier).where(Supplier.id == bad).values(inventory_terms={"pull_every_minutes": HUGE, "stale_after_minutes": HUGE}))
    adapters = {bad: Adapter(), good: Adapter()}
    monkeypatch.setattr(inventory_jobs, "adapter_from_record", lambda supplier, box: adapters[supplier.id])
    services = SimpleNamespace(session_factory=factory, box=None)

    assert inventory_jobs.pull_due_stock_feeds(services) == 2  # never pulled: both are due
    assert inventory_jobs.pull_due_stock_feeds(services) == 0  # the absurd interval reads as a week, not an OverflowError
    assert (pulls(factory, bad), pulls(factory, good)) == (1, 1)
    with factory() as session:
        supplier = session.get(Supplier, bad)
        assert inventory_terms(supplier.inventory_terms).pull_every_minutes == 7 * 24 * 60
        assert pull_due(session, supplier, now=utcnow() + dt.timedelta(days=8))
    # Stale-feed alerts still run for everyone (and the absurd one reads as 30 days).
    with factory.begin() as session:
        stale = check_stale_feeds(session, now=utcnow() + dt.timedelta(days=2))
    assert stale == [good]
    assert job_alerts(factory, SHOP_BAD) == [] and job_alerts(factory, SHOP_GOOD) == []


def test_a_supplier_whose_adapter_raises_on_every_call_is_alerted_and_the_others_are_pulled(factory, monkeypatch):
    bad, good = add_supplier(factory, SHOP_BAD, "Broken"), add_supplier(factory, SHOP_GOOD, "Working")
    adapters = {bad: Adapter(RuntimeError("adapter bug")), good: Adapter()}
    monkeypatch.setattr(inventory_jobs, "adapter_from_record", lambda supplier, box: adapters[supplier.id])
    inventory_jobs.pull_due_stock_feeds(SimpleNamespace(session_factory=factory, box=None))
    assert pulls(factory, good) == 1 and adapters[good].calls == 1
    [alert] = job_alerts(factory, SHOP_BAD)
    assert "stock-feeds" in alert.message and alert.subject == "Broken" and "adapter bug" not in alert.message
    assert job_alerts(factory, SHOP_GOOD) == []


def test_a_supplier_whose_adapter_cannot_even_be_built_does_not_stop_the_others(factory, monkeypatch):
    bad, good = add_supplier(factory, SHOP_BAD, "Misconfigured"), add_supplier(factory, SHOP_GOOD, "Working")

    def build(supplier, box):
        if supplier.id == bad:
            raise ValueError("settings.base_url is required")
        return Adapter()

    monkeypatch.setattr(inventory_jobs, "adapter_from_record", build)
    inventory_jobs.pull_due_stock_feeds(SimpleNamespace(session_factory=factory, box=None))
    assert pulls(factory, good) == 1 and len(job_alerts(factory, SHOP_BAD)) == 1


class FailingGateway:
    def __getattr__(self, name):
        raise RuntimeError("Shopify unreachable for this shop")


class QuietGateway:
    def paginate(self, *args, **kwargs):
        return iter(())

    def query(self, *args, **kwargs):
        return {}


def test_reconcile_goes_on_for_other_shops_when_one_shops_gateway_fails(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        session.add_all([Shop(domain=SHOP_BAD, status=ShopStatus.INSTALLED.value), Shop(domain=SHOP_GOOD, status=ShopStatus.INSTALLED.value)])
    services.gateway = lambda shop, **kw: FailingGateway() if shop == SHOP_BAD else QuietGateway()
    runs = reconcile_installed_shops(services)
    assert sorted(run.shop_domain for run in runs) == sorted([SHOP_BAD, SHOP_GOOD])  # both shops ran
    with services.session_factory() as session:
        good_run = session.scalar(select(ReconcileRun).where(ReconcileRun.shop_domain == SHOP_GOOD))
    assert "error" not in good_run.report["order_catchup"]
    factory = services.session_factory
    assert {a.dedupe_key for a in job_alerts(factory, SHOP_BAD)} >= {f"job_failed:reconcile:{SHOP_BAD}:order_catchup"}
    assert job_alerts(factory, SHOP_GOOD) == []


@pytest.mark.parametrize("terms", [{"pull_every_minutes": HUGE}, {"stale_after_minutes": HUGE}, {"safety_buffer": -1},
                                   {"in_stock_quantity": HUGE}, {"guard_min_skus": HUGE}, {"guard_share": 0}, {"guard_share": 1.5}])
def test_inventory_terms_out_of_bounds_are_refused_at_save(terms):
    with pytest.raises(ValueError):
        validate_inventory_terms(terms)


def test_stored_numbers_are_clamped_when_read():
    terms = inventory_terms({"pull_every_minutes": HUGE, "stale_after_minutes": float("inf"), "safety_buffer": -5,
                             "in_stock_quantity": "lots", "guard_share": 1e400, "guard_min_skus": HUGE, "out_of_stock_policy": "explode"})
    assert (terms.pull_every_minutes, terms.stale_after_minutes, terms.safety_buffer, terms.in_stock_quantity, terms.guard_share, terms.guard_min_skus,
            terms.out_of_stock_policy) == (10080, 180, 0, 100, 0.3, 1_000_000, "zero")
    assert terms.stale_after == dt.timedelta(minutes=180)
    policy = policy_from({"window_days": HUGE, "reason_windows": {"DEFECTIVE": HUGE, "OTHER": -3}})
    assert (policy.window_days, policy.reason_windows["DEFECTIVE"], policy.reason_windows["OTHER"]) == (365, 365, 14)  # a withdrawal reason never below the legal 14 days
    assert supplier_terms_from({"window_days": HUGE, "restocking_fee_percent": 1e400}).window_days == 365


def test_return_windows_and_kpi_targets_out_of_bounds_are_refused_at_save():
    for bad in ({"window_days": HUGE}, {"reason_windows": {"DEFECTIVE": HUGE}}):
        with pytest.raises(ValueError, match="365"):
            validate_policy(bad)
    with pytest.raises(ValueError):
        validate_supplier_terms({"window_days": HUGE})
    with pytest.raises(ValueError):
        check_kpi_target("forward_hours", HUGE)
    assert check_kpi_target("forward_hours", 8) == 8.0


def test_a_suppliers_far_future_eta_is_unreadable_not_a_failed_delay_job():
    assert shipment_time("9999-12-31") is None
    assert shipment_time("2026-01-02") == dt.datetime(2026, 1, 3, tzinfo=dt.timezone.utc)
