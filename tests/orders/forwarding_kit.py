"""Shared set-up for forwarding tests: the Printful sandbox as a shop's supplier, paid orders."""
from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from sqlalchemy import select, update

from conftest import sample_json, webhook_headers
from sandbox.supplier.printful import SandboxSupplier
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import ProductMapping, Supplier, SupplierOrder
from shopify_app.webhooks.worker import InboxWorker

SHOP = "demo.myshopify.com"


def add_printful_supplier(app, sandbox: SandboxSupplier, *, skus=("TSHIRT-BLK-S", "MUG-WHT-11"), timeout=15.0, webhook_secret=None) -> int:
    """A supplier record (encrypted credentials) pointing at the sandbox, with SKU mappings."""
    # 15 s by default: on a loaded 2-core machine a 1 s read timeout turned a slow sandbox answer into an
    # unknown outcome (a flaky test); the tests about timeouts pass their own short `timeout`.
    services = app.extensions["services"]
    credentials = {"token": sandbox.token}
    if webhook_secret:
        credentials["webhook_secret_key"] = webhook_secret
    with services.session_factory.begin() as session:
        supplier = Supplier(
            shop_domain=SHOP,
            name="Printful",
            kind="printful",
            credentials_enc=services.box.encrypt(json.dumps(credentials)),
            settings={"base_url": sandbox.base_url, "products": sandbox.variant_ids_by_sku(), "timeout_seconds": timeout},
        )
        session.add(supplier)
        session.flush()
        for sku in skus:
            session.add(ProductMapping(shop_domain=SHOP, sku=sku, supplier_id=supplier.id, supplier_sku=sku, cost="4.00"))
        return supplier.id


def paid_order_payload(skus=("TSHIRT-BLK-S", "MUG-WHT-11"), order_number: int = 1001) -> dict:
    """A paid orders/paid payload (Shopify's sample, with our SKUs and a fresh id)."""
    order = sample_json("orders_paid")
    order.update(financial_status="paid", cancelled_at=None, id=order_number, admin_graphql_api_id=f"gid://shopify/Order/{order_number}", name=f"#{order_number}")
    template = order["line_items"][0]
    order["line_items"] = [
        template | {"id": n, "admin_graphql_api_id": f"gid://shopify/LineItem/{order_number}{n}", "sku": sku, "quantity": 1, "current_quantity": 1}
        for n, sku in enumerate(skus, start=1)
    ]
    return order


def deliver(app, topic, payload, **kw):
    """POST a signed Shopify webhook and drain the inbox."""
    if "fake_shopify" in app.extensions:
        app.extensions["fake_shopify"].remember(payload)
    body = json.dumps(payload).encode()
    response = app.test_client().post("/webhooks", data=body, headers=webhook_headers(topic, body, shop=SHOP, **kw))
    assert response.status_code == 200
    services = app.extensions["services"]
    return InboxWorker(services.session_factory, services.settings, services).drain()


def deliveries(app) -> list[SupplierOrder]:
    """All supplier orders with their supplier loaded."""
    with app.extensions["services"].session_factory() as session:
        rows = session.scalars(select(SupplierOrder).order_by(SupplierOrder.id)).all()
        for row in rows:
            row.supplier, row.lines  # noqa: B018 - load before the session closes
        return rows


def make_due(app) -> None:
    """Pretend the backoff (and any lease) has run out."""
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(SupplierOrder).values(next_attempt_at=past, lease_until=None))


class PrimaryLocationShopify:
    """Shopify's fulfillment orders for tests that run without the sandbox Shopify (routing and forwarding units).

    Every order delivered through `deliver` is, as Shopify does for a one-location shop,
    one OPEN fulfillment order at the shop's primary location holding all its lines. The
    end-to-end tests (test_fulfillment_orders.py) use the sandbox Shopify instead.
    """

    LOCATION = "gid://shopify/Location/1"

    def __init__(self):
        self.orders: dict[str, list[tuple[str, int]]] = {}
        self.holds: dict[str, dict] = {}  # fulfillment order GID -> the app's hold

    def remember(self, payload: dict) -> None:
        from shopify_app.orders.payloads import PayloadError, parse_order

        try:
            snapshot = parse_order(payload)
        except PayloadError:
            return
        self.orders[f"gid://shopify/Order/{snapshot.shopify_id}"] = [(line.shopify_line_id, line.quantity) for line in snapshot.lines]

    def gateway(self, shop_domain, **_):
        return self

    def query(self, name, variables):
        assert name == "FulfillmentOrdersForOrder", f"no Shopify in this test for {name}"
        lines = self.orders.get(variables["id"])
        if lines is None:
            return {"order": None}
        number = variables["id"].rsplit("/", 1)[1]
        fo_gid = f"gid://shopify/FulfillmentOrder/{number}"
        hold = self.holds.get(fo_gid)
        return {"order": {"id": variables["id"], "fulfillmentOrders": {"nodes": [{
            "id": fo_gid, "status": "ON_HOLD" if hold else "OPEN", "requestStatus": "UNSUBMITTED", "updatedAt": None,
            "assignedLocation": {"location": {"id": self.LOCATION}}, "fulfillmentHolds": [hold] if hold else [],
            "lineItems": {"nodes": [{"id": f"gid://shopify/FulfillmentOrderLineItem/{line}", "remainingQuantity": quantity, "totalQuantity": quantity,
                                     "lineItem": {"id": f"gid://shopify/LineItem/{line}"}} for line, quantity in lines]},
        }]}}, "primaryLocation": {"id": self.LOCATION}}


    def mutate(self, name, variables):
        fo_gid = variables["id"]
        if name == "FulfillmentOrderHold":
            self.holds[fo_gid] = {"id": f"gid://shopify/FulfillmentHold/{len(self.holds) + 1}", "handle": variables["fulfillmentHold"]["handle"],
                                  "reason": variables["fulfillmentHold"]["reason"], "heldByRequestingApp": True}
            return {"fulfillmentOrderHold": {"fulfillmentHold": self.holds[fo_gid], "fulfillmentOrder": {"id": fo_gid, "status": "ON_HOLD"}, "userErrors": []}}
        assert name == "FulfillmentOrderReleaseHold", f"no Shopify in this test for {name}"
        self.holds.pop(fo_gid, None)
        return {"fulfillmentOrderReleaseHold": {"fulfillmentOrder": {"id": fo_gid, "status": "OPEN", "fulfillmentHolds": []}, "userErrors": []}}


def with_primary_location_shopify(app):
    """Answer the app's fulfillment-order reads with PrimaryLocationShopify (no Shopify in the test)."""
    fake = PrimaryLocationShopify()
    app.extensions["services"].gateway = fake.gateway
    app.extensions["fake_shopify"] = fake
    return app


def paid_sandbox_order(app, shopify, skus=("TSHIRT-BLK-S", "MUG-WHT-11"), **order_fields) -> dict:
    """A paid order in the sandbox Shopify (assigned like Shopify does: the primary location), its orders/paid delivered."""
    order = shopify.store.create_order(SHOP, [{"sku": sku, "quantity": 1} for sku in skus], **order_fields)
    deliver(app, "orders/paid", shopify.order_webhook_payload(order["id"], SHOP))
    return order


# Fixtures for forwarding tests (import them by name into the test module).


@pytest.fixture(scope="module")
def supplier_sandbox():
    """The Printful sandbox on a loopback port, for the module."""
    sandbox = SandboxSupplier()
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(supplier_sandbox):
    """The sandbox with no orders and no faults."""
    supplier_sandbox.reset()
    return supplier_sandbox


@pytest.fixture
def app(app_factory, database_url):
    """The app with the demo shop's token, fulfillment orders answered by PrimaryLocationShopify."""
    app = app_factory(database_url)
    app.extensions["services"].tokens.save(SHOP, "shpat_x", None, None, None, "read_orders")
    return with_primary_location_shopify(app)


def worker(app, **kw) -> ForwardingWorker:
    """A forwarding worker on the app's database (seeded jitter)."""
    services = app.extensions["services"]
    return ForwardingWorker(services.session_factory, services.box, rng=random.Random(3), **kw)
