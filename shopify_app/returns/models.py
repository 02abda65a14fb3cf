"""A Shopify return as we track it (ReturnCase) and its lines, with the supplier RMA and what was restocked."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..models import Base, BigId, UTCDateTime, utcnow


class Decision:
    PENDING = "pending"  # not evaluated yet
    APPROVE = "approve"
    DECLINE = "decline"
    REVIEW = "review"  # the merchant decides (queue)


CODES_ONLY = {"codes_only": True}  # short codes, never personal data: the privacy sweep skips them


class CaseKind:
    RETURN = "return"  # a return or a withdrawal (no reason needed inside the statutory window)
    COMPLAINT = "complaint"  # a claim under the legal guarantee: the merchant answers by a deadline


class ComplaintState:
    OPEN = "open"  # waiting for the merchant's answer
    ACCEPTED = "accepted"  # by the merchant: refund, replacement or repair follows
    REJECTED = "rejected"  # by the merchant, with a reason the customer is told
    ACCEPTED_BY_LAW = "accepted_by_law"  # unanswered by the deadline where silence accepts (Poland)


class RmaState:
    NONE = "none"  # nothing to ask (not approved yet, or no supplier)
    PENDING = "pending"  # to be requested from the supplier
    REQUESTED = "requested"  # asked; the supplier answers later (email)
    APPROVED = "approved"
    REFUSED = "refused"  # alert raised: the merchant takes it up with the supplier
    MANUAL = "manual"  # the supplier has no RMA call (or was deleted): the merchant handles it


class ReturnCase(Base):
    """One Shopify return: our decision, the supplier's authorisation, receipt, restock and outcome."""

    __tablename__ = "return_cases"
    __table_args__ = (
        UniqueConstraint("shop_domain", "return_gid", name="uq_return_cases_shop_return"),
        Index("ix_return_cases_rma_due", "rma_state", "next_attempt_at"),
        Index("ix_return_cases_complaint_due", "complaint_state", "complaint_due_at"),
        Index("ix_return_cases_refund_due", "refund_due_at"),
        Index("ix_return_cases_order", "order_id"),  # an order's returns (0049)
        Index("ix_return_cases_supplier_rma", "supplier_id", "rma_number"),  # a supplier's RMA event finds its return (0050)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    return_gid: Mapped[str] = mapped_column(String(128))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    order_gid: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="requested")  # Shopify's: requested|open|declined|canceled|closed
    decision: Mapped[str] = mapped_column(String(16), default=Decision.PENDING)
    decided_by: Mapped[str | None] = mapped_column(String(16))  # policy | merchant
    decision_note: Mapped[str | None] = mapped_column(Text)
    decline_reason: Mapped[str | None] = mapped_column(String(32))  # RETURN_PERIOD_ENDED | FINAL_SALE | OTHER
    # The policy's decline as [{"code", "params"}] (decline_reasons.py): the customer's email words it in their language.
    decision_reasons: Mapped[list | None] = mapped_column(JSON, info=CODES_ONLY)
    outcome: Mapped[str | None] = mapped_column(String(16))  # refund | exchange | store_credit
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="SET NULL"))
    rma_state: Mapped[str] = mapped_column(String(16), default=RmaState.NONE)
    rma_number: Mapped[str | None] = mapped_column(String(128))
    rma_label_url: Mapped[str | None] = mapped_column(Text)
    rma_address: Mapped[dict | None] = mapped_column(JSON)  # the supplier's return address (not personal)
    rma_note: Mapped[str | None] = mapped_column(Text)
    rma_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # of the returned items, for analytics
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    restocked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refund_gids: Mapped[list] = mapped_column(JSON, default=list)  # refunds already reconciled with this return
    kind: Mapped[str] = mapped_column(String(16), default=CaseKind.RETURN, server_default=CaseKind.RETURN, info=CODES_ONLY)
    country_code: Mapped[str | None] = mapped_column(String(2), info=CODES_ONLY)  # the order's shipping country (not personal on its own)
    legal_profile: Mapped[str | None] = mapped_column(String(8), info=CODES_ONLY)  # legal_profiles key the case was decided under
    refund_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # statutory refund deadline (withdrawal + N days)
    complaint_state: Mapped[str | None] = mapped_column(String(16), info=CODES_ONLY)  # ComplaintState, complaints only
    complaint_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # the answer deadline (None: the law sets none)
    complaint_answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    complaint_remedy: Mapped[str | None] = mapped_column(String(16), info=CODES_ONLY)  # refund | replace | repair, when accepted
    complaint_answer: Mapped[str | None] = mapped_column(Text)  # the merchant's words to the customer
    remedy_done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # the replacement or repair marked done by the merchant
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    lines: Mapped[list[ReturnLine]] = relationship(back_populates="case", cascade="all, delete-orphan", order_by="ReturnLine.id")


class ReturnLine(Base):
    """A returned order line: why, how many, the policy's verdict, and how many came back and were restocked."""

    __tablename__ = "return_lines"
    __table_args__ = (UniqueConstraint("return_case_id", "return_line_item_gid", name="uq_return_lines_case_item"),
                      Index("ix_return_lines_order_line", "order_line_id"))  # a line's returns (0049)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_case_id: Mapped[int] = mapped_column(ForeignKey("return_cases.id", ondelete="CASCADE"))
    return_line_item_gid: Mapped[str] = mapped_column(String(128))
    line_item_gid: Mapped[str | None] = mapped_column(String(128))
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id", ondelete="SET NULL"))
    rfo_line_item_gid: Mapped[str | None] = mapped_column(String(128))  # the reverse fulfillment order line
    sku: Mapped[str | None] = mapped_column(String(255))
    product_gid: Mapped[str | None] = mapped_column(String(128))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id", ondelete="SET NULL"))
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32), default="UNKNOWN")  # Shopify's ReturnReason
    reason_note: Mapped[str | None] = mapped_column(Text)
    customer_note: Mapped[str | None] = mapped_column(Text)  # personal data (privacy registry)
    verdict: Mapped[str] = mapped_column(String(16), default=Decision.PENDING)
    verdict_note: Mapped[str | None] = mapped_column(Text)
    # Returned past the supplier's window (or it takes no returns): the store keeps the item, no RMA, no supplier restock.
    supplier_window_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    received_quantity: Mapped[int] = mapped_column(Integer, default=0)
    restocked_quantity: Mapped[int] = mapped_column(Integer, default=0)
    not_restocked_quantity: Mapped[int] = mapped_column(Integer, default=0)
    refund_restocked_quantity: Mapped[int] = mapped_column(Integer, default=0)  # Shopify restocked it in a refund

    case: Mapped[ReturnCase] = relationship(back_populates="lines")
