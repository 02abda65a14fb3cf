"""Holds both ways: Shopify's holds stop our supplier orders; our holds show in Shopify.

- A hold by someone else (the merchant, Shopify's fraud analysis, another app) on a
  fulfillment order postpones the supplier orders holding its lines while they are not
  placed (state `on_hold`: the forwarding pump skips them), and raises a critical alert
  when the supplier already has the order. Its release resumes them (through `unknown`, so
  a supplier that did get the order is asked before anything is sent again).
- What the app cannot send (routing's wish on the fulfillment order: no supplier, address
  incomplete, customer data redacted) is held in Shopify with `fulfillmentOrderHold`
  (reason + note, our handle) and released with `fulfillmentOrderReleaseHold` once solved.
  `sync_app_holds` makes Shopify agree with the wishes: it reads, calls Shopify with no
  transaction open, then records the answer in a short transaction.
"""
from __future__ import annotations

import logging

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from integrations.shopify.errors import ShopifyError, ShopifyGraphQLError, ShopifyHTTPError, ShopifyUserError

from ..alerts import raise_alert, resolve_alert
from ..db import flushed_connection, read_only, sql_constants
from ..models import utcnow
from ..orders.models import Order, OrderLine
from ..orders.timeline import record_event
from ..suppliers.models import DeliveryState, SupplierOrder, SupplierOrderLine
from .models import FulfillmentOrderRecord, ManagedBy
from .sync import ACCEPTED_REQUESTS, FINISHED, WORKABLE, HoldChanges, foreign_holds, read_fulfillment_orders, store_fulfillment_orders

log = logging.getLogger(__name__)

HOLD_HANDLE = "dropship-ops"  # one hold of ours per fulfillment order (Shopify refuses a second with the same handle)
NOT_PLACED = (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value)
AT_SUPPLIER = (DeliveryState.PLACED.value, DeliveryState.PARTIALLY_SHIPPED.value)


def _deliveries_for(session: Session, fo: FulfillmentOrderRecord) -> list[SupplierOrder]:
    line_numbers = [item["line"] for item in fo.lines or []]
    if not line_numbers:
        return []
    return list(session.scalars(
        select(SupplierOrder).join(SupplierOrderLine, SupplierOrderLine.supplier_order_id == SupplierOrder.id)
        .join(OrderLine, OrderLine.id == SupplierOrderLine.order_line_id)
        .where(OrderLine.order_id == fo.order_id, OrderLine.shopify_line_id.in_(line_numbers)).distinct()
    ))


def postpone_deliveries(session: Session, order: Order, fo: FulfillmentOrderRecord, because: str) -> list[str]:
    """Hold the not-yet-placed supplier orders with lines of this fulfillment order; returns the suppliers that already have it."""
    placed_at = []
    for delivery in _deliveries_for(session, fo):
        if delivery.state in NOT_PLACED:
            delivery.state = DeliveryState.ON_HOLD.value
            delivery.lease_owner = delivery.lease_until = None
            record_event(session, order, "supplier_order_postponed", "app", supplier=delivery.supplier.name, because=because)
        elif delivery.state in AT_SUPPLIER:
            placed_at.append(delivery.supplier.name)
    return placed_at


def blocking_fulfillment_order(session: Session, delivery: SupplierOrder, line_numbers: frozenset[str] | None = None):
    """An unfinished fulfillment order with lines of this delivery that Shopify does not let us send now, if any.

    Returns the record's row (shopify_id, status, lines, holds...), not an ORM object: every
    placement asks, right before it sends, so both reads are statements built once.
    `line_numbers`: the Shopify line ids of the delivery's lines, when the caller read them in this transaction.
    """
    if line_numbers is None:
        line_numbers = set(session.scalars(_DELIVERY_LINE_NUMBERS, {"delivery": delivery.id}))
    fos = session.execute(_UNFINISHED_FULFILLMENT_ORDERS, {"shop": delivery.shop_domain, "order": delivery.order_id}).all()
    relevant = [fo for fo in fos if any(item["line"] in line_numbers and item["remaining"] > 0 for item in fo.lines or [])]
    # A line split between our location and someone else's (a warehouse, another app, another
    # supplier's service) is sent only for our units: the other fulfillment order does not stop it.
    ours = [fo for fo in relevant if fo.managed_by != ManagedBy.NOT_OURS
            and not (fo.managed_by == ManagedBy.SERVICE and fo.supplier_id not in (None, delivery.supplier_id))]
    if relevant and not ours:
        return relevant[0]  # every unit left our locations (moved away): nothing of it is ours to send
    for fo in ours:
        # One supplier order per order x supplier can carry lines of several fulfillment orders:
        # any of ours held or not yet accepted stops the whole supplier order.
        if foreign_holds(fo) or fo.app_hold_reason or fo.app_hold_id or fo.status not in WORKABLE:
            return fo
        if fo.managed_by == ManagedBy.SERVICE and fo.request_status not in ACCEPTED_REQUESTS:
            return fo
    return None


# Built once (every placement asks, see blocking_fulfillment_order). ORM columns: the session autoflushes first.
_DELIVERY_LINE_NUMBERS = (select(OrderLine.shopify_line_id).join(SupplierOrderLine, SupplierOrderLine.order_line_id == OrderLine.id)
                          .where(SupplierOrderLine.supplier_order_id == bindparam("delivery")))
_UNFINISHED_FULFILLMENT_ORDERS = (select(FulfillmentOrderRecord.id, FulfillmentOrderRecord.shopify_id, FulfillmentOrderRecord.status,
                                         FulfillmentOrderRecord.request_status, FulfillmentOrderRecord.managed_by, FulfillmentOrderRecord.supplier_id,
                                         FulfillmentOrderRecord.lines, FulfillmentOrderRecord.holds, FulfillmentOrderRecord.app_hold_reason,
                                         FulfillmentOrderRecord.app_hold_id)
                                  .where(FulfillmentOrderRecord.shop_domain == bindparam("shop"), FulfillmentOrderRecord.order_id == bindparam("order"),
                                         FulfillmentOrderRecord.status.not_in(sql_constants(FINISHED)))
                                  .order_by(FulfillmentOrderRecord.id))


def resume_deliveries(session: Session, order: Order, fo: FulfillmentOrderRecord) -> None:
    """Let the postponed supplier orders of this fulfillment order go again."""
    for delivery in _deliveries_for(session, fo):
        if delivery.state == DeliveryState.ON_HOLD.value:
            if blocking_fulfillment_order(session, delivery) is not None:
                continue  # another fulfillment order sharing this supplier order still stops it
            # Resume through UNKNOWN once tried: the pump asks the supplier first, so nothing is ever sent twice.
            delivery.state = DeliveryState.UNKNOWN.value if delivery.attempts else DeliveryState.PENDING.value
            delivery.next_attempt_at = utcnow()
            record_event(session, order, "supplier_order_resumed", "app", supplier=delivery.supplier.name)


def apply_shopify_holds(session: Session, order: Order, changes: HoldChanges) -> None:
    """Postpone or alert for fulfillment orders someone put on hold; resume the released ones."""
    for fo in changes.placed:
        reasons = ", ".join(sorted({(h.get("reason") or "OTHER").lower() for h in foreign_holds(fo)}))
        placed_at = postpone_deliveries(session, order, fo, f"on hold in Shopify ({reasons})")
        key = f"fulfillment_on_hold:{order.shop_domain}:{fo.shopify_id}"
        if placed_at:
            raise_alert(session, order.shop_domain, "hold_after_placement", key,
                        f"Order {order.name}: Shopify put it on hold ({reasons}) but {', '.join(placed_at)} already has it: stop it at the supplier.",
                        severity="critical", subject=order.name)
        else:
            raise_alert(session, order.shop_domain, "fulfillment_on_hold", key,
                        f"Order {order.name}: on hold in Shopify ({reasons}); not forwarded until the hold is released.", severity="warning", subject=order.name)
    for fo in changes.released:
        if not fo.app_hold_reason:
            resume_deliveries(session, order, fo)
        resolve_alert(session, f"fulfillment_on_hold:{order.shop_domain}:{fo.shopify_id}")


def _wished(shop_domain: str):
    """Fulfillment orders of the shop whose hold by us differs from our wish (to place or to release)."""
    return and_(
        FulfillmentOrderRecord.shop_domain == shop_domain,
        # Two comparisons, not NOT IN: an IN list is rendered into the SQL again at every execution.
        FulfillmentOrderRecord.status != "CLOSED", FulfillmentOrderRecord.status != "CANCELLED",
        or_(and_(FulfillmentOrderRecord.app_hold_reason.is_not(None), FulfillmentOrderRecord.app_hold_id.is_(None)),
            and_(FulfillmentOrderRecord.app_hold_reason.is_(None), FulfillmentOrderRecord.app_hold_id.is_not(None))),
    )


def _pending_wishes(session: Session, shop_domain: str) -> list[tuple[int, str, str | None, str | None, str | None]]:
    rows = session.scalars(select(FulfillmentOrderRecord).where(_wished(shop_domain)).order_by(FulfillmentOrderRecord.id)).all()
    return [(r.id, f"gid://shopify/FulfillmentOrder/{r.shopify_id}", r.app_hold_reason, r.app_hold_note, r.app_hold_id) for r in rows]


# Built once: asked by every orders/* webhook that changed something (building it cost more than running it).
_HAS_WISH = select(FulfillmentOrderRecord.__table__.c.id).where(_wished(bindparam("p_shop"))).limit(1)


def has_pending_holds(session: Session, shop_domain: str) -> bool:
    """Whether some fulfillment order of the shop has a hold of ours to place or release (what sync_app_holds would do)."""
    # A Core read of the table on the session's connection (no ORM execution layer); the session's
    # own changes (wishes routing just made) are flushed first, as the ORM's autoflush did.
    return flushed_connection(session).execute(_HAS_WISH, {"p_shop": shop_domain}).first() is not None


def sync_app_holds(services, shop_domain: str) -> int:
    """Place or release the app's holds in Shopify where our wish differs; returns how many calls changed something.

    Call with no transaction open. Safe to repeat or race: a second hold with our handle is
    refused by Shopify (then we re-read to learn our hold's id), and a release of a hold
    that is gone is taken as done.
    """
    with read_only(services.session_factory)() as session:
        wishes = _pending_wishes(session, shop_domain)
    if not wishes:
        return 0
    gateway = services.gateway(shop_domain)
    changed = 0
    for record_id, fo_gid, reason, note, hold_id in wishes:
        # One fulfillment order Shopify will not let us touch must not stop every other hold of the shop.
        try:
            if reason is not None:
                changed += _hold(services, gateway, record_id, fo_gid, reason, note)
            else:
                changed += _release(services, gateway, record_id, fo_gid, hold_id)
        except (ShopifyGraphQLError, ShopifyHTTPError) as exc:
            log.warning("%s of %s refused: %s", "hold" if reason else "release", fo_gid, exc)
            if reason is not None:  # a hold refused for good (access denied...): retrying cannot help
                _give_up(services, record_id, exc)
        except ShopifyError as exc:  # transient (or a release): the wish stays, the next sync (reconcile) tries again
            log.warning("%s of %s failed, kept for the next sync: %s", "hold" if reason else "release", fo_gid, exc)
    if changed:
        services.wake_forwarding()
    return changed


def _give_up(services, record_id: int, exc: ShopifyError) -> None:
    with services.session_factory.begin() as session:
        record = session.get(FulfillmentOrderRecord, record_id)
        record_event(session, session.get(Order, record.order_id), "hold_refused", "store", fulfillment_order=record.shopify_id, error=str(exc)[:300])
        record.app_hold_reason = None  # as for a refusal in userErrors: the alert stays


def _hold(services, gateway, record_id: int, fo_gid: str, reason: str, note: str | None) -> int:
    variables = {"id": fo_gid, "fulfillmentHold": {"reason": reason, "reasonNotes": (note or "")[:255], "handle": HOLD_HANDLE, "notifyMerchant": False}}
    try:
        data = gateway.mutate("FulfillmentOrderHold", variables)["fulfillmentOrderHold"]
        hold_id, status = data["fulfillmentHold"]["id"], data["fulfillmentOrder"]["status"]
    except ShopifyUserError as exc:
        if "DUPLICATE_FULFILLMENT_HOLD_HANDLE" in exc.codes:
            return _refresh(services, gateway, record_id)  # ours is already there: learn its id
        log.warning("hold refused for %s: %s", fo_gid, exc)
        with services.session_factory.begin() as session:
            record = session.get(FulfillmentOrderRecord, record_id)
            order = session.get(Order, record.order_id)
            record_event(session, order, "hold_refused", "store", fulfillment_order=record.shopify_id, error=str(exc)[:300])
            record.app_hold_reason = None  # Shopify will not hold it (closed, moved...): the alert stays
        return 0
    with services.session_factory.begin() as session:
        record = session.get(FulfillmentOrderRecord, record_id)
        record.app_hold_id, record.status = hold_id, status
        record.holds = [h for h in record.holds or [] if h.get("id") != hold_id] + [{"id": hold_id, "handle": HOLD_HANDLE, "reason": reason, "ours": True}]
        record_event(session, session.get(Order, record.order_id), "held_in_shopify", "app", fulfillment_order=record.shopify_id, reason=reason, note=note)
    return 1


def _release(services, gateway, record_id: int, fo_gid: str, hold_id: str) -> int:
    try:
        data = gateway.mutate("FulfillmentOrderReleaseHold", {"id": fo_gid, "holdIds": [hold_id]})["fulfillmentOrderReleaseHold"]
        fo = data["fulfillmentOrder"]
    except ShopifyUserError as exc:
        log.info("release of %s answered %s: reading it again", fo_gid, exc)
        return _refresh(services, gateway, record_id)
    from ..orders.routing import route_order

    with services.session_factory.begin() as session:
        record = session.get(FulfillmentOrderRecord, record_id)
        record.app_hold_id, record.status = None, fo["status"]
        record.holds = [h for h in record.holds or [] if h.get("id") != hold_id]
        order = session.get(Order, record.order_id)
        record_event(session, order, "hold_released_in_shopify", "app", fulfillment_order=record.shopify_id)
        if _may_route(order):
            route_order(session, order)
    return 1


def _refresh(services, gateway, record_id: int) -> int:
    with read_only(services.session_factory)() as session:
        record = session.get(FulfillmentOrderRecord, record_id)
        order_gid = f"gid://shopify/Order/{session.get(Order, record.order_id).shopify_id}"
    fos = read_fulfillment_orders(gateway, order_gid)
    if fos is None:
        return 0
    from ..orders.routing import route_order

    with services.session_factory.begin() as session:
        order = session.get(Order, session.get(FulfillmentOrderRecord, record_id).order_id)
        apply_shopify_holds(session, order, store_fulfillment_orders(session, order, fos))
        if _may_route(order):
            route_order(session, order)
    return 1


def _may_route(order: Order) -> bool:
    from ..orders.routing import may_route

    return may_route(order)


def reevaluate_held_orders(services, shop_domain: str) -> int:
    """Route the shop's unfinished orders again (a mapping or location may have been added), then sync our holds with Shopify.

    Not only held ones: an order "not ours" (or waiting) at a location mapped since becomes ours
    now, with no fulfillment-order webhook to bring it. Call with no transaction open; returns
    how many holds were placed or released.
    """
    from ..orders.models import OrderState
    from ..orders.routing import route_order

    states = (OrderState.HELD.value, OrderState.NOT_OURS.value, OrderState.RECEIVED.value, OrderState.ROUTED.value)
    unfinished = select(FulfillmentOrderRecord.order_id).where(FulfillmentOrderRecord.shop_domain == shop_domain, FulfillmentOrderRecord.status.not_in(("CLOSED", "CANCELLED")))
    with services.session_factory.begin() as session:
        for order in session.scalars(select(Order).where(Order.shop_domain == shop_domain, Order.state.in_(states), Order.id.in_(unfinished))):
            if _may_route(order):
                route_order(session, order)
    return sync_app_holds(services, shop_domain)
