"""The fulfillment-service model against the sandbox Shopify: requests accepted, rejected, cancelled."""
from __future__ import annotations

import dataclasses
import random
import threading

import pytest
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET
from forwarding_kit import SHOP, add_printful_supplier, deliveries
from sandbox.supplier.orders import NotFound
from sandbox.supplier.printful import SandboxSupplier
from shopify_app.orders.models import Order
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.fulfillment_service import register_fulfillment_service
from shopify_app.suppliers.models import ProductMapping
from shopify_app.webhooks.worker import InboxWorker


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    server = make_server("127.0.0.1", 0, sandboxed_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    services = sandboxed_app.extensions["services"]
    services.settings = dataclasses.replace(services.settings, app_url=f"http://127.0.0.1:{server.server_port}")
    sandbox_shopify.register_app(API_KEY, API_SECRET, services.settings.app_url, webhook_topics=[])
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_orders")
    supplier = SandboxSupplier()
    supplier.start()
    supplier_id = add_printful_supplier(sandboxed_app, supplier, skus=("TEE-S", "MUG-WHT"))
    location = register_fulfillment_service(services, SHOP, supplier_id)
    yield sandboxed_app, sandbox_shopify, supplier, location
    supplier.stop()
    server.shutdown()


def drain(app):
    services = app.extensions["services"]
    return InboxWorker(services.session_factory, services.settings, services).drain()


def request_statuses(shopify, order):
    with shopify.store.lock:
        shop = shopify.store.require_shop(SHOP)
        return [shop.get(ref.gid if hasattr(ref, "gid") else ref)["requestStatus"] for ref in shop.get(order["id"])["fulfillmentOrders"]]


def place_at(shopify, location, skus):
    order = shopify.store.create_order(SHOP, [{"sku": sku, "quantity": 1} for sku in skus], location_gid=location)
    shopify.request_fulfillment(SHOP, order["id"])
    return order


def test_request_is_accepted_when_the_supplier_can_ship_everything(world):
    app, shopify, _, location = world
    order = place_at(shopify, location, ["TEE-S", "MUG-WHT"])
    assert drain(app).done == 1  # the callback went through the inbox
    assert request_statuses(shopify, order) == ["ACCEPTED"]
    with app.extensions["services"].session_factory() as session:
        ours = session.query(Order).one()  # synced from Shopify though its webhook never came
        assert "fulfillment_request_accepted" in [e.kind for e in ours.events]


def test_request_is_rejected_as_out_of_stock(world):
    app, shopify, _, location = world
    with app.extensions["services"].session_factory.begin() as session:
        session.query(ProductMapping).filter_by(sku="MUG-WHT").update({"in_stock": False})
    order = place_at(shopify, location, ["TEE-S", "MUG-WHT"])
    drain(app)
    assert request_statuses(shopify, order) == ["REJECTED"]


def test_a_line_past_the_first_fifty_is_checked_before_accepting(world):
    app, shopify, _, location = world
    with app.extensions["services"].session_factory.begin() as session:
        session.query(ProductMapping).filter_by(sku="MUG-WHT").update({"in_stock": False})
    order = place_at(shopify, location, ["TEE-S"] * 52 + ["MUG-WHT"])
    drain(app)
    assert request_statuses(shopify, order) == ["REJECTED"]


def test_forged_callback_is_refused(world):
    import httpx

    app, *_ = world
    url = app.extensions["services"].settings.app_url + "/fulfillment_service/fulfillment_order_notification"
    response = httpx.post(url, content=b'{"kind":"FULFILLMENT_REQUEST"}', headers={"X-Shopify-Hmac-Sha256": "Zm9yZ2Vk", "X-Shopify-Shop-Domain": SHOP})
    assert response.status_code == 401


def placed_through_the_service(app, shopify, location):
    """A paid order at the supplier's location, forwarded: (Shopify order, our delivery)."""
    order = place_at(shopify, location, ["TEE-S"])
    drain(app)
    services = app.extensions["services"]
    from shopify_app.orders.routing import route_order

    with services.session_factory.begin() as session:
        ours = session.query(Order).one()
        ours.financial_status = "paid"
        route_order(session, ours)
    ForwardingWorker(services.session_factory, services.box, rng=random.Random(0)).drain()
    [delivery] = deliveries(app)
    return order, delivery


def test_cancellation_request_cancels_at_the_supplier_then_accepts(world):
    app, shopify, supplier, location = world
    order, delivery = placed_through_the_service(app, shopify, location)
    assert delivery.state == "placed"
    # Printful v2 deletes only draft, failed or canceled orders: this one failed there (a confirmed one: the next test).
    supplier.fail(delivery.supplier_order_id, "Payment failed")
    shopify.request_cancellation(SHOP, order["id"])
    drain(app)
    # The cancelled work is closed; Shopify opens a new fulfillment order for the units left.
    assert request_statuses(shopify, order) == ["CANCELLATION_ACCEPTED", "UNSUBMITTED"]
    assert deliveries(app)[0].state == "cancelled"
    with pytest.raises(NotFound):  # v2 DELETE deletes the order
        supplier.order(delivery.supplier_order_id)


def test_a_cancellation_request_for_a_confirmed_printful_order_is_rejected_saying_what_to_do(world):
    app, shopify, supplier, location = world
    order, delivery = placed_through_the_service(app, shopify, location)
    shopify.request_cancellation(SHOP, order["id"])
    drain(app)
    assert request_statuses(shopify, order)[0] == "CANCELLATION_REJECTED"
    assert deliveries(app)[0].state == "placed" and supplier.order(delivery.supplier_order_id).status == "pending"
