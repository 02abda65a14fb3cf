"""Satisfaction from the per-day snapshots equals satisfaction from the rows, over random histories written through the app's writers.

Each example is a fresh shop (and a neighbour shop with its own history): customers answer,
change their answer, receive review requests and open them days later, orders are edited, at moments given in
non-UTC time zones, while the kpi-snapshots job runs now and then (SQLite and PostgreSQL). Whatever the order, the
figures read from snapshots (plus the stale marks) equal kpis() computed from the rows, for day,
week and month buckets, and equal an independent count from the rows; a shop sees only its own.
"""
from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from shopify_app.kpis import kpis
from shopify_app.kpis.snapshots import close_shop_days, kpis_from_snapshots
from shopify_app.notify.customer_models import SatisfactionAnswer
from shopify_app.notify.satisfaction import record_answer, record_review_click
from shopify_app.orders.models import CustomerNotice, Order, OrderLine
from shopify_app.orders.payloads import LineSnapshot, OrderAmounts, OrderSnapshot
from shopify_app.orders.sync import upsert_order
from shopify_app.suppliers.models import Supplier, SupplierOrder

START = dt.datetime(2026, 5, 25, tzinfo=dt.timezone.utc)  # a Monday; the history spans 24 days, over a month's end
ZONES = ("America/Los_Angeles", "Asia/Kolkata", "Pacific/Kiritimati", "UTC")
_shops = itertools.count()

event = st.tuples(st.sampled_from(["good", "bad", "review", "click", "edit", "job"]), st.integers(0, 5), st.integers(0, 23 * 24 - 1), st.sampled_from(ZONES))
history = st.lists(event, min_size=1, max_size=25)


def _world(session, shop: str, orders: int) -> tuple[list[Order], list[int]]:
    """A shop with two suppliers and `orders` orders of one or two suppliers and products, placed before the history starts."""
    suppliers = [Supplier(shop_domain=shop, name=name, kind="rest") for name in ("Alpha", "Beta")]
    session.add_all(suppliers)
    session.flush()
    made = []
    for n in range(orders):
        order = Order(shop_domain=shop, shopify_id=str(7000 + n), name=f"#{n}", shopify_created_at=START - dt.timedelta(days=3), financial_status="paid", currency="EUR")
        order.lines.append(OrderLine(shopify_line_id=f"{n}1", sku=f"SKU-{n % 3}", product_id=f"gid://shopify/Product/{n % 2}", quantity=1, price="10.00"))
        if n % 2:
            order.lines.append(OrderLine(shopify_line_id=f"{n}2", sku="SKU-X", quantity=1, price="5.00"))
        session.add(order)
        session.flush()
        for supplier in suppliers[: 1 + n % 2] if n % 3 else suppliers[1:]:
            session.add(SupplierOrder(shop_domain=shop, order_id=order.id, supplier_id=supplier.id, idempotency_key=f"{shop}-{order.id}-{supplier.id}", state="shipped"))
        made.append(order)
    session.flush()
    return made, [s.id for s in suppliers]


def _play(services, shop: str, events: list) -> dt.datetime:
    """Apply the events in time order through the app's writers; the moment of the last one."""
    with services.session_factory.begin() as session:
        orders, _ = _world(session, shop, 6)
        ids = [o.id for o in orders]
    last = START
    for kind, n, hours, zone in sorted(events, key=lambda e: e[2]):
        at = (START + dt.timedelta(hours=hours) + dt.timedelta(minutes=hours % 60)).astimezone(ZoneInfo(zone))  # the writer's clock in a local zone
        last = max(last, at.astimezone(dt.timezone.utc))
        if kind == "job":
            close_shop_days(services, shop, now=at.astimezone(dt.timezone.utc))
            continue
        with services.session_factory.begin() as session:
            order = session.get(Order, ids[n])
            if kind in ("good", "bad"):
                record_answer(session, order, kind, now=at)
            elif kind == "review":  # the outbox sends it now (status sent, sent_at now), once per order, once the customer answered (either way)
                if session.scalar(select(CustomerNotice.id).where(CustomerNotice.order_id == order.id, CustomerNotice.kind == "review_request")) is None \
                        and session.scalar(select(SatisfactionAnswer.id).where(SatisfactionAnswer.order_id == order.id)) is not None:
                    session.add(CustomerNotice(order_id=order.id, shop_domain=shop, kind="review_request", dedupe_key=f"review_request:{order.id}", status="sent", sent_at=at))
            elif kind == "edit":  # the order is edited in Shopify: its first line's product changes (or stays), through orders/updated's sync
                upsert_order(session, shop, snapshot_of(n, [line(f"{n}1", f"SKU-{n % 3}", f"gid://shopify/Product/{hours % 4}")], at))
            else:
                record_review_click(session, order, now=at)
    return last


def snapshot_of(n: int, lines: list[LineSnapshot], at: dt.datetime) -> OrderSnapshot:
    """Order n of _world as a Shopify snapshot at `at`, with these lines (the others stay as they are)."""
    return OrderSnapshot(shopify_id=str(7000 + n), name=f"#{n}", email=None, customer_id=None, customer_email=None, shipping_address=None,
                         currency="EUR", total_price="10.00", financial_status="paid", fulfillment_status=None, cancelled_at=None,
                         created_at=START - dt.timedelta(days=3), updated_at=at, lines=tuple(lines), amounts=OrderAmounts())


def line(shopify_line_id: str, sku: str, product_id: str | None) -> LineSnapshot:
    """A snapshot line of one unit at 10.00."""
    return LineSnapshot(shopify_line_id=shopify_line_id, sku=sku, variant_id=None, product_id=product_id, vendor=None, title=None, quantity=1, price="10.00",
                        requires_shipping=True, gift_card=False)


def _by_hand(session, shop: str, start: dt.datetime, end: dt.datetime) -> dict:
    """Store-wide and per-supplier figures counted from the rows, without kpis/ code: an order counts at its latest answer, a request when sent."""
    rows = session.execute(select(SatisfactionAnswer.order_id, SatisfactionAnswer.supplier_id, SatisfactionAnswer.answer, SatisfactionAnswer.answered_at,
                                  SatisfactionAnswer.review_clicked_at).where(SatisfactionAnswer.shop_domain == shop)).all()
    aware = lambda t: t if t is None or t.tzinfo else t.replace(tzinfo=dt.timezone.utc)  # noqa: E731
    latest = {}
    for order_id, _sid, _answer, answered, _clicked in rows:
        latest[order_id] = max(latest.get(order_id, aware(answered)), aware(answered))
    inside = {o for o, t in latest.items() if start <= t < end}
    good = {o for o in inside if all(a == "good" for oid, _s, a, _t, _c in rows if oid == o)}
    sent = [o for o, t in session.execute(select(CustomerNotice.order_id, CustomerNotice.sent_at).where(
        CustomerNotice.shop_domain == shop, CustomerNotice.kind == "review_request", CustomerNotice.status == "sent")) if start <= aware(t) < end]
    clicked = {oid for oid, _s, _a, _t, c in rows if c is not None}
    figures = {"store": (len(inside), len(good), len(sent), sum(1 for o in sent if o in clicked))}
    for sid in {s for oid, s, *_ in rows if oid in inside}:
        mine = {oid for oid, s, *_ in rows if s == sid}
        answered = inside & mine
        figures[sid] = (len(answered), len(answered & good), sum(1 for o in sent if o in mine), sum(1 for o in sent if o in mine and o in clicked))
    return figures


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mine=history, theirs=history)
def test_snapshot_figures_equal_the_rows_over_random_histories(app_factory, database_url, mine, theirs) -> None:
    services = _services(app_factory, database_url)
    n = next(_shops)
    shop, neighbour = f"sat-{n}.myshopify.com", f"sat-{n}-other.myshopify.com"
    last = max(_play(services, shop, mine), _play(services, neighbour, theirs))
    now = last + dt.timedelta(minutes=1)
    close_shop_days(services, neighbour, now=now)  # the neighbour's snapshots are fresh, the shop's as its own history left them
    with services.session_factory() as session:
        for bucket in ("day", "week", "month"):
            for start, end in ((START - dt.timedelta(days=2), now.replace(hour=0, minute=0, second=0, microsecond=0)), (START + dt.timedelta(days=3, hours=5), now)):
                if end <= start:
                    continue
                snap, live = kpis_from_snapshots(session, shop, start, end, bucket, now=now), kpis(session, shop, start, end, bucket, now=now)
                if end.hour or end.minute:  # up to now: today comes from the job's last run when fresh, which a later writer may not be in
                    snap = kpis_from_snapshots(session, shop, start, end, bucket, now=now + dt.timedelta(hours=1))
                    live = kpis(session, shop, start, end, bucket, now=now + dt.timedelta(hours=1))
                assert snap == live, (bucket, start, end)
                hand = _by_hand(session, shop, start, end)
                s = snap["satisfaction"]
                assert (s["answered"], s["good"], s["review_requests"], s["review_clicks"]) == hand["store"]
                assert {row["supplier_id"]: (row["answered"], row["good"], row["review_requests"], row["review_clicks"]) for row in s["by_supplier"]} == \
                    {sid: figures for sid, figures in hand.items() if sid != "store"}
                assert sum(b["satisfaction"]["answered"] for b in snap["buckets"]) == s["answered"]


_built: dict[str, object] = {}


def _services(app_factory, url: str):
    """One app per test run (Hypothesis calls the test once per example; each example uses new shops)."""
    if url not in _built:
        _built.clear()
        _built[url] = app_factory(url).extensions["services"]
    return _built[url]
