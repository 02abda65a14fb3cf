"""Shopify fulfillments as the carrier moves them: one row per fulfillment, ours or not."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class FulfillmentDelivery(Base):
    """A Shopify fulfillment and its delivery status, from fulfillments/* webhooks and its events.

    Our own parcels are the SupplierShipment whose `shopify_fulfillment_id` is this
    `fulfillment_gid` (joined on the GID, so the link holds whichever of the two is
    recorded first); fulfillments the app did not create are kept too, on their order.
    """

    __tablename__ = "fulfillment_deliveries"
    __table_args__ = (
        UniqueConstraint("shop_domain", "fulfillment_gid", name="uq_fulfillment_deliveries_fulfillment"),
        Index("ix_fulfillment_deliveries_order", "order_id"),
        Index("ix_fulfillment_deliveries_delivered", "shop_domain", "delivered_at"),
        Index("ix_fulfillment_deliveries_status_at", "status_at"),  # the customer-notice job reads recent carrier statuses
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    fulfillment_gid: Mapped[str] = mapped_column(String(128))
    order_gid: Mapped[str | None] = mapped_column(String(128))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(64))  # e.g. #1001.1
    fulfillment_status: Mapped[str | None] = mapped_column(String(32))  # success | cancelled | ...
    # The carrier's latest word: confirmed, in_transit, out_for_delivery, attempted_delivery,
    # delivered, failure, ready_for_pickup... (Shopify's shipment_status, lower case).
    shipment_status: Mapped[str | None] = mapped_column(String(32))
    status_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # when that status happened
    display_status: Mapped[str | None] = mapped_column(String(32))  # Fulfillment.displayStatus
    in_transit_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    estimated_delivery_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # the latest estimate
    first_estimated_delivery_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # the first promise
    failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failure_message: Mapped[str | None] = mapped_column(Text)
    events_seen: Mapped[int] = mapped_column(Integer, default=0)
    shopify_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reconciled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # last re-read by the reconciliation
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
