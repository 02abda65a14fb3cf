"""Customer notices (issue 17 part N) in compliance requests: the notices, follow-up answers and unsubscribe of a customer.

The notices and answers hang by foreign keys from the customer's orders; what they hold that
names someone (a bounce's error text) is erased by the generic sweep. They stay once the order
names nobody (the satisfaction KPI counts them). The unsubscribe is kept under a digest of the
email, which no sweep can find by value: it is exported as a fact and deleted on redaction.
"""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..orders.models import CustomerNotice
from ..orders.privacy import customer_orders
from ..privacy import CustomerDataSource, CustomerRef, customer_data_source
from .customer_models import NoticeUnsubscribe, SatisfactionAnswer
from .notice_links import email_digest


def _digests(session: Session, ref: CustomerRef) -> list[str]:
    emails = {ref.email, *ref.emails} | {e for o in customer_orders(session, ref) for e in (o.email, o.customer_email)}
    return sorted(email_digest(ref.shop_domain, e) for e in emails if e)


def _export(session: Session, ref: CustomerRef) -> list[dict]:
    """One entry per notice, follow-up answer and unsubscribe (a list: the request's log counts the entries)."""
    orders = {o.id: o.name or o.shopify_id for o in customer_orders(session, ref)}
    notices = session.scalars(select(CustomerNotice).where(CustomerNotice.order_id.in_(orders)).order_by(CustomerNotice.id)).all() if orders else []
    answers = session.scalars(select(SatisfactionAnswer).where(SatisfactionAnswer.shop_domain == ref.shop_domain, SatisfactionAnswer.order_id.in_(orders))
                              .order_by(SatisfactionAnswer.id)).all() if orders else []
    digests = _digests(session, ref)
    unsubscribed = session.scalars(select(NoticeUnsubscribe.created_at).where(
        NoticeUnsubscribe.shop_domain == ref.shop_domain, NoticeUnsubscribe.email_digest.in_(digests))).all() if digests else []
    return (
        [{"type": "notice", "order": orders[n.order_id], "kind": n.kind, "status": n.status, "sent_at": n.sent_at.isoformat() if n.sent_at else None} for n in notices]
        + [{"type": "satisfaction", "order": orders[a.order_id], "answer": a.answer, "answered_at": a.answered_at.isoformat(),
            "review_clicked": a.review_clicked_at is not None} for a in answers]
        + [{"type": "unsubscribed", "at": at.isoformat()} for at in unsubscribed]
    )


def _redact(session: Session, ref: CustomerRef) -> int:
    digests = _digests(session, ref)
    if not digests:
        return 0
    return session.execute(delete(NoticeUnsubscribe).where(NoticeUnsubscribe.shop_domain == ref.shop_domain, NoticeUnsubscribe.email_digest.in_(digests))).rowcount


customer_data_source(CustomerDataSource("notices", _export, _redact))
