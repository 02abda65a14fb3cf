"""orders/*: upsert the order (stale updates ignored), route it when paid, pass cancellations on."""
from __future__ import annotations

import logging

from sqlalchemy import select

from ...orders.changes import pass_on_changes, routed_lines
from ...orders.graph import order_payload_from_graphql, read_order
from ...alerts import raise_alert, resolve_alert
from ...orders.models import OrderState
from ...orders.payloads import LinesWithoutIds, PayloadError, checked_id, line_is_identified, parse_order
from ...orders.timeline import record_event
from ...orders.routing import route_order
from ...orders.sync import ready_to_forward, upsert_order
from ...models import utcnow
from ...suppliers.models import DeliveryState, SupplierOrder
from ..registry import WebhookContext, handles
from ..worker import PoisonPayload

log = logging.getLogger(__name__)


def reread_when_lines_lack_ids(ctx: WebhookContext):
    """Real payloads can carry a line without `id` or GID: then read the order through GraphQL (before the write transaction)."""
    payload = ctx.payload
    items = payload.get("line_items") if isinstance(payload, dict) else None
    if not isinstance(items, list) or all(line_is_identified(item) for item in items):
        return None  # the payload is enough (or is refused in the handler with its reason)
    try:
        order_id = checked_id(payload.get("admin_graphql_api_id"), "admin_graphql_api_id") or checked_id(payload.get("id"), "id")
    except PayloadError as exc:
        raise PoisonPayload(str(exc)) from None
    if order_id is None:
        raise PoisonPayload("order payload has no id")
    gid = f"gid://shopify/Order/{order_id}"
    return read_order(ctx.services.gateway(ctx.shop_domain), gid)


@handles("orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled", "orders/partially_fulfilled", prefetch=reread_when_lines_lack_ids)
def order_changed(ctx: WebhookContext) -> None:
    """Sync the order from the payload (or from Shopify when its lines cannot be keyed), then act on what changed."""
    payload = ctx.payload
    if ctx.prefetched is not None:
        order = ctx.prefetched.get("order")
        if order is None:  # gone from Shopify: keep the delivery visible rather than store an order without its lines
            raise PoisonPayload("order has line items without ids and Shopify no longer returns the order to re-read")
        log.info("order %s re-read through GraphQL: its payload had line items without ids", order.get("id"))
        payload = order_payload_from_graphql(order)
    try:
        snapshot = parse_order(payload)
    except LinesWithoutIds as exc:  # the prefetch saw ids, the payload did not: never drop the lines
        raise PoisonPayload(str(exc)) from None
    except PayloadError as exc:
        raise PoisonPayload(str(exc)) from None
    order = sync_snapshot(ctx.session, ctx.services, ctx.shop_domain, snapshot)
    if order is not None and ctx.prefetched is not None:
        record_event(ctx.session, order, "re_read", "app", reason="the webhook's line items had no ids", topic=ctx.topic)


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
    return gid, read_order(ctx.services.gateway(ctx.shop_domain), gid)


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
    if not snapshot.lines and order.cancelled_at is None:
        hold_order_without_lines(session, order)
        return order
    if snapshot.lines:
        resolve_alert(session, f"order_without_lines:{order.shop_domain}:{order.shopify_id}")
    routed_before = routed_lines(session, order)
    if order.cancelled_at is not None:
        request_supplier_cancellation(session, order)
    else:
        if ready_to_forward(order):
            route_order(session, order)
        # Edits, refund-cancels and address changes: to the suppliers that have the order.
        pass_on_changes(session, order, routed_before=routed_before, route_added_lines=route_order)
    if services is not None:
        services.wake_forwarding()
    return order


def hold_order_without_lines(session, order) -> None:
    """An order always has lines in Shopify: one read without any is held with an alert, never 'nothing to ship'."""
    order.state = OrderState.HELD.value
    raise_alert(
        session, order.shop_domain, "order_without_lines", f"order_without_lines:{order.shop_domain}:{order.shopify_id}",
        f"Order {order.name or order.shopify_id} arrived without line items; it is held until Shopify sends it again (or check it in the admin).",
        severity="critical", subject=order.name,
    )
    record_event(session, order, "problem", "app", problem="no_lines")


def request_supplier_cancellation(session, order) -> None:
    """Mark the order's live deliveries for cancellation at their suppliers."""
    for delivery in session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id)):
        if delivery.state in (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value, DeliveryState.PLACED.value):
            delivery.state = DeliveryState.CANCEL_REQUESTED.value
            delivery.next_attempt_at = utcnow()
