"""Satisfaction rate and review-request conversion in the KPIs: store-wide, per bucket, per supplier and per product,
from answers given through the follow-up's links and clicks through the review redirect."""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import install_shop
from shopify_app.kpis.compute import kpis
from shopify_app.models import utcnow
from shopify_app.notify.customer_models import NoticeSettings
from shopify_app.notify.notice_links import feedback_url, review_url
from shopify_app.orders.models import CustomerNotice, Order, OrderLine, OrderState
from shopify_app.suppliers.models import Supplier, SupplierOrder

SHOP, OTHER = "kpi-sat.myshopify.com", "kpi-other.myshopify.com"


@pytest.fixture
def shop(app_factory, database_url):
    app = app_factory(database_url)
    install_shop(app, SHOP, OTHER)
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        fast, slow = Supplier(shop_domain=SHOP, name="Fast", kind="rest"), Supplier(shop_domain=SHOP, name="Slow", kind="rest")
        session.add_all([fast, slow, NoticeSettings(shop_domain=SHOP, steps={}, follow_up_days=7, review_url="https://reviews.example.org/x", verification_pending=False)])
        session.flush()
        ids = (fast.id, slow.id)
    return app, services, ids


def order(services, number: int, suppliers: list[int], products: list[str], shop_domain: str = SHOP) -> int:
    with services.session_factory.begin() as session:
        row = Order(shop_domain=shop_domain, shopify_id=str(number), name=f"#{number}", email="b@example.com", state=OrderState.SHIPPED.value)
        session.add(row)
        session.flush()
        for n, product in enumerate(products):
            session.add(OrderLine(order_id=row.id, shopify_line_id=f"{number}{n}", product_id=product, sku=f"SKU-{product}", title=f"Product {product}", quantity=1))
        for sid in suppliers:
            session.add(SupplierOrder(shop_domain=shop_domain, order_id=row.id, supplier_id=sid, idempotency_key=f"k{number}-{sid}", state="shipped"))
        return row.id


def answer(app, services, order_id: int, value: str) -> None:
    url = feedback_url(services.settings, order_id, value)
    assert app.test_client().post(url.removeprefix(services.settings.app_url)).status_code == 200


def review_sent(services, order_id: int, clicked: bool, app) -> None:
    with services.session_factory.begin() as session:
        session.add(CustomerNotice(order_id=order_id, kind="review_request", dedupe_key=f"review_request:{order_id}", status="sent", sent_at=utcnow()))
    if clicked:
        url = review_url(services.settings, order_id)
        assert app.test_client().post(url.removeprefix(services.settings.app_url)).status_code == 303


def test_satisfaction_and_review_conversion_per_supplier_and_product(shop):
    app, services, (fast, slow) = shop
    one = order(services, 1, [fast], ["A"])
    two = order(services, 2, [fast, slow], ["A", "B"])
    three = order(services, 3, [slow], ["B"])
    other = order(services, 4, [], ["A"], shop_domain=OTHER)
    answer(app, services, one, "good")
    answer(app, services, two, "bad")
    answer(app, services, two, "good")  # the customer changed their mind: the latest answer counts
    answer(app, services, three, "bad")
    answer(app, services, other, "good")  # another shop's answer counts for that shop only
    review_sent(services, one, True, app)
    review_sent(services, two, False, app)
    now = utcnow()
    with services.session_factory() as session:
        data = kpis(session, SHOP, now - dt.timedelta(days=1), now + dt.timedelta(minutes=1), "day")
    overall = data["overall"]["satisfaction"]
    assert (overall["answered"], overall["good"], overall["rate"]) == (3, 2, 0.6667)
    assert (overall["review_requests"], overall["review_clicks"], overall["review_conversion"]) == (2, 1, 0.5)
    per_supplier = {s["name"]: (s["answered"], s["rate"], s["review_conversion"]) for s in data["satisfaction"]["by_supplier"]}
    assert per_supplier == {"Fast": (2, 1.0, 0.5), "Slow": (2, 0.5, 0.0)}
    # Beside on-time delivery in the suppliers' rows too.
    assert {s["name"]: s["satisfaction"]["rate"] for s in data["overall"]["suppliers"]} == {"Fast": 1.0, "Slow": 0.5}
    per_product = {p["product_id"]: (p["answered"], p["rate"], p["review_conversion"]) for p in data["satisfaction"]["by_product"]}
    assert per_product == {"A": (2, 1.0, 0.5), "B": (2, 0.5, 0.0)}
    assert sum(b["satisfaction"]["answered"] for b in data["buckets"]) == 3


def test_the_dashboard_shows_satisfaction_beside_return_rate_and_on_time(shop):
    from shopify_app.web.kpi_view import kpi_periods

    app, services, (fast, _) = shop
    answer(app, services, order(services, 1, [fast], ["A"]), "good")
    with services.session_factory() as session:
        periods = kpi_periods(session, SHOP, "day")
    assert periods["rows"][-1]["satisfaction"] == 1.0
    assert [row["name"] for row in periods["satisfaction"]["by_supplier"]] == ["Fast"]
