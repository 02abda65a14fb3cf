"""Applying supplier events (from their webhooks or our polling) to deliveries and orders."""
from __future__ import annotations

import dataclasses
import logging
from typing import NamedTuple

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from integrations.suppliers.base import Shipment, SupplierEvent, SupplierEventKind, SupplierOrderStatus

from ..alerts import raise_alert
from ..db import flushed_connection, read_only
from ..orders.models import Order
from ..orders.timeline import record_event
from .amendments import being_replaced
from .forwarding import adapter_from_record
from .models import DeliveryState, Supplier, SupplierOrder, SupplierOrderLine
from ..orders.timeline import insert_event
from .eta_events import eta_untold, room_for_eta, tell_eta
from .tracking import UNPLANNED, plan_push, push_shipment, record_shipment

log = logging.getLogger(__name__)

# Statuses whose every report is told on the timeline even when the stored status is the same:
# placing already stores the supplier's first status, and its acknowledgement still belongs on the timeline.
TOLD_EVERY_TIME = (SupplierOrderStatus.ACKNOWLEDGED, SupplierOrderStatus.ON_HOLD)


# Built once (every supplier event asks): by the supplier's order id, our key, or either.
# Of the table, not the entity: run on the session's connection, no ORM execution layer (see _delivery_row).
_deliveries = SupplierOrder.__table__
_BY_ORDER = _deliveries.c.supplier_order_id == bindparam("order")
_BY_KEY = _deliveries.c.idempotency_key == bindparam("key")
_DELIVERY_ROW = select(_deliveries.c.id, _deliveries.c.supplier_order_id, _deliveries.c.supplier_status, _deliveries.c.order_id, _deliveries.c.shop_domain)
_FIND_DELIVERY_ROW = {
    (True, False): _DELIVERY_ROW.where(_deliveries.c.supplier_id == bindparam("supplier"), _BY_ORDER),
    (False, True): _DELIVERY_ROW.where(_deliveries.c.supplier_id == bindparam("supplier"), _BY_KEY),
    (True, True): _DELIVERY_ROW.where(_deliveries.c.supplier_id == bindparam("supplier"), or_(_BY_ORDER, _BY_KEY)),
}
_SET_SUPPLIER_STATUS = (update(SupplierOrder.__table__).where(SupplierOrder.__table__.c.id == bindparam("delivery"))
                        .values(supplier_status=bindparam("status")))


def _delivery_row(session: Session, supplier: Supplier, event: SupplierEvent):
    """The delivery an event is about, as a row read with a Core statement built once (None: unknown)."""
    statement = _FIND_DELIVERY_ROW.get((bool(event.supplier_order_id), bool(event.external_id)))
    if statement is None:
        return None
    # Flushed first, as the ORM's execution would have (callers that changed a delivery through the session).
    return flushed_connection(session).execute(statement, {"supplier": supplier.id, "order": event.supplier_order_id, "key": event.external_id}).first()


def _status_known(event: SupplierEvent, stored: str | None) -> bool:
    """A status report that changes nothing (a redelivery, or what placing already recorded)."""
    return event.status not in TOLD_EVERY_TIME and (event.status is None or event.status.value == stored)


def apply_event(session: Session, supplier: Supplier, event: SupplierEvent, services, after_commit, adapter=None) -> None:
    """Update our records from one supplier event; Shopify is told about shipments.

    Runs inside the caller's write transaction, so every call out (asking the supplier
    for parcels, telling Shopify) is handed to `after_commit`, which runs it afterwards.
    The two events every order brings (a status report, a parcel announced without its lines) are
    applied from the delivery's row with Core statements built once: no ORM load, no unit of work
    (CPU per order); the rest loads the delivery through the ORM.
    """
    if event.kind is SupplierEventKind.STOCK_UPDATED or event.kind is SupplierEventKind.OUT_OF_STOCK and event.stock:
        _apply_stock(session, supplier, event)
        if event.kind is SupplierEventKind.STOCK_UPDATED:
            return
    if event.kind is SupplierEventKind.RETURN_UPDATED:
        from ..returns.restock import supplier_received

        supplier_received(session, supplier, event, services, after_commit)
        return
    row = _delivery_row(session, supplier, event)
    if row is None:
        log.warning("supplier %s event %s for an order we do not know", supplier.id, event.kind.value)
        return
    supplier_order_id = row.supplier_order_id
    if event.supplier_order_id and not supplier_order_id:
        # Learnt only now (rare): stored through the ORM so a delivery this session holds stays right.
        session.get(SupplierOrder, row.id).supplier_order_id = supplier_order_id = event.supplier_order_id
    if event.kind is SupplierEventKind.ORDER_UPDATED:
        if _status_known(event, row.supplier_status):
            return  # nothing changes
        if event.status is not SupplierOrderStatus.ON_HOLD:
            if event.status.value != row.supplier_status:
                session.execute(_SET_SUPPLIER_STATUS, {"delivery": row.id, "status": event.status.value})
            if event.status is SupplierOrderStatus.ACKNOWLEDGED:
                insert_event(session, row.order_id, "acknowledged", "supplier", supplier=supplier.name)
            return
    itemised = event.shipment is not None and event.shipment.lines
    if event.kind is SupplierEventKind.SHIPMENT and not itemised and adapter is not None and supplier_order_id:
        # Some suppliers (Printful) do not itemise parcels in the webhook: ask for them. What the poll
        # needs is known here: it starts without a read transaction of its own.
        known = KnownDelivery(row.id, supplier_order_id, row.shop_domain)
        announced = event.shipment
        after_commit(lambda: refresh_shipments(services, known.id, adapter, announced=announced, known=known))
        return
    delivery = session.get(SupplierOrder, row.id)
    if event.kind is SupplierEventKind.SHIPMENT:
        # Needs no order row (a wide one: addresses, totals); the parcel as announced, itemised or not.
        to_push, shop_domain = record_shipments(session, delivery, [event.shipment] if event.shipment is not None else []), delivery.shop_domain
        if to_push:
            after_commit(lambda: push_shipments(services, shop_domain, to_push))
        return
    order = session.get(Order, delivery.order_id)
    if event.kind is SupplierEventKind.ORDER_UPDATED:  # on hold (every other status was applied from the row above)
        delivery.supplier_status = event.status.value
        record_event(session, order, "problem", "supplier", problem="on_hold", reason=event.reason)
        raise_alert(session, order.shop_domain, "supplier_hold", f"supplier_hold:{delivery.id}", f"Order {order.name}: {supplier.name} put it on hold ({event.reason or 'no reason given'}).", subject=order.name)
    elif event.kind is SupplierEventKind.ORDER_FAILED:
        delivery.state = DeliveryState.FAILED.value
        record_event(session, order, "problem", "supplier", problem="failed", reason=event.reason)
        raise_alert(session, order.shop_domain, "supplier_failed", f"supplier_failed:{delivery.id}", f"Order {order.name}: {supplier.name} could not fulfil it ({event.reason or 'no reason given'}).", severity="critical", subject=order.name)
    elif event.kind is SupplierEventKind.ORDER_CANCELLED:
        if being_replaced(session, delivery, event.supplier_order_id or delivery.supplier_order_id):
            return  # our own cancel, to place the order again as changed (amendments.py)
        delivery.state = DeliveryState.CANCELLED.value
        record_event(session, order, "supplier_cancelled", "supplier", supplier=supplier.name, reason=event.reason)
        if order.cancelled_at is None:
            raise_alert(session, order.shop_domain, "supplier_cancelled", f"supplier_cancelled:{delivery.id}", f"Order {order.name}: {supplier.name} cancelled it, but the order is still open in Shopify.", severity="critical", subject=order.name)
    elif event.kind is SupplierEventKind.OUT_OF_STOCK:
        record_event(session, order, "problem", "supplier", problem="out_of_stock", reason=event.reason)
        raise_alert(session, order.shop_domain, "supplier_out_of_stock", f"supplier_oos:{delivery.id}", f"Order {order.name}: {supplier.name} is out of stock (tell the customer within 12 hours).", severity="critical", subject=order.name)
        from ..cases.out_of_stock import open_out_of_stock_case  # issue 17 part P: the customer is told, on a clock

        open_out_of_stock_case(session, order, f"supplier_oos:{delivery.id}")


def record_shipments(session: Session, delivery: SupplierOrder, shipments) -> list[int]:
    """Record every shipment; the ids of those Shopify must still be told about."""
    to_push = []
    for shipment in shipments:
        row = record_shipment(session, delivery, shipment)
        if row.state != "fulfilled" or not row.tracking_synced or eta_untold(row.estimated_delivery, row.eta_told, row.delivered_at):
            to_push.append(row.id)
    return to_push


def push_shipments(services, shop_domain: str, shipment_ids: list[int], plans: dict | None = None) -> None:
    """Bring Shopify's fulfillments up to date for recorded shipments, then tell their ETAs (call with no transaction open).

    Every parcel's fulfillment first: an ETA Shopify fails to take (raised for the caller's retry) holds up none of them.
    """
    gateway = services.gateway(shop_domain)
    with_eta = [shipment_id for shipment_id in shipment_ids
                if push_shipment(services.session_factory, gateway, shipment_id, plan=(plans or {}).get(shipment_id, UNPLANNED), with_eta=False)]
    if with_eta and not room_for_eta(shop_domain):
        log.info("shop %s: ETA of %d parcel(s) left to the reconciliation (eta_not_told): Shopify's cost bucket is kept for orders", shop_domain, len(with_eta))
        return
    for shipment_id in with_eta:
        tell_eta(services.session_factory, gateway, shipment_id)


def with_announced(shipment: Shipment, announced: Shipment | None) -> Shipment:
    """A polled parcel completed from the webhook that announced it (Printful's polled Shipment has no tracking number)."""
    if announced is None or announced.shipment_id != shipment.shipment_id:
        return shipment
    missing = {name: getattr(announced, name) for name in ("carrier", "tracking_number", "tracking_url", "shipped_at")
               if getattr(shipment, name) in (None, "") and getattr(announced, name) not in (None, "")}
    return dataclasses.replace(shipment, **missing) if missing else shipment


class _DeliveryLines(NamedTuple):
    """A delivery as `record_shipment` reads it (id, order_id, lines with id, supplier_sku and quantity), without its ORM row."""

    id: int
    order_id: int
    lines: list


_DELIVERY_ORDER = select(SupplierOrder.order_id).where(SupplierOrder.id == bindparam("delivery"))
_DELIVERY_LINES = (select(SupplierOrderLine.id, SupplierOrderLine.supplier_sku, SupplierOrderLine.quantity)
                   .where(SupplierOrderLine.supplier_order_id == bindparam("delivery")).order_by(SupplierOrderLine.id))


class KnownDelivery(NamedTuple):
    """What polling a delivery's parcels needs, when the caller has just read it."""

    id: int
    supplier_order_id: str
    shop_domain: str


def refresh_shipments(services, delivery_id: int, adapter=None, announced: Shipment | None = None, known: KnownDelivery | None = None) -> None:
    """Ask the supplier for a delivery's parcels, record them, then tell Shopify (no transaction held while calling).

    `announced`: the shipment a webhook just reported; what the poll lacks of it is kept.
    `known` (with `adapter`): the delivery as the caller just read it, so nothing is read again before the call.
    """
    if known is None or adapter is None:
        with read_only(services.session_factory)() as session:
            delivery = session.get(SupplierOrder, delivery_id)
            adapter = adapter or adapter_from_record(delivery.supplier, services.box)
            known = KnownDelivery(delivery_id, delivery.supplier_order_id, delivery.shop_domain)
    shipments = [with_announced(shipment, announced) for shipment in adapter.get_shipments(known.supplier_order_id)]
    with services.session_factory.begin() as session:
        # What recording needs of the delivery (its id, order and lines), read with Core statements built once.
        order_id = session.execute(_DELIVERY_ORDER, {"delivery": delivery_id}).scalar_one()
        delivery = _DeliveryLines(delivery_id, order_id, session.execute(_DELIVERY_LINES, {"delivery": delivery_id}).all())
        to_push = record_shipments(session, delivery, shipments)
        # Planned in the transaction that recorded them (a read; the calls come after its commit).
        plans = {shipment_id: plan_push(session, shipment_id) for shipment_id in to_push}
    push_shipments(services, known.shop_domain, to_push, plans)


def _apply_stock(session: Session, supplier: Supplier, event: SupplierEvent) -> None:
    from ..inventory.feeds import apply_feed

    # A webhook lists what changed, not the whole catalog: the SKUs it leaves out keep their stock.
    apply_feed(session, supplier, event.stock, source="webhook", full=False)
