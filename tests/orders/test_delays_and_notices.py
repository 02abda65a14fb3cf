"""A passed ETA becomes one delay event, one alert and one templated email over real SMTP."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from channels_kit import Inbox, free_port, start_smtp

from shopify_app.notify.email import SmtpSettings
from shopify_app.notify.customer_notices import send_pending_notices
from shopify_app.orders.delays import detect_delays
from shopify_app.orders.models import CustomerNotice, Order, OrderEvent
from shopify_app.suppliers.models import Alert, Supplier, SupplierOrder, SupplierShipment

SHOP = "demo.myshopify.com"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller, port = start_smtp(inbox)
    yield inbox, SmtpSettings("127.0.0.1", port, sender="shop@example.com")
    controller.stop()


@pytest.fixture
def shipped_order(app_factory, sqlite_url):
    app = app_factory(sqlite_url)
    factory = app.extensions["services"].session_factory
    with factory.begin() as session:
        order = Order(shop_domain=SHOP, shopify_id="77", name="#1077", email="buyer@example.com", shipping_address={"first_name": "Ana"})
        supplier = Supplier(shop_domain=SHOP, name="Printful", kind="printful")
        session.add_all([order, supplier])
        session.flush()
        delivery = SupplierOrder(shop_domain=SHOP, order_id=order.id, supplier_id=supplier.id, idempotency_key="do-77", state="shipped")
        session.add(delivery)
        session.flush()
        yesterday = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).date().isoformat()
        tomorrow = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).date().isoformat()
        session.add_all([
            SupplierShipment(supplier_order_id=delivery.id, shipment_id="late", carrier="UPS", tracking_number="1ZLATE", estimated_delivery=yesterday, state="fulfilled"),
            SupplierShipment(supplier_order_id=delivery.id, shipment_id="ontime", carrier="UPS", tracking_number="1ZOK", estimated_delivery=tomorrow, state="fulfilled"),
            SupplierShipment(supplier_order_id=delivery.id, shipment_id="arrived", carrier="UPS", tracking_number="1ZHOME", estimated_delivery=yesterday, delivered_at=yesterday, state="fulfilled"),
        ])
    return factory


def test_late_parcel_is_noticed_once_and_the_customer_emailed_once(shipped_order, smtp_server):
    inbox, smtp = smtp_server
    factory = shipped_order
    with factory.begin() as session:
        assert detect_delays(session) == 1
    with factory.begin() as session:
        assert detect_delays(session) == 0  # the same late parcel is not noticed twice
    assert send_pending_notices(factory, smtp).sent == 1
    assert send_pending_notices(factory, smtp).sent == 0
    [(recipients, content)] = inbox.messages
    assert recipients == ["buyer@example.com"]
    assert "Subject: An update on your order #1077" in content and "1ZLATE" in content and "Ana" in content
    assert "1ZOK" not in content and "1ZHOME" not in content  # on time, or already delivered
    with factory() as session:
        kinds = [e.kind for e in session.scalars(select(OrderEvent))]
        assert kinds == ["delayed", "customer_notified"]
        assert [a.kind for a in session.scalars(select(Alert))] == ["delivery_problem"]


def test_smtp_outage_keeps_the_notice_and_retries_then_gives_up(shipped_order):
    factory = shipped_order
    with factory.begin() as session:
        detect_delays(session)
    down = SmtpSettings("127.0.0.1", free_port(), timeout=1)  # nobody listens there
    for _ in range(4):
        assert send_pending_notices(factory, down).sent == 0
    with factory() as session:
        notice = session.scalars(select(CustomerNotice)).one()
        assert (notice.status, notice.attempts) == ("pending", 4)
    assert send_pending_notices(factory, down).failed == 1
    assert send_pending_notices(factory, None).waiting == 0


def test_without_smtp_configured_notices_wait(shipped_order):
    with shipped_order.begin() as session:
        detect_delays(session)
    assert send_pending_notices(shipped_order, None).waiting == 1
