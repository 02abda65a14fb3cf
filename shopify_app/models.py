"""Typed SQLAlchemy 2 models: shops, their tokens, install states, the webhook inbox, exports."""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    """Timezone-aware now in UTC."""
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    """Declarative base with a naming convention so Alembic names constraints stably."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Store aware datetimes; return them aware in UTC on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use utcnow()")
        return value.astimezone(dt.timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


class ShopStatus(str, enum.Enum):
    INSTALLED = "installed"
    UNINSTALLED = "uninstalled"


class Shop(Base):
    """A merchant's store that installed the app."""

    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=ShopStatus.INSTALLED.value)
    installed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    uninstalled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    scopes: Mapped[str | None] = mapped_column(Text)
    # The shop's profile from Shopify's `shop` query (shop_profile.py): the admin shows money in
    # the shop's currency and times in its time zone. Null until first read.
    name: Mapped[str | None] = mapped_column(String(255))
    currency_code: Mapped[str | None] = mapped_column(String(3))
    iana_timezone: Mapped[str | None] = mapped_column(String(64))
    primary_domain: Mapped[str | None] = mapped_column(String(255))
    profile_refreshed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Customer notices (issue 17 part N): the language when the order has none, and where replies go.
    primary_locale: Mapped[str | None] = mapped_column(String(16))
    contact_email: Mapped[str | None] = mapped_column(String(255))

    token: Mapped[ShopToken | None] = relationship(back_populates="shop", cascade="all, delete-orphan", uselist=False)


class ShopToken(Base):
    """The shop's offline access token and refresh token, encrypted at rest."""

    __tablename__ = "shop_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), unique=True)
    access_token_enc: Mapped[bytes] = mapped_column(LargeBinary)
    refresh_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refresh_token_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    scope: Mapped[str | None] = mapped_column(Text)
    # Bumped on every store; readers waiting on a refresh watch it change.
    generation: Mapped[int] = mapped_column(Integer, default=1)
    # Refresh lease: the worker that set it (until it expires) is the only one refreshing.
    refresh_lease_owner: Mapped[str | None] = mapped_column(String(64))
    refresh_lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    shop: Mapped[Shop] = relationship(back_populates="token")


class OAuthState(Base):
    """A one-time state nonce for the authorization-code install flow."""

    __tablename__ = "oauth_states"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class InboxStatus(str, enum.Enum):
    PENDING = "pending"  # waiting for (another) attempt
    DONE = "done"  # handled
    IGNORED = "ignored"  # no handler for the topic, recorded and left alone
    DUPLICATE = "duplicate"  # another delivery of an event already in the inbox
    DEAD = "dead"  # gave up: poison input or too many failures; retryable by hand
    WAITING = "waiting"  # for a shop whose install has not completed: processed when it does


_LEASED_HELD = "status = 'pending' AND hold_key IS NOT NULL AND lease_until IS NOT NULL"


class WebhookDelivery(Base):
    """One webhook delivery as received (raw body), the queue the inbox worker drains."""

    __tablename__ = "webhook_inbox"
    __table_args__ = (
        # Only the first delivery of an event carries event_key; duplicates keep NULL,
        # so this unique index is what decides "first" without a check-then-insert.
        UniqueConstraint("shop_domain", "event_key", name="uq_webhook_inbox_shop_event"),
        Index("ix_webhook_inbox_due", "status", "next_attempt_at"),
        # The lanes' look (pending rows in id order, webhooks/worker.py): without it both databases walked
        # the primary key past every finished row kept for retention (30 days), 12 ms a look at 100,000.
        Index("ix_webhook_inbox_pending", "id", postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_webhook_inbox_shop", "shop_domain", "topic"),
        # The orders held by a worker process (jobs/order_holds.py): leased rows only, so it stays small (a row keeps
        # its order key once its lease is cleared: with a backlog, an index of the keyed pending rows held them all).
        Index("ix_webhook_inbox_leased_held", "shop_domain", "hold_key", postgresql_where=text(_LEASED_HELD), sqlite_where=text(_LEASED_HELD)),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(255), unique=True)
    event_id: Mapped[str | None] = mapped_column(String(255))
    event_key: Mapped[str | None] = mapped_column(String(255))
    shop_domain: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(100))
    api_version: Mapped[str | None] = mapped_column(String(20))
    triggered_at: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    body: Mapped[str] = mapped_column(Text)
    # Further deliveries with this same webhook id (Shopify retries) only bump this.
    delivery_count: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default=InboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    duplicate_of_id: Mapped[int | None] = mapped_column(BigId)
    hold_key: Mapped[str | None] = mapped_column(String(100))  # the order it is about, written by a scaled-out worker's claim


class ComplianceExport(Base):
    """What we hold on one customer, assembled for a customers/data_request."""

    __tablename__ = "compliance_exports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(64))
    data_request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    export: Mapped[dict] = mapped_column(JSON)


class ComplianceLog(Base):
    """Audit trail of privacy actions, with counts only (never the personal data)."""

    __tablename__ = "compliance_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ShopSetting(Base):
    """One named group of a shop's settings (e.g. "return_policy"), as JSON validated by its owner module."""

    __tablename__ = "shop_settings"
    __table_args__ = (UniqueConstraint("shop_domain", "key", name="uq_shop_settings_shop_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
