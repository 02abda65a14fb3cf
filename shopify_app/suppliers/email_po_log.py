"""The email-PO sent log in the database: one row per (supplier, PO number), scoped to the shop.

Implements integrations.suppliers.email_po.sent_log.SentLog so the log is shared by every
process and host, lives with the rest of the shop's data (shop erasure reaches it by
shop_domain) and never touches a path a tenant chose. Changes are optimistic: a row is
rewritten only if its version is still the one read, so two workers importing tracking at
once never lose each other's parcels.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from integrations.suppliers.email_po.messages import po_digest
from integrations.suppliers.email_po.sent_log import SentPurchaseOrder
from integrations.suppliers.runtime import SupplierRef

from ..models import Base, BigId, UTCDateTime, utcnow

MAX_UPDATE_TRIES = 20


class EmailPoSentRecord(Base):
    """One purchase order an email supplier's SMTP server took (PO numbers, SKUs, quantities, shipments)."""

    __tablename__ = "email_po_sent_log"
    __table_args__ = (UniqueConstraint("supplier_id", "po_number", name="uq_email_po_sent_log_supplier_po"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    po_number: Mapped[str] = mapped_column(String(100))
    record: Mapped[dict] = mapped_column(JSON)
    # The PO's part of every Message-ID we send about it (messages.po_digest): a reply's
    # In-Reply-To/References find the PO with it.
    po_digest: Mapped[str | None] = mapped_column(String(24), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DatabaseSentLog:
    """A SentLog over the email_po_sent_log table, for one shop's supplier."""

    def __init__(self, session_factory: sessionmaker, owner: SupplierRef):
        self._sessions = session_factory
        self._owner = owner

    def _where(self, po_number: str):
        return (EmailPoSentRecord.supplier_id == self._owner.supplier_id, EmailPoSentRecord.shop_domain == self._owner.shop_domain, EmailPoSentRecord.po_number == po_number)

    def get(self, po_number: str) -> SentPurchaseOrder | None:
        """The PO with this number, if it was sent."""
        with self._sessions() as session:
            data = session.scalar(select(EmailPoSentRecord.record).where(*self._where(po_number)))
        return SentPurchaseOrder.from_json(data) if data is not None else None

    def po_for_digests(self, digests: list[str]) -> str | None:
        """The PO number one of these Message-ID digests belongs to (None: none of ours)."""
        if not digests:
            return None
        with self._sessions() as session:
            return session.scalar(select(EmailPoSentRecord.po_number).where(
                EmailPoSentRecord.supplier_id == self._owner.supplier_id, EmailPoSentRecord.shop_domain == self._owner.shop_domain,
                EmailPoSentRecord.po_digest.in_(digests[:50])).limit(1))

    def add(self, record: SentPurchaseOrder) -> SentPurchaseOrder:
        """Record a sent PO; if one with this number exists already, keep and return that one."""
        try:
            with self._sessions.begin() as session:
                session.add(EmailPoSentRecord(shop_domain=self._owner.shop_domain, supplier_id=self._owner.supplier_id, po_number=record.po_number,
                                               record=record.to_json(), po_digest=po_digest(record.po_number)))
            return record
        except IntegrityError:  # logged already (or concurrently): the first record stands
            existing = self.get(record.po_number)
            if existing is None:
                raise
            return existing

    def update(self, po_number: str, change: Callable[[SentPurchaseOrder], SentPurchaseOrder]) -> SentPurchaseOrder:
        """Apply `change` to the stored PO atomically and return the result (KeyError when unknown)."""
        for _ in range(MAX_UPDATE_TRIES):
            with self._sessions() as session:
                row = session.execute(select(EmailPoSentRecord.record, EmailPoSentRecord.version).where(*self._where(po_number))).first()
            if row is None:
                raise KeyError(po_number)
            updated = change(SentPurchaseOrder.from_json(row.record))
            with self._sessions.begin() as session:
                won = session.execute(
                    update(EmailPoSentRecord).where(*self._where(po_number), EmailPoSentRecord.version == row.version)
                    .values(record=updated.to_json(), version=row.version + 1, updated_at=utcnow())
                    .execution_options(synchronize_session=False)
                ).rowcount
            if won:
                return updated
        raise RuntimeError(f"the sent log of PO {po_number} kept changing under us")


def sent_log_factory(session_factory: sessionmaker) -> Callable[[SupplierRef], DatabaseSentLog]:
    """runtime.sent_log_for: each supplier's log in this database."""
    return lambda owner: DatabaseSentLog(session_factory, owner)
