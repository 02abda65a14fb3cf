"""Each writer that changes a closed day's satisfaction marks that day in its own transaction, and only what changes:
after it, the figures read from snapshots equal a live recount (SQLite and PostgreSQL)."""
from __future__ import annotations

import contextlib
import datetime as dt
import itertools

import pytest
from sqlalchemy import event, select

from shopify_app.kpis import kpis
from shopify_app.kpis.models import KpiStaleDay
from shopify_app.kpis.snapshots import close_shop_days, kpis_from_snapshots
from shopify_app.notify.satisfaction import record_answer, record_review_click
from shopify_app.orders.models import CustomerNotice, Order
from shopify_app.orders.sync import upsert_order
from test_satisfaction_snapshots import START, _world, line, snapshot_of

_shops = itertools.count()
ANSWERED = START + dt.timedelta(days=1, hours=10)
REVIEW_SENT = START + dt.timedelta(days=2, hours=9)
JOB = START + dt.timedelta(days=6)


@pytest.fixture
def answered(app_factory, database_url):
    """(services, shop, order ids): order 0 answered 'good' on day 1, its review request sent on day 2, the days snapshotted on day 6."""
    services = app_factory(database_url).extensions["services"]
    shop = f"stale-{next(_shops)}.myshopify.com"
    with services.session_factory.begin() as session:
        orders, _ = _world(session, shop, 2)
        ids = [o.id for o in orders]
    with services.session_factory.begin() as session:
        order = session.get(Order, ids[0])
        record_answer(session, order, "good", now=ANSWERED)
        session.add(CustomerNotice(order_id=order.id, shop_domain=shop, kind="review_request", dedupe_key=f"review_request:{order.id}", status="sent", sent_at=REVIEW_SENT))
    close_shop_days(services, shop, now=JOB)
    return services, shop, ids


def marked(services, shop: str) -> set[dt.date]:
    with services.session_factory() as session:
        return set(session.scalars(select(KpiStaleDay.day).where(KpiStaleDay.shop_domain == shop)))


def assert_snapshots_equal_a_recount(services, shop: str, now: dt.datetime) -> None:
    with services.session_factory() as session:
        for bucket in ("day", "week"):
            start, end = START - dt.timedelta(days=1), JOB.replace(hour=0)
            snap, live = kpis_from_snapshots(session, shop, start, end, bucket, now=now), kpis(session, shop, start, end, bucket, now=now)
            assert satisfaction_of(snap) == satisfaction_of(live), bucket


def satisfaction_of(figures: dict) -> list:
    """Every satisfaction figure of a kpis() answer: per product and supplier, overall and per bucket (the rest, e.g. the all-time
    returns snapshot of the job's last run, is another matter)."""
    return [figures["satisfaction"], figures["overall"]["satisfaction"], [(s["supplier_id"], s["satisfaction"]) for s in figures["overall"]["suppliers"]],
            [(b["key"], b["satisfaction"]) for b in figures["buckets"]]]


@pytest.mark.parametrize("edit", ["line added", "product changed"])
def test_editing_an_answered_orders_lines_marks_its_days_and_the_snapshots_follow(answered, edit):
    services, shop, ids = answered
    at = JOB + dt.timedelta(hours=2)
    lines = [line("01", "SKU-0", "gid://shopify/Product/0")]
    if edit == "line added":
        lines.append(line("03", "SKU-NEW", "gid://shopify/Product/9"))
    else:
        lines = [line("01", "SKU-0", "gid://shopify/Product/7")]
    with services.session_factory.begin() as session:
        upsert_order(session, shop, snapshot_of(0, lines, at))
    assert marked(services, shop) == {ANSWERED.date(), REVIEW_SENT.date()}
    assert_snapshots_equal_a_recount(services, shop, at + dt.timedelta(minutes=1))


def test_an_edit_that_changes_no_product_marks_nothing(answered):
    services, shop, ids = answered
    with services.session_factory.begin() as session:
        upsert_order(session, shop, snapshot_of(0, [line("01", "SKU-0", "gid://shopify/Product/0")], JOB + dt.timedelta(hours=2)))
    assert marked(services, shop) == set()


def test_a_review_click_marks_only_the_review_requests_day(answered):
    services, shop, ids = answered
    clicked = JOB + dt.timedelta(hours=3)
    with services.session_factory.begin() as session:
        assert record_review_click(session, session.get(Order, ids[0]), now=clicked)
    assert marked(services, shop) == {REVIEW_SENT.date()}  # the answer's day keeps its figures
    assert_snapshots_equal_a_recount(services, shop, clicked + dt.timedelta(minutes=1))


def test_a_changed_answer_marks_its_days_and_the_snapshots_follow(answered):
    services, shop, ids = answered
    changed = JOB + dt.timedelta(hours=4)
    with services.session_factory.begin() as session:
        assert record_answer(session, session.get(Order, ids[0]), "bad", now=changed) == "good"
    assert marked(services, shop) == {ANSWERED.date(), REVIEW_SENT.date()}
    assert_snapshots_equal_a_recount(services, shop, changed + dt.timedelta(minutes=1))


@contextlib.contextmanager
def statements_run(services):
    """The SQL statements run meanwhile (a list filled as they run)."""
    statements: list[str] = []
    engine = services.session_factory.kw["bind"]

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def test_a_first_answer_reads_nothing_to_mark(answered):
    services, shop, ids = answered
    with statements_run(services) as statements, services.session_factory.begin() as session:
        order = session.get(Order, ids[1])
        statements.clear()
        assert record_answer(session, order, "good", now=JOB + dt.timedelta(hours=5)) is None
    assert not [s for s in statements if "customer_notices" in s or "kpi_stale_days" in s]  # no review request can exist before the first answer
    assert sum(1 for s in statements if s.lstrip().upper().startswith("SELECT") and "satisfaction_answers" in s) == 1  # the order's answers, read once
    assert marked(services, shop) == set()


@pytest.mark.parametrize("absent", [False, True])  # found absent by this sync's own read, or by the orders/create prefetch's
def test_a_new_orders_sync_reads_nothing_to_mark(answered, absent):
    from shopify_app.orders.sync import upsert

    services, shop, ids = answered
    with statements_run(services) as statements, services.session_factory.begin() as session:
        assert upsert(session, shop, snapshot_of(5, [line("01", "SKU-0", "gid://shopify/Product/0")], JOB), absent=absent).inserted
    # No answer or review request can name an order stored just now: nothing of the KPIs is read or marked on the webhook's write path.
    assert not [s for s in statements if "satisfaction_answers" in s or "customer_notices" in s or "kpi_stale_days" in s]
    assert marked(services, shop) == set()
