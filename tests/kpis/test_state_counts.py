"""The pipeline's counts by state, kept by triggers: equal to a recount after any sequence of writes, folded, drift repaired (SQLite and PostgreSQL)."""
from __future__ import annotations

import random

import pytest
from sqlalchemy import delete, func, insert, select, update

from shopify_app.kpis.models import StateCount
from shopify_app.kpis.state_counts import fold_state_counts, pipeline_counts, recount_shop_states, recounted
from shopify_app.orders.models import Order, OrderState
from shopify_app.suppliers.models import DeliveryState, Supplier, SupplierOrder
from shopify_app.web.page_data import pipeline

SHOPS = ("counts-a.myshopify.com", "counts-b.myshopify.com")
ORDER_STATES = [s.value for s in OrderState]
DELIVERY_STATES = [s.value for s in DeliveryState]


@pytest.fixture
def services(app_factory, database_url):
    return app_factory(database_url).extensions["services"]


def _suppliers(services) -> dict[str, int]:
    with services.session_factory.begin() as session:
        made = {shop: Supplier(shop_domain=shop, name="Acme", kind="rest", settings={}) for shop in SHOPS}
        session.add_all(made.values())
        session.flush()
        return {shop: s.id for shop, s in made.items()}


def _assert_kept_equals_recount(services) -> None:
    with services.session_factory() as session:
        for shop in SHOPS:
            assert pipeline_counts(session, shop) == recounted(session, shop), shop
            shown = pipeline(session, shop)  # the dashboard's figures, every state listed
            assert dict(shown["orders"]) == {s: recounted(session, shop)["order"][s] for s in ORDER_STATES}


def test_kept_counts_equal_a_recount_after_a_random_sequence_of_writes(services) -> None:
    """ORM inserts and state changes, Core updates and bulk inserts, deletes (cascading to supplier orders), moves between shops; folds in between."""
    suppliers = _suppliers(services)
    rng = random.Random(19)
    serial = 0
    for step in range(60):
        action = rng.choice(("orm_new", "orm_state", "core_state", "bulk", "delete", "delivery_state", "fold", "noop_update"))
        with services.session_factory.begin() as session:
            orders = session.scalars(select(Order.id)).all()
            if action == "orm_new" or not orders:
                serial += 1
                shop = rng.choice(SHOPS)
                order = Order(shop_domain=shop, shopify_id=str(serial), name=f"#{serial}", state=rng.choice(ORDER_STATES))
                session.add(order)
                session.flush()
                session.add(SupplierOrder(shop_domain=shop, order_id=order.id, supplier_id=suppliers[shop], idempotency_key=f"k{serial}",
                                          state=rng.choice(DELIVERY_STATES)))
            elif action == "orm_state":
                session.get(Order, rng.choice(orders)).state = rng.choice(ORDER_STATES)
            elif action == "core_state":
                session.execute(update(Order).where(Order.id.in_(rng.sample(orders, min(3, len(orders))))).values(state=rng.choice(ORDER_STATES)))
            elif action == "noop_update":  # a write that leaves the state alone counts nothing
                session.execute(update(Order).where(Order.id == rng.choice(orders)).values(name="#renamed"))
            elif action == "bulk":
                shop = rng.choice(SHOPS)
                rows = []
                for _ in range(5):
                    serial += 1
                    rows.append({"shop_domain": shop, "shopify_id": str(serial), "state": rng.choice(ORDER_STATES), "currency": "EUR"})
                session.execute(insert(Order), rows)
            elif action == "delete":
                session.execute(delete(SupplierOrder).where(SupplierOrder.order_id == (victim := rng.choice(orders))))
                session.execute(delete(Order).where(Order.id == victim))
            elif action == "delivery_state":
                delivery = session.scalar(select(SupplierOrder).order_by(func.random()).limit(1))
                if delivery is not None:
                    delivery.state = rng.choice(DELIVERY_STATES)
        if action == "fold":
            fold_state_counts(services)
        if step % 10 == 9:
            _assert_kept_equals_recount(services)
    _assert_kept_equals_recount(services)
    with services.session_factory() as session:
        assert sum(recounted(session, SHOPS[0])["order"].values()) > 0 and sum(recounted(session, SHOPS[1])["order"].values()) > 0


def test_a_fold_leaves_one_row_per_shop_kind_and_state(services) -> None:
    _suppliers(services)
    with services.session_factory.begin() as session:
        session.execute(insert(Order), [{"shop_domain": SHOPS[n % 2], "shopify_id": str(n), "state": ORDER_STATES[n % 3], "currency": "EUR"} for n in range(300)])
        session.execute(update(Order).where(Order.id <= 100).values(state=OrderState.SHIPPED.value))
    assert fold_state_counts(services) == 500  # 300 inserts, 100 changes (a -1 and a +1 each)
    with services.session_factory() as session:
        rows = session.execute(select(StateCount.shop_domain, StateCount.kind, StateCount.state)).all()
        assert len(rows) == len(set(rows)) == sum(len(c) for shop in SHOPS for c in pipeline_counts(session, shop).values())
    _assert_kept_equals_recount(services)
    assert fold_state_counts(services) == 0  # nothing new: nothing to fold (test_state_counts_fold.py: nothing written)


def test_the_recount_repairs_drift_and_names_it(services) -> None:
    suppliers = _suppliers(services)
    with services.session_factory.begin() as session:
        order = Order(shop_domain=SHOPS[0], shopify_id="1", state=OrderState.FORWARDED.value)
        session.add(order)
        session.flush()
        session.add(SupplierOrder(shop_domain=SHOPS[0], order_id=order.id, supplier_id=suppliers[SHOPS[0]], idempotency_key="k1", state="placed"))
        # Drift: rows the triggers never saw (a restore with triggers off) and a stray count.
        session.add(StateCount(shop_domain=SHOPS[0], kind="order", state=OrderState.HELD.value, delta=4))
        session.add(StateCount(shop_domain=SHOPS[1], kind="order", state=OrderState.HELD.value, delta=2))
    drift = recount_shop_states(services, SHOPS[0])
    assert drift == {"order": {OrderState.HELD.value: -4}, "delivery": {}}
    with services.session_factory() as session:
        assert pipeline_counts(session, SHOPS[0]) == recounted(session, SHOPS[0])
        assert pipeline_counts(session, SHOPS[1])["order"] == {OrderState.HELD.value: 2}  # another shop's counts are its own recount's business
    assert recount_shop_states(services, SHOPS[0]) == {"order": {}, "delivery": {}}
