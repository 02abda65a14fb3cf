"""Cases (a customer's report or question, or an out-of-stock line), their messages and photos, and the proxy's rate counters."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..models import Base, BigId, UTCDateTime, utcnow
from ..orders.models import Order


class CaseKind(str, enum.Enum):
    """What a case is about; each kind has a reaction target (cases/clock.py)."""

    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"
    NOT_ARRIVED = "not_arrived"
    LATE = "late"
    QUESTION = "question"
    OUT_OF_STOCK = "out_of_stock"


class CaseStatus(str, enum.Enum):
    OPEN = "open"  # waiting for the merchant
    ANSWERED = "answered"  # the merchant replied; the customer may write again
    CLOSED = "closed"


class Case(Base):
    """One customer matter on an order, with its clock: due_at from the kind's target, first_reply_at when answered."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_shop_status_due", "shop_domain", "status", "due_at"),  # the admin queue
        Index("ix_cases_order", "order_id"),  # the customer's page
        Index("ix_cases_return_case", "return_case_id"),  # the foreign key's check on every return's insert and delete (0050)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN.value)
    source: Mapped[str] = mapped_column(String(16), default="customer")  # customer | app
    owner: Mapped[str | None] = mapped_column(String(255))  # who on the merchant's side handles it
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)  # cases the app opens: once per cause
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    first_reply_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    return_case_id: Mapped[int | None] = mapped_column(ForeignKey("return_cases.id", ondelete="SET NULL"))
    replacement_order: Mapped[str | None] = mapped_column(String(64))  # the replacement's order name or Shopify id

    order: Mapped[Order] = relationship()
    messages: Mapped[list[CaseMessage]] = relationship(back_populates="case", cascade="all, delete-orphan", order_by="CaseMessage.id")


class CaseMessage(Base):
    """A message on a case: the customer's text, or the merchant's reply (personal data: privacy registry)."""

    __tablename__ = "case_messages"
    __table_args__ = (Index("ix_case_messages_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(16))  # customer | merchant | app
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="messages")
    photos: Mapped[list[CasePhoto]] = relationship(cascade="all, delete-orphan", order_by="CasePhoto.id")


class CasePhoto(Base):
    """A photo a customer attached, re-encoded (no metadata) and kept in the database: every process serves it."""

    __tablename__ = "case_photos"
    __table_args__ = (Index("ix_case_photos_message", "message_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("case_messages.id", ondelete="CASCADE"))
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class RateCounter(Base):
    """Attempts per key (an IP, an order) in a fixed window: in the database so the limit holds across processes."""

    __tablename__ = "rate_counters"
    __table_args__ = (UniqueConstraint("key", "window_start", name="uq_rate_counters_key_window"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer, default=0)


# The customer's page finds an order by its number (name) or by the logged-in customer: both per shop.
Index("ix_orders_shop_name", Order.shop_domain, Order.name)
Index("ix_orders_shop_customer", Order.shop_domain, Order.customer_id)
