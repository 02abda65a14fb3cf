"""A return's outcome carried out in Shopify (refund, store credit or exchange): one row per return, sent once."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class OutcomeKind:
    REFUND = "refund"  # money back to the original payment
    STORE_CREDIT = "store_credit"  # Shopify store credit for the customer
    EXCHANGE = "exchange"  # the exchange line items processed; the replacement goes to the supplier
    REPLACEMENT = "replacement"  # an accepted complaint's replacement: an order of its own at no charge (replacements.py)


class OutcomeState:
    PENDING = "pending"  # to be sent (again)
    SENT = "sent"  # the call may be under way: a crash here is resolved by asking Shopify
    UNKNOWN = "unknown"  # the call's answer was lost: ask Shopify before trying again
    DONE = "done"
    FAILED = "failed"  # Shopify refused it: alert raised, the merchant acts


class BalanceState:
    AWAITING_PAYMENT = "awaiting_payment"  # the replacement waits for the customer's payment
    PAID = "paid"  # Shopify's order owes nothing any more
    FORWARD_UNPAID = "forward_unpaid"  # the merchant sends the replacement before payment


OPEN_STATES = (OutcomeState.PENDING, OutcomeState.SENT, OutcomeState.UNKNOWN)


class ReturnOutcome(Base):
    """What the customer gets for a return, how it was computed (fees the law allows), and its state in Shopify."""

    __tablename__ = "return_outcomes"
    __table_args__ = (
        UniqueConstraint("return_case_id", name="uq_return_outcomes_case"),
        Index("ix_return_outcomes_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    return_case_id: Mapped[int] = mapped_column(ForeignKey("return_cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # OutcomeKind
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)  # deterministic per return
    state: Mapped[str] = mapped_column(String(16), default=OutcomeState.PENDING)
    currency: Mapped[str | None] = mapped_column(String(3))
    goods_amount: Mapped[str | None] = mapped_column(String(32))  # value of the returned units (decimal string)
    restocking_fee: Mapped[str | None] = mapped_column(String(32))  # kept back: restocking or (IL) cancellation fee
    return_shipping_fee: Mapped[str | None] = mapped_column(String(32))
    amount: Mapped[str | None] = mapped_column(String(32))  # what the customer gets back (the delivery refund included)
    delivery_refund: Mapped[str | None] = mapped_column(String(32))  # delivery cost refunded (a withdrawal from the whole order)
    difference_refunded: Mapped[str | None] = mapped_column(String(32))  # an exchange whose replacement costs less: the difference paid back
    balance_due: Mapped[str | None] = mapped_column(String(32))  # an exchange whose replacement costs more: what the customer owes
    balance_state: Mapped[str | None] = mapped_column(String(16))  # BalanceState, when a balance is due
    invoice_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # Shopify's invoice for the balance (orderInvoiceSend)
    fee_notes: Mapped[list] = mapped_column(JSON, default=list)  # why each fee was or was not kept (no personal data)
    legal_profile: Mapped[str | None] = mapped_column(String(8))
    request: Mapped[dict] = mapped_column(JSON, default=dict)  # the last returnProcess input sent
    refund_gid: Mapped[str | None] = mapped_column(String(128))
    exchange_line_gids: Mapped[list] = mapped_column(JSON, default=list)  # the order LineItems the exchange added
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    requested_by: Mapped[str] = mapped_column(String(16), default="app")  # app | merchant
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    routed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # an exchange's replacement routed to its supplier
