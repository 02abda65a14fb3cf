"""Backfill: orders since a date come in through the gateway (paginated), routed like webhooks."""
from __future__ import annotations

import datetime as dt
import io

from sqlalchemy import select

from conftest import API_KEY
from forwarding_kit import SHOP
from shopify_app.orders.backfill import backfill_orders, text_progress_bar
from shopify_app.orders.models import Order
from shopify_app.suppliers.models import ProductMapping, Supplier, SupplierOrder


def test_backfill_imports_every_order_since_the_date_and_routes_paid_ones(sandboxed_app, sandbox_shopify):
    services = sandboxed_app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "read_orders")
    for n in range(23):
        sandbox_shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 1 + n % 2}], email=f"c{n}@example.com")
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="Main", kind="printful")
        session.add(supplier)
        session.flush()
        session.add(ProductMapping(shop_domain=SHOP, sku="TEE-S", supplier_id=supplier.id, supplier_sku="PF-TEE-S"))
    out = io.StringIO()
    report = backfill_orders(services, SHOP, dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc), text_progress_bar(out))
    with services.session_factory() as session:
        orders = session.scalars(select(Order)).all()
        routed = session.scalars(select(SupplierOrder)).all()
    # The demo shop is seeded with 2 orders; we created 23 more, one page each (an order costs ~690 points).
    assert report.total == report.seen == len(orders) == 25
    assert report.applied == 25
    assert len(routed) == 23 and "100%" in out.getvalue() and "25/25 [" in out.getvalue()
    assert report.method == "paged"
    again = backfill_orders(services, SHOP, dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    assert again.applied == 25  # same updated_at: re-applied, harmlessly
    with services.session_factory() as session:
        assert len(session.scalars(select(SupplierOrder)).all()) == 23  # a second run places nothing new
    future = backfill_orders(services, SHOP, dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc))
    assert (future.total, future.seen) == (0, 0)
