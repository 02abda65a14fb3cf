"""orders/*: upsert the order (stale updates ignored), route it when paid, pass cancellations on."""
from __future__ import annotations

import logging

from sqlalchemy import select

from ...orders.graph import order_payload_from_graphql
from ...orders.payloads import PayloadError, checked_id, parse_order
from ...orders.routing import route_order
from ...orders.sync import ready_to_forward, upsert_order
from ...models import utcnow
from ...suppliers.models import DeliveryState, SupplierOrder
from ..registry import WebhookContext, handles
from ..worker import PoisonPayload

log = logging.getLogger(__name__)


@handles("orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled", "orders/partially_fulfilled")
def order_changed(ctx: WebhookContext) -> None:
    """Sync the order from the payload, then act on what changed."""
    try:
        snapshot = parse_order(ctx.payload)
    except PayloadError as exc:
        raise PoisonPayload(str(exc)) from None
    sync_snapshot(ctx.session, ctx.services, ctx.shop_domain, snapshot)


def fetch_edited_order(ctx: WebhookContext) -> tuple[str, dict]:
    """The edit payload lists deltas only: re-read the whole order (before the write transaction)."""
    edit = ctx.payload.get("order_edit") if isinstance(ctx.payload, dict) else None
    try:
        order_id = checked_id(edit.get("order_id"), "order_edit.order_id") if isinstance(edit, dict) else None
    except PayloadError as exc:
        raise PoisonPayload(str(exc)) from None
    if order_id is None:
        raise PoisonPayload("orders/edited payload without order_edit.order_id")
    gid = f"gid://shopify/Order/{order_id}"
    return gid, ctx.services.gateway(ctx.shop_domain).query("OrderForSync", {"id": gid})


@handles("orders/edited", prefetch=fetch_edited_order)
def order_edited(ctx: WebhookContext) -> None:
    """Sync the order as Shopify holds it after the edit."""
    gid, data = ctx.prefetched
    if data.get("order") is None:
        log.warning("edited order %s not found in shop=%s", gid, ctx.shop_domain)
        return
    sync_snapshot(ctx.session, ctx.services, ctx.shop_domain, parse_order(order_payload_from_graphql(data["order"])))


def sync_snapshot(session, services, shop_domain: str, snapshot):
    """Upsert, then route a paid order or request cancellation at suppliers; the order, or None if stale."""
    order, applied = upsert_order(session, shop_domain, snapshot)
    if not applied:
        return None
    if order.cancelled_at is not None:
        request_supplier_cancellation(session, order)
    elif ready_to_forward(order):
        route_order(session, order)
    if services is not None:
        services.wake_forwarding()
    return order


def request_supplier_cancellation(session, order) -> None:
    """Mark the order's live deliveries for cancellation at their suppliers."""
    for delivery in session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id)):
        if delivery.state in (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value, DeliveryState.PLACED.value):
            delivery.state = DeliveryState.CANCEL_REQUESTED.value
            delivery.next_attempt_at = utcnow()
