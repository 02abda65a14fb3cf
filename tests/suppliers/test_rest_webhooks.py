"""REST webhooks: signature variants (hex/base64, prefix), rejection of bad signatures, and translation by the settings' table."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from integrations.suppliers.base import InvalidSupplierSignature, PermanentSupplierError, SupplierEventKind, SupplierOrderStatus
from integrations.suppliers.rest import RestAdapter, parse_settings, with_preset
from rest_testkit import make_rest_adapter, rest_sandbox, rest_sandbox_server, rest_webhook_receiver  # noqa: F401 (fixtures)
from sandbox.supplier.rest_webhooks import sign
from rest_testkit import RestSandboxController
from supplier_contract import order_request

SECRET = "whsec-test-0123456789"


def adapter_with(webhook: dict | None = None, secret: str | None = SECRET) -> RestAdapter:
    settings = with_preset({"preset": "sandbox-rest", "base_url": "https://supplier.test", "webhook": webhook or {}})
    return RestAdapter(parse_settings(settings), {"api_key": "k", "webhook_secret": secret})


def shipped_event() -> bytes:
    return json.dumps({
        "id": "evt_9", "type": "order.shipped", "order": {"id": 5, "reference": "so-1", "status": "partially_shipped"},
        "shipment": {"id": "shp_5_1", "carrier": "DHL", "tracking": {"number": "JD0001", "url": "https://t.test/JD0001"},
                     "items": [{"line_ref": "line-a", "sku": "WIDGET-RED", "qty": 1}]},
    }).encode()


def test_a_hex_signature_with_prefix_verifies_and_translates():
    body = shipped_event()
    [event] = adapter_with().parse_webhook({"x-signature": sign(body, SECRET)}, body)
    assert (event.kind, event.event_id, event.supplier_order_id, event.external_id) == (SupplierEventKind.SHIPMENT, "evt_9", "5", "so-1")
    assert event.status == SupplierOrderStatus.PARTIALLY_SHIPPED
    assert event.shipment.tracking_number == "JD0001" and event.shipment.lines[0].line_ref == "line-a"


def test_a_base64_signature_without_prefix():
    body = shipped_event()
    adapter = adapter_with({"signature_header": "X-Hub-Signature", "signature_encoding": "base64", "signature_prefix": ""})
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert adapter.parse_webhook({"X-Hub-Signature": signature}, body)[0].kind == SupplierEventKind.SHIPMENT
    with pytest.raises(InvalidSupplierSignature):
        adapter.parse_webhook({"X-Hub-Signature": signature.lower()}, body)  # base64 is case-sensitive


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Signature": ""},
        {"X-Signature": "sha1=" + "0" * 64},
        {"X-Signature": "sha256=" + "0" * 64},
        {"X-Signature": "sha256=not-hex-at-all"},
        {"X-Signature": sign(b"another body", SECRET)},
        {"X-Signature": sign(shipped_event(), "another-secret")},
    ],
)
def test_bad_signatures_are_rejected(headers):
    with pytest.raises(InvalidSupplierSignature):
        adapter_with().parse_webhook(headers, shipped_event())


def test_no_configured_secret_rejects_everything():
    body = shipped_event()
    with pytest.raises(InvalidSupplierSignature, match="webhook_secret"):
        adapter_with(secret=None).parse_webhook({"X-Signature": sign(body, SECRET)}, body)


def test_a_signed_body_that_is_not_an_event_is_permanent_and_unknown_types_are_ignored():
    adapter = adapter_with()
    for body in (b"not json", b'{"no_type": 1}', b"[1, 2]"):
        with pytest.raises(PermanentSupplierError):
            adapter.parse_webhook({"X-Signature": sign(body, SECRET)}, body)
    body = b'{"id": "evt_1", "type": "invoice.paid"}'
    assert adapter.parse_webhook({"X-Signature": sign(body, SECRET)}, body) == []
    broken = b'{"id": "evt_2", "type": "order.shipped", "order": {"reference": "so-1"}}'  # no id or status
    with pytest.raises(PermanentSupplierError, match="malformed"):
        adapter.parse_webhook({"X-Signature": sign(broken, SECRET)}, broken)


@pytest.mark.parametrize("body", [
    b'{"id": "e", "type": "stock.updated", "stock": [{"sku": "W", "available": 1e400}]}',  # json.loads makes it inf: int() raised OverflowError
    b'{"id": "e", "type": "return.received", "return": {"items": [{"sku": "W", "received_qty": 1e400}]}}',
    b'{"id": "e", "type": "order.updated", "order": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # RecursionError, not ValueError
])
def test_a_signed_event_with_numbers_or_nesting_python_cannot_take_is_permanent(body):
    """Each was an exception the intake did not expect: a 500 to the supplier (who retries it) instead of a 400."""
    with pytest.raises(PermanentSupplierError):
        adapter_with().parse_webhook({"X-Signature": sign(body, SECRET)}, body)


def test_a_polled_stock_entry_of_1e400_is_an_unreadable_answer_not_an_overflow():
    """The same inf in a stock poll's answer raised OverflowError out of get_stock (past the pull's SupplierError handling)."""
    from integrations.suppliers.base import TransientSupplierError
    from integrations.suppliers.rest.mapping import stock_level

    adapter = adapter_with()
    with pytest.raises(TransientSupplierError, match="unreadable"):
        adapter._parse(lambda entry: stock_level(entry, adapter.settings), json.loads(b'{"sku": "W", "available": 1e400}'), "get_stock")


def test_no_webhook_settings_means_no_webhooks():
    settings = with_preset({"preset": "sandbox-rest", "base_url": "https://supplier.test"})
    del settings["webhook"]
    with pytest.raises(NotImplementedError):
        RestAdapter(parse_settings(settings), {"api_key": "k"}).parse_webhook({}, b"{}")


def test_sandbox_stock_and_cancel_events(rest_sandbox, rest_webhook_receiver):
    adapter = make_rest_adapter(rest_sandbox)
    placed = adapter.place_order(order_request(RestSandboxController, "so-events"))
    adapter.cancel_order(placed.supplier_order_id)
    rest_sandbox.set_stock("WIDGET-BLUE", available=3)
    rest_sandbox.flush_webhooks()
    events = [event for message in rest_webhook_receiver.take() for event in adapter.parse_webhook(message.headers, message.body)]
    cancelled = [e for e in events if e.kind == SupplierEventKind.ORDER_CANCELLED]
    assert [(e.supplier_order_id, e.status) for e in cancelled] == [(placed.supplier_order_id, SupplierOrderStatus.CANCELLED)]
    [stock] = [e for e in events if e.kind == SupplierEventKind.STOCK_UPDATED]
    assert [(level.supplier_sku, level.in_stock, level.available) for level in stock.stock] == [("WIDGET-BLUE", True, 3)]
    assert len({e.event_id for e in events}) == len(events)  # ids to dedupe on
