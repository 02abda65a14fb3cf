"""Applying supplier events (from their webhooks or our polling) to deliveries and orders."""
from __future__ import annotations

import dataclasses
import logging
from typing import NamedTuple

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from integrations.suppliers.base import Shipment, SupplierEvent, SupplierEventKind, SupplierOrderStatus

from ..alerts import raise_alert
from ..db import read_only
from ..orders.models import Order
from ..orders.timeline import record_event
from .amendments import being_replaced
from .forwarding import adapter_from_record
from .models import DeliveryState, Supplier, SupplierOrder, SupplierOrderLine
from .tracking import UNPLANNED, OrderRef, insert_event, plan_push, push_shipment, record_shipment

log = logging.getLogger(__name__)

# Statuses whose every report is told on the timeline even when the stored status is the same:
# placing already stores the supplier's first status, and its acknowledgement still belongs on the timeline.
TOLD_EVERY_TIME = (SupplierOrderStatus.ACKNOWLEDGED, SupplierOrderStatus.ON_HOLD)


def find_delivery(session: Session, supplier: Supplier, event: SupplierEvent) -> SupplierOrder | None:
    """The delivery an event is about, by the supplier's order id or our idempotency key."""
    statement = _FIND_DELIVERY.get((bool(event.supplier_order_id), bool(event.external_id)))
    if statement is None:
        return None
    return session.scalar(statement, {"supplier": supplier.id, "order": event.supplier_order_id, "key": event.external_id})


# Built once (every supplier event asks): by the supplier's order id, our key, or either.
_BY_ORDER = SupplierOrder.supplier_order_id == bindparam("order")
_BY_KEY = SupplierOrder.idempotency_key == bindparam("key")
_DELIVERY_ROW = select(SupplierOrder.id, SupplierOrder.supplier_order_id, SupplierOrder.supplier_status, SupplierOrder.order_id, SupplierOrder.shop_domain)
_FIND_DELIVERY_ROW = {
    (True, False): _DELIVERY_ROW.where(SupplierOrder.supplier_id == bindparam("supplier"), _BY_ORDER),
    (False, True): _DELIVERY_ROW.where(SupplierOrder.supplier_id == bindparam("supplier"), _BY_KEY),
    (True, True): _DELIVERY_ROW.where(SupplierOrder.supplier_id == bindparam("supplier"), or_(_BY_ORDER, _BY_KEY)),
}
_SET_SUPPLIER_STATUS = (update(SupplierOrder.__table__).where(SupplierOrder.__table__.c.id == bindparam("delivery"))
                        .values(supplier_status=bindparam("status")))
_FIND_DELIVERY = {
    (True, False): select(SupplierOrder).where(SupplierOrder.supplier_id == bindparam("supplier"), _BY_ORDER),
    (False, True): select(SupplierOrder).where(SupplierOrder.supplier_id == bindparam("supplier"), _BY_KEY),
    (True, True): select(SupplierOrder).where(SupplierOrder.supplier_id == bindparam("supplier"), or_(_BY_ORDER, _BY_KEY)),
}


def _applied_from_row(session: Session, supplier: Supplier, event: SupplierEvent, services, after_commit, adapter) -> bool:
    """The two events every order brings (a status report, a parcel announced without its lines), applied from the
    delivery's row with Core statements built once: no ORM load of the delivery, no unit of work. True when done.

    Everything else (and a delivery whose supplier order id we learn only now) goes the ORM way in apply_event.
    """
    statuses = event.kind is SupplierEventKind.ORDER_UPDATED and event.status is not SupplierOrderStatus.ON_HOLD
    parcel_to_read = (event.kind is SupplierEventKind.SHIPMENT and adapter is not None
                      and not (event.shipment is not None and event.shipment.lines))
    if not (statuses or parcel_to_read):
        return False
    statement = _FIND_DELIVERY_ROW.get((bool(event.supplier_order_id), bool(event.external_id)))
    row = session.execute(statement, {"supplier": supplier.id, "order": event.supplier_order_id, "key": event.external_id}).first() if statement is not None else None
    if row is None or (event.supplier_order_id and not row.supplier_order_id):
        return False  # unknown (apply_event says so) or its supplier order id is news: the ORM way stores it
    if statuses:
        if event.status not in TOLD_EVERY_TIME and (event.status is None or event.status.value == row.supplier_status):
            return True  # a status we already know (a redelivery, or what placing already recorded): nothing changes
        if event.status is not None and event.status.value != row.supplier_status:
            session.execute(_SET_SUPPLIER_STATUS, {"delivery": row.id, "status": event.status.value})
        if event.status is SupplierOrderStatus.ACKNOWLEDGED:
            insert_event(session, row.order_id, "acknowledged", "supplier", supplier=supplier.name)
        return True
    if not row.supplier_order_id:
        return False
    # Some suppliers (Printful) do not itemise parcels in the webhook: ask for them. What the poll
    # needs is known here: it starts without a read transaction of its own.
    known = KnownDelivery(row.id, row.supplier_order_id, row.shop_domain)
    announced = event.shipment
    after_commit(lambda: refresh_shipments(services, known.id, adapter, announced=announced, known=known))
    return True


def apply_event(session: Session, supplier: Supplier, event: SupplierEvent, services, after_commit, adapter=None) -> None:
    """Update our records from one supplier event; Shopify is told about shipments.

    Runs inside the caller's write transaction, so every call out (asking the supplier
    for parcels, telling Shopify) is handed to `after_commit`, which runs it afterwards.
    """
    if event.kind is SupplierEventKind.STOCK_UPDATED or event.kind is SupplierEventKind.OUT_OF_STOCK and event.stock:
        _apply_stock(session, supplier, event)
        if event.kind is SupplierEventKind.STOCK_UPDATED:
            return
    if event.kind is SupplierEventKind.RETURN_UPDATED:
        from ..returns.restock import supplier_received

        supplier_received(session, supplier, event, services, after_commit)
        return
    if _applied_from_row(session, supplier, event, services, after_commit, adapter):
        return
    delivery = find_delivery(session, supplier, event)
    if delivery is None:
        log.warning("supplier %s event %s for an order we do not know", supplier.id, event.kind.value)
        return
    if event.supplier_order_id and not delivery.supplier_order_id:
        delivery.supplier_order_id = event.supplier_order_id
    if event.kind is SupplierEventKind.ORDER_UPDATED and event.status not in TOLD_EVERY_TIME and (
            event.status is None or event.status.value == delivery.supplier_status):
        return  # a status we already know (a redelivery, or what placing already recorded): nothing changes
    if event.kind is SupplierEventKind.SHIPMENT or event.kind is SupplierEventKind.ORDER_UPDATED and event.status is not SupplierOrderStatus.ON_HOLD:
        # Neither needs the order's row (a wide one: addresses, totals); the timeline needs only its id.
        order = OrderRef(delivery.order_id)
    else:
        order = session.get(Order, delivery.order_id)
    if event.kind is SupplierEventKind.SHIPMENT:
        shipments = [event.shipment] if event.shipment is not None and event.shipment.lines else []
        if not shipments and adapter is not None and delivery.supplier_order_id:
            # Some suppliers (Printful) do not itemise parcels in the webhook: ask for them.
            # What the poll needs is known here: it starts without a read transaction of its own.
            known = KnownDelivery(delivery.id, delivery.supplier_order_id, delivery.shop_domain)
            announced = event.shipment
            after_commit(lambda: refresh_shipments(services, known.id, adapter, announced=announced, known=known))
            return
        if not shipments and event.shipment is not None:
            shipments = [event.shipment]
        to_push, shop_domain = record_shipments(session, delivery, shipments), delivery.shop_domain
        if to_push:
            after_commit(lambda: push_shipments(services, shop_domain, to_push))
    elif event.kind is SupplierEventKind.ORDER_UPDATED:
        delivery.supplier_status = event.status.value if event.status else delivery.supplier_status
        if event.status is SupplierOrderStatus.ACKNOWLEDGED:
            record_event(session, order, "acknowledged", "supplier", supplier=supplier.name)
        elif event.status is SupplierOrderStatus.ON_HOLD:
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
        if row.state != "fulfilled" or not row.tracking_synced:
            to_push.append(row.id)
    return to_push


def push_shipments(services, shop_domain: str, shipment_ids: list[int], plans: dict | None = None) -> None:
    """Bring Shopify's fulfillments up to date for recorded shipments (call with no transaction open)."""
    gateway = services.gateway(shop_domain)
    for shipment_id in shipment_ids:
        push_shipment(services.session_factory, gateway, shipment_id, plan=(plans or {}).get(shipment_id, UNPLANNED))


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
