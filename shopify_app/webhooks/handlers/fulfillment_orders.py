"""fulfillment_orders/*: these payloads name a fulfillment order only, so the order and all its
fulfillment orders are re-read through the gateway (prefetch), synced and routed; holds by the
merchant or Shopify stop supplier orders, releases resume them, and the change goes on the timeline."""
from __future__ import annotations

import logging
from typing import Any, Iterator

from sqlalchemy import select

from ...alerts import raise_alert
from ...fulfillment.holds import sync_app_holds
from ...fulfillment.sync import read_fulfillment_orders
from ...orders.graph import order_payload_from_graphql, read_order
from ...orders.models import Order
from ...orders.payloads import parse_order
from ...orders.timeline import record_event
from ...privacy import gid_number
from ..registry import WebhookContext, handles
from ..worker import PoisonPayload
from .orders import apply_fulfillment_orders, sync_snapshot

log = logging.getLogger(__name__)

FO_PREFIX = "gid://shopify/FulfillmentOrder/"
# Topics that mean the order needs the merchant's eye (holds alert through fulfillment.holds).
ALERTING = {
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


def fetch_fulfillment_order(ctx: WebhookContext) -> tuple[list[str], dict | None, dict | None, list[dict] | None]:
    """Read the fulfillment order, its order and all the order's fulfillment orders from Shopify (before the write transaction)."""
    ids = list(dict.fromkeys(_fulfillment_order_ids(ctx.payload)))
    if not ids:
        raise PoisonPayload(f"{ctx.topic} payload names no fulfillment order")
    gateway = ctx.services.gateway(ctx.shop_domain)
    fo = gateway.query("FulfillmentOrderOrder", {"id": ids[0]}).get("fulfillmentOrder")
    if fo is None:
        return ids, None, None, None
    return ids, fo, read_order(gateway, fo["orderId"]), read_fulfillment_orders(gateway, fo["orderId"])


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
    # Shopify has assigned (or re-assigned) the order's fulfillment orders: the moment a
    # merchant-managed one can go, when orders/paid arrived before routing finished.
    "fulfillment_orders/order_routing_complete",
    "fulfillment_orders/merged",
    "fulfillment_orders/scheduled_fulfillment_order_ready",
    prefetch=fetch_fulfillment_order,
)
def fulfillment_order_changed(ctx: WebhookContext) -> None:
    """Sync the order and its fulfillment orders as prefetched, route what is ours and due; note the change."""
    ids, fo, data, fulfillment_orders = ctx.prefetched
    if fo is None:
        log.warning("%s: fulfillment order not found in shop=%s", ctx.topic, ctx.shop_domain)
        return
    if not data.get("order"):
        return
    order = sync_snapshot(ctx.session, ctx.services, ctx.shop_domain, parse_order(order_payload_from_graphql(data["order"])), fulfillment_orders=fulfillment_orders)
    if order is None:  # what we hold of the order is newer: its fulfillment orders are still news
        order = ctx.session.scalar(select(Order).where(Order.shop_domain == ctx.shop_domain, Order.shopify_id == gid_number(fo["orderId"])))
        if order is None:
            return
        apply_fulfillment_orders(ctx.session, order, fulfillment_orders)
    kind = ctx.topic.split("/", 1)[1]
    # Event kinds are at most 50 characters: this topic's would be 51.
    kind = "scheduled_ready" if kind == "scheduled_fulfillment_order_ready" else kind
    message = ctx.payload.get("message") if isinstance(ctx.payload, dict) else None
    record_event(ctx.session, order, f"fulfillment_order_{kind}", "store", fulfillment_order=ids[0], message=message)
    if ctx.topic in ALERTING:
        raise_alert(ctx.session, ctx.shop_domain, ALERTING[ctx.topic], f"{ALERTING[ctx.topic]}:{ids[0]}", f"Order {order.name}: {kind.replace('_', ' ')}{': ' + message if message else ''}", subject=order.name)
    services, shop_domain = ctx.services, ctx.shop_domain
    ctx.after_commit(lambda: sync_app_holds(services, shop_domain))
