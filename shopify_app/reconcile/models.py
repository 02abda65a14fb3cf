"""Desyncs found by reconciliation, and a report per run."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class Desync(Base):
    """One disagreement (kind + what it is about), seen once or many times, repaired or open with an alert."""

    __tablename__ = "desyncs"
    __table_args__ = (
        UniqueConstraint("shop_domain", "kind", "ref", name="uq_desyncs_shop_kind_ref"),
        Index("ix_desyncs_open", "shop_domain", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(50))
    ref: Mapped[str] = mapped_column(String(255))  # order id, delivery id, SKU@location...
    subject: Mapped[str | None] = mapped_column(String(255))  # what the merchant recognises (order name, SKU)
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | repaired | resolved
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    repair_note: Mapped[str | None] = mapped_column(Text)
    times_seen: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ReconcileRun(Base):
    """What one reconciliation pass over a shop did: checked, found, repaired, still open."""

    __tablename__ = "reconcile_runs"
    __table_args__ = (Index("ix_reconcile_runs_shop", "shop_domain", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    report: Mapped[dict] = mapped_column(JSON, default=dict)  # per check: checked, found, repaired, open, error
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
