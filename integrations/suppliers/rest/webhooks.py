"""Webhooks from a configured REST supplier: HMAC-SHA256 signature check, then events by the settings' table.

Signature: the HMAC-SHA256 of the raw body keyed with the `webhook_secret` credential, hex
or base64, in a configurable header, optionally after a prefix such as "sha256=". The body
is only parsed after it verified.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, Mapping

from ..base import InvalidSupplierSignature, PermanentSupplierError, SupplierEvent, SupplierEventKind
from .config import RestSettings, WebhookSettings
from .mapping import MalformedResponse, shipment, stock_level, supplier_order
from .paths import get_path


def signature_for(body: bytes, secret: str, encoding: str) -> str:
    """The expected signature of a body (without any prefix)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


def verify_signature(headers: Mapping[str, str], body: bytes, secret: str | None, webhook: WebhookSettings) -> None:
    """Raise InvalidSupplierSignature unless the body carries our secret's signature."""
    if not secret:
        raise InvalidSupplierSignature("no webhook_secret credential is configured for this supplier")
    lowered = {name.lower(): value for name, value in headers.items()}
    given = (lowered.get(webhook.signature_header.lower()) or "").strip()
    if not given:
        raise InvalidSupplierSignature(f"missing {webhook.signature_header}")
    prefix = webhook.signature_prefix
    if prefix:
        if not given.lower().startswith(prefix.lower()):
            raise InvalidSupplierSignature(f"{webhook.signature_header} lacks the {prefix!r} prefix")
        given = given[len(prefix):]
    expected = signature_for(body, secret, webhook.signature_encoding)
    if webhook.signature_encoding == "hex":
        given, expected = given.lower(), expected.lower()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise InvalidSupplierSignature("webhook signature does not match")


def decode_event(body: bytes, webhook: WebhookSettings) -> tuple[dict[str, Any], str]:
    """The event JSON and its type (after the signature has been checked)."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
        raise PermanentSupplierError("webhook body is not JSON") from None
    event_type = get_path(event, webhook.event_type) if isinstance(event, dict) else None
    if not isinstance(event_type, str):
        raise PermanentSupplierError("webhook body has no event type where settings.webhook.event_type points")
    return event, event_type


def translate_event(event: dict[str, Any], event_type: str, settings: RestSettings) -> list[SupplierEvent]:
    """Our events for one verified event ([] for types the settings do not list)."""
    webhook = settings.webhook
    assert webhook is not None
    kind = webhook.events.get(event_type)
    if kind is None:
        return []
    try:
        return [_event(kind, event, webhook, settings)]
    except (MalformedResponse, KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:  # ArithmeticError: int() of 1e400 (inf)
        raise PermanentSupplierError(f"{event_type} webhook is malformed ({type(exc).__name__})") from None


def _event(kind: SupplierEventKind, event: dict[str, Any], webhook: WebhookSettings, settings: RestSettings) -> SupplierEvent:
    event_id = get_path(event, webhook.event_id) if webhook.event_id else None
    reason = get_path(event, webhook.reason) if webhook.reason else None
    order_data = get_path(event, webhook.order) if webhook.order else None
    order = supplier_order(order_data, settings) if isinstance(order_data, Mapping) else None
    shipment_data = get_path(event, webhook.shipment) if webhook.shipment else None
    stock_data = get_path(event, webhook.stock) if webhook.stock else None
    return_data = get_path(event, webhook.return_) if webhook.return_ else None
    rma_number, returned = None, ()
    if isinstance(return_data, Mapping):
        rma_number = get_path(return_data, settings.response.get("return.rma_number", "rma_number"))
        returned = tuple((str(item["sku"]), int(item.get("received_qty", 0))) for item in return_data.get("items") or [] if item.get("received_qty"))
    return SupplierEvent(
        kind=kind,
        event_id=str(event_id) if event_id is not None else None,
        supplier_order_id=order.supplier_order_id if order else None,
        external_id=order.external_id if order else None,
        status=order.status if order else None,
        shipment=shipment(shipment_data, settings) if isinstance(shipment_data, Mapping) else None,
        stock=tuple(stock_level(entry, settings) for entry in stock_data) if isinstance(stock_data, list) else (),
        reason=str(reason) if isinstance(reason, (str, int, float)) and not isinstance(reason, bool) else None,
        rma_number=str(rma_number) if rma_number else None,
        returned=returned,
        raw=event,
    )
