"""Cases hold what customers wrote and their photos (personal data): a readable export, and texts and photos erased on redaction."""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..orders.privacy import customer_orders
from ..privacy import CustomerDataSource, CustomerRef, customer_data_source
from .models import Case, CaseMessage, CasePhoto

REDACTED_TEXT = "[redacted]"


def _messages_of(session: Session, ref: CustomerRef) -> list[CaseMessage]:
    order_ids = [order.id for order in customer_orders(session, ref)]
    if not order_ids:
        return []
    return list(session.scalars(select(CaseMessage).join(Case).where(Case.shop_domain == ref.shop_domain, Case.order_id.in_(order_ids)).order_by(CaseMessage.id)))


def _export(session: Session, ref: CustomerRef) -> list[dict]:
    return [{"case": m.case_id, "kind": m.case.kind, "author": m.author, "text": m.body, "photos": len(m.photos), "at": m.created_at.isoformat()}
            for m in _messages_of(session, ref)]


def _redact(session: Session, ref: CustomerRef) -> int:
    messages = _messages_of(session, ref)
    for message in messages:
        message.body = REDACTED_TEXT
    if messages:
        session.execute(delete(CasePhoto).where(CasePhoto.message_id.in_([m.id for m in messages])))
    return len(messages)


# redact_customer pins the request to the customer's orders first: this source finds them whatever ran before it.
customer_data_source(CustomerDataSource("cases", _export, _redact))
