"""What the order page shows of Shopify's fulfillments: each one's delivery status, ours or not."""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..orders.models import Order
from .models import FulfillmentDelivery
from .status import is_our_parcel


def order_fulfillments(session: Session, order: Order, *, with_ours: bool = True) -> list[dict]:
    """The order's fulfillments as Shopify reports their delivery, oldest first (with_ours: whether each is the app's parcel, one query each)."""
    # By GID too: a fulfillment recorded before its order reached us was not linked then.
    rows = session.scalars(select(FulfillmentDelivery).where(
        FulfillmentDelivery.shop_domain == order.shop_domain,
        or_(FulfillmentDelivery.order_id == order.id, FulfillmentDelivery.order_gid == f"gid://shopify/Order/{order.shopify_id}"),
    ).order_by(FulfillmentDelivery.id))
    return [{
        "name": row.name or row.fulfillment_gid, "fulfillment_gid": row.fulfillment_gid, "status": row.shipment_status or "confirmed", "status_at": _iso(row.status_at),
        "in_transit_at": _iso(row.in_transit_at), "delivered_at": _iso(row.delivered_at), "estimated_delivery_at": _iso(row.estimated_delivery_at),
        "failure": row.failure_message, "cancelled": row.fulfillment_status == "cancelled",
        "ours": is_our_parcel(session, order.shop_domain, row.fulfillment_gid) if with_ours else None,
    } for row in rows]


def _iso(value) -> str | None:
    return value.isoformat() if value else None
