"""Orders as we hold them: the order, its lines, and its timeline of events."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..models import Base, BigId, UTCDateTime, utcnow


class OrderState(str, enum.Enum):
    RECEIVED = "received"  # synced, not yet routed (unpaid orders wait here)
    ROUTED = "routed"  # every shippable line has a supplier order
    HELD = "held"  # some line could not be routed: an alert is open
    FORWARDED = "forwarded"  # every supplier order placed
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"
    NOTHING_TO_SHIP = "nothing_to_ship"  # digital goods, gift cards, tips only


class Order(Base):
    """A Shopify order (unique on shop + Shopify id)."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("shop_domain", "shopify_id", name="uq_orders_shop_shopify_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    shopify_id: Mapped[str] = mapped_column(String(32))  # numeric part of the GID, kept exact
    name: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(255))  # personal data (privacy registry)
    shipping_address: Mapped[dict | None] = mapped_column(JSON)  # personal data
    customer_id: Mapped[str | None] = mapped_column(String(32))
    customer_email: Mapped[str | None] = mapped_column(String(255))  # personal data
    currency: Mapped[str | None] = mapped_column(String(8))
    total_price: Mapped[str | None] = mapped_column(String(32))
    financial_status: Mapped[str | None] = mapped_column(String(32))
    fulfillment_status: Mapped[str | None] = mapped_column(String(32))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    shopify_created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    shopify_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(32), default=OrderState.RECEIVED.value)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id")
    events: Mapped[list[OrderEvent]] = relationship(back_populates="order", cascade="all, delete-orphan", order_by="OrderEvent.id")


class OrderLine(Base):
    """A line item (unique on order + Shopify line id)."""

    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "shopify_line_id", name="uq_order_lines_order_line"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    shopify_line_id: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str | None] = mapped_column(String(255))
    variant_id: Mapped[str | None] = mapped_column(String(32))
    product_id: Mapped[str | None] = mapped_column(String(32))
    vendor: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[int] = mapped_column(Integer)
    price: Mapped[str | None] = mapped_column(String(32))
    requires_shipping: Mapped[bool] = mapped_column(Boolean, default=True)
    gift_card: Mapped[bool] = mapped_column(Boolean, default=False)

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def shippable(self) -> bool:
        """Whether a supplier has to ship this line (not digital, not a gift card, quantity left)."""
        return self.requires_shipping and not self.gift_card and self.quantity > 0


class OrderEvent(Base):
    """One step on the order's timeline, with who acted."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order", "order_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(50))
    actor: Mapped[str] = mapped_column(String(20))  # store | app | supplier | merchant
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="events")


class CustomerNotice(Base):
    """An email to the customer about their order, sent once per dedupe key."""

    __tablename__ = "customer_notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(50))
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
