"""Applying supplier events (from their webhooks or our polling) to deliveries and orders."""
from __future__ import annotations

import logging

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from integrations.suppliers.base import SupplierEvent, SupplierEventKind, SupplierOrderStatus

from ..alerts import raise_alert
from ..orders.models import Order
from ..orders.timeline import record_event
from .models import DeliveryState, Supplier, SupplierOrder
from .tracking import push_shipment, record_shipment

log = logging.getLogger(__name__)


def find_delivery(session: Session, supplier: Supplier, event: SupplierEvent) -> SupplierOrder | None:
    """The delivery an event is about, by the supplier's order id or our idempotency key."""
    conditions = []
    if event.supplier_order_id:
        conditions.append(SupplierOrder.supplier_order_id == event.supplier_order_id)
    if event.external_id:
        conditions.append(SupplierOrder.idempotency_key == event.external_id)
    if not conditions:
        return None
    return session.scalar(select(SupplierOrder).where(SupplierOrder.supplier_id == supplier.id, or_(*conditions)))


def apply_event(session: Session, supplier: Supplier, event: SupplierEvent, gateway_for, adapter=None) -> None:
    """Update our records from one supplier event; Shopify is told about shipments."""
    if event.kind is SupplierEventKind.STOCK_UPDATED or event.kind is SupplierEventKind.OUT_OF_STOCK and event.stock:
        _apply_stock(session, supplier, event)
        if event.kind is SupplierEventKind.STOCK_UPDATED:
            return
    if event.kind is SupplierEventKind.RETURN_UPDATED:
        from ..returns.restock import supplier_received

        supplier_received(session, supplier, event, gateway_for)
        return
    delivery = find_delivery(session, supplier, event)
    if delivery is None:
        log.warning("supplier %s event %s for an order we do not know", supplier.id, event.kind.value)
        return
    order = session.get(Order, delivery.order_id)
    if event.supplier_order_id and not delivery.supplier_order_id:
        delivery.supplier_order_id = event.supplier_order_id
    if event.kind is SupplierEventKind.SHIPMENT:
        shipments = [event.shipment] if event.shipment is not None and event.shipment.lines else []
        if not shipments and adapter is not None and delivery.supplier_order_id:
            # Some suppliers (Printful) do not itemise parcels in the webhook: ask for them.
            shipments = adapter.get_shipments(delivery.supplier_order_id)
        elif not shipments and event.shipment is not None:
            shipments = [event.shipment]
        sync_shipments(session, delivery, shipments, gateway_for)
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
        delivery.state = DeliveryState.CANCELLED.value
        record_event(session, order, "supplier_cancelled", "supplier", supplier=supplier.name, reason=event.reason)
        if order.cancelled_at is None:
            raise_alert(session, order.shop_domain, "supplier_cancelled", f"supplier_cancelled:{delivery.id}", f"Order {order.name}: {supplier.name} cancelled it, but the order is still open in Shopify.", severity="critical", subject=order.name)
    elif event.kind is SupplierEventKind.OUT_OF_STOCK:
        record_event(session, order, "problem", "supplier", problem="out_of_stock", reason=event.reason)
        raise_alert(session, order.shop_domain, "supplier_out_of_stock", f"supplier_oos:{delivery.id}", f"Order {order.name}: {supplier.name} is out of stock (tell the customer within 12 hours).", severity="critical", subject=order.name)


def sync_shipments(session: Session, delivery: SupplierOrder, shipments, gateway_for) -> None:
    """Record every shipment and bring Shopify's fulfillments up to date."""
    for shipment in shipments:
        row = record_shipment(session, delivery, shipment)
        if row.state != "fulfilled" or not row.tracking_synced:
            push_shipment(session, gateway_for(delivery.shop_domain), row)


def _apply_stock(session: Session, supplier: Supplier, event: SupplierEvent) -> None:
    from ..inventory.feeds import apply_feed

    # A webhook lists what changed, not the whole catalog: the SKUs it leaves out keep their stock.
    apply_feed(session, supplier, event.stock, source="webhook", full=False)
