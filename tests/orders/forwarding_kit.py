"""Shared set-up for forwarding tests: the Printful sandbox as a shop's supplier, paid orders."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select, update

from conftest import sample_json, webhook_headers
from sandbox.supplier.printful import SandboxSupplier
from shopify_app.suppliers.models import ProductMapping, Supplier, SupplierOrder
from shopify_app.webhooks.worker import InboxWorker

SHOP = "demo.myshopify.com"


def add_printful_supplier(app, sandbox: SandboxSupplier, *, skus=("TSHIRT-BLK-S", "MUG-WHT-11"), timeout=1.0, webhook_secret=None) -> int:
    """A supplier record (encrypted credentials) pointing at the sandbox, with SKU mappings."""
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
