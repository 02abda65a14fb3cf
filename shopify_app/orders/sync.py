"""Upserting orders from webhooks and API reads: newest update wins, out-of-order safe."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import Order, OrderLine, OrderState
from .payloads import OrderSnapshot
from .timeline import record_event

log = logging.getLogger(__name__)

FORWARDABLE_FINANCIAL_STATUSES = frozenset({"paid", "partially_paid", "partially_refunded"})
ORDER_AMOUNT_FIELDS = (
    "presentment_currency", "subtotal_price", "total_discounts", "total_shipping", "total_tax", "total_tip", "taxes_included",
    "total_price_presentment", "subtotal_price_presentment", "total_discounts_presentment", "total_shipping_presentment",
    "total_tax_presentment", "total_tip_presentment",
)


def _find(session: Session, shop_domain: str, shopify_id: str) -> Order | None:
    return session.scalar(select(Order).where(Order.shop_domain == shop_domain, Order.shopify_id == shopify_id))


def upsert_order(session: Session, shop_domain: str, snap: OrderSnapshot) -> tuple[Order, bool]:
    """Create or update the order from a snapshot; returns (order, applied). Stale snapshots are ignored."""
    order = _find(session, shop_domain, snap.shopify_id)
    if order is None:
        try:
            with session.begin_nested():
                order = Order(shop_domain=shop_domain, shopify_id=snap.shopify_id)
                _apply(order, snap)
                session.add(order)
                session.flush()
                _apply_lines(session, order, snap)
        except IntegrityError:
            # Another worker created it between our read and insert: update theirs.
            order = _find(session, shop_domain, snap.shopify_id)
            return _update(session, order, snap), True
        record_event(session, order, "received", "store", name=snap.name)
        return order, True
    if order.shopify_updated_at and snap.updated_at and snap.updated_at < order.shopify_updated_at:
        log.info("ignoring stale update of order %s (%s < %s)", order.shopify_id, snap.updated_at, order.shopify_updated_at)
        return order, False
    return _update(session, order, snap), True


def _update(session: Session, order: Order, snap: OrderSnapshot) -> Order:
    was_cancelled = order.cancelled_at is not None
    _apply(order, snap)
    _apply_lines(session, order, snap)
    if snap.cancelled_at and not was_cancelled:
        order.state = OrderState.CANCELLED.value
        record_event(session, order, "cancelled", "store")
    return order


def _apply(order: Order, snap: OrderSnapshot) -> None:
    order.name = snap.name
    order.email = snap.email
    order.customer_id = snap.customer_id
    order.customer_email = snap.customer_email
    order.shipping_address = snap.shipping_address
    order.currency = snap.currency
    order.total_price = snap.total_price
    amounts = snap.amounts
    if amounts is not None:
        for name in ORDER_AMOUNT_FIELDS:
            setattr(order, name, getattr(amounts, name))
        order.discount_applications = list(amounts.discount_applications)
    order.financial_status = snap.financial_status
    order.fulfillment_status = snap.fulfillment_status
    order.cancelled_at = snap.cancelled_at
    order.shopify_created_at = snap.created_at
    order.shopify_updated_at = snap.updated_at
    order.customer_locale = snap.customer_locale or order.customer_locale
    if snap.cancelled_at:
        order.state = OrderState.CANCELLED.value


def _apply_lines(session: Session, order: Order, snap: OrderSnapshot) -> None:
    existing = {line.shopify_line_id: line for line in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))}
    for item in snap.lines:
        line = existing.get(item.shopify_line_id)
        if line is None:
            line = OrderLine(order_id=order.id, shopify_line_id=item.shopify_line_id)
            session.add(line)
        line.sku, line.variant_id, line.product_id = item.sku, item.variant_id, item.product_id
        line.vendor, line.title, line.price = item.vendor, item.title, item.price
        line.quantity = item.quantity
        line.requires_shipping, line.gift_card = item.requires_shipping, item.gift_card
        line.original_quantity, line.is_tip = item.original_quantity, item.is_tip
        line.discount, line.tax = item.discount, item.tax
        line.price_presentment, line.discount_presentment, line.tax_presentment = item.price_presentment, item.discount_presentment, item.tax_presentment
    session.flush()


def ready_to_forward(order: Order) -> bool:
    """Paid, not cancelled, and not yet routed."""
    return (
        order.cancelled_at is None
        and (order.financial_status or "") in FORWARDABLE_FINANCIAL_STATUSES
        and order.state in (OrderState.RECEIVED.value, OrderState.HELD.value)
    )
