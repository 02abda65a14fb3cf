"""Suppliers, product mappings, supplier orders (deliveries) and their attempts, alerts."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..models import Base, BigId, UTCDateTime, utcnow


class FulfillmentModel(str, enum.Enum):
    SERVICE = "fulfillment_service"  # the app's fulfillment service location gets requests
    MERCHANT = "merchant_managed"  # the app works the order's fulfillment orders itself


class Supplier(Base):
    """A supplier a shop forwards orders to."""

    __tablename__ = "suppliers"
    __table_args__ = (UniqueConstraint("shop_domain", "name", name="uq_suppliers_shop_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))  # adapter: printful | rest | email
    credentials_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # encrypted JSON
    settings: Mapped[dict] = mapped_column(JSON, default=dict)  # base_url, ship_to_countries, sla_hours...
    # Kept apart from `settings`, which the adapter validates as its own configuration.
    inventory_terms: Mapped[dict] = mapped_column(JSON, default=dict)  # see inventory/terms.py
    return_terms: Mapped[dict] = mapped_column(JSON, default=dict)  # see returns/terms.py
    vendor: Mapped[str | None] = mapped_column(String(255))  # Shopify product vendor it serves (fallback routing)
    priority: Mapped[int] = mapped_column(Integer, default=100)  # lower wins
    fulfillment_model: Mapped[str] = mapped_column(String(32), default=FulfillmentModel.MERCHANT.value)
    location_gid: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProductMapping(Base):
    """Explicit mapping of a Shopify variant (or SKU) to a supplier's SKU, with its cost."""

    __tablename__ = "product_mappings"
    __table_args__ = (
        UniqueConstraint("shop_domain", "sku", "supplier_id", name="uq_product_mappings_sku_supplier"),
        Index("ix_product_mappings_variant", "shop_domain", "variant_id"),
        Index("ix_product_mappings_supplier_sku", "supplier_id", "supplier_sku"),  # a supplier's mappings: feeds, a placement's costs (0049)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    sku: Mapped[str] = mapped_column(String(255))
    variant_id: Mapped[str | None] = mapped_column(String(32))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    supplier_sku: Mapped[str] = mapped_column(String(255))
    cost: Mapped[str | None] = mapped_column(String(32))
    in_stock: Mapped[bool] = mapped_column(Boolean, default=True)
    stock: Mapped[int | None] = mapped_column(Integer)  # the supplier's count; None: in/out only
    # When the supplier's figure was true: orders placed with the supplier after this are
    # not in it yet, so the inventory sync still subtracts them.
    stock_as_of: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    safety_buffer: Mapped[int | None] = mapped_column(Integer)  # overrides the supplier's buffer

    supplier: Mapped[Supplier] = relationship()


class DeliveryState(str, enum.Enum):
    PENDING = "pending"  # waiting for (another) attempt
    ON_HOLD = "on_hold"  # its fulfillment order is on hold in Shopify: postponed until released
    UNKNOWN = "unknown"  # a try may have reached the supplier: ask before sending again
    PLACED = "placed"  # the supplier has it
    CANCEL_REQUESTED = "cancel_requested"  # Shopify cancelled: pass it on
    CANCELLED = "cancelled"
    FAILED = "failed"  # permanent rejection or too many attempts: alert raised
    SHIPPED = "shipped"
    PARTIALLY_SHIPPED = "partially_shipped"


class SupplierOrder(Base):
    """One delivery: our order's lines for one supplier, placed once under an idempotency key."""

    __tablename__ = "supplier_orders"
    __table_args__ = (
        # One delivery per order x supplier, plus one per exchange (its replacement ships on its own).
        UniqueConstraint("order_id", "supplier_id", "exchange_key", name="uq_supplier_orders_order_supplier_exchange"),
        Index("ix_supplier_orders_due", "state", "next_attempt_at"),
        Index("ix_supplier_orders_supplier_order", "supplier_order_id", "supplier_id"),  # a supplier event's delivery (0049)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    # "" for the order's own lines; the return's GID for an exchange's replacement (issue 16 part O).
    exchange_key: Mapped[str] = mapped_column(String(128), default="", server_default="")
    state: Mapped[str] = mapped_column(String(32), default=DeliveryState.PENDING.value)
    supplier_order_id: Mapped[str | None] = mapped_column(String(128))
    supplier_status: Mapped[str | None] = mapped_column(String(32))
    cost: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    placed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Digest of the ship-to address last sent (placed or amended): an address change in
    # Shopify is compared against it (a digest, so no second copy of personal data).
    sent_address_digest: Mapped[str | None] = mapped_column(String(64))
    # Time scheduled to wait before a try, by cause: its own retries (backoff, Retry-After)
    # or the supplier's breaker being open (parked with the supplier's other orders).
    backoff_wait_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    breaker_wait_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    lines: Mapped[list[SupplierOrderLine]] = relationship(back_populates="supplier_order", cascade="all, delete-orphan", order_by="SupplierOrderLine.id")
    supplier: Mapped[Supplier] = relationship()


class SupplierOrderLine(Base):
    """An order line as sent to a supplier (an order line goes to one supplier)."""

    __tablename__ = "supplier_order_lines"
    __table_args__ = (UniqueConstraint("order_line_id", name="uq_supplier_order_lines_order_line"),
                      Index("ix_supplier_order_lines_supplier_order", "supplier_order_id"))  # a delivery's lines (0049)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    supplier_order_id: Mapped[int] = mapped_column(ForeignKey("supplier_orders.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"))
    supplier_sku: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(Integer)  # what the supplier should ship now (0: removed)
    shipped_quantity: Mapped[int] = mapped_column(Integer, default=0)
    sent_quantity: Mapped[int | None] = mapped_column(Integer)  # what the supplier was last sent (None: never)
    # Units of the order line that are not this supplier's (another location, shipped before install): an edit keeps them out.
    other_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    supplier_order: Mapped[SupplierOrder] = relationship(back_populates="lines")


class DeliveryAttempt(Base):
    """One try at a supplier call: what was asked (no personal data), what came back, how long."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    supplier_order_id: Mapped[int] = mapped_column(ForeignKey("supplier_orders.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))  # place | lookup | cancel
    outcome: Mapped[str] = mapped_column(String(32))  # ok | transient | permanent | unknown | not_found
    request: Mapped[dict] = mapped_column(JSON, default=dict)
    response: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BreakerEvent(Base):
    """A supplier's circuit breaker changing state (closed, open, half_open), for the supplier page."""

    __tablename__ = "supplier_breaker_events"
    __table_args__ = (Index("ix_supplier_breaker_events_supplier_at", "supplier_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    old_state: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(255))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    """Something the merchant must see; raised once per dedupe key, counted when seen again."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(50))
    severity: Mapped[str] = mapped_column(String(16))  # info | warning | critical
    subject: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ShipmentState(str, enum.Enum):
    PENDING = "pending"  # known from the supplier, not yet a Shopify fulfillment
    FULFILLED = "fulfilled"  # Shopify has the fulfillment with this tracking
    FAILED = "failed"  # Shopify refused it (alert raised)


class SupplierShipment(Base):
    """A parcel a supplier shipped, and the Shopify fulfillment it became."""

    __tablename__ = "supplier_shipments"
    __table_args__ = (UniqueConstraint("supplier_order_id", "shipment_id", name="uq_supplier_shipments_delivery_shipment"),
                      Index("ix_supplier_shipments_created_at", "created_at"),  # the customer-notice job reads recent parcels
                      Index("ix_supplier_shipments_fulfillment", "shopify_fulfillment_id"),  # a Shopify fulfillment's parcel (notices, KPIs)
                      # the delay job's recent parcels in transit (0051), not every delivered one
                      Index("ix_supplier_shipments_undelivered", "created_at", postgresql_where=text("delivered_at IS NULL"), sqlite_where=text("delivered_at IS NULL")))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    supplier_order_id: Mapped[int] = mapped_column(ForeignKey("supplier_orders.id", ondelete="CASCADE"))
    shipment_id: Mapped[str] = mapped_column(String(128))
    carrier: Mapped[str | None] = mapped_column(String(128))
    tracking_number: Mapped[str | None] = mapped_column(String(255))
    tracking_url: Mapped[str | None] = mapped_column(Text)
    shipped_at: Mapped[str | None] = mapped_column(String(40))
    estimated_delivery: Mapped[str | None] = mapped_column(String(40))
    # The estimated_delivery last told to Shopify as a fulfillment event (eta_events.py): one event per ETA value.
    eta_told: Mapped[str | None] = mapped_column(String(40))
    delivered_at: Mapped[str | None] = mapped_column(String(40))
    lines: Mapped[list] = mapped_column(JSON, default=list)  # [[supplier_order_line_id, quantity], ...]
    state: Mapped[str] = mapped_column(String(16), default=ShipmentState.PENDING.value)
    shopify_fulfillment_id: Mapped[str | None] = mapped_column(String(128))  # the first (or only) one
    shopify_fulfillment_ids: Mapped[list | None] = mapped_column(JSON)  # one per location the parcel spanned
    tracking_synced: Mapped[bool] = mapped_column(Boolean, default=False)  # Shopify has the current tracking
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
