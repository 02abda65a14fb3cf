"""Inventory: Shopify's catalog and levels as we last saw them, what we want them to be, feed and sync runs."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class CatalogVariant(Base):
    """A Shopify variant and its inventory item, mirrored from a bulk export (SKU -> item)."""

    __tablename__ = "catalog_variants"
    __table_args__ = (
        UniqueConstraint("shop_domain", "variant_gid", name="uq_catalog_variants_variant"),
        Index("ix_catalog_variants_sku", "shop_domain", "sku"),
        Index("ix_catalog_variants_item", "shop_domain", "inventory_item_gid"),
        # The mappings table pages by id within a shop, and auto-matching looks variants up by barcode.
        Index("ix_catalog_variants_shop_id", "shop_domain", "id"),
        Index("ix_catalog_variants_barcode", "shop_domain", "barcode"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    variant_gid: Mapped[str] = mapped_column(String(128))
    product_gid: Mapped[str | None] = mapped_column(String(128))
    sku: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(512))  # the variant's displayName: "Tee - S"
    barcode: Mapped[str | None] = mapped_column(String(64))  # GTIN/EAN/UPC, for matching supplier catalogs
    inventory_item_gid: Mapped[str] = mapped_column(String(128))
    tracked: Mapped[bool] = mapped_column(Boolean, default=True)
    inventory_policy: Mapped[str | None] = mapped_column(String(16))  # CONTINUE | DENY
    seen_in: Mapped[str | None] = mapped_column(String(128))  # the export that last listed it
    # updated_at of the products/update and inventory_items/update that last changed the row:
    # an older delivery of either arriving late is ignored.
    product_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    item_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class InventoryLevel(Base):
    """One item at one location: Shopify's `available` as last seen, and what our sync wants it to be."""

    __tablename__ = "inventory_levels"
    __table_args__ = (
        UniqueConstraint("shop_domain", "inventory_item_gid", "location_gid", name="uq_inventory_levels_item_location"),
        Index("ix_inventory_levels_pending", "shop_domain", "location_gid", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    inventory_item_gid: Mapped[str] = mapped_column(String(128))
    location_gid: Mapped[str] = mapped_column(String(128))
    sku: Mapped[str | None] = mapped_column(String(255))
    stocked: Mapped[bool] = mapped_column(Boolean, default=True)  # Shopify stocks the item here
    available: Mapped[int | None] = mapped_column(Integer)  # Shopify's, as last seen
    available_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    desired: Mapped[int | None] = mapped_column(Integer)  # supply - pending, never below 0; None: not ours
    supply: Mapped[int | None] = mapped_column(Integer)  # supplier stock - buffer, behind `desired`
    pushed: Mapped[int | None] = mapped_column(Integer)  # the last value we set
    pushed_supply: Mapped[int | None] = mapped_column(Integer)  # `supply` when we set it
    pushed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failed_quantity: Mapped[int | None] = mapped_column(Integer)  # Shopify refused this value: not retried
    last_error: Mapped[str | None] = mapped_column(Text)


class FeedStatus:
    APPLIED = "applied"
    NEEDS_CONFIRMATION = "needs_confirmation"  # the guard held it: too much would change
    CONFIRMED = "confirmed"  # held, then confirmed by the merchant and applied
    DISCARDED = "discarded"
    FAILED = "failed"  # could not be read at all (supplier down, unreadable file)


class StockFeedRun(Base):
    """One supplier stock feed read: where it came from, what it changed, which rows were refused."""

    __tablename__ = "stock_feed_runs"
    __table_args__ = (Index("ix_stock_feed_runs_supplier", "supplier_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))  # pull | webhook | file | url
    full: Mapped[bool] = mapped_column(Boolean, default=True)  # a whole-catalog snapshot (absent SKUs: 0)
    status: Mapped[str] = mapped_column(String(24))
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_refused: Mapped[int] = mapped_column(Integer, default=0)
    skus_changed: Mapped[int] = mapped_column(Integer, default=0)
    skus_dropped: Mapped[int] = mapped_column(Integer, default=0)  # would go from in stock to none
    errors: Mapped[list] = mapped_column(JSON, default=list)  # [{row, sku, error}], capped
    held_levels: Mapped[list | None] = mapped_column(JSON)  # the parsed levels, kept while held
    message: Mapped[str | None] = mapped_column(Text)
    as_of: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class InventorySyncRun(Base):
    """One push of changed quantities to Shopify for a shop."""

    __tablename__ = "inventory_sync_runs"
    __table_args__ = (Index("ix_inventory_sync_runs_shop", "shop_domain", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed
    levels_planned: Mapped[int] = mapped_column(Integer, default=0)  # desired value changed
    quantities_set: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    stale_retries: Mapped[int] = mapped_column(Integer, default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
