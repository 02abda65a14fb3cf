"""Closed days whose satisfaction figures changed after they were digested: marked by the writer, read live until the job re-digests them.

An answer counts on the day of the order's latest answer and a review request on the day it was
sent (kpis/satisfaction.py). Two writes change a day that may have closed already: a customer
changing their answer (the order leaves the day of its previous answer) and a customer opening
the review link (the request's day gains a click). Both writers (notify/satisfaction.py) call
`mark_order_days` in their own transaction; a notice sent now, a new answer, lands on today,
which the job rewrites anyway. Marks are only inserted (no writer waits on another's row); the
job takes the marks it read BEFORE reading the facts and deletes exactly those after writing,
so a change committed meanwhile keeps its mark for the next run.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from ..notify.customer_models import SatisfactionAnswer
from ..orders.models import CustomerNotice
from .models import KpiStaleDay


def utc_day(at: dt.datetime) -> dt.date:
    """The UTC day a moment counts on (naive values are UTC, as stored)."""
    return (at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc).date()


def mark_order_days(session: Session, shop: str, order_id: int) -> None:
    """Mark the days the order's satisfaction counts on now (its answers' days, its review request's day) as stale; call before changing them."""
    answered = session.scalars(select(SatisfactionAnswer.answered_at).where(SatisfactionAnswer.order_id == order_id))
    sent = session.scalars(select(CustomerNotice.sent_at).where(CustomerNotice.order_id == order_id, CustomerNotice.kind == "review_request",
                                                                CustomerNotice.sent_at.is_not(None)))
    days = {utc_day(at) for at in [*answered, *sent] if at is not None}
    if days:
        session.execute(insert(KpiStaleDay), [{"shop_domain": shop, "day": day} for day in sorted(days)])


def stale_days(session: Session, shop: str, first: dt.date, end: dt.date) -> set[dt.date]:
    """The shop's marked days in [first, end)."""
    return set(session.scalars(select(KpiStaleDay.day).where(KpiStaleDay.shop_domain == shop, KpiStaleDay.day >= first, KpiStaleDay.day < end)))


def taken_marks(session: Session, shop: str) -> dict[int, dt.date]:
    """The shop's marks by id (the job reads them before the facts)."""
    return dict(session.execute(select(KpiStaleDay.id, KpiStaleDay.day).where(KpiStaleDay.shop_domain == shop)).all())


def clear_marks(session: Session, ids) -> None:
    """Delete exactly the marks taken (a mark written since stays)."""
    ids = sorted(ids)
    for start in range(0, len(ids), 1000):
        session.execute(delete(KpiStaleDay).where(KpiStaleDay.id.in_(ids[start:start + 1000])))
