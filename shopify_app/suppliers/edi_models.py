"""EDI X12 partners in the database: control-number counters, documents we wrote, interchanges we read, advised stock."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class EdiControlCounter(Base):
    """The last ISA13, GS06 and ST02 used with one partner (taken in the transaction that records the document)."""

    __tablename__ = "edi_control_counters"
    __table_args__ = (UniqueConstraint("supplier_id", name="uq_edi_control_counters_supplier"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    interchange: Mapped[int] = mapped_column(BigInteger, default=0)
    group: Mapped[int] = mapped_column(BigInteger, default=0)
    transaction_set: Mapped[int] = mapped_column(BigInteger, default=0)


class EdiDocument(Base):
    """An 850 or 997 we wrote: its bytes (rewritten as-is on a retry), control numbers and, for an 850, what came back."""

    __tablename__ = "edi_documents"
    __table_args__ = (UniqueConstraint("supplier_id", "kind", "reference", name="uq_edi_documents_supplier_kind_reference"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    reference: Mapped[str] = mapped_column(String(120))
    file_name: Mapped[str] = mapped_column(String(200))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    interchange_control: Mapped[int] = mapped_column(BigInteger)
    group_control: Mapped[int] = mapped_column(BigInteger, index=True)
    set_control: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged: Mapped[str | None] = mapped_column(String(1))  # AK501 of the partner's 997 (850s)


class EdiInterchange(Base):
    """One inbound file: the interchange (unique per sender and ISA13 when applied) and what came of it."""

    __tablename__ = "edi_interchanges"
    __table_args__ = (UniqueConstraint("supplier_id", "sender_id", "control", name="uq_edi_interchanges_supplier_sender_control"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"), index=True)
    file_name: Mapped[str] = mapped_column(String(200))
    checksum: Mapped[str] = mapped_column(String(64))
    sender_id: Mapped[str | None] = mapped_column(String(40))
    control: Mapped[str | None] = mapped_column(String(9))  # NULL for runs that applied nothing (duplicates, refusals)
    outcome: Mapped[str] = mapped_column(String(20))
    sets_accepted: Mapped[int] = mapped_column(Integer, default=0)
    sets_rejected: Mapped[int] = mapped_column(Integer, default=0)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EdiStockLevel(Base):
    """The last quantity an 846 advised for one SKU."""

    __tablename__ = "edi_stock_levels"
    __table_args__ = (UniqueConstraint("supplier_id", "sku", name="uq_edi_stock_levels_supplier_sku"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(Text)
    available: Mapped[int | None] = mapped_column(BigInteger)
    in_stock: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
