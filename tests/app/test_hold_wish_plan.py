"""has_pending_holds finds the few fulfillment orders with a hold wish pending through their own index.

Every orders/* webhook that changed something asks it. Both databases walked all the shop's
fulfillment orders for it (the unique (shop_domain, shopify_id) index), a cost that grew with
the shop's history: 0.79 ms a question at 2,000 fulfillment orders on SQLite.
"""
from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from shopify_app.fulfillment.holds import _HAS_WISH, has_pending_holds
from shopify_app.models import utcnow
from test_inbox_look_plan import _plan

SHOP = "busy.myshopify.com"
SETTLED_ROWS = 5_000


def _fill(engine) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO shops (domain, status, installed_at) VALUES (:shop, 'installed', :now)"), {"shop": SHOP, "now": now})
        order = conn.execute(text("INSERT INTO orders (shop_domain, shopify_id, state, created_at, updated_at) VALUES (:shop, '1', 'routed', :now, :now) RETURNING id"),
                             {"shop": SHOP, "now": now}).scalar_one()
        rows = [{"shop": SHOP, "order": order, "id": str(i), "reason": None, "now": now} for i in range(SETTLED_ROWS)]
        rows.append({"shop": SHOP, "order": order, "id": "wish", "reason": "OTHER", "now": now})  # a hold of ours to place
        conn.execute(text("INSERT INTO fulfillment_orders (shop_domain, order_id, shopify_id, status, managed_by, lines, holds, app_hold_reason, location_primary, created_at, updated_at) "
                          "VALUES (:shop, :order, :id, 'OPEN', 'merchant', '[]', '[]', :reason, false, :now, :now)"), rows)
        conn.execute(text("ANALYZE"))


def test_pending_hold_wishes_are_found_through_their_partial_index(database_url) -> None:
    engine = create_engine(database_url)
    try:
        _fill(engine)
        plan = _plan(engine, _HAS_WISH, {"p_shop": SHOP})
        assert "ix_fulfillment_orders_hold_wish" in plan, plan  # it was the unique index: every fulfillment order of the shop
        with Session(engine) as session:
            assert has_pending_holds(session, SHOP)
            session.execute(text("UPDATE fulfillment_orders SET app_hold_id = 'gid://shopify/FulfillmentHold/1' WHERE shopify_id = 'wish'"))
            assert not has_pending_holds(session, SHOP), "held as wished: nothing pending"
            session.execute(text("UPDATE fulfillment_orders SET app_hold_reason = NULL WHERE shopify_id = 'wish'"))
            assert has_pending_holds(session, SHOP), "a hold of ours to release"
    finally:
        engine.dispose()
