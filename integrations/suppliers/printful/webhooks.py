"""Printful v2 webhooks: signature check and the events we act on, declared in one table.

Signature (Printful v2 docs, "Event signing"): `x-pf-webhook-signature` is the hex
HMAC-SHA256 of the raw body under the configuration's secret key; `x-pf-webhook-public-key`
(base64) names the configuration. The docs do not say whether the hex secret is used as
text or hex-decoded; integrations in the wild hex-decode it, so that is tried first, then
the text form (both are derived from the same secret, so neither weakens the check).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any, Callable, Mapping

from ..base import (
    InvalidSupplierSignature,
    PermanentSupplierError,
    Shipment,
    StockLevel,
    SupplierEvent,
    SupplierEventKind,
)
from .mapping import IN_STOCK_AVAILABILITIES, order_status

SIGNATURE_HEADER = "x-pf-webhook-signature"
PUBLIC_KEY_HEADER = "x-pf-webhook-public-key"


def signing_keys(secret_key: str) -> list[bytes]:
    """The HMAC keys a secret may stand for: hex-decoded first, then as text."""
    keys = []
    try:
        keys.append(bytes.fromhex(secret_key))
    except ValueError:
        pass
    keys.append(secret_key.encode())
    return keys


def verify_signature(headers: Mapping[str, str], body: bytes, secret_key: str | None, public_key: str | None = None) -> None:
    """Raise InvalidSupplierSignature unless the body is signed with our secret (and config, if known)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if not secret_key:
        raise InvalidSupplierSignature("no Printful webhook secret key is configured")
    signature = (lowered.get(SIGNATURE_HEADER) or "").strip().lower()
    if not signature:
        raise InvalidSupplierSignature(f"missing {SIGNATURE_HEADER}")
    if public_key is not None and not _same_public_key(lowered.get(PUBLIC_KEY_HEADER), public_key):
        raise InvalidSupplierSignature("webhook is from another Printful webhook configuration")
    for key in signing_keys(secret_key):
        if hmac.compare_digest(hmac.new(key, body, hashlib.sha256).hexdigest(), signature):
            return
    raise InvalidSupplierSignature("Printful webhook signature does not match")


def _same_public_key(header: str | None, public_key: str) -> bool:
    if not header:
        return False
    if hmac.compare_digest(header, public_key):
        return True
    try:
        return hmac.compare_digest(base64.b64decode(header, validate=True), public_key.encode())
    except (binascii.Error, ValueError):
        return False


def decode_event(body: bytes) -> dict[str, Any]:
    """The event JSON (after the signature has been checked)."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
        raise PermanentSupplierError("Printful webhook body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise PermanentSupplierError("Printful webhook body has no event type")
    return event


# -- translation -------------------------------------------------------------------------

EventTranslator = Callable[[dict[str, Any], Mapping[int, str]], list[SupplierEvent]]


def _event_id(event: Mapping[str, Any]) -> str:
    # Printful sends no event id; these fields stay the same when it retries a delivery.
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    order = data.get("order") or {}
    shipment = data.get("shipment") or {}
    return ":".join(str(part) for part in (event["type"], event.get("store_id", ""), order.get("id", ""), shipment.get("id", ""), event.get("occurred_at", "")))


def _order_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    order = data.get("order") if isinstance(data.get("order"), dict) else {}
    return {
        "event_id": _event_id(event),
        "supplier_order_id": str(order["id"]) if order.get("id") is not None else None,
        "external_id": order.get("external_id") or None,
        "status": order_status(order["status"]) if order.get("status") else None,
        "reason": data.get("reason") or None,
        "raw": event,
    }


def _webhook_shipment(data: Mapping[str, Any]) -> Shipment | None:
    shipment = data.get("shipment")
    if not isinstance(shipment, dict) or shipment.get("id") is None:
        return None
    # Webhook shipment data names no carrier and no items: get_shipments has them.
    return Shipment(
        shipment_id=str(shipment["id"]), carrier=None, tracking_number=shipment.get("tracking_number") or None,
        tracking_url=shipment.get("tracking_url") or None, lines=(), shipped_at=shipment.get("shipped_at"),
    )


def order_event(kind: SupplierEventKind) -> EventTranslator:
    """A translator for events about one order."""
    def translate(event: dict[str, Any], _skus: Mapping[int, str]) -> list[SupplierEvent]:
        return [SupplierEvent(kind=kind, **_order_fields(event))]
    return translate


def shipment_event(kind: SupplierEventKind) -> EventTranslator:
    """A translator for events about one shipment of one order."""
    def translate(event: dict[str, Any], _skus: Mapping[int, str]) -> list[SupplierEvent]:
        return [SupplierEvent(kind=kind, shipment=_webhook_shipment(event.get("data") or {}), **_order_fields(event))]
    return translate


def shipment_out_of_stock(event: dict[str, Any], _skus: Mapping[int, str]) -> list[SupplierEvent]:
    """Out of stock, or (is_out_of_stock false) back in stock, which is just an order update."""
    data = event.get("data") or {}
    kind = SupplierEventKind.OUT_OF_STOCK if data.get("is_out_of_stock", True) else SupplierEventKind.ORDER_UPDATED
    return [SupplierEvent(kind=kind, shipment=_webhook_shipment(data), **_order_fields(event))]


def catalog_stock_updated(event: dict[str, Any], skus: Mapping[int, str]) -> list[SupplierEvent]:
    """Availability changes for variants; only variants we map to SKUs are reported."""
    levels = tuple(
        StockLevel(supplier_sku=skus[entry["catalog_variant_id"]], in_stock=entry.get("availability") in IN_STOCK_AVAILABILITIES)
        for entry in event.get("data") or ()
        if isinstance(entry, dict) and entry.get("catalog_variant_id") in skus
    )
    if not levels:
        return []
    return [SupplierEvent(kind=SupplierEventKind.STOCK_UPDATED, event_id=_event_id(event), stock=levels, raw=event)]


# Every Printful event type we act on; the rest (prices, mockups, products) are acknowledged and ignored.
EVENT_TRANSLATORS: dict[str, EventTranslator] = {
    "order_created": order_event(SupplierEventKind.ORDER_UPDATED),
    "order_updated": order_event(SupplierEventKind.ORDER_UPDATED),
    "order_put_hold": order_event(SupplierEventKind.ORDER_UPDATED),
    "order_put_hold_approval": order_event(SupplierEventKind.ORDER_UPDATED),
    "order_remove_hold": order_event(SupplierEventKind.ORDER_UPDATED),
    "order_refunded": order_event(SupplierEventKind.ORDER_UPDATED),
    "order_failed": order_event(SupplierEventKind.ORDER_FAILED),
    "order_canceled": order_event(SupplierEventKind.ORDER_CANCELLED),
    "shipment_sent": shipment_event(SupplierEventKind.SHIPMENT),
    "shipment_returned": shipment_event(SupplierEventKind.RETURN_UPDATED),
    "shipment_put_hold": shipment_event(SupplierEventKind.ORDER_UPDATED),
    "shipment_put_hold_approval": shipment_event(SupplierEventKind.ORDER_UPDATED),
    "shipment_remove_hold": shipment_event(SupplierEventKind.ORDER_UPDATED),
    "shipment_out_of_stock": shipment_out_of_stock,
    "catalog_stock_updated": catalog_stock_updated,
}


def translate_event(event: dict[str, Any], sku_by_variant: Mapping[int, str]) -> list[SupplierEvent]:
    """Our events for one verified Printful event ([] for types we do not act on)."""
    translator = EVENT_TRANSLATORS.get(event["type"])
    if translator is None:
        return []
    try:
        return translator(event, sku_by_variant)
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:  # ArithmeticError: int() of 1e400 (inf)
        raise PermanentSupplierError(f"Printful {event['type']} event is malformed ({type(exc).__name__})") from None
