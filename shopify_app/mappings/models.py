"""What suppliers sell (their catalogs, from files and feeds) and the matches proposed to the merchant."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class SupplierCatalogItem(Base):
    """One product a supplier sells, as its catalog file or stock feed last listed it."""

    __tablename__ = "supplier_catalog_items"
    __table_args__ = (
        UniqueConstraint("supplier_id", "supplier_sku", name="uq_supplier_catalog_items_sku"),
        Index("ix_supplier_catalog_items_barcode", "supplier_id", "barcode"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    supplier_sku: Mapped[str] = mapped_column(String(255))
    barcode: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(255))
    cost: Mapped[str | None] = mapped_column(String(32))
    stock: Mapped[int | None] = mapped_column(Integer)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProposalStatus:
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # kept, so the next auto-match does not propose it again


class MappingProposal(Base):
    """A match found by SKU or barcode, waiting for the merchant to accept or reject it."""

    __tablename__ = "mapping_proposals"
    __table_args__ = (
        UniqueConstraint("shop_domain", "supplier_id", "sku", name="uq_mapping_proposals_sku"),
        Index("ix_mapping_proposals_status", "shop_domain", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    variant_gid: Mapped[str] = mapped_column(String(128))
    sku: Mapped[str] = mapped_column(String(255))
    supplier_sku: Mapped[str] = mapped_column(String(255))
    matched_by: Mapped[str] = mapped_column(String(16))  # sku | barcode
    cost: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=ProposalStatus.PENDING)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
