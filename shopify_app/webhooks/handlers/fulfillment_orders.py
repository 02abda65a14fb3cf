"""fulfillment_orders/*: these payloads name a fulfillment order only, so the order is re-read
through the gateway and synced, and the change goes on the order's timeline."""
from __future__ import annotations

import logging
from typing import Any, Iterator

from sqlalchemy import select

from ...alerts import raise_alert
from ...orders.models import Order
from ...privacy import gid_number
from ...orders.graph import order_payload_from_graphql
from ...orders.payloads import parse_order
from ...orders.timeline import record_event
from ..registry import WebhookContext, handles
from ..worker import PoisonPayload
from .orders import sync_snapshot

log = logging.getLogger(__name__)

FO_PREFIX = "gid://shopify/FulfillmentOrder/"
# Topics that mean the order needs the merchant's eye.
ALERTING = {
    "fulfillment_orders/placed_on_hold": "fulfillment_on_hold",
    "fulfillment_orders/fulfillment_service_failed_to_complete": "fulfillment_failed",
    "fulfillment_orders/fulfillment_request_rejected": "fulfillment_request_rejected",
}


def _fulfillment_order_ids(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _fulfillment_order_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _fulfillment_order_ids(item)
    elif isinstance(value, str) and value.startswith(FO_PREFIX):
        yield value


def fetch_fulfillment_order(ctx: WebhookContext) -> tuple[list[str], dict | None, dict | None]:
    """Read the fulfillment order and its order from Shopify (before the write transaction)."""
    ids = list(dict.fromkeys(_fulfillment_order_ids(ctx.payload)))
    if not ids:
        raise PoisonPayload(f"{ctx.topic} payload names no fulfillment order")
    gateway = ctx.services.gateway(ctx.shop_domain)
    fo = gateway.query("FulfillmentOrderOrder", {"id": ids[0]}).get("fulfillmentOrder")
    data = gateway.query("OrderForSync", {"id": fo["orderId"]}) if fo is not None else None
    return ids, fo, data


@handles(
    "fulfillment_orders/cancelled",
    "fulfillment_orders/placed_on_hold",
    "fulfillment_orders/hold_released",
    "fulfillment_orders/moved",
    "fulfillment_orders/split",
    "fulfillment_orders/fulfillment_request_accepted",
    "fulfillment_orders/fulfillment_request_rejected",
    "fulfillment_orders/fulfillment_service_failed_to_complete",
    "fulfillment_orders/cancellation_request_accepted",
    prefetch=fetch_fulfillment_order,
)
def fulfillment_order_changed(ctx: WebhookContext) -> None:
    """Sync the order behind the fulfillment order as prefetched; note the change."""
    ids, fo, data = ctx.prefetched
    if fo is None:
        log.warning("%s: fulfillment order not found in shop=%s", ctx.topic, ctx.shop_domain)
        return
    if not data.get("order"):
        return
    order = sync_snapshot(ctx.session, ctx.services, ctx.shop_domain, parse_order(order_payload_from_graphql(data["order"])))
    if order is None:  # what we hold is newer: look it up as it is
        order = ctx.session.scalar(select(Order).where(Order.shop_domain == ctx.shop_domain, Order.shopify_id == gid_number(fo["orderId"])))
    kind = ctx.topic.split("/", 1)[1]
    message = ctx.payload.get("message") if isinstance(ctx.payload, dict) else None
    record_event(ctx.session, order, f"fulfillment_order_{kind}", "store", fulfillment_order=ids[0], message=message)
    if ctx.topic in ALERTING:
        raise_alert(ctx.session, ctx.shop_domain, ALERTING[ctx.topic], f"{ALERTING[ctx.topic]}:{ids[0]}", f"Order {order.name}: {kind.replace('_', ' ')}{': ' + message if message else ''}", subject=order.name)
