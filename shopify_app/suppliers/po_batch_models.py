"""File suppliers that batch POs on a schedule: the orders waiting for their batch (addresses encrypted) and the batches recorded."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class PoBatchState:
    """Where a batch is."""

    RECORDED = "recorded"  # its orders and file name are fixed; the file may or may not be written yet
    WRITTEN = "written"  # the file is confirmed written; its orders are placed and their waiting rows deleted


class PoBatch(Base):
    """One PO file for the orders of one slot: recorded (with its file name) before the file is written, so a retry rewrites the same file."""

    __tablename__ = "po_batches"
    __table_args__ = (UniqueConstraint("shop_domain", "supplier_id", "batch_key", name="uq_po_batches_key"),
                      Index("ix_po_batches_supplier_state", "supplier_id", "state"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    batch_key: Mapped[str] = mapped_column(String(64))  # <supplier>-<slot, UTC>: the file name and the batch's PO number derive from it
    slot_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    file_name: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default=PoBatchState.RECORDED)
    po_numbers: Mapped[list] = mapped_column(JSON, default=list)  # the orders' own PO numbers (acknowledgements and tracking match these)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    written_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PoBatchWaiting(Base):
    """One supplier order waiting for its batch: the PO as it will be written, encrypted (it holds the ship-to address).

    Deleted once its batch file is written (the sent log keeps no addresses), or when the order
    is cancelled before its slot, and by a customers/redact.
    """

    __tablename__ = "po_batch_waiting"
    __table_args__ = (UniqueConstraint("supplier_id", "po_number", name="uq_po_batch_waiting_po"),
                      Index("ix_po_batch_waiting_due", "slot_at", "shop_domain"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    po_number: Mapped[str] = mapped_column(String(255))  # the supplier order's idempotency key
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    request_enc: Mapped[bytes] = mapped_column(LargeBinary)  # the PlaceOrder as JSON, encrypted with the app's SecretBox
    slot_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the slot it goes out at (the first after it was queued)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("po_batches.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
