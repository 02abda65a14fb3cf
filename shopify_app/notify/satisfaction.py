"""The customer's one-click answers to the follow-up and their clicks on the review link, per order and supplier.

A second click on the follow-up replaces the answer (the latest click is what the customer
meant: a misclick can be corrected from the answer page) and is counted in `changes`. Every
customer who answers, good or bad, gets one review request (never a second): asking only the
happy ones would be review gating (notify/lifecycle_notices.py).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..kpis.stale_days import mark_order_days, mark_review_days
from ..models import utcnow
from ..orders.models import Order
from ..orders.timeline import record_event
from ..suppliers.models import SupplierOrder
from .customer_models import SatisfactionAnswer
from .notice_links import ANSWERS


def record_answer(session: Session, order: Order, answer: str, now: dt.datetime | None = None) -> str | None:
    """Record `answer` (good | bad) for every supplier of the order; returns the previous answer (None when first)."""
    if answer not in ANSWERS:
        raise ValueError(f"answer must be one of {', '.join(ANSWERS)}")
    now = now or utcnow()
    suppliers = sorted(set(session.scalars(select(SupplierOrder.supplier_id).where(SupplierOrder.order_id == order.id)))) or [None]
    existing = {row.supplier_id: row for row in session.scalars(select(SatisfactionAnswer).where(SatisfactionAnswer.order_id == order.id))}
    previous = next(iter(existing.values())).answer if existing else None
    if existing and (previous != answer or set(suppliers) - set(existing)):
        # The order leaves the day(s) it counted on, its review request's day changes (kpis/stale_days.py). A first
        # answer changes no past day: it counts today, and a review request is only sent after an answer.
        mark_order_days(session, order.shop_domain, order.id, answered=[row.answered_at for row in existing.values()])
    for supplier_id in suppliers:
        row = existing.get(supplier_id)
        if row is None:
            session.add(SatisfactionAnswer(shop_domain=order.shop_domain, order_id=order.id, supplier_id=supplier_id, answer=answer, answered_at=now))
        elif row.answer != answer:
            row.answer, row.answered_at, row.changes = answer, now, row.changes + 1
    if previous != answer:
        record_event(session, order, "customer_satisfaction", "customer", answer=answer, previous=previous)
    session.flush()
    return previous


def record_review_click(session: Session, order: Order, now: dt.datetime | None = None) -> bool:
    """Mark the order's answers as having opened the review link (the first click counts); True when this was the first."""
    rows = session.scalars(select(SatisfactionAnswer).where(SatisfactionAnswer.order_id == order.id, SatisfactionAnswer.review_clicked_at.is_(None))).all()
    if rows:
        mark_review_days(session, order.shop_domain, order.id)  # only the review request's day gains a click (kpis/stale_days.py)
    for row in rows:
        row.review_clicked_at = now or utcnow()
    return bool(rows)
