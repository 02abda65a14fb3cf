"""Orders hold personal data (email, shipping address): a readable export, and the columns cleared on redaction.

Everything else of the customer's (payloads, timelines, deliveries, notices...) and shop
erasure are reached by the generic sweep in shopify_app.privacy.
"""
from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..privacy import CustomerDataSource, CustomerRef, customer_data_source, scrub
from .models import Order


def customer_orders(session: Session, ref: CustomerRef):
    """The shop's orders of the customer a compliance request names (by id, email or order ids)."""
    conditions = []
    if ref.customer_id:
        conditions.append(Order.customer_id == ref.customer_id)
    if ref.email:
        email = ref.email.strip().lower()  # addresses compare without case, as Shopify's do
        conditions += [func.lower(Order.email) == email, func.lower(Order.customer_email) == email]
    if ref.order_ids:
        conditions.append(Order.shopify_id.in_(ref.order_ids))
    if not conditions:
        return []
    return session.scalars(select(Order).where(Order.shop_domain == ref.shop_domain, or_(*conditions))).all()


def _export(session: Session, ref: CustomerRef) -> list[dict]:
    return [
        {
            "order": o.name,
            "shopify_id": o.shopify_id,
            "email": o.email,
            "customer_email": o.customer_email,
            "shipping_address": o.shipping_address,
            "created_at": o.shopify_created_at.isoformat() if o.shopify_created_at else None,
            "lines": [{"sku": l.sku, "title": l.title, "quantity": l.quantity} for l in o.lines],
            "timeline": [{"kind": e.kind, "at": e.created_at.isoformat()} for e in o.events],
        }
        for o in customer_orders(session, ref)
    ]


def _redact(session: Session, ref: CustomerRef) -> int:
    orders = customer_orders(session, ref)
    for order in orders:
        order.email = order.customer_email = None
        order.shipping_address = scrub({"shipping_address": order.shipping_address})["shipping_address"] if order.shipping_address else None
        # What we hold no longer is what the last snapshot said: the next one takes the full sync.
        order.routing_digest = order.details_digest = None
    return len(orders)


customer_data_source(CustomerDataSource("orders", _export, _redact))
