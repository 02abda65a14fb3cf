"""orders/*: upsert the order (stale updates ignored), route it when paid, pass cancellations on."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from ...orders.changes import pass_on_changes, routed_lines
from ...alerts import raise_alert, resolve_alert
from ...fulfillment.holds import apply_shopify_holds, has_pending_holds, sync_app_holds
from ...fulfillment.sync import read_fulfillment_orders, store_fulfillment_orders
from ...models import utcnow
from ...orders.graph import order_payload_from_graphql, read_order
from ...orders.models import Order, OrderState
from ...orders.payloads import LinesWithoutIds, OrderSnapshot, PayloadError, checked_id, line_is_identified, parse_order, parse_time
from ...orders.routing import may_route, route_order
from ...orders.sync import FORWARDABLE_FINANCIAL_STATUSES, KNOWN_COLUMNS, apply_unless_routing_changed, settled_as_is, upsert
from ...orders.timeline import record_event
from ...suppliers.models import DeliveryState, SupplierOrder
from ..registry import WebhookContext, handles
from ..worker import PoisonPayload

log = logging.getLogger(__name__)
SETTLED_STATES = (OrderState.FORWARDED.value, OrderState.SHIPPED.value, OrderState.PARTIALLY_SHIPPED.value, OrderState.NOTHING_TO_SHIP.value,
                  OrderState.FULFILLED_BEFORE_INSTALL.value)


@dataclass(frozen=True)
class OrderReads:
    """What an order webhook's prefetch read from Shopify (before the write transaction)."""

    reread: dict | None  # the order through GraphQL, when the payload's lines cannot be keyed
    fulfillment_orders: list[dict] | None  # a paid, live order's fulfillment orders: what routing follows
    # The prefetch looked and the order was not stored yet: the write goes straight to its insert
    # (an order stored meanwhile by another worker fails that insert and is updated instead).
    absent: bool = False
    # The handler would change nothing (a snapshot the stored order already holds, or a stale one):
    # the worker may finish the delivery without a write transaction of its own (worker._settle).
    settled: bool = False
    snapshot: OrderSnapshot | None = None  # the payload parsed by the prefetch (then the handler does not parse it again)


def _order_number(payload: dict) -> str:
    try:
        order_id = checked_id(payload.get("admin_graphql_api_id"), "admin_graphql_api_id") or checked_id(payload.get("id"), "id")
    except PayloadError as exc:
        raise PoisonPayload(str(exc)) from None
    if order_id is None:
        raise PoisonPayload("order payload has no id")
    return order_id


def read_for_order_webhook(ctx: WebhookContext) -> OrderReads:
    """Re-read the order when a line lacks `id` and GID; read a paid, live order's fulfillment orders."""
    payload = ctx.payload if isinstance(ctx.payload, dict) else {}
    items = payload.get("line_items")
    gateway = None
    reread = None
    if isinstance(items, list) and not all(line_is_identified(item) for item in items):
        ctx.before_calling_out()
        gateway = ctx.services.gateway(ctx.shop_domain)
        reread = read_order(gateway, f"gid://shopify/Order/{_order_number(payload)}")
    fulfillment_orders, absent, known = _fulfillment_orders_if_due(ctx, payload, gateway)
    snapshot = _parsed(payload) if reread is None and fulfillment_orders is None and known is not None else None
    settled = snapshot is not None and settled_as_is(known, snapshot) is not None
    return OrderReads(reread, fulfillment_orders, absent, settled, snapshot)


def _parsed(payload: dict) -> OrderSnapshot | None:
    """The payload's snapshot, or None when it cannot be parsed (the handler dead-letters it)."""
    try:
        return parse_order(payload)
    except PayloadError:  # LinesWithoutIds among them
        return None


def _same_version(payload: dict, routed_version) -> bool:
    try:
        version = parse_time(payload.get("updated_at"))
    except (TypeError, ValueError):
        return False
    return version is not None and routed_version is not None and version <= routed_version


_orders = Order.__table__
# Built once: the prefetch of every orders/* webhook (the state, and what settling a repeated snapshot compares).
_STATE_AND_KNOWN = select(_orders.c.state, *KNOWN_COLUMNS).where(
    _orders.c.shop_domain == bindparam("p_shop"), _orders.c.shopify_id == bindparam("p_shopify_id"))


def _fulfillment_orders_if_due(ctx: WebhookContext, payload: dict, gateway) -> tuple[list[dict] | None, bool, object]:
    """(the fulfillment orders to route by, or None; whether the order is not stored yet, as far as this read saw; the stored row when nothing was read from Shopify, else None)."""
    if payload.get("cancelled_at") or (payload.get("financial_status") or "") not in FORWARDABLE_FINANCIAL_STATUSES:
        return None, False, None
    order_id = _order_number(payload)
    known = ctx.session.connection().execute(_STATE_AND_KNOWN, {"p_shop": ctx.shop_domain, "p_shopify_id": order_id}).first()
    state, routed_version = (known.state, known.shopify_updated_at) if known is not None else (None, None)
    if state in SETTLED_STATES:
        return None, False, known  # fully sent (or nothing to send): fulfillment_orders/* webhooks carry any later change
    if ctx.topic in ("orders/paid", "orders/create") and state == OrderState.ROUTED.value and _same_version(payload, routed_version):
        # An order created paid was routed from this very version (orders/create and orders/paid
        # carry it both, and either may be handled first: one order in six at 25 orders/s was
        # paid first, issue 19 part C): its fulfillment orders were read then, and
        # fulfillment_orders/* webhooks carry their changes. Reading again would spend Shopify's
        # rate limit and a full sync for nothing. (Not orders/updated: updated_at has whole
        # seconds, so an edit in the same second as the create looks equal. An orders/create is
        # never an edit: what routed is at least as new.)
        return None, False, known
    ctx.before_calling_out()  # the delivery is leased now (most orders/* deliveries never get here: no lease written)
    return read_fulfillment_orders(gateway or ctx.services.gateway(ctx.shop_domain), f"gid://shopify/Order/{order_id}"), known is None, None


def order_key(payload) -> str | None:
    """The order a webhook is about, to handle one order's webhooks one at a time (orders/paid then sees
    that orders/create routed it and reads no fulfillment orders again)."""
    if not isinstance(payload, dict):
        return None
    key = payload.get("admin_graphql_api_id") or payload.get("id")
    return str(key)[:100] if key is not None else None


@handles("orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled", "orders/partially_fulfilled", prefetch=read_for_order_webhook,
         one_at_a_time=order_key, handled_alike=lambda topic, payload: created_or_paid_snapshot(topic, payload), lease_when_calling_out=True)
def order_changed(ctx: WebhookContext) -> None:
    """Sync the order from the payload (or from Shopify when its lines cannot be keyed), then act on what changed."""
    payload = ctx.payload
    reads = ctx.prefetched or OrderReads(None, None)
    if reads.reread is not None:
        order = reads.reread.get("order")
        if order is None:  # gone from Shopify: keep the delivery visible rather than store an order without its lines
            raise PoisonPayload("order has line items without ids and Shopify no longer returns the order to re-read")
        log.info("order %s re-read through GraphQL: its payload had line items without ids", order.get("id"))
        payload = order_payload_from_graphql(order)
    try:
        snapshot = reads.snapshot if reads.reread is None and reads.snapshot is not None else parse_order(payload)
    except LinesWithoutIds as exc:  # the prefetch saw ids, the payload did not: never drop the lines
        raise PoisonPayload(str(exc)) from None
    except PayloadError as exc:
        raise PoisonPayload(str(exc)) from None
    if reads.reread is None and reads.fulfillment_orders is None and apply_unless_routing_changed(ctx.session, ctx.shop_domain, snapshot) is not None:
        # Most of an order's webhooks (orders/paid after a paid orders/create, orders/updated and
        # orders/fulfilled for one fulfillment) repeat what routing already acted on: settled by
        # one indexed read and at most one UPDATE. Nothing changed, so this delivery has no holds
        # of its own to sync (a pending one is its own delivery's follow-up, retried until done).
        return
    order = sync_snapshot(ctx.session, ctx.services, ctx.shop_domain, snapshot, fulfillment_orders=reads.fulfillment_orders, absent=reads.absent)
    if order is not None and reads.reread is not None:
        record_event(ctx.session, order, "re_read", "app", reason="the webhook's line items had no ids", topic=ctx.topic)
    _sync_holds_after(ctx)


def _sync_holds_after(ctx: WebhookContext) -> None:
    services, shop_domain = ctx.services, ctx.shop_domain
    # Asked inside the handler's transaction (it sees this delivery's own wishes): with nothing to
    # place or release, the delivery is done in this transaction, without a second one after the calls.
    if services is not None and has_pending_holds(ctx.session, shop_domain):
        ctx.after_commit(lambda: sync_app_holds(services, shop_domain))


def fetch_edited_order(ctx: WebhookContext) -> tuple[str, dict, list[dict] | None]:
    """The edit payload lists deltas only: re-read the whole order and its fulfillment orders (before the write transaction)."""
    edit = ctx.payload.get("order_edit") if isinstance(ctx.payload, dict) else None
    try:
        order_id = checked_id(edit.get("order_id"), "order_edit.order_id") if isinstance(edit, dict) else None
    except PayloadError as exc:
        raise PoisonPayload(str(exc)) from None
    if order_id is None:
        raise PoisonPayload("orders/edited payload without order_edit.order_id")
    gid = f"gid://shopify/Order/{order_id}"
    gateway = ctx.services.gateway(ctx.shop_domain)
    return gid, read_order(gateway, gid), read_fulfillment_orders(gateway, gid)


@handles("orders/edited", prefetch=fetch_edited_order)
def order_edited(ctx: WebhookContext) -> None:
    """Sync the order as Shopify holds it after the edit."""
    gid, data, fulfillment_orders = ctx.prefetched
    if data.get("order") is None:
        log.warning("edited order %s not found in shop=%s", gid, ctx.shop_domain)
        return
    sync_snapshot(ctx.session, ctx.services, ctx.shop_domain, parse_order(order_payload_from_graphql(data["order"])), fulfillment_orders=fulfillment_orders)
    _sync_holds_after(ctx)


def sync_snapshot(session, services, shop_domain: str, snapshot, fulfillment_orders: list[dict] | None = None, absent: bool = False):
    """Upsert, then act: request cancellation at suppliers, or (with the order's fulfillment orders read
    from Shopify) store them, apply Shopify's holds and route what is ours and due. The order, or None if stale.

    Without fulfillment orders nothing is routed: Shopify decides where an order is fulfilled,
    and only its fulfillment orders say whether that is a location the app manages.
    `absent`: a read just now found no such order (see upsert).
    """
    order, applied, inserted = upsert(session, shop_domain, snapshot, absent=absent)
    if not applied:
        return None
    if not snapshot.lines and order.cancelled_at is None:
        hold_order_without_lines(session, order)
        return order
    if snapshot.lines and not inserted:  # an order new to us has no alerts yet (their keys name it; orders are never deleted)
        resolve_alert(session, f"order_without_lines:{order.shop_domain}:{order.shopify_id}")
    routed_before = set() if inserted else routed_lines(session, order)
    apply_fulfillment_orders(session, order, fulfillment_orders, fresh=inserted)
    if order.cancelled_at is None and not inserted:
        # Edits, refund-cancels and address changes: to the suppliers that have the order. (A new
        # order's supplier orders were made from this very snapshot and are unsent: nothing to pass on.)
        pass_on_changes(session, order, routed_before=routed_before, route_added_lines=route_order)
    if services is not None:
        services.wake_forwarding()
    return order


def apply_fulfillment_orders(session, order, fulfillment_orders: list[dict] | None, fresh: bool = False) -> None:
    """Cancel, or store the fulfillment orders read from Shopify and route (see sync_snapshot); `fresh`: inserted in this transaction."""
    if order.cancelled_at is not None:
        request_supplier_cancellation(session, order)
        return
    if fulfillment_orders is None:
        return
    stored = store_fulfillment_orders(session, order, fulfillment_orders, fresh=fresh)
    apply_shopify_holds(session, order, stored)
    if may_route(order):  # from the records just stored and classified: not read or classified again
        route_order(session, order, fresh=fresh, stored=stored)


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
        if delivery.state in (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value, DeliveryState.PLACED.value, DeliveryState.ON_HOLD.value):
            delivery.state = DeliveryState.CANCEL_REQUESTED.value
            delivery.next_attempt_at = utcnow()


def created_or_paid_snapshot(topic: str, payload) -> tuple | None:
    """What handling an orders/create or orders/paid depends on beyond its order: the parsed snapshot (None: handled on its own).

    Shopify sends both for a paid order at once with the same snapshot, and the handler reads
    nothing else of the payload (a line without ids fails the parse: re-read on its own). The
    two topics differ only where either one skips the Shopify read (a ROUTED order of this very
    version), so with equal snapshots the later one, handled right after the first, changes
    nothing: its prefetch finds that version settled, or reads Shopify again a moment later
    (what changed since in Shopify comes as fulfillment_orders/* webhooks). Other topics read
    differently (orders/updated reads Shopify again at one version: an edit in the same second),
    and a cancelled order or one without lines always takes the full path: each on its own.
    """
    if topic not in ("orders/create", "orders/paid") or not isinstance(payload, dict):
        return None
    snapshot = _parsed(payload)
    if snapshot is None or snapshot.cancelled_at is not None or not snapshot.lines:
        return None
    return ("orders/create or orders/paid", snapshot)
