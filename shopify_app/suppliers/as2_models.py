"""AS2 for EDI partners in the database: each shop's key pair, each partner's inbound endpoint token, every AS2 message both ways."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class As2Identity(Base):
    """A shop's AS2 key pair: the private key encrypted at rest (the app's SecretBox), the self-signed certificate partners get."""

    __tablename__ = "as2_identities"
    __table_args__ = (UniqueConstraint("shop_domain", name="uq_as2_identities_shop"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    certificate_pem: Mapped[str] = mapped_column(Text)
    private_key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The pair before the last roll: still decrypts what partners encrypt to its certificate until it expires.
    previous_certificate_pem: Mapped[str | None] = mapped_column(Text)
    previous_private_key_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_not_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When the newest pair starts signing (the switch date agreed with partners): until then the previous pair
    # signs our messages and MDNs, both decrypt. NULL: it signs already.
    sign_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class As2Endpoint(Base):
    """The unguessable token in a partner's inbound URL (/as2/<token>): it names the shop and the supplier."""

    __tablename__ = "as2_endpoints"
    __table_args__ = (UniqueConstraint("supplier_id", name="uq_as2_endpoints_supplier"), UniqueConstraint("token", name="uq_as2_endpoints_token"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class As2Message(Base):
    """One AS2 message: ours (recorded before it is sent; resent under the same Message-ID) or the partner's (its verified payload, in a folder until the EDI poll files it)."""

    __tablename__ = "as2_messages"
    __table_args__ = (
        UniqueConstraint("supplier_id", "direction", "message_id", name="uq_as2_messages_supplier_direction_message"),
        Index("ix_as2_messages_supplier_folder", "supplier_id", "direction", "folder"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))  # "out" ours, "in" the partner's
    message_id: Mapped[str] = mapped_column(String(255))
    folder: Mapped[str] = mapped_column(String(200))
    file_name: Mapped[str] = mapped_column(String(200))
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)  # inbound X12 (outbound bytes live in edi_documents)
    status: Mapped[str] = mapped_column(String(20))  # out: sending, delivered, awaiting_mdn, failed; in: received
    mic: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
