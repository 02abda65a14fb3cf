"""File suppliers' way back in: the ledger of files seen and processed, and each supplier's poll state."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class FileStatus:
    """What became of a file."""

    WAITING = "waiting"  # seen once; read when a second look finds the same size and time
    APPLIED = "applied"  # its rows were applied (some may have been refused: see the counts)
    REFUSED = "refused"  # the whole file was refused (header, format); nothing applied
    DUPLICATE = "duplicate"  # same content as a file processed before: not applied again
    HELD = "held"  # a stock file the inventory guard held for the merchant's confirmation


class FileChannelFile(Base):
    """One file a file supplier dropped: first seen, then processed exactly once.

    `applied_checksum` is set (to the SHA-256) only on the row that processed a content, and
    is unique per supplier and kind: two pollers, a crash after applying, the same file under
    another name: the content is applied once, everything else is a duplicate. Stock files are
    full snapshots: only the last processed one keeps its `applied_checksum`, so an earlier
    content coming back (0 -> 5 -> 0) is applied again.
    """

    __tablename__ = "file_channel_files"
    __table_args__ = (
        UniqueConstraint("shop_domain", "supplier_id", "kind", "applied_checksum", name="uq_file_channel_files_content"),
        Index("ix_file_channel_files_supplier_status", "supplier_id", "kind", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # acknowledgements | tracking | stock
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    modified: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default=FileStatus.WAITING)
    checksum: Mapped[str | None] = mapped_column(String(64))
    applied_checksum: Mapped[str | None] = mapped_column(String(64))
    rows_applied: Mapped[int] = mapped_column(Integer, default=0)
    rows_refused: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    report: Mapped[list | None] = mapped_column(JSON)  # refused rows [{row, reason}] (the first MAX_REPORTED)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class FileChannelPoll(Base):
    """When a file supplier's folders are read next, and how the last reads went."""

    __tablename__ = "file_channel_polls"
    __table_args__ = (UniqueConstraint("supplier_id", name="uq_file_channel_polls_supplier"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    next_poll_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_polled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
