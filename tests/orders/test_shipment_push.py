"""A supplier's parcel becomes one Shopify fulfillment, spread over our stored fulfillment orders.

The push no longer re-reads the order's fulfillment orders from Shopify for every parcel
(issue 20: Shopify's cost bucket bounds the way back). These prove it reads nothing it
does not need, and that a stored copy gone stale still never fulfils twice: Shopify
refuses the quantities, and the push falls back to what Shopify says remains.
"""
from __future__ import annotations

import pytest

from sqlalchemy import select

from forwarding_kit import SHOP, deliveries
from integrations.shopify.gateway import ShopifyGateway
from shopify_app.models import WebhookDelivery, utcnow
from shopify_app.suppliers import tracking
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import SupplierShipment
from test_order_loop import _shopify_order, drain_inbox, world  # noqa: F401 - the loop's world fixture


@pytest.fixture
def operations(monkeypatch):
    """Names of the GraphQL operations the app sends to Shopify, in order."""
    sent: list[str] = []
    real = ShopifyGateway._execute

    def spy(self, name, variables, **kwargs):
        sent.append(name)
        return real(self, name, variables, **kwargs)

    monkeypatch.setattr(ShopifyGateway, "_execute", spy)
    return sent


def _placed_order(world):  # noqa: F811
    app, shopify, supplier, _ = world
    services = app.extensions["services"]
    order = shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 2}, {"sku": "MUG-WHT", "quantity": 1}], email="buyer@example.com")
    drain_inbox(app)
    ForwardingWorker(services.session_factory, services.box).drain()
    [delivery] = deliveries(app)
    assert delivery.state == "placed"
    return order, delivery


def _shipments(app):
    with app.extensions["services"].session_factory() as session:
        return session.scalars(select(SupplierShipment)).all()


def test_a_parcel_is_fulfilled_from_the_stored_fulfillment_orders_without_reading_them_again(world, operations):  # noqa: F811
    app, shopify, supplier, _ = world
    order, delivery = _placed_order(world)
    operations.clear()
    supplier.ship(delivery.supplier_order_id, tracking_number="1ZSTORED", carrier="UPS")
    supplier.flush_webhooks()
    drain_inbox(app)
    status = _shopify_order(shopify.http_client(), shopify, order["id"])
    assert status["displayFulfillmentStatus"] == "FULFILLED"
    assert [t["number"] for f in status["fulfillments"] for t in f["trackingInfo"]] == ["1ZSTORED"]
    assert operations.count("FulfillmentCreate") == 1
    assert "FulfillmentOrdersForOrder" not in operations, operations
    [shipment] = _shipments(app)
    assert shipment.state == "fulfilled" and shipment.shopify_fulfillment_id


def test_a_stale_stored_copy_is_refused_by_shopify_then_the_live_read_finds_it_fulfilled(world, operations):  # noqa: F811
    app, shopify, supplier, _ = world
    order, delivery = _placed_order(world)
    # The merchant fulfils everything in Shopify meanwhile: our copy still says it all remains.
    [fo] = shopify.store.require_shop(SHOP).deref(shopify.store.require_shop(SHOP).get(order["id"])["fulfillmentOrders"])
    shopify.store.create_fulfillment(SHOP, [{"fulfillmentOrderId": fo["id"]}])
    operations.clear()
    supplier.ship(delivery.supplier_order_id, tracking_number="1ZLATE", carrier="UPS")
    supplier.flush_webhooks()
    drain_inbox(app)
    status = _shopify_order(shopify.http_client(), shopify, order["id"])
    assert len(status["fulfillments"]) == 1  # the merchant's; no second one
    assert operations.count("FulfillmentCreate") == 1  # the stored attempt, refused
    assert "FulfillmentOrdersForOrder" in operations  # then Shopify's word
    [shipment] = _shipments(app)
    assert shipment.state == "fulfilled" and shipment.shopify_fulfillment_id is None


def test_a_crash_after_shopify_fulfilled_but_before_we_recorded_it_does_not_fulfil_twice(world, monkeypatch):  # noqa: F811
    app, shopify, supplier, _ = world
    order, delivery = _placed_order(world)
    real = tracking._record_created
    crashes = []

    def crash_once(*args, **kwargs):
        if not crashes:
            crashes.append(1)
            raise RuntimeError("SIGKILL after Shopify's answer")
        return real(*args, **kwargs)

    monkeypatch.setattr(tracking, "_record_created", crash_once)
    supplier.ship(delivery.supplier_order_id, tracking_number="1ZONCE", carrier="UPS")
    supplier.flush_webhooks()
    first = drain_inbox(app)
    assert first.retried == 1 and crashes  # the delivery failed after Shopify created the fulfillment
    with app.extensions["services"].session_factory.begin() as session:
        for row in session.scalars(select(WebhookDelivery).where(WebhookDelivery.status == "pending")):
            row.next_attempt_at = utcnow()
    drain_inbox(app)
    status = _shopify_order(shopify.http_client(), shopify, order["id"])
    assert status["displayFulfillmentStatus"] == "FULFILLED"
    assert len(status["fulfillments"]) == 1
    [shipment] = _shipments(app)
    assert shipment.state == "fulfilled"


def test_one_orders_webhooks_are_handled_one_at_a_time_so_orders_paid_reads_nothing_again(world, monkeypatch):  # noqa: F811
    """Two lane threads take orders/create and orders/paid of one order: paid waits for create, then sees it routed."""
    import threading

    from shopify_app.webhooks.worker import InboxWorker

    app, shopify, supplier, _ = world
    services = app.extensions["services"]
    reads, first_read, second_read = [], threading.Event(), threading.Event()
    real = ShopifyGateway._execute

    def slow_first_read(self, name, variables, **kwargs):
        if name == "FulfillmentOrdersForOrder":
            reads.append(threading.current_thread().name)
            if len(reads) == 1:
                first_read.set()
                second_read.wait(1.5)  # without one-at-a-time, the other thread reads meanwhile and wakes us
            else:
                second_read.set()
        return real(self, name, variables, **kwargs)

    monkeypatch.setattr(ShopifyGateway, "_execute", slow_first_read)
    order = shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 1}], email="buyer@example.com")  # orders/create + orders/paid
    with services.session_factory() as session:
        assert sorted(session.scalars(select(WebhookDelivery.topic)).all()) == ["orders/create", "orders/paid"]
    workers = [InboxWorker(services.session_factory, services.settings, services) for _ in range(2)]
    threads = [threading.Thread(target=w.drain, kwargs={"batch_size": 1}, name=f"lane-{n}") for n, w in enumerate(workers)]
    threads[0].start()
    assert first_read.wait(10)  # orders/create is being prefetched: the other thread takes orders/paid now
    threads[1].start()
    for t in threads:
        t.join(30)
    with services.session_factory() as session:
        assert set(session.scalars(select(WebhookDelivery.status)).all()) == {"done"}
    assert len(reads) == 1, reads  # orders/paid found the order routed from the same version
    [delivery] = deliveries(app)
    assert [(l.supplier_sku, l.quantity) for l in delivery.lines] == [("TEE-S", 1)]
    del order
