"""Return seasonality counts units, like units sold: a month's return rate is units over units."""
from __future__ import annotations

import datetime as dt

import pytest

from shopify_app.orders.models import Order, OrderLine
from shopify_app.returns.analytics import return_analytics
from shopify_app.returns.models import ReturnCase, ReturnLine

SHOP = "seasons.myshopify.com"
UTC = dt.timezone.utc


@pytest.fixture
def services(app_factory, database_url):
    return app_factory(database_url).extensions["services"]


def test_monthly_and_weekly_returns_count_units_and_orders_without_shopifys_time_count(services) -> None:
    with services.session_factory.begin() as session:
        march = Order(shop_domain=SHOP, shopify_id="1", name="#1", financial_status="paid", shopify_created_at=dt.datetime(2026, 3, 2, 9, tzinfo=UTC))
        march.lines.append(OrderLine(shopify_line_id="11", sku="MUG", quantity=6))
        late_copy = Order(shop_domain=SHOP, shopify_id="2", name="#2", financial_status="paid")  # Shopify's time missing: ours counts
        late_copy.created_at = dt.datetime(2026, 3, 5, 9, tzinfo=UTC)
        late_copy.lines.append(OrderLine(shopify_line_id="21", sku="MUG", quantity=4))
        session.add_all([march, late_copy])
        case = ReturnCase(shop_domain=SHOP, return_gid="gid://shopify/Return/1", status="open", requested_at=dt.datetime(2026, 3, 10, 9, tzinfo=UTC))
        case.lines.append(ReturnLine(return_line_item_gid="gid://shopify/ReturnLineItem/1", sku="MUG", quantity=3, reason="UNWANTED"))
        session.add(case)
    with services.session_factory() as session:
        analytics = return_analytics(session, SHOP)
    assert analytics["by_month"] == {"2026-03": {"units_returned": 3, "units_sold": 10, "return_rate": 0.3}}  # one return of 3 units
    assert analytics["by_week"] == {"2026-W11": 3}
    assert analytics["store"]["return_rate"] == 0.3  # the same figure as the store's
