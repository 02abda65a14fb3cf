"""Customer satisfaction KPIs: the follow-up's answers and the review requests' conversion, per product and supplier.

Satisfaction rate: orders whose customer answered "good" over orders answered, by the time of
the (latest) answer; an order's answer counts for each of its suppliers (the answer is recorded
per supplier) and each product it contained. Review-request conversion: review requests sent in
the period whose customer opened the review link (through the app's redirect), over review
requests sent, by the time sent.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..notify.customer_models import SatisfactionAnswer
from ..orders.models import CustomerNotice, OrderLine


class AnswerFact(NamedTuple):
    at: dt.datetime  # answered
    order_id: int
    supplier_id: int | None
    good: bool


class ReviewFact(NamedTuple):
    at: dt.datetime  # the review request sent
    order_id: int
    clicked: bool


def answer_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[AnswerFact]:
    """Every answer given in [start, end), one per order and supplier."""
    rows = session.execute(select(SatisfactionAnswer.answered_at, SatisfactionAnswer.order_id, SatisfactionAnswer.supplier_id, SatisfactionAnswer.answer)
                           .where(SatisfactionAnswer.shop_domain == shop, SatisfactionAnswer.answered_at >= start, SatisfactionAnswer.answered_at < end))
    return [AnswerFact(_aware(at), order_id, supplier_id, answer == "good") for at, order_id, supplier_id, answer in rows]


# Through (shop, kind, status, sent_at) on the notices alone: joining the shop's orders made a big
# shop's view walk all its order index entries even with no review request in the period.
_CLICKED = (select(SatisfactionAnswer.id).where(SatisfactionAnswer.order_id == CustomerNotice.order_id,
                                                 SatisfactionAnswer.review_clicked_at.is_not(None)).exists())
_REVIEWS_SENT = (select(CustomerNotice.sent_at, CustomerNotice.order_id, _CLICKED)
                 .where(CustomerNotice.shop_domain == bindparam("shop"), CustomerNotice.kind == "review_request", CustomerNotice.status == "sent",
                        CustomerNotice.sent_at >= bindparam("start"), CustomerNotice.sent_at < bindparam("end")))


def review_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[ReviewFact]:
    """Every review request sent in [start, end), and whether its link was opened."""
    rows = session.execute(_REVIEWS_SENT, {"shop": shop, "start": start, "end": end})
    return [ReviewFact(_aware(at), order_id, bool(clicked)) for at, order_id, clicked in rows]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _summary(answers: list[AnswerFact], reviews: list[ReviewFact]) -> dict:
    # Per order: an order answered for two suppliers is still one customer's answer.
    by_order = {}
    for fact in answers:
        by_order[fact.order_id] = by_order.get(fact.order_id, True) and fact.good
    good = sum(by_order.values())
    clicks = sum(1 for r in reviews if r.clicked)
    return {"answered": len(by_order), "good": good, "bad": len(by_order) - good, "rate": _rate(good, len(by_order)),
            "review_requests": len(reviews), "review_clicks": clicks, "review_conversion": _rate(clicks, len(reviews))}


def supplier_satisfaction(answers: list[AnswerFact], reviews: list[ReviewFact], supplier_id: int) -> dict:
    """One supplier's satisfaction and the conversion of the review requests of its orders."""
    orders = {f.order_id for f in answers if f.supplier_id == supplier_id}
    return _summary([f for f in answers if f.supplier_id == supplier_id], [r for r in reviews if r.order_id in orders])


def summarise(answers: list[AnswerFact], reviews: list[ReviewFact], session: Session | None = None, names: dict[int, str] | None = None) -> dict:
    """Store-wide satisfaction and review conversion; with a session, per supplier and per product too."""
    summary = _summary(answers, reviews)
    if session is None:
        return summary
    names = names or {}
    by_supplier = [{"supplier_id": sid, "name": names.get(sid), **supplier_satisfaction(answers, reviews, sid)}
                   for sid in sorted({f.supplier_id for f in answers} - {None}, key=lambda i: (names.get(i) or "", i))]
    order_ids = {f.order_id for f in answers} | {r.order_id for r in reviews}
    products = defaultdict(set)
    titles = {}
    if order_ids:
        for order_id, product_id, sku, title in session.execute(select(OrderLine.order_id, OrderLine.product_id, OrderLine.sku, OrderLine.title)
                                                                  .where(OrderLine.order_id.in_(order_ids), OrderLine.is_tip.is_(False))):
            key = product_id or sku or title or "?"
            products[key].add(order_id)
            titles.setdefault(key, (sku, title))
    by_product = [{"product_id": key, "sku": titles[key][0], "title": titles[key][1],
                   **_summary([f for f in answers if f.order_id in orders], [r for r in reviews if r.order_id in orders])}
                  for key, orders in sorted(products.items(), key=lambda kv: str(kv[0]))]
    return {**summary, "by_supplier": by_supplier, "by_product": [p for p in by_product if p["answered"] or p["review_requests"]]}


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
