"""Review requests read by the notice's own shop (migration 0035): the same figures as through the orders, two shops kept apart, no walk of the shop's orders."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from conftest import install_shop
from shopify_app.kpis.satisfaction import _REVIEWS_SENT, ReviewFact, review_facts
from shopify_app.notify.customer_models import SatisfactionAnswer
from shopify_app.orders.models import CustomerNotice, Order, OrderState

SHOP, OTHER = "reviews-a.myshopify.com", "reviews-b.myshopify.com"
T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)
START, END = T0, T0 + dt.timedelta(days=7)


def reference_review_facts(session, shop: str, start: dt.datetime, end: dt.datetime) -> list[ReviewFact]:
    """The figures as they were read before 0035 (through the shop's orders, the click by a second query): the reference."""
    sent = session.execute(select(CustomerNotice.sent_at, CustomerNotice.order_id).join(Order, Order.id == CustomerNotice.order_id)
                           .where(Order.shop_domain == shop, CustomerNotice.kind == "review_request", CustomerNotice.status == "sent",
                                  CustomerNotice.sent_at >= start, CustomerNotice.sent_at < end)).all()
    clicked = set(session.scalars(select(SatisfactionAnswer.order_id).where(SatisfactionAnswer.order_id.in_([o for _, o in sent]),
                                                                           SatisfactionAnswer.review_clicked_at.is_not(None)))) if sent else set()
    return [ReviewFact(at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc), order_id, order_id in clicked) for at, order_id in sent]


def seed(services) -> dict[str, list[int]]:
    """Two shops' orders, review requests (sent in and out of the week, pending, failed), other notices, answers with and without a click."""
    ids: dict[str, list[int]] = {SHOP: [], OTHER: []}
    with services.session_factory.begin() as session:
        for shop, count in ((SHOP, 9), (OTHER, 5)):
            for n in range(count):
                order = Order(shop_domain=shop, shopify_id=f"{shop[:9]}{n}", name=f"#{n}", state=OrderState.SHIPPED.value)
                session.add(order)
                session.flush()
                ids[shop].append(order.id)
        a, b = ids[SHOP], ids[OTHER]
        sent = [(a[0], 1, "sent"), (a[1], 2, "sent"), (a[2], 3, "sent"), (a[3], 6.9, "sent"),  # four in the week
                (a[4], -1, "sent"), (a[5], 8, "sent"),  # before and after it
                (a[6], 2, "pending"), (a[7], 2, "failed"),  # not sent
                (b[0], 1, "sent"), (b[1], 2, "sent"), (b[2], 4, "sent")]
        for order_id, days, status in sent:
            at = T0 + dt.timedelta(days=days)
            # Passed explicitly for one shop, left to the column default (the order's shop) for the other.
            shop = {"shop_domain": SHOP} if order_id in a and order_id % 2 else {}
            session.add(CustomerNotice(order_id=order_id, kind="review_request", dedupe_key=f"review_request:{order_id}", status=status,
                                       sent_at=at if status == "sent" else None, **shop))
        session.add(CustomerNotice(order_id=a[8], shop_domain=SHOP, kind="follow_up", dedupe_key=f"follow_up:{a[8]}", status="sent", sent_at=T0 + dt.timedelta(days=1)))
        for order_id, clicked in ((a[0], True), (a[1], False), (a[3], True), (a[4], True), (b[0], True), (b[2], False)):
            session.add(SatisfactionAnswer(shop_domain=SHOP if order_id in a else OTHER, order_id=order_id, answer="good", answered_at=T0,
                                           review_clicked_at=T0 + dt.timedelta(days=5) if clicked else None))
    return ids


def test_review_figures_are_the_same_as_through_the_orders_and_each_shop_sees_its_own(app_factory, database_url) -> None:
    app = app_factory(database_url)
    install_shop(app, SHOP, OTHER)
    services = app.extensions["services"]
    ids = seed(services)
    a, b = ids[SHOP], ids[OTHER]
    with services.session_factory() as session:
        assert {n.order_id: n.shop_domain for n in session.scalars(select(CustomerNotice))} == {**{o: SHOP for o in a}, **{o: OTHER for o in b[:3]}}
        for shop in (SHOP, OTHER):
            for start, end in ((START, END), (T0 - dt.timedelta(days=30), T0 + dt.timedelta(days=30)), (T0 + dt.timedelta(days=2), T0 + dt.timedelta(days=2, seconds=1))):
                assert sorted(review_facts(session, shop, start, end)) == sorted(reference_review_facts(session, shop, start, end)), (shop, start, end)
        week_a = sorted(review_facts(session, SHOP, START, END))
        week_b = sorted(review_facts(session, OTHER, START, END))
    # The numbers themselves (requests sent in the week, opened): A 4 of which 2 opened, B 3 of which 1.
    assert [(f.order_id, f.clicked) for f in week_a] == [(a[0], True), (a[1], False), (a[2], False), (a[3], True)]
    assert [(f.order_id, f.clicked) for f in week_b] == [(b[0], True), (b[1], False), (b[2], False)]
    assert week_a[0].at == T0 + dt.timedelta(days=1)


def test_the_shop_s_review_requests_are_read_through_the_notice_index_without_the_orders(sqlite_url) -> None:
    """SQLite drove the join from the shop's order index (a million entries for a big shop) even with no review request."""
    from shopify_app.db import make_engine

    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        compiled = _REVIEWS_SENT.compile(engine)
        assert compiled.positiontup == ["shop", "kind_1", "status_1", "start", "end"]
        values = ("s.myshopify.com", "review_request", "sent", "2026-01-01", "2026-02-01")
        plan = " | ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values))
    engine.dispose()
    assert "ix_customer_notices_shop_kind_sent" in plan, plan
    assert "orders" not in plan, plan


def test_migration_0035_gives_existing_notices_their_order_s_shop(database_url) -> None:
    from alembic import command

    from shopify_app.db import make_engine
    from shopify_app.migrate import alembic_config, upgrade_to_head

    command.downgrade(alembic_config(database_url), "0034")
    engine = make_engine(database_url)
    with engine.begin() as conn:
        for order_id, shop in ((1, SHOP), (2, OTHER)):
            conn.execute(text("INSERT INTO orders (id, shop_domain, shopify_id, state, created_at, updated_at) VALUES (:id, :shop, :sid, 'shipped', :at, :at)"),
                         {"id": order_id, "shop": shop, "sid": str(order_id), "at": T0})
            conn.execute(text("INSERT INTO customer_notices (id, order_id, kind, dedupe_key, status, attempts, created_at, sent_at) "
                              "VALUES (:id, :id, 'review_request', :key, 'sent', 1, :at, :at)"), {"id": order_id, "key": f"review_request:{order_id}", "at": T0})
    engine.dispose()
    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert dict(conn.execute(text("SELECT id, shop_domain FROM customer_notices")).all()) == {1: SHOP, 2: OTHER}
    with pytest.raises(Exception), engine.begin() as conn:  # NOT NULL from now on (the model's default fills it for the app)
        conn.execute(text("INSERT INTO customer_notices (id, order_id, kind, dedupe_key, status, attempts, created_at) VALUES (3, 1, 'delay', 'delay:x', 'pending', 0, :at)"), {"at": T0})
    engine.dispose()
