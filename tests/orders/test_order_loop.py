"""The whole loop over real HTTP: sandbox Shopify -> app -> Printful sandbox -> tracking -> Shopify fulfillment.

Shopify delivers the order's webhooks three times, a forwarding worker is killed between
the supplier's answer and its commit, and still: one supplier order, one fulfillment.
"""
from __future__ import annotations

import datetime as dt
import json
import random
import threading

import pytest
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET
from forwarding_kit import SHOP, add_printful_supplier, deliveries, make_due
from sandbox.supplier.printful import SandboxSupplier
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import Supplier
from shopify_app.webhooks.worker import InboxWorker


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    server = make_server("127.0.0.1", 0, sandboxed_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app_url = f"http://127.0.0.1:{server.server_port}"
    sandbox_shopify.register_app(API_KEY, API_SECRET, app_url, webhook_topics=["orders/create", "orders/paid", "orders/updated"])
    services = sandboxed_app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_orders")
    supplier_sandbox = SandboxSupplier()
    supplier_sandbox.start()
    supplier_id = add_printful_supplier(sandboxed_app, supplier_sandbox, skus=("TEE-S", "MUG-WHT"))
    secret = supplier_sandbox.configure_webhooks(f"{app_url}/suppliers/{supplier_id}/webhooks").secret_key
    with services.session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        supplier.credentials_enc = services.box.encrypt(json.dumps({"token": supplier_sandbox.token, "webhook_secret_key": secret}))
    yield sandboxed_app, sandbox_shopify, supplier_sandbox, app_url
    supplier_sandbox.stop()
    server.shutdown()


def drain_inbox(app):
    services = app.extensions["services"]
    return InboxWorker(services.session_factory, services.settings, services).drain()


def test_order_reaches_the_supplier_once_and_comes_back_fulfilled_with_tracking(world):
    app, shopify, supplier, _ = world
    services = app.extensions["services"]
    shopify.webhooks.configure(duplicate_rate=1.0)  # every delivery sent twice...
    order = shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 2}, {"sku": "MUG-WHT", "quantity": 1}], email="buyer@example.com")
    shopify.webhooks.configure(duplicate_rate=0.0)
    shopify.emit(SHOP, "orders/paid", shopify.order_webhook_payload(order["id"], SHOP))  # ...and once more
    drain_inbox(app)
    [delivery] = deliveries(app)
    assert [(l.supplier_sku, l.quantity) for l in delivery.lines] == [("TEE-S", 2), ("MUG-WHT", 1)]

    # A worker dies after Printful accepted the order but before it recorded that.
    crashing = ForwardingWorker(services.session_factory, services.box, rng=random.Random(1))
    real = crashing.adapter_for

    class KilledAfterAnswer:
        def __init__(self, record):
            self.inner = real(record)

        def place_order(self, request):
            self.inner.place_order(request)
            raise RuntimeError("SIGKILL")

        def __getattr__(self, name):
            return getattr(self.inner, name)

    crashing.adapter_for = KilledAfterAnswer
    crashing.drain()
    make_due(app)
    ForwardingWorker(services.session_factory, services.box).drain()
    [delivery] = deliveries(app)
    assert delivery.state == "placed"
    assert supplier.orders_created(delivery.idempotency_key) == 1

    # The supplier ships in two parcels; its webhooks come back to the app.
    first_item = supplier.order(delivery.supplier_order_id)
    supplier.ship(delivery.supplier_order_id, tracking_number="1ZPARTIAL", carrier="UPS", items={str(delivery.lines[0].id): 2})
    supplier.flush_webhooks()
    drain_inbox(app)
    client = shopify.http_client()
    status = _shopify_order(client, shopify, order["id"])
    assert status["displayFulfillmentStatus"] == "PARTIALLY_FULFILLED"
    supplier.ship(delivery.supplier_order_id, tracking_number="1ZREST", carrier="UPS")
    supplier.flush_webhooks()
    drain_inbox(app)
    status = _shopify_order(client, shopify, order["id"])
    assert status["displayFulfillmentStatus"] == "FULFILLED"
    numbers = sorted(t["number"] for f in status["fulfillments"] for t in f["trackingInfo"])
    assert numbers == ["1ZPARTIAL", "1ZREST"]
    [delivery] = deliveries(app)
    assert delivery.state == "shipped"
    # Replaying the supplier's webhooks changes nothing.
    drain_inbox(app)
    assert len(_shopify_order(client, shopify, order["id"])["fulfillments"]) == 2
    del first_item


def _shopify_order(client, shopify, order_gid):
    query = """query($id: ID!) { order(id: $id) { displayFulfillmentStatus fulfillments { trackingInfo { number company } } } }"""
    token = shopify.issue_access_token(SHOP, API_KEY)["access_token"]
    response = client.post(f"https://{SHOP}/admin/api/2026-10/graphql.json", json={"query": query, "variables": {"id": order_gid}}, headers={"X-Shopify-Access-Token": token})
    return response.json()["data"]["order"]


def test_supplier_webhook_with_a_bad_signature_is_rejected(world):
    app, _, supplier, app_url = world
    import httpx

    with app.extensions["services"].session_factory() as session:
        supplier_id = session.query(Supplier.id).scalar()
    response = httpx.post(f"{app_url}/suppliers/{supplier_id}/webhooks", content=b'{"type":"shipment_sent"}', headers={"x-pf-webhook-signature": "00" * 32})
    assert response.status_code == 401
    assert httpx.post(f"{app_url}/suppliers/999/webhooks", content=b"{}").status_code == 404


def test_a_deleted_suppliers_webhook_is_404_however_it_is_signed(world):
    app, _, supplier, app_url = world
    import httpx

    with app.extensions["services"].session_factory.begin() as session:
        record = session.query(Supplier).one()
        record.deleted_at, supplier_id = dt.datetime.now(dt.timezone.utc), record.id
    response = httpx.post(f"{app_url}/suppliers/{supplier_id}/webhooks", content=b'{"type":"shipment_sent"}', headers={"x-pf-webhook-signature": "00" * 32})
    assert response.status_code == 404


def test_a_suppliers_webhook_wakes_the_way_back_lane_only(world):
    app, shopify, supplier, _ = world
    services = app.extensions["services"]
    shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 1}], email="buyer@example.com")
    drain_inbox(app)
    ForwardingWorker(services.session_factory, services.box).drain()
    [delivery] = deliveries(app)
    supplier.flush_webhooks()
    services.inbox_wakeup.wait(0), services.supplier_events_wakeup.wait(0)  # take the rings of what came so far
    supplier.ship(delivery.supplier_order_id, tracking_number="1ZLANE", carrier="UPS")
    supplier.flush_webhooks()
    # The event is the way back's work: the orders lane's threads sleep on (no claim query for nothing).
    assert services.supplier_events_wakeup.wait(10)  # rung within the window of suppliers/event_rings.py
    assert not services.inbox_wakeup.is_set()
