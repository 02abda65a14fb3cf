"""Printful webhooks through the adapter: every event the sandbox sends, the signature rules, odd bodies."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from integrations.suppliers.base import (
    InvalidSupplierSignature,
    PermanentSupplierError,
    SupplierEventKind,
    SupplierOrderStatus,
)
from integrations.suppliers.printful import PrintfulAdapter
from printful_testkit import make_adapter, printful_sandbox, sandbox, webhook_receiver  # noqa: F401 (fixtures)
from supplier_contract import order_request

SECRET = "ab" * 64


class Controller:
    in_stock_skus = ("TSHIRT-BLK-S", "MUG-WHT-11")


def signed(payload: dict, secret: str = SECRET, key: bytes | None = None) -> tuple[dict, bytes]:
    body = json.dumps(payload).encode()
    signature = hmac.new(key if key is not None else bytes.fromhex(secret), body, hashlib.sha256).hexdigest()
    return {"X-PF-Webhook-Signature": signature, "X-PF-Webhook-Public-Key": base64.b64encode(b"pub").decode()}, body


def make_adapter_offline(**overrides) -> PrintfulAdapter:
    """An adapter that only parses webhooks (its base URL goes nowhere)."""
    options = {"products": {"TSHIRT-BLK-S": 4011}, "base_url": "http://127.0.0.1:9", "webhook_secret_key": SECRET}
    options.update(overrides)
    return PrintfulAdapter("unused", **options)


def order_event(event_type: str, **data) -> dict:
    order = {"id": 7, "external_id": "so-7", "status": "onhold", "store_id": 1, "dashboard_url": "x",
             "created_at": "2024-05-01T10:00:00Z", "updated_at": "2024-05-01T10:00:00Z"}
    return {"type": event_type, "occurred_at": "2024-05-01T10:00:00Z", "retries": 0, "store_id": 1, "data": {"order": order, **data}}


@pytest.fixture
def placed(sandbox):
    adapter = make_adapter(sandbox)
    order = adapter.place_order(order_request(Controller, "so-hook"))
    sandbox.flush_webhooks()
    return adapter, int(order.supplier_order_id)


def events_of(sandbox, webhook_receiver, adapter):
    sandbox.flush_webhooks()
    return [event for message in webhook_receiver.take() for event in adapter.parse_webhook(message.headers, message.body)]


def test_every_supplier_side_change_arrives_as_the_right_event(sandbox, webhook_receiver, placed):
    adapter, order_id = placed
    webhook_receiver.take()

    sandbox.hold(order_id, "Address needs verification")
    [held, _] = events_of(sandbox, webhook_receiver, adapter)
    assert (held.kind, held.status, held.reason) == (SupplierEventKind.ORDER_UPDATED, SupplierOrderStatus.ON_HOLD, "Address needs verification")

    sandbox.release_hold(order_id)
    sandbox.report_out_of_stock(order_id)
    kinds = [e.kind for e in events_of(sandbox, webhook_receiver, adapter)]
    assert SupplierEventKind.OUT_OF_STOCK in kinds

    sandbox.report_out_of_stock(order_id, is_out_of_stock=False)
    assert [e.kind for e in events_of(sandbox, webhook_receiver, adapter)] == [SupplierEventKind.ORDER_UPDATED]

    sandbox.ship(order_id, tracking_number="TRACK-1", carrier="UPS")
    sandbox.return_shipment(order_id, reason="Undeliverable")
    events = events_of(sandbox, webhook_receiver, adapter)
    shipment = next(e for e in events if e.kind == SupplierEventKind.SHIPMENT)
    assert shipment.shipment.tracking_number == "TRACK-1" and shipment.status == SupplierOrderStatus.SHIPPED
    returned = next(e for e in events if e.kind == SupplierEventKind.RETURN_UPDATED)
    assert returned.reason == "Undeliverable" and returned.shipment.shipment_id == shipment.shipment.shipment_id

    sandbox.cancel(order_id, "Canceled by Printful staff")
    cancelled = next(e for e in events_of(sandbox, webhook_receiver, adapter) if e.kind == SupplierEventKind.ORDER_CANCELLED)
    assert (cancelled.external_id, cancelled.status) == ("so-hook", SupplierOrderStatus.CANCELLED)


def test_stock_updates_name_our_skus(sandbox, webhook_receiver):
    adapter = make_adapter(sandbox)
    sandbox.set_stock("TSHIRT-BLK-M", False)
    [event] = events_of(sandbox, webhook_receiver, adapter)
    assert event.kind == SupplierEventKind.STOCK_UPDATED
    assert [(level.supplier_sku, level.in_stock) for level in event.stock] == [("TSHIRT-BLK-M", False)]
    unmapped = make_adapter(sandbox, products={"TSHIRT-BLK-S": 4011})
    sandbox.set_stock("TSHIRT-BLK-M", True)
    assert events_of(sandbox, webhook_receiver, unmapped) == []


def test_the_event_id_is_stable_across_redeliveries():
    adapter = make_adapter_offline()
    payload = order_event("order_put_hold", reason="x")
    first = adapter.parse_webhook(*signed(payload))[0]
    payload["retries"] = 2
    assert adapter.parse_webhook(*signed(payload))[0].event_id == first.event_id


def test_events_we_do_not_act_on_are_verified_then_ignored():
    adapter = make_adapter_offline()
    assert adapter.parse_webhook(*signed({"type": "catalog_price_changed", "occurred_at": "x", "retries": 0, "store_id": 1, "data": {}})) == []
    with pytest.raises(InvalidSupplierSignature):
        adapter.parse_webhook({"x-pf-webhook-signature": "00"}, json.dumps({"type": "catalog_price_changed"}).encode())


def test_signature_rules():
    adapter = make_adapter_offline()
    headers, body = signed(order_event("order_failed", reason="r"))
    assert adapter.parse_webhook(headers, body)[0].kind == SupplierEventKind.ORDER_FAILED
    assert adapter.parse_webhook({k.lower(): v for k, v in headers.items()}, body)  # header names in any case
    assert adapter.parse_webhook(*signed(order_event("order_failed", reason="r"), key=SECRET.encode()))  # secret used as text

    with pytest.raises(InvalidSupplierSignature):
        adapter.parse_webhook(*signed(order_event("order_failed", reason="r"), secret="cd" * 64))
    with pytest.raises(InvalidSupplierSignature):
        make_adapter_offline(webhook_public_key="another").parse_webhook(headers, body)
    assert make_adapter_offline(webhook_public_key="pub").parse_webhook(headers, body)
    with pytest.raises(InvalidSupplierSignature):
        make_adapter_offline(webhook_secret_key=None).parse_webhook(headers, body)


def test_a_signed_body_that_is_not_an_event_is_permanent():
    adapter = make_adapter_offline()
    body = b"not json"
    signature = hmac.new(bytes.fromhex(SECRET), body, hashlib.sha256).hexdigest()
    with pytest.raises(PermanentSupplierError):
        adapter.parse_webhook({"x-pf-webhook-signature": signature}, body)
    with pytest.raises(PermanentSupplierError):
        adapter.parse_webhook(*signed({"type": "shipment_sent", "data": {"order": {"id": 1, "status": "fulfilled"}, "shipment": "oops"}, "store_id": 1}))

