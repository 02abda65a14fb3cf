"""Fulfillment orders as Shopify assigned them, and the merchant locations the app manages."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class ManagedBy:
    """Who works a fulfillment order, decided by the location Shopify assigned it to."""

    SERVICE = "service"  # a supplier's fulfillment-service location: forwarded once we accept the request
    MERCHANT = "merchant"  # a merchant location mapped to the app: forwarded while open and not on hold
    NOT_OURS = "not_ours"  # any other location or app: left alone, shown as "not ours"


# Our hold differs from our wish (to place, or to release): fulfillment/holds._wished says the same in its query.
HOLD_WISH = "(app_hold_reason IS NOT NULL AND app_hold_id IS NULL) OR (app_hold_reason IS NULL AND app_hold_id IS NOT NULL)"


class FulfillmentOrderRecord(Base):
    """A Shopify fulfillment order of one of our orders (unique on shop + Shopify id)."""

    __tablename__ = "fulfillment_orders"
    __table_args__ = (
        UniqueConstraint("shop_domain", "shopify_id", name="uq_fulfillment_orders_shop_shopify_id"),
        Index("ix_fulfillment_orders_order", "order_id"),
        # The rows with a hold of ours to place or release (rare): has_pending_holds, asked by every
        # orders/* webhook that changed something, reads these instead of every fulfillment order of the shop.
        Index("ix_fulfillment_orders_hold_wish", "shop_domain", postgresql_where=text(HOLD_WISH), sqlite_where=text(HOLD_WISH)),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    shopify_id: Mapped[str] = mapped_column(String(32))  # numeric part of the GID
    location_gid: Mapped[str | None] = mapped_column(String(255))
    location_primary: Mapped[bool] = mapped_column(Boolean, default=False)  # the shop's primary location
    status: Mapped[str] = mapped_column(String(32))  # OPEN, IN_PROGRESS, ON_HOLD, SCHEDULED, CLOSED, CANCELLED, INCOMPLETE
    request_status: Mapped[str | None] = mapped_column(String(32))  # UNSUBMITTED, SUBMITTED, ACCEPTED...
    managed_by: Mapped[str] = mapped_column(String(16), default=ManagedBy.NOT_OURS)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="SET NULL"))  # a service location's supplier
    # [{"id": FO line GID, "line": Shopify line id (number), "remaining": n, "total": n}]
    lines: Mapped[list] = mapped_column(JSON, default=list)
    # Every hold on it as Shopify reports them: [{"id", "handle", "reason", "ours"}]
    holds: Mapped[list] = mapped_column(JSON, default=list)
    # The hold the app wants on it (why it cannot be sent), or None; the hold pump makes Shopify agree.
    app_hold_reason: Mapped[str | None] = mapped_column(String(40))  # a FulfillmentHoldReason
    app_hold_note: Mapped[str | None] = mapped_column(Text)
    app_hold_id: Mapped[str | None] = mapped_column(String(255))  # our hold's GID while Shopify has it
    shopify_updated_at: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ManagedLocation(Base):
    """A merchant location whose fulfillment orders the app forwards, to the suppliers allowed there."""

    __tablename__ = "managed_locations"
    __table_args__ = (UniqueConstraint("shop_domain", "location_gid", name="uq_managed_locations_shop_location"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    location_gid: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    # Merchant-managed supplier ids allowed at this location; empty: every merchant-managed supplier.
    supplier_ids: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
