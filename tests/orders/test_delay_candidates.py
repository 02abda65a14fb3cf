"""The delay job reads only parcels that could be late now, on both databases, and notices each late one once.

It runs every 5 minutes for every shop: it must not read (or load the order of) a delivered, cancelled,
already-noticed or long-past parcel on each run (it did: every parcel with an ETA ever recorded).
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from shopify_app.orders.delays import DELAY_WATCH, _candidates, detect_delays
from shopify_app.orders.models import CustomerNotice, Order
from shopify_app.suppliers.models import Supplier, SupplierOrder, SupplierShipment

SHOPS = ("one.myshopify.com", "two.myshopify.com")
NOW = dt.datetime.now(dt.timezone.utc)
PAST = (NOW - dt.timedelta(days=2)).date().isoformat()
FUTURE = (NOW + dt.timedelta(days=2)).date().isoformat()


@pytest.fixture
def factory(app_factory, database_url):
    return app_factory(database_url).extensions["services"].session_factory


def parcel(session, shop: str, name: str, eta: str | None, *, delivered: str | None = None, cancelled: bool = False, age: dt.timedelta = dt.timedelta(days=3)) -> int:
    order = Order(shop_domain=shop, shopify_id=f"{shop}-{name}", name=f"#{name}", email="buyer@example.com",
                  cancelled_at=NOW if cancelled else None)
    supplier = Supplier(shop_domain=shop, name=f"S {name}", kind="printful")
    session.add_all([order, supplier])
    session.flush()
    delivery = SupplierOrder(shop_domain=shop, order_id=order.id, supplier_id=supplier.id, idempotency_key=f"{shop}-{name}", state="shipped")
    session.add(delivery)
    session.flush()
    row = SupplierShipment(supplier_order_id=delivery.id, shipment_id=name, tracking_number=f"T-{name}", estimated_delivery=eta,
                           delivered_at=delivered, state="fulfilled")
    session.add(row)
    session.flush()
    session.execute(update(SupplierShipment).where(SupplierShipment.id == row.id).values(created_at=NOW - age))
    return row.id


def noticed(factory) -> set[str]:
    with factory() as session:
        return set(session.scalars(select(CustomerNotice.dedupe_key)))


def test_only_late_undelivered_live_recent_parcels_are_noticed_once_per_shop(factory):
    with factory.begin() as session:
        late = {shop: parcel(session, shop, f"late-{n}", PAST) for n, shop in enumerate(SHOPS)}
        late_timed = parcel(session, SHOPS[0], "late-time", (NOW - dt.timedelta(hours=1)).isoformat())
        others = [parcel(session, SHOPS[0], "on-time", FUTURE), parcel(session, SHOPS[0], "arrived", PAST, delivered=PAST),
                  parcel(session, SHOPS[0], "cancelled", PAST, cancelled=True), parcel(session, SHOPS[0], "no-eta", None),
                  parcel(session, SHOPS[0], "blank-eta", ""), parcel(session, SHOPS[0], "unreadable", "next week"),
                  parcel(session, SHOPS[1], "old", PAST, age=DELAY_WATCH + dt.timedelta(days=1))]
    with factory.begin() as session:
        assert detect_delays(session) == 3
    assert noticed(factory) == {f"delay:{late[SHOPS[0]]}", f"delay:{late[SHOPS[1]]}", f"delay:{late_timed}"}
    assert not any(f"delay:{other}" in noticed(factory) for other in others)
    with factory.begin() as session:
        assert detect_delays(session) == 0


def test_a_run_reads_no_noticed_delivered_or_cancelled_parcel(factory):
    with factory.begin() as session:
        for n in range(5):
            parcel(session, SHOPS[0], f"done-{n}", PAST, delivered=PAST)
            parcel(session, SHOPS[1], f"gone-{n}", PAST, cancelled=True)
        for n in range(3):
            parcel(session, SHOPS[0], f"late-{n}", PAST)
    with factory.begin() as session:
        assert detect_delays(session) == 3
    with factory() as session:
        # The 3 late ones are noticed, the rest delivered or cancelled: the next run's read brings nothing back.
        assert session.execute(_candidates(NOW)).all() == []
    with factory.begin() as session:
        assert detect_delays(session) == 0
        assert session.scalar(select(func.count()).select_from(CustomerNotice)) == 3


def test_a_parcel_recorded_with_an_empty_delivery_time_before_0051_is_still_watched(database_url):
    # The job took "" for "not delivered"; its read now asks delivered_at IS NULL (0051's partial index), so 0051 makes "" NULL.
    from alembic import command

    from shopify_app.db import make_engine, make_session_factory
    from shopify_app.migrate import alembic_config, upgrade_to_head

    command.downgrade(alembic_config(database_url), "0050")
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        late = parcel(session, SHOPS[0], "blank-delivery", PAST, delivered="")
    engine.dispose()
    upgrade_to_head(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        assert session.get(SupplierShipment, late).delivered_at is None
        assert detect_delays(session) == 1
    assert noticed(factory) == {f"delay:{late}"}
    engine.dispose()
