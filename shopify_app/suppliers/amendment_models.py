"""Amendments: one row per change passed on to a supplier order that was already sent."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..models import Base, BigId, UTCDateTime, utcnow
from .models import SupplierOrder


class AmendmentState(str, enum.Enum):
    PENDING = "pending"  # waiting for the delivery to be placed, or for the next attempt
    UPDATING = "updating"  # an update may have reached the supplier: applying it again is safe (desired state)
    REPLACING = "replacing"  # the old supplier order is being cancelled; then placed again under a new key
    APPLIED = "applied"  # the supplier has the change (updated, or cancelled and placed again)
    REFUSED = "refused"  # too late: an alert names what the supplier still has
    SUPERSEDED = "superseded"  # the delivery was cancelled, shipped or failed before the change went out


OPEN_AMENDMENT_STATES = (AmendmentState.PENDING.value, AmendmentState.UPDATING.value, AmendmentState.REPLACING.value)


class SupplierOrderAmendment(Base):
    """A change of a sent supplier order (lines, quantities, address), numbered per delivery.

    The row says *that* the delivery must be brought up to date; *what* it must become is
    read when it is worked (the delivery's line quantities and the order's address), so
    changes arriving while one is pending fold into it.
    """

    __tablename__ = "supplier_order_amendments"
    __table_args__ = (
        UniqueConstraint("supplier_order_id", "number", name="uq_supplier_order_amendments_delivery_number"),
        Index("ix_supplier_order_amendments_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    supplier_order_id: Mapped[int] = mapped_column(ForeignKey("supplier_orders.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per delivery: part of the replacement's key
    state: Mapped[str] = mapped_column(String(16), default=AmendmentState.PENDING.value)
    method: Mapped[str | None] = mapped_column(String(16))  # update | replace | alert
    changes: Mapped[list] = mapped_column(JSON, default=list)  # what changed, in words (no personal data)
    address_digest: Mapped[str | None] = mapped_column(String(64))  # the address this change asks for (a digest)
    replaced_supplier_order_id: Mapped[str | None] = mapped_column(String(128))  # the cancelled order, when replaced
    replaced_idempotency_key: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    delivery: Mapped[SupplierOrder] = relationship()
