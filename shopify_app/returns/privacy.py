"""Returns hold customer notes (personal data): a readable export, and the notes cleared on redaction."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..orders.privacy import customer_orders
from ..privacy import CustomerDataSource, CustomerRef, customer_data_source
from .models import ReturnCase, ReturnLine


def _lines_of(session: Session, ref: CustomerRef) -> list[ReturnLine]:
    order_ids = [order.id for order in customer_orders(session, ref)]
    if not order_ids:
        return []
    return list(session.scalars(select(ReturnLine).join(ReturnCase).where(ReturnCase.shop_domain == ref.shop_domain, ReturnCase.order_id.in_(order_ids))))


def _export(session: Session, ref: CustomerRef) -> list[dict]:
    return [{"return": line.case.name or line.case.return_gid, "sku": line.sku, "quantity": line.quantity, "reason": line.reason,
             "reason_note": line.reason_note, "customer_note": line.customer_note, "status": line.case.status} for line in _lines_of(session, ref)]


def _redact(session: Session, ref: CustomerRef) -> int:
    lines = _lines_of(session, ref)
    for line in lines:
        line.customer_note = line.reason_note = None
    return len(lines)


customer_data_source(CustomerDataSource("returns", _export, _redact))
