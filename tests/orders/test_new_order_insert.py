"""A new order is inserted with Core statements and made persistent without reading it back (issue 19 part C).

What the handler then works on (the ORM order and its lines) must be exactly what the
database holds, and exactly what the ORM path (an update of a stored order) stores for the
same snapshot; an order stored meanwhile by another worker is updated, never duplicated.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from forwarding_kit import SHOP, add_printful_supplier, app, deliver, paid_order_payload, sandbox, supplier_sandbox  # noqa: F401 - fixtures
from shopify_app.fulfillment.models import FulfillmentOrderRecord
from shopify_app.fulfillment.sync import store_fulfillment_orders
from shopify_app.orders.models import Order, OrderEvent, OrderLine
from shopify_app.orders.payloads import parse_order
from shopify_app.orders.sync import snapshot_digests, upsert
from shopify_app.suppliers.models import SupplierOrder

T0 = dt.datetime(2026, 12, 4, 6, 0, tzinfo=dt.timezone.utc)
BOOKKEEPING = {"id", "created_at", "updated_at", "order_id"}


def snapshot(number: int, at: dt.datetime = T0, **fields):
    payload = paid_order_payload(skus=("TSHIRT-BLK-S", "MUG-WHT-11"), order_number=number)
    payload.update(created_at=T0.isoformat(), updated_at=at.isoformat(), fulfillment_status=None, customer_locale="pl", **fields)
    return parse_order(payload)


def columns(instance, skip=()) -> dict:
    return {attr.key: getattr(instance, attr.key) for attr in inspect(type(instance)).column_attrs if attr.key not in skip}


def test_the_inserted_order_and_lines_in_the_session_are_what_the_database_holds(app):  # noqa: F811
    session_factory = app.extensions["services"].session_factory
    with session_factory.begin() as session:
        order, applied, inserted = upsert(session, SHOP, snapshot(5001))
        assert applied and inserted
        assert not session.new and not session.dirty, "nothing left for a flush to write"
        in_session = columns(order), [columns(line) for line in order.lines]
    with session_factory() as session:
        stored = session.scalar(select(Order).where(Order.shop_domain == SHOP, Order.shopify_id == "5001"))
        lines = session.scalars(select(OrderLine).where(OrderLine.order_id == stored.id).order_by(OrderLine.id)).all()
        assert in_session == (columns(stored), [columns(line) for line in lines])
        assert [line.sku for line in lines] == ["TSHIRT-BLK-S", "MUG-WHT-11"] and stored.state == "received"
        events = session.scalars(select(OrderEvent).where(OrderEvent.order_id == stored.id)).all()
        assert [(e.kind, e.actor, e.detail) for e in events] == [("received", "store", {"name": stored.name})]


def test_an_inserted_order_is_stored_as_the_orm_update_stores_the_same_snapshot(app):  # noqa: F811
    session_factory = app.extensions["services"].session_factory
    wanted = snapshot(5002, T0 + dt.timedelta(seconds=5))
    with session_factory.begin() as session:
        upsert(session, SHOP, wanted)  # the Core insert
        upsert(session, SHOP, snapshot(5003, email="first@example.com", shipping_address=None))  # stored first, then updated (ORM)
    with session_factory.begin() as session:
        updated = snapshot(5003, T0 + dt.timedelta(seconds=5))
        assert upsert(session, SHOP, updated).inserted is False
    with session_factory() as session:
        inserted, via_orm = (session.scalar(select(Order).where(Order.shop_domain == SHOP, Order.shopify_id == number)) for number in ("5002", "5003"))
        skip = BOOKKEEPING | {"shopify_id", "name", "routing_digest", "details_digest"}  # the two orders' own number and name
        assert columns(inserted, skip) == columns(via_orm, skip)
        assert (inserted.routing_digest, inserted.details_digest) == snapshot_digests(wanted)
        assert (via_orm.routing_digest, via_orm.details_digest) == snapshot_digests(updated)
        skip_lines = BOOKKEEPING | {"shopify_line_id"}
        assert [columns(line, skip_lines) for line in inserted.lines] == [columns(line, skip_lines) for line in via_orm.lines]


def test_an_order_stored_since_the_look_is_updated_not_inserted_twice(app):  # noqa: F811
    session_factory = app.extensions["services"].session_factory
    with session_factory.begin() as session:
        upsert(session, SHOP, snapshot(5004))
    with session_factory.begin() as session:  # the caller had read "not stored" before the other worker's commit
        order, applied, inserted = upsert(session, SHOP, snapshot(5004, T0 + dt.timedelta(seconds=3), email="later@example.com"), absent=True)
        assert applied and not inserted and order.email == "later@example.com"
    with session_factory() as session:
        orders = session.scalars(select(Order).where(Order.shop_domain == SHOP, Order.shopify_id == "5004")).all()
        assert len(orders) == 1 and orders[0].email == "later@example.com"
        assert len(session.scalars(select(OrderLine).where(OrderLine.order_id == orders[0].id)).all()) == 2
        assert session.scalars(select(OrderEvent.kind).where(OrderEvent.order_id == orders[0].id)).all() == ["received"]


def fulfillment_orders(base: int) -> list[dict]:
    """Two fulfillment orders as fulfillment.sync.read_fulfillment_orders gives them: one open, one held by the merchant."""
    return [
        {"gid": f"gid://shopify/FulfillmentOrder/{base}", "location_gid": "gid://shopify/Location/1", "location_primary": True, "status": "OPEN",
         "request_status": "UNSUBMITTED", "updated_at": "2026-12-04T06:00:00Z", "lines": [{"id": "gid://shopify/FulfillmentOrderLineItem/1", "line": "11", "remaining": 1, "total": 1}],
         "holds": []},
        {"gid": f"gid://shopify/FulfillmentOrder/{base + 1}", "location_gid": "gid://shopify/Location/2", "location_primary": False, "status": "ON_HOLD",
         "request_status": "UNSUBMITTED", "updated_at": "2026-12-04T06:00:01Z", "lines": [{"id": "gid://shopify/FulfillmentOrderLineItem/2", "line": "12", "remaining": 2, "total": 2}],
         "holds": [{"id": "gid://shopify/FulfillmentHold/9", "handle": "h", "reason": "OTHER", "ours": False}]},
    ]


def test_a_new_orders_fulfillment_orders_are_stored_as_the_orm_path_stores_them(app):  # noqa: F811
    session_factory = app.extensions["services"].session_factory
    seen: list[str] = []
    with session_factory.begin() as session:
        fresh_order = upsert(session, SHOP, snapshot(5005)).order
        via_orm_order = upsert(session, SHOP, snapshot(5006)).order
        session.flush()
        event.listen(session.connection(), "before_cursor_execute", lambda *args: seen.append(args[2]))
        fresh = store_fulfillment_orders(session, fresh_order, fulfillment_orders(700), fresh=True)
        via_orm = store_fulfillment_orders(session, via_orm_order, fulfillment_orders(800))
        skip = {"id", "order_id", "shopify_id", "created_at", "updated_at"}
        in_session = [columns(record, skip) for record in fresh.records]
        assert in_session == [columns(record, skip) for record in via_orm.records]
        assert [record.shopify_id for record in fresh.records] == ["700", "701"]
        assert [r.shopify_id for r in fresh.placed] == ["701"] and fresh.managers.keys() == {r.id for r in fresh.records}
        assert not session.new and not session.dirty, "the new records are persistent, nothing left to flush"
    fresh_statements = seen[:seen.index(next(s for s in seen if "FROM fulfillment_orders" in s))]
    assert [s for s in fresh_statements if "fulfillment_orders" in s and not s.startswith("INSERT")] == [], "nothing read back for a new order"
    assert any(s.startswith("INSERT INTO fulfillment_orders") for s in fresh_statements)
    with session_factory() as session:
        stored = {o.shopify_id: [columns(r, skip) for r in session.scalars(select(FulfillmentOrderRecord).where(FulfillmentOrderRecord.order_id == o.id)
                                                                          .order_by(FulfillmentOrderRecord.id))]
                  for o in session.scalars(select(Order).where(Order.shopify_id.in_(["5005", "5006"])))}
        assert stored["5005"] == stored["5006"] == in_session


def test_a_new_order_is_routed_without_a_unit_of_work_flush_and_stored_routed(app, sandbox):  # noqa: F811
    add_printful_supplier(app, sandbox)
    flushes: list[str] = []

    def flushed(session, _context, _instances) -> None:
        flushes.append(", ".join(sorted({type(o).__name__ for o in (*session.new, *session.dirty)})))

    event.listen(Session, "before_flush", flushed)
    try:
        deliver(app, "orders/create", paid_order_payload(order_number=5007))
    finally:
        event.remove(Session, "before_flush", flushed)
    assert flushes == [], "the order, its lines, fulfillment orders, supplier orders and state are Core statements"
    with app.extensions["services"].session_factory() as session:
        order = session.scalar(select(Order).where(Order.shop_domain == SHOP, Order.shopify_id == "5007"))
        assert order.state == "routed" and order.updated_at >= order.created_at
        delivery = session.scalar(select(SupplierOrder).where(SupplierOrder.order_id == order.id))
        assert delivery.state == "pending" and [line.quantity for line in delivery.lines] == [1, 1]
        events = session.scalars(select(OrderEvent.kind).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)).all()
        assert events == ["received", "routed", "routed"]
