"""Orders as we hold them: the order, its lines, and its timeline of events."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sqlalchemy.types import TypeDecorator

from ..models import Base, BigId, UTCDateTime, utcnow


class Amount(TypeDecorator):
    """A money amount as exact decimal text (never a float: SQLite has no decimal type).

    Its own type, not a plain String, so that privacy sweeps (which search every text column
    for a customer's data) skip it: an amount is checked to be a decimal and can hold nothing personal.
    """

    impl = String(32)
    cache_ok = True


class OrderState(str, enum.Enum):
    RECEIVED = "received"  # synced, not yet routed (unpaid orders wait here)
    ROUTED = "routed"  # every shippable line has a supplier order
    HELD = "held"  # some line could not be routed: an alert is open
    FORWARDED = "forwarded"  # every supplier order placed
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"
    NOTHING_TO_SHIP = "nothing_to_ship"  # digital goods, gift cards, tips only
    FULFILLED_BEFORE_INSTALL = "fulfilled_before_install"  # imported by a backfill, already fulfilled in Shopify: history only
    NOT_OURS = "not_ours"  # Shopify assigned its fulfillment orders to locations the app does not manage


class Order(Base):
    """A Shopify order (unique on shop + Shopify id)."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("shop_domain", "shopify_id", name="uq_orders_shop_shopify_id"),
                      Index("ix_orders_created_at", "created_at"))  # the customer-notice job reads recent orders

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    shopify_id: Mapped[str] = mapped_column(String(32))  # numeric part of the GID, kept exact
    name: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(255))  # personal data (privacy registry)
    shipping_address: Mapped[dict | None] = mapped_column(JSON)  # personal data
    customer_id: Mapped[str | None] = mapped_column(String(32))
    customer_email: Mapped[str | None] = mapped_column(String(255))  # personal data
    # Money is exact decimal text. Plain amounts are in the shop's currency (`currency`, REST's
    # shop_money); the *_presentment ones in the customer's (`presentment_currency`).
    currency: Mapped[str | None] = mapped_column(String(8))
    presentment_currency: Mapped[str | None] = mapped_column(String(8))
    total_price: Mapped[str | None] = mapped_column(String(32))
    subtotal_price: Mapped[str | None] = mapped_column(Amount)  # after discounts; before shipping, taxes, tips
    total_discounts: Mapped[str | None] = mapped_column(Amount)  # line and order discounts
    total_shipping: Mapped[str | None] = mapped_column(Amount)  # shipping charged, after shipping discounts
    total_tax: Mapped[str | None] = mapped_column(Amount)
    total_tip: Mapped[str | None] = mapped_column(Amount)
    taxes_included: Mapped[bool | None] = mapped_column(Boolean)  # prices include tax (EU-style shops)
    total_price_presentment: Mapped[str | None] = mapped_column(Amount)
    subtotal_price_presentment: Mapped[str | None] = mapped_column(Amount)
    total_discounts_presentment: Mapped[str | None] = mapped_column(Amount)
    total_shipping_presentment: Mapped[str | None] = mapped_column(Amount)
    total_tax_presentment: Mapped[str | None] = mapped_column(Amount)
    total_tip_presentment: Mapped[str | None] = mapped_column(Amount)
    # What discounted the order: [{"type", "code" or "title", "value", "value_type", "target_type", "allocation_method"}].
    discount_applications: Mapped[list | None] = mapped_column(JSON)
    financial_status: Mapped[str | None] = mapped_column(String(32))
    fulfillment_status: Mapped[str | None] = mapped_column(String(32))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    shopify_created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    shopify_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(32), default=OrderState.RECEIVED.value)
    customer_locale: Mapped[str | None] = mapped_column(String(16))  # the checkout's language ('pl', 'he-IL'): customer notices
    # Digests of the last snapshot applied (orders/sync.py snapshot_digests): what routing and changes
    # read (lines, address, financial and cancel state), and the rest. A repeated snapshot is then a no-op.
    routing_digest: Mapped[str | None] = mapped_column(String(32))
    details_digest: Mapped[str | None] = mapped_column(String(32))
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
    quantity: Mapped[int] = mapped_column(Integer)  # current: after edits and refund-cancels
    original_quantity: Mapped[int | None] = mapped_column(Integer)  # as ordered (what discount and tax were allocated over)
    price: Mapped[str | None] = mapped_column(String(32))  # unit price before discounts, shop currency
    discount: Mapped[str | None] = mapped_column(Amount)  # the line's discount allocations (line and order discounts), all units
    tax: Mapped[str | None] = mapped_column(Amount)  # the line's tax lines, all units
    price_presentment: Mapped[str | None] = mapped_column(Amount)
    discount_presentment: Mapped[str | None] = mapped_column(Amount)
    tax_presentment: Mapped[str | None] = mapped_column(Amount)
    is_tip: Mapped[bool] = mapped_column(Boolean, default=False)  # a tip is a line item in Shopify: never revenue
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
    # The satisfaction KPI reads a shop's sent review requests by time: through the orders it
    # walked the shop's whole order index (1M entries for a big shop) even when there were none.
    # The sending job (every 5 minutes, every shop) reads the pending rows and gives back stale claims:
    # partial indexes hold only those rows, not the history of sent notices (0051).
    __table_args__ = (Index("ix_customer_notices_shop_kind_sent", "shop_domain", "kind", "status", "sent_at"),
                      Index("ix_customer_notices_pending", "id", postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
                      Index("ix_customer_notices_sending", "sent_at", postgresql_where=text("status = 'sending'"), sqlite_where=text("status = 'sending'")))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    # The order's shop (it never changes): callers pass it; a row without it takes it from the order.
    shop_domain: Mapped[str] = mapped_column(String(255), default=lambda context: _order_shop(context))
    kind: Mapped[str] = mapped_column(String(50))
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


def _order_shop(context) -> str:
    """The shop of the notice's order, read on the inserting connection (a safety net for a caller that did not pass it)."""
    from sqlalchemy import select

    order_id = context.get_current_parameters()["order_id"]
    return context.connection.execute(select(Order.shop_domain).where(Order.id == order_id)).scalar_one()


class InstallBackfill(Base):
    """The recent orders a shop's install brings in (one per shop; re-armed on reinstall), worked by the backfill job."""

    __tablename__ = "install_backfills"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | running | done | failed
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # orders created at or after this
    window_days: Mapped[int] = mapped_column(Integer)
    method: Mapped[str | None] = mapped_column(String(16))  # paged | bulk
    total: Mapped[int | None] = mapped_column(Integer)
    seen: Mapped[int] = mapped_column(Integer, default=0)
    applied: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
