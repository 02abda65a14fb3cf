"""Order webhooks -> our orders (exact ids, stale updates ignored) -> routing to suppliers."""
from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import select

from conftest import sample_json, webhook_headers
from forwarding_kit import with_primary_location_shopify
from shopify_app.orders.models import Order, OrderEvent
from shopify_app.suppliers.models import Alert, DeliveryState, ProductMapping, Supplier, SupplierOrder
from shopify_app.webhooks.worker import InboxWorker

SHOP = "demo.myshopify.com"
ORDER_GID = "gid://shopify/Order/820982911946154508"


@pytest.fixture
def app(app_factory, database_url):
    app = app_factory(database_url)
    app.extensions["services"].tokens.save(SHOP, "shpat_x", None, None, None, "read_orders")
    return with_primary_location_shopify(app)


def deliver(app, topic, payload):
    if "fake_shopify" in app.extensions:
        app.extensions["fake_shopify"].remember(payload)
    body = json.dumps(payload).encode()
    assert app.test_client().post("/webhooks", data=body, headers=webhook_headers(topic, body, shop=SHOP)).status_code == 200
    services = app.extensions["services"]
    return InboxWorker(services.session_factory, services.settings, services).drain()


def paid_order(**changes):
    order = sample_json("orders_create")
    order["financial_status"] = "paid"
    order["cancelled_at"] = None
    order.update(changes)
    return order


def add_supplier(app, name, *, priority=100, vendor=None, countries=None, mappings=(), active=True):
    with app.extensions["services"].session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name=name, kind="printful", priority=priority, vendor=vendor, settings={"ship_to_countries": countries} if countries else {}, active=active)
        session.add(supplier)
        session.flush()
        for sku, supplier_sku, kw in mappings:
            session.add(ProductMapping(shop_domain=SHOP, sku=sku, supplier_id=supplier.id, supplier_sku=supplier_sku, **kw))
        return supplier.id


def load_order(app):
    with app.extensions["services"].session_factory() as session:
        order = session.scalar(select(Order))
        if order is None:
            return None
        deliveries = session.scalars(select(SupplierOrder)).all()
        for delivery in deliveries:
            delivery.lines  # load before the session closes
        return order, list(order.lines), [e.kind for e in order.events], deliveries, session.scalars(select(Alert)).all()


def test_sample_order_is_stored_with_exact_ids_and_its_lines(app):
    report = deliver(app, "orders/create", sample_json("orders_create"))
    assert report.done == 1
    order, lines, events, deliveries, _ = load_order(app)
    assert order.shopify_id == "820982911946154508"  # from the GID, not the float-damaged number
    assert order.name == "#9999" and order.state == "cancelled"  # the sample is a voided, cancelled order
    assert {l.shopify_line_id for l in lines} == {"866550311766439020", "141249953214522974"}
    assert events == ["received"] and deliveries == []


def test_an_older_update_is_ignored_and_a_newer_one_applied(app):
    deliver(app, "orders/updated", sample_json("orders_updated") | {"updated_at": "2022-01-02T00:00:00-05:00", "note": "x", "email": "new@example.com"})
    deliver(app, "orders/updated", sample_json("orders_updated") | {"updated_at": "2022-01-01T00:00:00-05:00", "email": "stale@example.com"})
    order, *_ = load_order(app)
    assert order.email == "new@example.com"
    deliver(app, "orders/updated", sample_json("orders_updated") | {"updated_at": "2022-01-03T00:00:00-05:00", "email": "newest@example.com"})
    assert load_order(app)[0].email == "newest@example.com"


def test_update_for_an_unseen_order_creates_it(app):
    deliver(app, "orders/updated", sample_json("orders_updated"))
    assert load_order(app)[0].shopify_id == "820982911946154508"


def test_lines_without_sku_tips_gift_cards_and_digital_items_do_not_crash(app):
    order = paid_order()
    base = order["line_items"][0]
    order["line_items"] = [
        base | {"admin_graphql_api_id": "gid://shopify/LineItem/1", "sku": None},
        base | {"admin_graphql_api_id": "gid://shopify/LineItem/2", "sku": "", "title": "Tip", "requires_shipping": False, "product_id": None, "variant_id": None},
        base | {"admin_graphql_api_id": "gid://shopify/LineItem/3", "sku": "GIFT", "gift_card": True, "requires_shipping": False},
        base | {"admin_graphql_api_id": "gid://shopify/LineItem/4", "sku": "EBOOK", "requires_shipping": False},
        {k: v for k, v in base.items() if k not in ("requires_shipping", "current_quantity")} | {"admin_graphql_api_id": "gid://shopify/LineItem/5", "sku": "OLD-API"},
    ]
    add_supplier(app, "Printful", mappings=[("OLD-API", "PF-OLD", {})])
    assert deliver(app, "orders/paid", order).done == 1
    found, lines, events, deliveries, alerts = load_order(app)
    shippable = {l.shopify_line_id for l in lines if l.shippable}
    assert shippable == {"1", "5"}
    assert found.state == "held"  # line 1 has no SKU: held with an alert, never dropped
    assert [a.kind for a in alerts] == ["unroutable_line"] and "(none)" in alerts[0].message
    # The fulfillment order holding both lines is held whole, in Shopify too: OLD-API waits with it.
    assert deliveries == []
    [hold] = app.extensions["fake_shopify"].holds.values()
    assert hold["reason"] == "OTHER" and hold["handle"] == "dropship-ops"


def test_paid_order_is_split_per_supplier_by_mapping_priority_stock_and_country(app):
    order = paid_order()
    order["line_items"][1] |= {"sku": "IPOD2008BLACK", "vendor": "VendorX"}
    skus = [li["sku"] for li in order["line_items"]]
    cheap_oos = add_supplier(app, "Cheap but out of stock", priority=1, mappings=[(skus[0], "C-1", {"in_stock": False, "cost": "1.00"})])
    main = add_supplier(app, "Main", priority=10, mappings=[(skus[0], "M-1", {"cost": "5.00"})])
    add_supplier(app, "Wrong country", priority=0, countries=["DE"], mappings=[(skus[1], "W-2", {})])
    by_vendor = add_supplier(app, "Vendor fallback", priority=50, vendor="VendorX")
    deliver(app, "orders/paid", order)
    found, lines, events, deliveries, alerts = load_order(app)
    assert found.state == "routed" and alerts == []
    assert {(d.supplier_id, tuple(l.supplier_sku for l in d.lines)) for d in deliveries} == {(main, ("M-1",)), (by_vendor, (skus[1],))}
    assert events.count("routed") == 2
    assert all(d.state == DeliveryState.PENDING.value and d.idempotency_key.startswith("do-") for d in deliveries)
    del cheap_oos


def test_replayed_and_reordered_webhooks_route_once(app):
    order = paid_order()
    add_supplier(app, "Main", mappings=[("IPOD2008PINK", "M-PINK", {})])
    deliver(app, "orders/paid", order)
    deliver(app, "orders/create", copy.deepcopy(order))  # arrives late, same updated_at
    deliver(app, "orders/updated", order | {"updated_at": "2021-12-30T00:00:00-05:00"})  # stale
    _, _, events, deliveries, _ = load_order(app)
    assert len(deliveries) == 1 and len(deliveries[0].lines) == 2
    assert events.count("routed") == 2 and events.count("received") == 1


def test_unroutable_alert_is_raised_once_however_often_the_order_is_seen(app):
    order = paid_order()
    deliver(app, "orders/paid", order)
    deliver(app, "orders/updated", order | {"updated_at": "2022-01-05T00:00:00-05:00"})
    alerts = load_order(app)[4]
    assert len(alerts) == 2  # one per line, not per webhook
    assert sorted(a.count for a in alerts) == [2, 2]


def test_cancelled_order_asks_suppliers_to_cancel(app):
    order = paid_order()
    add_supplier(app, "Main", mappings=[("IPOD2008PINK", "M", {})])
    deliver(app, "orders/paid", order)
    deliver(app, "orders/cancelled", order | {"cancelled_at": "2022-01-01T10:00:00-05:00", "updated_at": "2022-01-01T10:00:00-05:00"})
    found, _, events, deliveries, _ = load_order(app)
    assert found.state == "cancelled" and "cancelled" in events
    assert [d.state for d in deliveries] == [DeliveryState.CANCEL_REQUESTED.value]


def test_order_payload_without_id_is_dead_lettered(app):
    report = deliver(app, "orders/create", {"line_items": []})
    assert report.dead == 1


def test_unroutable_alert_is_visible_to_the_merchant_through_the_api(app_factory, sqlite_url, sandbox_shopify):
    from conftest import API_KEY

    app = with_primary_location_shopify(app_factory(sqlite_url, sandbox_shopify_url=sandbox_shopify.base_url))
    app.extensions["services"].tokens.save(SHOP, "shpat_x", None, None, None, "read_orders")
    deliver(app, "orders/paid", paid_order())
    token = sandbox_shopify.mint_session_token(SHOP, API_KEY)
    alerts = app.test_client().get("/api/alerts", headers={"Authorization": f"Bearer {token}"}).get_json()["alerts"]
    assert {a["kind"] for a in alerts} == {"unroutable_line"} and "IPOD2008PINK" in alerts[0]["message"]
