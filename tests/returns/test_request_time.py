"""A return request is judged as of when the customer asked (Shopify's createdAt), not when our worker got to it."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from shopify_app.orders.models import Order
from shopify_app.returns.business_days import end_of_local_day
from shopify_app.returns.intake import request_time

from returns.returns_world import SHOP, serve_world

NOW = dt.datetime(2026, 12, 4, 12, tzinfo=dt.timezone.utc)


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    yield from serve_world(sandboxed_app, sandbox_shopify)


def placed_earlier(world, order: dict, ago: dt.timedelta) -> None:
    """The sandbox places orders now; this one was placed `ago` (in Shopify and in our mirror), before its delivery."""
    placed = dt.datetime.now(dt.timezone.utc) - ago
    world.store.require_shop(SHOP).get(order["id"])["createdAt"] = placed.strftime("%Y-%m-%dT%H:%M:%SZ")
    with world.services.session_factory.begin() as session:
        session.execute(update(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[-1]).values(shopify_created_at=placed))


def test_a_request_made_on_day_14_and_processed_on_day_15_is_inside_the_window(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=15, country="PL")  # today is day 15 after delivery (UTC: the shop has no zone)
    placed_earlier(world, order, dt.timedelta(days=20))
    ret = world.store.request_return(SHOP, order["id"], [{"sku": "MUG-WHT", "quantity": 1, "reason": "UNWANTED"}])
    asked = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).replace(microsecond=0)
    ret["createdAt"] = asked.strftime("%Y-%m-%dT%H:%M:%SZ")  # the customer asked on day 14; the webhook waited a day in a backlog
    world.shopify.deliver_pending()
    world.drain()
    world.drain()  # the returns/approve our approval caused
    case = world.case(ret["id"])
    assert case.requested_at == asked
    assert (case.decision, case.decided_by, case.status) == ("approve", "policy", "open")
    # The statutory refund deadline counts from the request too: 14 days from day 14, to the end of that day.
    assert case.refund_due_at == end_of_local_day(asked, 14, None)


def test_the_request_time_is_shopifys_bounded_by_the_order_and_now() -> None:
    placed = NOW - dt.timedelta(days=20)
    order = {"id": "gid://shopify/Order/1", "createdAt": placed.isoformat()}
    asked = NOW - dt.timedelta(days=3)
    assert request_time({"createdAt": asked.isoformat(), "order": order}, None, NOW) == asked
    assert request_time({"createdAt": (NOW + dt.timedelta(hours=5)).isoformat(), "order": order}, None, NOW) == NOW  # never in the future
    assert request_time({"createdAt": (placed - dt.timedelta(days=1)).isoformat(), "order": order}, None, NOW) == placed  # never before the order
    assert request_time({"order": order}, None, NOW) == NOW  # not given: our time
    assert request_time({"createdAt": "yesterday", "order": order}, None, NOW) == NOW  # unreadable: our time
