"""Tracking back: supplier shipments become Shopify fulfillments with tracking, once.

A shipment is first recorded (unique per supplier order + shipment id), then pushed to
Shopify. The parcel is spread over our stored copy of the order's fulfillment orders (read
when the order was routed); Shopify checks every quantity against what really remains, so
a copy gone stale (a crash after Shopify created the fulfillment but before we stored its
id, a fulfillment order moved or held meanwhile) is refused, never fulfilled twice. Then,
and whenever the copy does not cover the parcel, we re-read the fulfillment orders and
spread it over what remains: what is already fulfilled is found and only attached.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.orm import Session

from integrations.shopify.errors import ShopifyError, ShopifyUserError
from integrations.suppliers.base import Shipment
from integrations.suppliers.links import http_link

from ..alerts import raise_alert
from ..bounds import storable_text
from ..db import read_only
from ..fulfillment.carriers import shopify_carrier
from ..fulfillment.locations import manager_of
from ..fulfillment.models import FulfillmentOrderRecord, ManagedBy
from ..fulfillment.sync import read_every_fulfillment_order
from ..models import utcnow
from ..orders.models import Order, OrderLine, OrderState
from ..orders.timeline import insert_event, record_event
from ..privacy import gid_number
from .eta_events import eta_untold, tell_eta
from .models import DeliveryState, ShipmentState, SupplierOrder, SupplierOrderLine, SupplierShipment

log = logging.getLogger(__name__)


class OrderRef(NamedTuple):
    """An order known by its id only: what `record_event` needs, without loading the order's (wide) row."""

    id: int


# supplier_shipments' columns (models.SupplierShipment).
SHIPMENT_ID_CHARS, CARRIER_CHARS, TRACKING_NUMBER_CHARS, MOMENT_CHARS = 128, 128, 255, 40


def storable_shipment(shipment: Shipment) -> Shipment:
    """The shipment as its columns hold it, whatever the adapter passed on from the supplier.

    Every adapter reaches the database here: a Printful tracking number of 300 characters, a carrier
    that is an object, a NUL or a lone surrogate failed the parcel's write (PostgreSQL; SQLite the last
    two), so its tracking never reached Shopify and every poll of the order failed again.
    """
    shipment_id = storable_text(shipment.shipment_id) or ""
    if len(shipment_id) > SHIPMENT_ID_CHARS:  # still one id per parcel: its start and a digest of the whole
        shipment_id = f"{shipment_id[:SHIPMENT_ID_CHARS - 17]}#{hashlib.sha256(shipment_id.encode()).hexdigest()[:16]}"

    def bounded(value, limit: int, name: str) -> str | None:
        text = storable_text(value)
        if text is not None and len(text) > limit:  # no carrier's number or ISO moment is this long: unknown, not cut
            log.warning("shipment %s of %d characters ignored", name, len(text))
            return None
        return text

    lines = tuple(dataclasses.replace(line, line_ref=storable_text(line.line_ref), supplier_sku=storable_text(line.supplier_sku)) for line in shipment.lines)
    return dataclasses.replace(
        shipment, shipment_id=shipment_id, carrier=(storable_text(shipment.carrier) or "")[:CARRIER_CHARS] or None,
        tracking_number=bounded(shipment.tracking_number, TRACKING_NUMBER_CHARS, "tracking number"), tracking_url=storable_text(shipment.tracking_url),
        lines=lines, shipped_at=bounded(shipment.shipped_at, MOMENT_CHARS, "shipped_at"),
        estimated_delivery=bounded(shipment.estimated_delivery, MOMENT_CHARS, "estimated_delivery"), delivered_at=bounded(shipment.delivered_at, MOMENT_CHARS, "delivered_at"),
    )


def record_shipment(session: Session, delivery: SupplierOrder, shipment: Shipment) -> SupplierShipment:
    """Store (or correct) what the supplier says it shipped; returns the row to push."""
    shipment = storable_shipment(shipment)
    row = session.scalar(
        select(SupplierShipment).where(SupplierShipment.supplier_order_id == delivery.id, SupplierShipment.shipment_id == shipment.shipment_id)
    )
    lines = _resolve_lines(session, delivery, shipment)
    # Only http(s) links are kept (the number stays): a javascript: or data: URL would reach an href and Shopify.
    tracking_url = http_link(shipment.tracking_url)
    if row is None:
        row = SupplierShipment(supplier_order_id=delivery.id, shipment_id=shipment.shipment_id, lines=lines)
        session.add(row)
    # A report that lacks a field keeps what is stored: Printful's polled Shipment has no tracking
    # number, so a poll after the shipment_sent webhook must not blank the number the webhook brought.
    carrier, number, url = (_kept(row.carrier, shipment.carrier), _kept(row.tracking_number, shipment.tracking_number),
                            _kept(row.tracking_url, tracking_url))
    if row.id is not None and (row.tracking_number, row.carrier, row.tracking_url) != (number, carrier, url):
        row.tracking_synced = False  # a correction: Shopify must be told
    row.carrier, row.tracking_number, row.tracking_url = carrier, number, url
    row.shipped_at = _kept(row.shipped_at, shipment.shipped_at)
    row.estimated_delivery = _kept(row.estimated_delivery, shipment.estimated_delivery)
    if shipment.delivered_at and not row.delivered_at:
        row.delivered_at = shipment.delivered_at
        record_event(session, OrderRef(delivery.order_id), "delivered", "supplier", shipment=shipment.shipment_id, at=shipment.delivered_at)
    session.flush()
    return row


def _kept(stored, reported):
    """The reported value, or the stored one when the report has none (a report never erases)."""
    return reported if reported not in (None, "") else stored


def _resolve_lines(session: Session, delivery: SupplierOrder, shipment: Shipment) -> list[list[int]]:
    ours = {str(l.id): l for l in delivery.lines}
    by_sku = {l.supplier_sku: l for l in delivery.lines}
    if not shipment.lines:  # the supplier did not itemise: the whole order shipped
        return [[l.id, l.quantity] for l in delivery.lines]
    resolved = []
    for item in shipment.lines:
        line = ours.get(item.line_ref or "") or by_sku.get(item.supplier_sku or "")
        if line is not None:
            resolved.append([line.id, item.quantity])
    return resolved


@dataclass(frozen=True)
class _PushPlan:
    """What pushing one shipment needs, read before any call (no transaction is held while Shopify answers)."""

    order_gid: str
    fulfillment_id: str | None
    fulfillment_ids: tuple[str, ...]  # one per location the parcel spanned
    fulfilled: bool  # every fulfillment of the parcel exists in Shopify
    tracking_synced: bool
    tracking: dict
    wanted: dict[str, int]  # order line (Shopify id) -> units in this parcel
    shop_domain: str = ""
    supplier_id: int | None = None
    stored: dict[str, list[dict]] | None = None  # the parcel over our stored fulfillment orders (None: read Shopify's)
    order_id: int | None = None
    delivery_id: int | None = None
    eta: bool = False  # an ETA Shopify has not been told yet (eta_events.py)


def _plan_push(session: Session, shipment_id: int) -> _PushPlan | None:
    row = session.get(SupplierShipment, shipment_id)
    if row is None:
        return None
    eta = eta_untold(row.estimated_delivery, row.eta_told, row.delivered_at)
    if row.state == ShipmentState.FULFILLED.value and row.tracking_synced:
        # In Shopify with its tracking: at most a (new) ETA to tell, which needs nothing more read here.
        return _PushPlan("", row.shopify_fulfillment_id, (), True, True, {}, {}, eta=True) if eta else None
    supplier_id, order_id, shop_domain, shopify_id = session.execute(_DELIVERY_AND_ORDER, {"delivery": row.supplier_order_id}).one()
    company, _ = shopify_carrier(row.carrier)  # Shopify's spelling, or the supplier's name (the URL then carries the link)
    tracking = {"company": company, "number": row.tracking_number, "url": row.tracking_url}
    line_ids = {sol_id: line_id for sol_id, line_id in session.execute(
        _SHOPIFY_LINE_IDS, {"delivery": row.supplier_order_id, "ids": [line_id for line_id, _ in row.lines]})}
    wanted: dict[str, int] = {}
    for line_id, quantity in row.lines:
        our_line = line_ids[line_id]
        wanted[our_line] = wanted.get(our_line, 0) + quantity
    ids = tuple(row.shopify_fulfillment_ids or ([row.shopify_fulfillment_id] if row.shopify_fulfillment_id else []))
    fulfilled = row.state == ShipmentState.FULFILLED.value
    stored = None if fulfilled or ids else _allocate_stored(session, order_id, shop_domain, supplier_id, wanted)
    return _PushPlan(f"gid://shopify/Order/{shopify_id}", row.shopify_fulfillment_id, ids, fulfilled, row.tracking_synced, {k: v for k, v in tracking.items() if v}, wanted,
                     shop_domain, supplier_id, stored, order_id, row.supplier_order_id, eta)


UNPLANNED = object()  # push_shipment's default: it reads the plan itself


def plan_push(session: Session, shipment_id: int) -> "_PushPlan | None":
    """What pushing a recorded shipment needs (None: nothing to push), read in the caller's transaction."""
    session.flush()
    return _plan_push(session, shipment_id)


def push_shipment(session_factory, gateway, shipment_id: int, notify_customer: bool = True, plan=UNPLANNED, with_eta: bool = True) -> bool:
    """Create the Shopify fulfillment for a recorded shipment, or update its tracking; then tell its ETA.

    Read, call Shopify with no transaction open, then record the answer in a short one.
    A crash after Shopify fulfilled but before we recorded it is safe: the retry re-reads
    the fulfillment orders, finds nothing left to fulfil and marks the shipment done.
    With `with_eta=False` the ETA is left to the caller (True returned when it has one to tell),
    so an ETA's failure never holds up another parcel's fulfillment.
    """
    if plan is UNPLANNED:
        with read_only(session_factory)() as session:
            plan = _plan_push(session, shipment_id)
    if plan is None:
        return False
    if not (plan.fulfilled and plan.tracking_synced):
        _push_fulfillment(session_factory, gateway, shipment_id, notify_customer, plan)
    if plan.eta and with_eta:
        tell_eta(session_factory, gateway, shipment_id)  # reads the parcel again: told only once it is fulfilled
        return False
    return plan.eta


def _push_fulfillment(session_factory, gateway, shipment_id: int, notify_customer: bool, plan: _PushPlan) -> None:
    try:
        if plan.fulfilled and plan.fulfillment_ids:
            if plan.tracking_synced:
                return
            for fulfillment_id in plan.fulfillment_ids:
                gateway.mutate(
                    "FulfillmentTrackingInfoUpdate",
                    {"fulfillmentId": fulfillment_id, "trackingInfoInput": plan.tracking, "notifyCustomer": notify_customer},
                )
            with session_factory.begin() as session:
                row, order = _row_and_order(session, shipment_id)
                row.tracking_synced = True
                record_event(session, order, "tracking_updated", "supplier", carrier=row.carrier, number=row.tracking_number)
            return
        by_location = plan.stored
        if by_location is not None:
            try:
                data = gateway.mutate("FulfillmentCreate", _fulfillment_input(plan, *by_location.values(), notify_customer))
            except ShopifyUserError as exc:
                # Our copy is out of date (fulfilled, moved or held since): Shopify's current word decides below.
                log.info("fulfillment from the stored fulfillment orders refused (%s): reading them from Shopify", exc.codes)
                by_location = None
            else:
                # The id and the shipped parcel in one transaction: a crash before it commits is the
                # same case as a crash between the two (the retry's stored attempt is refused, see above).
                _record_created(session_factory, shipment_id, data, plan)
                return
        if by_location is None:
            by_location = _push_over_live_fulfillment_orders(session_factory, gateway, shipment_id, plan, notify_customer)
        if not by_location:
            with session_factory.begin() as session:
                row, _ = _row_and_order(session, shipment_id)
                row.state = ShipmentState.FULFILLED.value  # already fulfilled in Shopify (e.g. a retry after a crash)
                row.tracking_synced = True
            return
        with session_factory.begin() as session:
            _mark_shipped(session, shipment_id, plan, len(by_location))
    except ShopifyUserError as exc:
        with session_factory.begin() as session:
            row, order = _row_and_order(session, shipment_id)
            row.state = ShipmentState.FAILED.value
            row.last_error = f"{exc.codes}"
            raise_alert(session, order.shop_domain, "fulfillment_refused", f"fulfillment_refused:{row.id}", f"Order {order.name}: Shopify refused the fulfillment for tracking {row.tracking_number}: {exc}", severity="critical", subject=order.name)
    except ShopifyError as exc:
        with session_factory.begin() as session:
            row, _ = _row_and_order(session, shipment_id)
            row.last_error = type(exc).__name__
        raise  # transient: the caller's retry machinery tries again


def _fulfillment_input(plan: _PushPlan, groups: list[dict], notify_customer: bool) -> dict:
    return {"fulfillment": {"lineItemsByFulfillmentOrder": groups, "trackingInfo": plan.tracking, "notifyCustomer": notify_customer}}


def _record_created(session_factory, shipment_id: int, data: dict, shipped: _PushPlan | None = None) -> None:
    """Keep the id of a fulfillment Shopify just created (its own short transaction); with `shipped`, the parcel is done too."""
    if shipped is not None:
        with session_factory.begin() as session:
            _mark_shipped(session, shipment_id, shipped, 1, created=data["fulfillmentCreate"]["fulfillment"]["id"])
        return
    with session_factory.begin() as session:
        row = session.get(SupplierShipment, shipment_id)
        created = data["fulfillmentCreate"]["fulfillment"]["id"]
        row.shopify_fulfillment_id = row.shopify_fulfillment_id or created
        row.shopify_fulfillment_ids = [*(row.shopify_fulfillment_ids or []), created]


def _mark_shipped(session: Session, shipment_id: int, plan: _PushPlan, fulfillments: int, created: str | None = None) -> None:
    """The parcel is in Shopify: the shipment is done (with `created`, the fulfillment just made is kept too), its units
    count as shipped, the timeline says so. Core statements built once, no unit of work: the way back's hot path."""
    row = session.execute(_SHIPMENT_TO_MARK, {"shipment": shipment_id}).one()
    first, every = row.shopify_fulfillment_id, row.shopify_fulfillment_ids
    if created is not None:
        first, every = first or created, [*(every or []), created]
    session.execute(_MARK_FULFILLED, {"shipment": shipment_id, "first": first, "all": every, "now": utcnow()})
    _count_shipped(session, plan.delivery_id, plan.order_id, row)
    insert_event(session, plan.order_id, "shipped", "supplier", carrier=row.carrier, number=row.tracking_number, url=row.tracking_url,
                 eta=row.estimated_delivery, fulfillments=fulfillments, shopify_carrier=plan.tracking.get("company"))


def _push_over_live_fulfillment_orders(session_factory, gateway, shipment_id: int, plan: _PushPlan, notify_customer: bool) -> dict[str, list[dict]]:
    """Spread the parcel over the fulfillment orders as Shopify has them now and fulfil each location's part."""
    by_location = _allocate(session_factory, gateway, plan)
    # Shopify fulfils the fulfillment orders of one location per call: a parcel spanning
    # locations becomes one fulfillment per location, each recorded as soon as it exists
    # (a retry re-reads what remains, so a group already fulfilled is not sent again).
    for groups in by_location.values():
        _record_created(session_factory, shipment_id, gateway.mutate("FulfillmentCreate", _fulfillment_input(plan, groups, notify_customer)))
    return by_location


def _allocate_stored(session: Session, order_id: int, shop_domain: str, supplier_id: int, wanted: dict[str, int]) -> dict[str, list[dict]] | None:
    """The parcel over our stored copy of the order's fulfillment orders, when it fits at one location; else None.

    Saves a read of every fulfillment order per parcel (Shopify's cost bucket is what bounds
    the way back). Shopify refuses any quantity beyond what really remains, so a stale copy
    costs one refused call, then the live read, never a second fulfillment.
    """
    left = dict(wanted)
    by_location: dict[str, list[dict]] = {}
    managers: dict[str, bool] = {}
    for fo in session.execute(_STORED_FULFILLMENT_ORDERS, {"order": order_id}):
        if fo.status not in ("OPEN", "IN_PROGRESS") or not fo.location_gid:
            continue
        if fo.location_gid not in managers:
            managers[fo.location_gid] = _location_is_ours(session, shop_domain, fo.location_gid, fo.location_primary, supplier_id)
        if not managers[fo.location_gid]:
            continue
        items = []
        for line in fo.lines or ():
            take = min(left.get(str(line.get("line")), 0), int(line.get("remaining") or 0))
            if take > 0 and line.get("id"):
                items.append({"id": line["id"], "quantity": take})
                left[str(line["line"])] -= take
        if items:
            by_location.setdefault(fo.location_gid, []).append({"fulfillmentOrderId": f"gid://shopify/FulfillmentOrder/{fo.shopify_id}", "fulfillmentOrderLineItems": items})
    # One location and every unit placed; a parcel over several locations (one call each) or one
    # the copy cannot place goes the careful way, over what Shopify says remains.
    if len(by_location) != 1 or any(n > 0 for n in left.values()):
        return None
    return by_location


def _location_is_ours(session: Session, shop_domain: str, location_gid: str | None, primary: bool, supplier_id: int | None) -> bool:
    # Another location's units of the same line are that location's to ship: the supplier's parcel never fulfils them.
    manager = manager_of(session, shop_domain, location_gid, primary)
    if manager.managed_by == ManagedBy.NOT_OURS:
        return False
    return manager.managed_by != ManagedBy.SERVICE or manager.supplier_id == supplier_id


def _row_and_order(session: Session, shipment_id: int) -> tuple[SupplierShipment, Order]:
    row = session.get(SupplierShipment, shipment_id)
    return row, session.get(Order, session.get(SupplierOrder, row.supplier_order_id).order_id)


def _allocate(session_factory, gateway, plan: _PushPlan) -> dict[str, list[dict]]:
    """Spread the shipment's quantities over the open fulfillment order lines of our locations, grouped by location."""
    data = read_every_fulfillment_order(gateway, plan.order_gid)  # a parcel's lines may sit past the first page
    primary = (data.get("primaryLocation") or {}).get("id")
    wanted = dict(plan.wanted)
    result: dict[str, list[dict]] = {}
    with read_only(session_factory)() as session:
        fos = [fo for fo in ((data.get("order") or {}).get("fulfillmentOrders") or {}).get("nodes", [])
               if fo["status"] in ("OPEN", "IN_PROGRESS") and _ours(session, plan, fo, primary)]
    for fo in fos:
        items = []
        for fo_line in fo["lineItems"]["nodes"]:
            line_id = gid_number(fo_line["lineItem"]["id"])
            take = min(wanted.get(line_id, 0), fo_line["remainingQuantity"])
            if take > 0:
                items.append({"id": fo_line["id"], "quantity": take})
                wanted[line_id] -= take
        if items:
            location = ((fo.get("assignedLocation") or {}).get("location") or {}).get("id") or ""
            result.setdefault(location, []).append({"fulfillmentOrderId": fo["id"], "fulfillmentOrderLineItems": items})
    return result


def _ours(session: Session, plan: _PushPlan, fo: dict, primary: str | None) -> bool:
    location = ((fo.get("assignedLocation") or {}).get("location") or {}).get("id")
    return _location_is_ours(session, plan.shop_domain, location, location is not None and location == primary, plan.supplier_id)


def _count_shipped(session: Session, delivery_id: int, order_id: int, row: SupplierShipment) -> None:
    session.execute(_ADD_SHIPPED, [{"line": line_id, "delivery": delivery_id, "units": quantity} for line_id, quantity in row.lines])
    all_shipped = session.execute(_ANY_LINE_LEFT, {"delivery": delivery_id}).scalar() is None
    state = DeliveryState.SHIPPED.value if all_shipped else DeliveryState.PARTIALLY_SHIPPED.value
    session.execute(_SET_DELIVERY_STATE, {"delivery": delivery_id, "state": state})
    states = set(session.scalars(_DELIVERY_STATES, {"order": order_id}))
    order_state = OrderState.SHIPPED.value if states == {DeliveryState.SHIPPED.value} else OrderState.PARTIALLY_SHIPPED.value
    session.execute(_SET_ORDER_STATE, {"order": order_id, "state": order_state, "now": utcnow()})


# Statements of the way back, built once (issue 20: building a statement cost more than running it).
_DELIVERY_AND_ORDER = (select(SupplierOrder.supplier_id, SupplierOrder.order_id, Order.shop_domain, Order.shopify_id)
                       .join(Order, Order.id == SupplierOrder.order_id).where(SupplierOrder.id == bindparam("delivery")))
_SHOPIFY_LINE_IDS = (select(SupplierOrderLine.id, OrderLine.shopify_line_id).join(OrderLine, OrderLine.id == SupplierOrderLine.order_line_id)
                     .where(SupplierOrderLine.supplier_order_id == bindparam("delivery"), SupplierOrderLine.id.in_(bindparam("ids", expanding=True))))
_STORED_FULFILLMENT_ORDERS = (select(FulfillmentOrderRecord.shopify_id, FulfillmentOrderRecord.status, FulfillmentOrderRecord.location_gid,
                                     FulfillmentOrderRecord.location_primary, FulfillmentOrderRecord.lines)
                              .where(FulfillmentOrderRecord.order_id == bindparam("order")).order_by(FulfillmentOrderRecord.id))
_sol = SupplierOrderLine.__table__.c
_ADD_SHIPPED = (update(SupplierOrderLine.__table__)
                .where(_sol.id == bindparam("line"), _sol.supplier_order_id == bindparam("delivery"))
                .values(shipped_quantity=case((_sol.shipped_quantity + bindparam("units") > _sol.quantity, _sol.quantity),
                                              else_=_sol.shipped_quantity + bindparam("units"))))
_ANY_LINE_LEFT = (select(SupplierOrderLine.id).where(SupplierOrderLine.supplier_order_id == bindparam("delivery"),
                                                     SupplierOrderLine.shipped_quantity < SupplierOrderLine.quantity).limit(1))
_SET_DELIVERY_STATE = update(SupplierOrder.__table__).where(SupplierOrder.__table__.c.id == bindparam("delivery")).values(state=bindparam("state"))
_DELIVERY_STATES = select(SupplierOrder.state).where(SupplierOrder.order_id == bindparam("order"))
_SET_ORDER_STATE = (update(Order.__table__).where(Order.__table__.c.id == bindparam("order"))
                    .values(state=bindparam("state"), updated_at=bindparam("now")))
_ssh = SupplierShipment.__table__.c
_SHIPMENT_TO_MARK = select(_ssh.shopify_fulfillment_id, _ssh.shopify_fulfillment_ids, _ssh.lines, _ssh.carrier, _ssh.tracking_number,
                           _ssh.tracking_url, _ssh.estimated_delivery).where(_ssh.id == bindparam("shipment"))
_MARK_FULFILLED = (update(SupplierShipment.__table__).where(_ssh.id == bindparam("shipment"))
                   .values(shopify_fulfillment_id=bindparam("first"), shopify_fulfillment_ids=bindparam("all"), state=ShipmentState.FULFILLED.value,
                           tracking_synced=True, updated_at=bindparam("now")))
