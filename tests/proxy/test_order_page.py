"""The order page in plain words, per parcel, in the customer's language, money in the order's currency, times in the shop's zone."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import update

from conftest import install_shop
from proxy_kit import SHOP, add_order, signed_query
from shopify_app.deliveries.models import FulfillmentDelivery
from shopify_app.models import Shop
from shopify_app.orders.models import Order
from shopify_app.suppliers.models import Supplier, SupplierOrder, SupplierShipment

CREATED = dt.datetime(2026, 11, 20, 22, 30, tzinfo=dt.timezone.utc)  # 21 Nov 00:30 in Jerusalem


@pytest.fixture
def app(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    install_shop(app, SHOP)
    order_id = add_order(app, currency="PLN", total="129.50")
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(Shop).where(Shop.domain == SHOP).values(iana_timezone="Asia/Jerusalem", name="Sklep Ani"))
        session.execute(update(Order).where(Order.id == order_id).values(shopify_created_at=CREATED))
        supplier = Supplier(shop_domain=SHOP, name="Hidden Supplier Ltd", kind="rest")
        session.add(supplier)
        session.flush()
        delivery = SupplierOrder(shop_domain=SHOP, order_id=order_id, supplier_id=supplier.id, idempotency_key="p-1", state="shipped",
                                 placed_at=CREATED + dt.timedelta(hours=1))
        session.add(delivery)
        session.flush()
        session.add_all([
            SupplierShipment(supplier_order_id=delivery.id, shipment_id="a", carrier="DPD", tracking_number="DPD123", tracking_url="https://tracking.dpd.pl/DPD123",
                             shipped_at="2026-11-22", estimated_delivery="2026-12-10", state="fulfilled", shopify_fulfillment_id="gid://shopify/Fulfillment/1"),
            SupplierShipment(supplier_order_id=delivery.id, shipment_id="b", carrier="InPost", tracking_number="INP9", shipped_at="2026-11-22",
                             estimated_delivery="2026-11-25", delivered_at="2026-11-24T10:00:00+00:00", state="fulfilled", shopify_fulfillment_id="gid://shopify/Fulfillment/2"),
            FulfillmentDelivery(shop_domain=SHOP, fulfillment_gid="gid://shopify/Fulfillment/1", order_id=order_id, shipment_status="out_for_delivery",
                                in_transit_at=CREATED + dt.timedelta(days=3), fulfillment_status="success"),
        ])
    return app


def _page(app, language: str | None = None, **query) -> str:
    client = app.test_client()
    headers = {"X-Forwarded-For": "192.0.2.1", **({"Accept-Language": language} if language else {})}
    page = client.post(f"/proxy/lookup?{signed_query(**query)}", data={"order": "1001", "email": "ana@example.com"}, headers=headers)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_each_parcel_shows_its_carrier_tracking_link_arrival_and_progress_without_naming_the_supplier(app) -> None:
    html = _page(app, "en")
    first, second = re.findall(r'<div class="dso-card dso-parcel".*?</div>', html, re.S)
    assert "Shipped with DPD" in first and "Tracking number: DPD123" in first and 'href="https://tracking.dpd.pl/DPD123"' in first
    assert "Estimated arrival: December 10, 2026" in first
    assert re.search(r'class="done current" data-step="out_for_delivery"', first)  # the carrier's latest word
    assert re.search(r'class="\s*" data-step="delivered"', first)  # not delivered yet
    assert re.search(r'class="done current" data-step="delivered"', second)
    assert "Delivered on November 24, 2026" in second and "Estimated arrival" not in second
    assert 'data-step="sent_to_supplier"' in html and "Hidden Supplier" not in html  # the customer is not told who ships for the shop


def test_polish_page_formats_money_and_dates_in_polish_in_the_shops_time_zone(app) -> None:
    html = _page(app, "pl-PL,pl;q=0.9")
    assert 'lang="pl"' in html and 'dir="ltr"' in html
    assert "129,50\xa0zł" in html
    assert "21.11.2026, 00:30" in html  # created 22:30 UTC: already the 21st in Jerusalem
    assert "10 grudnia 2026" in html


def test_hebrew_page_is_right_to_left(app) -> None:
    html = _page(app, "he")
    assert 'lang="he"' in html and 'dir="rtl"' in html
    assert "בדצמבר" in html  # Babel's Hebrew month name in the arrival date


def test_the_storefront_locale_parameter_wins_over_the_browser_language(app) -> None:
    html = _page(app, "en", locale="pl")
    assert 'lang="pl"' in html
    assert 'action="/apps/orders/report?locale=pl"' in html  # and the page's forms keep it


def _set(app, order_locale=None, shop_locale=None) -> None:
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(Order).where(Order.shop_domain == SHOP).values(customer_locale=order_locale))
        session.execute(update(Shop).where(Shop.domain == SHOP).values(primary_locale=shop_locale))


@pytest.mark.parametrize("order_locale, browser, shop_locale, query, expected", [
    ("pl-PL", "he,en;q=0.5", "en", {"locale": "he"}, "he"),  # Shopify's locale parameter first
    ("pl-PL", "he,en;q=0.5", "en", {}, "pl"),  # then the order's checkout language, before the browser's
    ("de-DE", "he", "pl", {}, "he"),  # a checkout language we do not have: the browser's
    ("de", None, "pl-PL", {}, "pl"),  # no browser language either: the shop's
    ("de", "fr-FR", "he", {"locale": "de"}, "he"),  # none we have until the shop's
    (None, None, None, {}, "en"),
])
def test_the_order_page_speaks_the_storefront_then_the_orders_then_the_browsers_then_the_shops_language(app, order_locale, browser, shop_locale, query, expected) -> None:
    _set(app, order_locale, shop_locale)
    html = _page(app, browser, **query)
    assert f'lang="{expected}"' in html
    assert 'dir="rtl"' in html if expected == "he" else 'dir="ltr"' in html


def test_the_order_pages_own_links_and_refusals_stay_in_the_orders_language(app) -> None:
    _set(app, "pl-PL", None)
    client = app.test_client()
    headers = {"X-Forwarded-For": "192.0.2.1", "Accept-Language": "en"}
    page = client.post(f"/proxy/lookup?{signed_query()}", data={"order": "1001", "email": "ana@example.com"}, headers=headers).get_data(as_text=True)
    token = re.search(r'name="t" value="([^"]+)"', page).group(1)
    opened = client.get(f"/proxy/order?{signed_query(t=token)}", headers=headers).get_data(as_text=True)
    assert 'lang="pl"' in opened and "10 grudnia 2026" in opened
    refused = client.post(f"/proxy/report?{signed_query()}", data={"t": token, "kind": "question", "message": ""}, headers=headers)
    assert refused.status_code == 422 and 'lang="pl"' in refused.get_data(as_text=True)
    # Not on the lookup form: no order yet, so the browser's language.
    assert 'lang="en"' in client.get(f"/proxy/?{signed_query()}", headers=headers).get_data(as_text=True)
