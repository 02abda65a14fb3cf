"""What customer notices need beyond the outbox: per-shop notice settings, unsubscribes, satisfaction answers."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class NoticeSettings(Base):
    """A shop's choices for customer notices: steps on, follow-up delay, review link, its own verified sender."""

    __tablename__ = "notice_settings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), unique=True)
    steps: Mapped[dict] = mapped_column(JSON, default=dict)  # step -> on/off; missing steps take DEFAULT_STEPS
    follow_up_days: Mapped[int] = mapped_column(Integer, default=7)
    review_url: Mapped[str | None] = mapped_column(Text)
    sender_name: Mapped[str | None] = mapped_column(String(255))
    sender_address: Mapped[str | None] = mapped_column(String(255))
    sender_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # None until the link sent to the address is opened
    verification_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    verification_pending: Mapped[bool] = mapped_column(Boolean, default=False)  # a confirmation email is waiting to go out
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class NoticeUnsubscribe(Base):
    """A customer who asked for no more follow-ups or review requests from a shop (by a keyed digest of the email, not the email)."""

    __tablename__ = "notice_unsubscribes"
    __table_args__ = (UniqueConstraint("shop_domain", "email_digest", name="uq_notice_unsubscribes_shop_email"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    email_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SatisfactionAnswer(Base):
    """The customer's one-click answer to the follow-up, per order and supplier, and whether they opened the review link."""

    __tablename__ = "satisfaction_answers"
    __table_args__ = (
        UniqueConstraint("order_id", "supplier_id", name="uq_satisfaction_answers_order_supplier"),
        Index("ix_satisfaction_answers_shop_answered", "shop_domain", "answered_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="SET NULL"))
    answer: Mapped[str] = mapped_column(String(8))  # good | bad
    answered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    changes: Mapped[int] = mapped_column(Integer, default=0)  # a later click replaced the answer this many times
    review_clicked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
