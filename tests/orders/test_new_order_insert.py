"""A new order is inserted with Core statements and made persistent without reading it back (issue 19 part C).

What the handler then works on (the ORM order and its lines) must be exactly what the
database holds, and exactly what the ORM path (an update of a stored order) stores for the
same snapshot; an order stored meanwhile by another worker is updated, never duplicated.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import inspect, select

from forwarding_kit import SHOP, add_printful_supplier, app, paid_order_payload, sandbox  # noqa: F401 - fixtures
from shopify_app.orders.models import Order, OrderEvent, OrderLine
from shopify_app.orders.payloads import parse_order
from shopify_app.orders.sync import snapshot_digests, upsert

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
