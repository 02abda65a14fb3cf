"""Closed days whose satisfaction figures changed after they were digested: marked by the writer, read live until the job re-digests them.

An answer counts on the day of the order's latest answer and a review request on the day it was
sent (kpis/satisfaction.py); a day's product figures come from the lines of the orders counted on
it. The writes that change a day that may have closed already, each marking in its own transaction:
- a customer changing their answer, or an answer added for another supplier of the order
  (notify/satisfaction.record_answer): the order leaves the day(s) it counted on, and its review
  request's suppliers change: `mark_order_days`. A first answer lands on today (the job rewrites
  today anyway; a review request is only sent after an answer): nothing to mark, nothing read.
- a customer opening the review link (record_review_click): only the request's day gains a click
  (`mark_review_days`); the answers' days do not change.
- an order's lines edited after its answer (orders/sync: a line added, or its product, SKU,
  title or tip flag changed): the products of the order's days change: `mark_order_days`.
A supplier's answers lose their supplier (ON DELETE SET NULL) only when the supplier row is
deleted, which the app does only in erase_shop, with the shop's snapshots and marks (a supplier's
own delete is soft, and its supplier orders, which have no ON DELETE, would refuse it).
Marks are only inserted (no writer waits on another's row); the job takes the marks it read
BEFORE reading the facts and deletes exactly those after writing, so a change committed meanwhile
keeps its mark for the next run.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from ..notify.customer_models import SatisfactionAnswer
from ..orders.models import CustomerNotice
from .models import KpiStaleDay
from .satisfaction import chunks, utc_day

_REVIEW_REQUESTS_SENT = (select(CustomerNotice.sent_at).where(CustomerNotice.kind == "review_request", CustomerNotice.sent_at.is_not(None)))


def mark_days(session: Session, shop: str, moments: Iterable[dt.datetime | None]) -> None:
    """Mark the UTC days of these moments as stale (none: nothing written)."""
    days = sorted({utc_day(at) for at in moments if at is not None})
    if days:
        session.execute(insert(KpiStaleDay), [{"shop_domain": shop, "day": day} for day in days])


def review_request_moments(session: Session, order_id: int) -> list[dt.datetime]:
    """When the order's review request was sent (none, or one)."""
    return list(session.scalars(_REVIEW_REQUESTS_SENT.where(CustomerNotice.order_id == order_id)))


def mark_order_days(session: Session, shop: str, order_id: int, answered: Iterable[dt.datetime] | None = None) -> None:
    """Mark the days the order's satisfaction counts on now (its answers' days, its review request's day); call before changing them.

    `answered`: the order's answer moments when the caller has its answers loaded (not read again).
    """
    if answered is None:
        answered = session.scalars(select(SatisfactionAnswer.answered_at).where(SatisfactionAnswer.order_id == order_id))
    mark_days(session, shop, [*answered, *review_request_moments(session, order_id)])


def mark_review_days(session: Session, shop: str, order_id: int) -> None:
    """Mark the day of the order's review request (a click on its link counts there)."""
    mark_days(session, shop, review_request_moments(session, order_id))


def stale_days(session: Session, shop: str, first: dt.date, end: dt.date) -> set[dt.date]:
    """The shop's marked days in [first, end)."""
    return set(session.scalars(select(KpiStaleDay.day).where(KpiStaleDay.shop_domain == shop, KpiStaleDay.day >= first, KpiStaleDay.day < end)))


def taken_marks(session: Session, shop: str) -> dict[int, dt.date]:
    """The shop's marks by id (the job reads them before the facts)."""
    return dict(session.execute(select(KpiStaleDay.id, KpiStaleDay.day).where(KpiStaleDay.shop_domain == shop)).all())


def clear_marks(session: Session, ids) -> None:
    """Delete exactly the marks taken (a mark written since stays)."""
    for chunk in chunks(sorted(ids), 1000):
        session.execute(delete(KpiStaleDay).where(KpiStaleDay.id.in_(chunk)))
