"""Alert notifications: one row per alert, channel and occurrence, and how often each alert was reopened."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class Channel(str, enum.Enum):
    EMAIL = "email"
    SLACK = "slack"


class NotificationStatus(str, enum.Enum):
    PENDING = "pending"  # waiting for (another) attempt
    SENT = "sent"
    FAILED = "failed"  # refused for good, or too many attempts
    SKIPPED = "skipped"  # the alert was resolved (or its channel removed) before it went out


class AlertNotification(Base):
    """One alert's occurrence told on one channel: created once (the unique key), sent once, retried with backoff."""

    __tablename__ = "alert_notifications"
    __table_args__ = (
        # Two workers planning at once both try to insert: the loser gets IntegrityError.
        UniqueConstraint("alert_id", "channel", "occurrence", name="uq_alert_notifications_alert_channel_occurrence"),
        Index("ix_alert_notifications_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    # The alert's reopen count when this was planned (see AlertReopenCount): a reopened
    # alert is a new occurrence and is told again; another sighting of an open one is not.
    occurrence: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=NotificationStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)  # an error class or status code only: never the URL or the message
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertReopenCount(Base):
    """How many times an alert came back after being resolved (counted by alerts.raise_alert when it reopens one)."""

    __tablename__ = "alert_reopens"

    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    reopens: Mapped[int] = mapped_column(Integer, default=0)
