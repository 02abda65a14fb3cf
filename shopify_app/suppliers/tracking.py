"""Tracking back: supplier shipments become Shopify fulfillments with tracking, once.

A shipment is first recorded (unique per supplier order + shipment id), then pushed to
Shopify. Before creating a fulfillment we re-read the order's fulfillment orders, so a
crash after Shopify created it but before we stored its id cannot fulfil twice: the
remaining quantities are already zero and we only attach the fulfillment we find.
"""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.shopify.errors import ShopifyError, ShopifyUserError
from integrations.suppliers.base import Shipment

from ..alerts import raise_alert
from ..orders.models import Order, OrderLine, OrderState
from ..orders.timeline import record_event
from ..privacy import gid_number
from .models import DeliveryState, ShipmentState, SupplierOrder, SupplierOrderLine, SupplierShipment

log = logging.getLogger(__name__)


def record_shipment(session: Session, delivery: SupplierOrder, shipment: Shipment) -> SupplierShipment:
    """Store (or correct) what the supplier says it shipped; returns the row to push."""
    row = session.scalar(
        select(SupplierShipment).where(SupplierShipment.supplier_order_id == delivery.id, SupplierShipment.shipment_id == shipment.shipment_id)
    )
    lines = _resolve_lines(session, delivery, shipment)
    if row is None:
        row = SupplierShipment(supplier_order_id=delivery.id, shipment_id=shipment.shipment_id, lines=lines)
        session.add(row)
    elif (row.tracking_number, row.carrier, row.tracking_url) != (shipment.tracking_number, shipment.carrier, shipment.tracking_url):
        row.tracking_synced = False  # a correction: Shopify must be told
    row.carrier, row.tracking_number, row.tracking_url = shipment.carrier, shipment.tracking_number, shipment.tracking_url
    row.shipped_at, row.estimated_delivery = shipment.shipped_at, shipment.estimated_delivery
    if shipment.delivered_at and not row.delivered_at:
        row.delivered_at = shipment.delivered_at
        record_event(session, session.get(Order, delivery.order_id), "delivered", "supplier", shipment=shipment.shipment_id, at=shipment.delivered_at)
    session.flush()
    return row


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


def push_shipment(session: Session, gateway, row: SupplierShipment, notify_customer: bool = True) -> None:
    """Create the Shopify fulfillment for a recorded shipment, or update its tracking."""
    delivery = session.get(SupplierOrder, row.supplier_order_id)
    order = session.get(Order, delivery.order_id)
    tracking = {"company": row.carrier, "number": row.tracking_number, "url": row.tracking_url}
    tracking = {k: v for k, v in tracking.items() if v}
    try:
        if row.shopify_fulfillment_id:
            if not row.tracking_synced:
                gateway.mutate(
                    "FulfillmentTrackingInfoUpdate",
                    {"fulfillmentId": row.shopify_fulfillment_id, "trackingInfoInput": tracking, "notifyCustomer": notify_customer},
                )
                row.tracking_synced = True
                record_event(session, order, "tracking_updated", "supplier", carrier=row.carrier, number=row.tracking_number)
            return
        by_fulfillment_order = _allocate(session, gateway, order, row)
        if not by_fulfillment_order:
            row.state = ShipmentState.FULFILLED.value  # already fulfilled in Shopify (e.g. a retry after a crash)
            row.tracking_synced = True
            return
        data = gateway.mutate(
            "FulfillmentCreate",
            {"fulfillment": {"lineItemsByFulfillmentOrder": by_fulfillment_order, "trackingInfo": tracking, "notifyCustomer": notify_customer}},
        )
        row.shopify_fulfillment_id = data["fulfillmentCreate"]["fulfillment"]["id"]
        row.state = ShipmentState.FULFILLED.value
        row.tracking_synced = True
        _count_shipped(session, delivery, row)
        record_event(session, order, "shipped", "supplier", carrier=row.carrier, number=row.tracking_number, url=row.tracking_url, eta=row.estimated_delivery)
    except ShopifyUserError as exc:
        row.state = ShipmentState.FAILED.value
        row.last_error = f"{exc.codes}"
        raise_alert(session, order.shop_domain, "fulfillment_refused", f"fulfillment_refused:{row.id}", f"Order {order.name}: Shopify refused the fulfillment for tracking {row.tracking_number}: {exc}", severity="critical", subject=order.name)
    except ShopifyError as exc:
        row.last_error = type(exc).__name__
        raise  # transient: the caller's retry machinery tries again


def _allocate(session: Session, gateway, order: Order, row: SupplierShipment) -> list[dict]:
    """Spread the shipment's quantities over the order's open fulfillment order lines."""
    data = gateway.query("FulfillmentOrdersForOrder", {"id": f"gid://shopify/Order/{order.shopify_id}"})
    wanted: dict[str, int] = {}
    for line_id, quantity in row.lines:
        sol = session.get(SupplierOrderLine, line_id)
        our_line = session.get(OrderLine, sol.order_line_id)
        wanted[our_line.shopify_line_id] = wanted.get(our_line.shopify_line_id, 0) + quantity
    result = []
    for fo in ((data.get("order") or {}).get("fulfillmentOrders") or {}).get("nodes", []):
        if fo["status"] not in ("OPEN", "IN_PROGRESS"):
            continue
        items = []
        for fo_line in fo["lineItems"]["nodes"]:
            line_id = gid_number(fo_line["lineItem"]["id"])
            take = min(wanted.get(line_id, 0), fo_line["remainingQuantity"])
            if take > 0:
                items.append({"id": fo_line["id"], "quantity": take})
                wanted[line_id] -= take
        if items:
            result.append({"fulfillmentOrderId": fo["id"], "fulfillmentOrderLineItems": items})
    return result


def _count_shipped(session: Session, delivery: SupplierOrder, row: SupplierShipment) -> None:
    for line_id, quantity in row.lines:
        sol = session.get(SupplierOrderLine, line_id)
        sol.shipped_quantity = min(sol.quantity, sol.shipped_quantity + quantity)
    session.flush()
    all_shipped = all(l.shipped_quantity >= l.quantity for l in delivery.lines)
    delivery.state = DeliveryState.SHIPPED.value if all_shipped else DeliveryState.PARTIALLY_SHIPPED.value
    order = session.get(Order, delivery.order_id)
    states = {d.state for d in session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id))}
    order.state = OrderState.SHIPPED.value if states == {DeliveryState.SHIPPED.value} else OrderState.PARTIALLY_SHIPPED.value
