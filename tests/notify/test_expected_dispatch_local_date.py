"""The "expected dispatch" day of the order-received email counts business days from the shop's date of the order, not UTC's."""
from __future__ import annotations

import datetime as dt

import pytest

from shopify_app.models import Shop, ShopStatus
from shopify_app.notify.lifecycle_notices import expected_dispatch
from shopify_app.orders.models import Order
from shopify_app.suppliers.models import Supplier, SupplierOrder

SHOP = "warsaw.myshopify.com"


@pytest.fixture
def services(app_factory, database_url):
    return app_factory(database_url).extensions["services"]


@pytest.mark.parametrize(("timezone", "expected"), [
    ("Europe/Warsaw", dt.date(2026, 12, 9)),  # Fri 4 Dec 00:30 in Warsaw: Mon 7, Tue 8, Wed 9
    (None, dt.date(2026, 12, 8)),  # no zone known: UTC's Thu 3 Dec 23:30 -> Fri 4, Mon 7, Tue 8
])
def test_expected_dispatch_counts_from_the_shops_date(services, timezone, expected) -> None:
    with services.session_factory.begin() as session:
        session.add(Shop(domain=SHOP, status=ShopStatus.INSTALLED.value, iana_timezone=timezone))
        supplier = Supplier(shop_domain=SHOP, name="Slow", kind="rest", settings={"sla_hours": 72})  # 3 business days
        order = Order(shop_domain=SHOP, shopify_id="1", name="#1", financial_status="paid", shopify_created_at=dt.datetime(2026, 12, 3, 23, 30, tzinfo=dt.timezone.utc),
                      shipping_address={"country_code": "PL"})
        session.add_all([supplier, order])
        session.flush()
        session.add(SupplierOrder(shop_domain=SHOP, order_id=order.id, supplier_id=supplier.id, idempotency_key="k-1"))
        session.flush()
        assert expected_dispatch(session, order) == expected
