"""Customer satisfaction KPIs: the follow-up's answers and the review requests' conversion, per product and supplier.

Satisfaction rate: orders whose customer answered "good" over orders answered, by the time of
the order's latest answer (all its rows are counted at that moment: a changed answer moves the
order to the day it was changed); an order's answer counts for each of its suppliers (the answer
is recorded per supplier) and each product it contained. Review-request conversion: review
requests sent in the period whose customer opened the review link (through the app's redirect),
over review requests sent, by the time sent; a supplier's conversion counts the review requests
sent in the period of the orders it has an answer for (a request is only sent after the answer).

Each answer and each review request counts on exactly one UTC day, so a day's figures digest
into counts (`digest`) that add up over any range of days (`merge_digests`, `from_digest`):
kpis/snapshots.py keeps them per day; stale_days.py marks a day whose figures changed later.
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
    suppliers: frozenset = frozenset()  # the suppliers the order's customer answered for


_ANSWERS_OF_ORDERS_ANSWERED = (
    select(SatisfactionAnswer.answered_at, SatisfactionAnswer.order_id, SatisfactionAnswer.supplier_id, SatisfactionAnswer.answer)
    .where(SatisfactionAnswer.shop_domain == bindparam("shop"), SatisfactionAnswer.order_id.in_(
        select(SatisfactionAnswer.order_id).where(SatisfactionAnswer.shop_domain == bindparam("shop"), SatisfactionAnswer.answered_at >= bindparam("start"),
                                                  SatisfactionAnswer.answered_at < bindparam("end")))))


def answer_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[AnswerFact]:
    """Every answer of the orders whose latest answer was given in [start, end), one per order and supplier, at that latest moment."""
    by_order: dict[int, list] = defaultdict(list)
    for at, order_id, supplier_id, answer in session.execute(_ANSWERS_OF_ORDERS_ANSWERED, {"shop": shop, "start": start, "end": end}):
        by_order[order_id].append((_aware(at), supplier_id, answer == "good"))
    facts = []
    for order_id, rows in by_order.items():
        latest = max(at for at, _sid, _good in rows)
        if start <= latest < end:  # an order answered in the period and changed after it counts where it was changed
            facts.extend(AnswerFact(latest, order_id, supplier_id, good) for _at, supplier_id, good in rows)
    return facts


# Through (shop, kind, status, sent_at) on the notices alone: joining the shop's orders made a big
# shop's view walk all its order index entries even with no review request in the period.
_CLICKED = (select(SatisfactionAnswer.id).where(SatisfactionAnswer.order_id == CustomerNotice.order_id,
                                                 SatisfactionAnswer.review_clicked_at.is_not(None)).exists())
_REVIEWS_SENT = (select(CustomerNotice.sent_at, CustomerNotice.order_id, _CLICKED)
                 .where(CustomerNotice.shop_domain == bindparam("shop"), CustomerNotice.kind == "review_request", CustomerNotice.status == "sent",
                        CustomerNotice.sent_at >= bindparam("start"), CustomerNotice.sent_at < bindparam("end")))


def review_facts(session: Session, shop: str, start: dt.datetime, end: dt.datetime) -> list[ReviewFact]:
    """Every review request sent in [start, end), whether its link was opened, and the suppliers its order was answered for."""
    rows = session.execute(_REVIEWS_SENT, {"shop": shop, "start": start, "end": end}).all()
    suppliers: dict[int, set] = defaultdict(set)
    for chunk in chunks([order_id for _at, order_id, _clicked in rows]):  # the order's answers by (order_id, supplier_id): the unique index
        for order_id, supplier_id in session.execute(select(SatisfactionAnswer.order_id, SatisfactionAnswer.supplier_id)
                                                     .where(SatisfactionAnswer.order_id.in_(chunk))):
            suppliers[order_id].add(supplier_id)
    return [ReviewFact(_aware(at), order_id, bool(clicked), frozenset(suppliers[order_id]) - {None}) for at, order_id, clicked in rows]


def chunks(ids: list, size: int = 10_000):
    """The ids in slices of `size` (an IN list per query stays within the databases' bound-parameter limits)."""
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _counts(answers: list[AnswerFact], reviews: list[ReviewFact]) -> list[int]:
    """[orders answered, of them good, review requests, of them opened]."""
    # Per order: an order answered for two suppliers is still one customer's answer.
    by_order: dict[int, bool] = {}
    for fact in answers:
        by_order[fact.order_id] = by_order.get(fact.order_id, True) and fact.good
    return [len(by_order), sum(by_order.values()), len(reviews), sum(1 for r in reviews if r.clicked)]


def from_counts(counts: list[int]) -> dict:
    """The figures of [orders answered, good, review requests, opened]."""
    answered, good, requests, clicks = counts
    return {"answered": answered, "good": good, "bad": answered - good, "rate": _rate(good, answered),
            "review_requests": requests, "review_clicks": clicks, "review_conversion": _rate(clicks, requests)}


def _summary(answers: list[AnswerFact], reviews: list[ReviewFact]) -> dict:
    return from_counts(_counts(answers, reviews))


def _of_supplier(answers: list[AnswerFact], reviews: list[ReviewFact], supplier_id: int) -> tuple[list, list]:
    return [f for f in answers if f.supplier_id == supplier_id], [r for r in reviews if supplier_id in r.suppliers]


def supplier_satisfaction(answers: list[AnswerFact], reviews: list[ReviewFact], supplier_id: int) -> dict:
    """One supplier's satisfaction and the conversion of the review requests of the orders answered for it."""
    return _summary(*_of_supplier(answers, reviews, supplier_id))


def product_lines(session: Session, order_ids) -> list[tuple]:
    """(order_id, product key, line id, sku, title) of the orders' lines (tips left out), by line id; the key: product, else SKU, else title."""
    rows = []
    for chunk in chunks(sorted(set(order_ids))):
        rows += session.execute(select(OrderLine.order_id, OrderLine.product_id, OrderLine.sku, OrderLine.title, OrderLine.id)
                                .where(OrderLine.order_id.in_(chunk), OrderLine.is_tip.is_(False))).all()
    return sorted(((order_id, product_id or sku or title or "?", line_id, sku, title) for order_id, product_id, sku, title, line_id in rows), key=lambda r: r[2])


def _by_product(answers: list[AnswerFact], reviews: list[ReviewFact], lines: list[tuple]) -> dict:
    """{product key: [first line id, sku, title, answered, good, requests, opened]} (the first line names the product)."""
    orders, names = defaultdict(set), {}
    for order_id, key, line_id, sku, title in lines:
        orders[key].add(order_id)
        names.setdefault(key, [line_id, sku, title])
    answers_of, reviews_of = _group(answers, lambda f: (f.order_id,)), _group(reviews, lambda r: (r.order_id,))  # each fact visited once, not per product
    return {key: [*names[key], *_counts([f for o in ids for f in answers_of.get(o, ())], [r for o in ids for r in reviews_of.get(o, ())])]
            for key, ids in orders.items()}


def _group(facts: list, keys_of) -> dict:
    """The facts by each of their keys (`keys_of(fact)`: the keys one fact belongs to)."""
    grouped: dict = defaultdict(list)
    for fact in facts:
        for key in keys_of(fact):
            grouped[key].append(fact)
    return grouped


def digest(answers: list[AnswerFact], reviews: list[ReviewFact], lines: list[tuple]) -> dict:
    """A day's satisfaction as counts that add up over days: store-wide, per supplier, per product (JSON)."""
    answers_of, reviews_of = _group(answers, lambda f: (f.supplier_id,)), _group(reviews, lambda r: r.suppliers)
    return {"store": _counts(answers, reviews),
            "suppliers": sorted([sid, *_counts(answers_of.get(sid, []), reviews_of.get(sid, []))] for sid in (answers_of.keys() | reviews_of.keys()) - {None}),
            "products": sorted(([key, *row] for key, row in _by_product(answers, reviews, lines).items()), key=lambda r: str(r[0]))}


def merge_digests(digests: list[dict]) -> dict:
    """Several days' digests as one (counts added; a product named by its first line)."""
    store = [0, 0, 0, 0]
    suppliers: dict[int, list[int]] = {}
    products: dict = {}
    for d in digests:
        store = [a + b for a, b in zip(store, d["store"])]
        for sid, *counts in d["suppliers"]:
            suppliers[sid] = [a + b for a, b in zip(suppliers.get(sid, [0, 0, 0, 0]), counts)]
        for key, line_id, sku, title, *counts in d["products"]:
            seen = products.get(key)
            if seen is None:
                products[key] = [line_id, sku, title, *counts]
            else:
                products[key] = [*min(seen[:3], [line_id, sku, title], key=lambda n: n[0]), *(a + b for a, b in zip(seen[3:], counts))]
    return {"store": store, "suppliers": suppliers, "products": products}


def from_digest(merged: dict, names: dict[int, str] | None = None, *, detail: bool = False) -> dict:
    """summarise()'s figures from merged digests; with detail, per supplier and per product too."""
    summary = from_counts(merged["store"])
    if not detail:
        return summary
    names = names or {}
    by_supplier = [{"supplier_id": sid, "name": names.get(sid), **from_counts(merged["suppliers"][sid])}
                   for sid in sorted(answered_suppliers(merged), key=lambda i: (names.get(i) or "", i))]
    by_product = [{"product_id": key, "sku": sku, "title": title, **from_counts(counts)}
                  for key, (_line, sku, title, *counts) in sorted(merged["products"].items(), key=lambda kv: str(kv[0]))]
    return {**summary, "by_supplier": by_supplier, "by_product": [p for p in by_product if p["answered"] or p["review_requests"]]}


def supplier_from_digest(merged: dict, supplier_id: int) -> dict:
    """supplier_satisfaction() from merged digests."""
    return from_counts(merged["suppliers"].get(supplier_id, [0, 0, 0, 0]))


def answered_suppliers(merged: dict) -> set[int]:
    """The suppliers with an answer in the merged digests."""
    return {sid for sid, counts in merged["suppliers"].items() if counts[0]}


def summarise(answers: list[AnswerFact], reviews: list[ReviewFact], session: Session | None = None, names: dict[int, str] | None = None) -> dict:
    """Store-wide satisfaction and review conversion; with a session, per supplier and per product too."""
    if session is None:
        return _summary(answers, reviews)
    lines = product_lines(session, {f.order_id for f in answers} | {r.order_id for r in reviews})
    return from_digest(merge_digests([digest(answers, reviews, lines)]), names, detail=True)


def _aware(value: dt.datetime) -> dt.datetime:
    """The moment in UTC (naive values are UTC, as stored)."""
    return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def utc_day(at: dt.datetime) -> dt.date:
    """The UTC day a moment counts on."""
    return _aware(at).date()
