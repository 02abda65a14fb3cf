"""Email suppliers' way back in: per-supplier mailboxes, the messages taken from them, tracking import reports."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class EmailMailbox(Base):
    """The IMAP mailbox a supplier's replies arrive in (one per supplier); the password is encrypted."""

    __tablename__ = "email_mailboxes"
    __table_args__ = (UniqueConstraint("supplier_id", name="uq_email_mailboxes_supplier"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    security: Mapped[str] = mapped_column(String(16))  # ssl | starttls | none (none: operator-allowed hosts only)
    username: Mapped[str] = mapped_column(String(255))
    password_enc: Mapped[bytes] = mapped_column(LargeBinary)
    folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    processed_folder: Mapped[str | None] = mapped_column(String(255))  # None: processed messages are only marked \Seen
    poll_minutes: Mapped[int] = mapped_column(Integer, default=5)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Where the last poll stopped: UIDs are only comparable under the same UIDVALIDITY.
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int | None] = mapped_column(BigInteger)
    next_poll_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_polled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TrackingImportRun(Base):
    """One tracking import (a reply email or an uploaded file), reported row by row."""

    __tablename__ = "tracking_imports"
    __table_args__ = (Index("ix_tracking_imports_supplier", "supplier_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))  # email | upload
    reference: Mapped[str | None] = mapped_column(String(255))  # file name, or the reply's Message-ID
    applied: Mapped[int] = mapped_column(Integer, default=0)
    duplicate: Mapped[int] = mapped_column(Integer, default=0)
    unknown_po: Mapped[int] = mapped_column(Integer, default=0)
    unreadable: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)  # about the whole import (e.g. no tracking found)
    rows: Mapped[list] = mapped_column(JSON, default=list)  # [{source, row, po_number, carrier, tracking_number, outcome, message}]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailProcessedMessage(Base):
    """A message taken from a mailbox, by UIDVALIDITY + UID: recorded so it is never applied twice."""

    __tablename__ = "email_processed_messages"
    __table_args__ = (UniqueConstraint("mailbox_id", "uidvalidity", "uid", name="uq_email_processed_messages_uid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("email_mailboxes.id", ondelete="CASCADE"))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(255))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("tracking_imports.id", ondelete="SET NULL"))
    processed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
