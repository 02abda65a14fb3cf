"""An accepted complaint's remedy carried out, end to end: sandbox Shopify (orderCreate) -> app -> REST sandbox supplier.

"replace" creates one replacement order at no charge in Shopify, which the app routes and
forwards to the supplier exactly once, on the timeline and in the customer's notice, across a
crash between Shopify's answer and our commit; "repair" is the merchant's task; either is
marked done by an admin action, once; a complaint the law accepted gets its remedy chosen.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from integrations.shopify.errors import ShopifyTransientError

from shopify_app.orders.models import CustomerNotice, Order, OrderEvent
from shopify_app.returns.deadlines import check_deadlines
from shopify_app.returns.outcome_models import ReturnOutcome
from shopify_app.returns.outcomes import carry_out, carry_out_due
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import Alert, SupplierOrder

from returns.returns_world import SHOP, World, serve_world


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    yield from serve_world(sandboxed_app, sandbox_shopify)


def replacement_orders(world: World) -> list[dict]:
    shop = world.store.require_shop(SHOP)
    return [o for o in shop.all("Order") if "replacement" in (o.get("tags") or [])]


def events(world: World, order_gid: str) -> list[str]:
    with world.services.session_factory() as session:
        ours = session.scalar(select(Order).where(Order.shopify_id == order_gid.rsplit("/", 1)[-1]))
        return [e.kind for e in session.scalars(select(OrderEvent).where(OrderEvent.order_id == ours.id).order_by(OrderEvent.id))]


def notices(world: World) -> list[str]:
    with world.services.session_factory() as session:
        return [n.kind for n in session.scalars(select(CustomerNotice).order_by(CustomerNotice.id))]


def forward(world: World) -> None:
    world.shopify.deliver_pending()
    world.drain()  # the replacement's orders/create: synced and routed like any order
    ForwardingWorker(world.services.session_factory, world.services.box).drain()


def deliveries_of(world: World, order_gid: str) -> list[tuple[str, str, list[tuple[str, int]]]]:
    """(state, idempotency key, [(supplier sku, quantity)]) of each supplier order of the Shopify order."""
    with world.services.session_factory() as session:
        rows = session.scalars(select(SupplierOrder).join(Order).where(Order.shopify_id == order_gid.rsplit("/", 1)[-1])).all()
        return [(d.state, d.idempotency_key, [(line.supplier_sku, line.quantity) for line in d.lines]) for d in rows]


def accepted_complaint(world: World, remedy: str):
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=20, country="PL")
    case = world.request_return(order, "MUG-WHT", reason="DEFECTIVE")
    assert case.kind == "complaint"
    answered = world.api("post", f"/api/returns/{case.id}/complaint", json={"answer": "accept", "remedy": remedy})
    assert answered.status_code == 200, answered.get_json()
    return order, case


def test_a_replacement_is_one_free_order_forwarded_to_the_supplier_once(world) -> None:
    order, case = accepted_complaint(world, "replace")
    [replacement] = replacement_orders(world)
    shop = world.store.require_shop(SHOP)
    assert [(li["sku"], li["quantity"], li["originalUnitPriceSet"]["shopMoney"]["amount"]) for li in shop.deref(replacement["lineItems"])] == [("MUG-WHT", 1, "0.00")]
    original = shop.get(order["id"])
    assert replacement["shippingAddress"]["countryCodeV2"] == "PL" and replacement["email"] == original["email"]
    forward(world)
    [(state, key, lines)] = deliveries_of(world, replacement["id"])
    assert state == "placed" and lines == [("MUG-WHT", 1)]
    # Everything again: the pump, the answer (refused: answered), the remedy button, forwarding.
    assert carry_out_due(world.services) == 0
    assert world.api("post", f"/api/returns/{case.id}/complaint", json={"answer": "accept", "remedy": "replace"}).status_code == 409
    assert world.api("post", f"/api/returns/{case.id}/remedy", json={"action": "replace"}).status_code == 409
    forward(world)
    assert len(replacement_orders(world)) == 1 and world.supplier_server.orders_created(key) == 1
    kinds = events(world, order["id"])
    assert kinds.count("complaint_replacement_requested") == 1 and kinds.count("complaint_replacement_sent") == 1
    assert notices(world).count("return_replacement") == 1
    # No money for a replacement; the merchant marks it done once, and the customer is told.
    assert world.api("post", f"/api/returns/{case.id}/outcome", json={"kind": "refund"}).status_code == 409
    done = world.api("post", f"/api/returns/{case.id}/remedy", json={"action": "done"})
    assert done.status_code == 200 and done.get_json()["return_"]["remedy_done_at"]
    assert world.api("post", f"/api/returns/{case.id}/remedy", json={"action": "done"}).status_code == 409
    assert "complaint_remedy_done" in events(world, order["id"]) and "return_replacement_done" in notices(world)
    assert open_remedy_tasks(world, case) == []


def open_remedy_tasks(world: World, case) -> list[str]:
    with world.services.session_factory() as session:
        return [a.message for a in session.scalars(select(Alert).where(Alert.dedupe_key == f"return_remedy:{case.id}", Alert.resolved_at.is_(None)))]


def test_no_task_asks_the_merchant_to_send_the_replacement_the_app_creates(world) -> None:
    order = world.delivered_order("TEE-S", 1, delivered_days_ago=20, country="PL")
    case = world.request_return(order, "TEE-S", reason="DEFECTIVE")
    assert check_deadlines(world.services, now=case.complaint_due_at + dt.timedelta(minutes=1)).accepted_by_law == 1
    world.drain()
    assert len(open_remedy_tasks(world, case)) == 1  # the law accepted it: the merchant chooses the remedy
    assert world.api("post", f"/api/returns/{case.id}/remedy", json={"action": "replace"}).status_code == 200
    assert len(replacement_orders(world)) == 1
    assert open_remedy_tasks(world, case) == []  # the app sent it: nothing tells the merchant to send another


def test_an_old_task_to_send_the_replacement_is_settled_when_the_app_records_it(world, monkeypatch) -> None:
    from shopify_app.returns import complaints
    from shopify_app.returns.models import ReturnCase
    from shopify_app.returns.remedies import raise_remedy_task

    monkeypatch.setattr(complaints, "send_now", lambda services, outcome_id: None)  # the pump does it
    order, case = accepted_complaint(world, "replace")
    with world.services.session_factory.begin() as session:  # a task raised before the app created replacements itself
        raise_remedy_task(session, session.get(ReturnCase, case.id), replacement_by_hand=True)
    assert len(open_remedy_tasks(world, case)) == 1
    assert carry_out_due(world.services) == 1 and len(replacement_orders(world)) == 1
    assert open_remedy_tasks(world, case) == []


class AfterCreate:
    """The real gateway; raises right after Shopify created the replacement order, before our commit."""

    def __init__(self, gateway):
        self.gateway = gateway

    def query(self, *args, **kwargs):
        return self.gateway.query(*args, **kwargs)

    def mutate(self, name, *args, **kwargs):
        data = self.gateway.mutate(name, *args, **kwargs)
        if name == "ReplacementOrderCreate":
            raise RuntimeError("killed between Shopify's answer and our commit")
        return data


def test_a_crash_after_shopify_created_the_replacement_never_creates_a_second(world, monkeypatch) -> None:
    from shopify_app.returns import complaints

    monkeypatch.setattr(complaints, "send_now", lambda services, outcome_id: None)  # the pump does it
    order, case = accepted_complaint(world, "replace")
    with world.services.session_factory() as session:
        row_id = session.scalar(select(ReturnOutcome.id).where(ReturnOutcome.return_case_id == case.id))
    with pytest.raises(RuntimeError):
        carry_out(world.services, row_id, gateway=AfterCreate(world.services.gateway(SHOP)))
    assert len(replacement_orders(world)) == 1
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=3)
    assert carry_out_due(world.services, now=later) == 1  # asked Shopify by the tag: it exists
    with world.services.session_factory() as session:
        row = session.get(ReturnOutcome, row_id)
        assert (row.kind, row.state, row.request["replacement_order"]) == ("replacement", "done", replacement_orders(world)[0]["id"])
    assert len(replacement_orders(world)) == 1 and notices(world).count("return_replacement") == 1


def test_a_repair_is_the_merchants_task_marked_done_once_and_never_money(world) -> None:
    order, case = accepted_complaint(world, "repair")
    assert replacement_orders(world) == []
    with world.services.session_factory() as session:
        task = session.scalar(select(Alert).where(Alert.dedupe_key == f"return_remedy:{case.id}"))
        assert task is not None and "repair" in task.message and task.resolved_at is None
    for kind in ("refund", "store_credit"):
        assert world.api("post", f"/api/returns/{case.id}/outcome", json={"kind": kind}).status_code == 409
    assert world.api("post", f"/api/returns/{case.id}/remedy", json={"action": "replace"}).status_code == 409  # already chosen
    assert world.api("post", f"/api/returns/{case.id}/remedy", json={"action": "done"}).status_code == 200
    assert "complaint_remedy_done" in events(world, order["id"]) and "return_repair_done" in notices(world)
    bad = world.api("post", f"/api/returns/{case.id}/remedy", json={"action": "polish"})
    assert bad.status_code == 400


def test_a_complaint_accepted_by_law_gets_the_remedy_the_merchant_chooses(world) -> None:
    order = world.delivered_order("TEE-S", 1, delivered_days_ago=20, country="PL")
    case = world.request_return(order, "TEE-S", reason="DEFECTIVE")
    assert check_deadlines(world.services, now=case.complaint_due_at + dt.timedelta(minutes=1)).accepted_by_law == 1
    world.drain()
    assert world.api("post", f"/api/returns/{case.id}/remedy", json={"action": "done"}).status_code == 409  # nothing chosen yet
    chosen = world.api("post", f"/api/returns/{case.id}/remedy", json={"action": "replace"})
    assert chosen.status_code == 200 and chosen.get_json()["return_"]["remedy_due"] == "replacement"
    assert len(replacement_orders(world)) == 1
    forward(world)
    assert len(deliveries_of(world, replacement_orders(world)[0]["id"])) == 1
    assert "complaint_remedy_chosen" in events(world, order["id"])


class AnswerLost:
    """The real gateway; orderCreate's answer is lost (a timeout): `landed` says whether Shopify created the order first."""

    def __init__(self, gateway, landed: bool):
        self.gateway, self.landed = gateway, landed

    def query(self, *args, **kwargs):
        return self.gateway.query(*args, **kwargs)

    def mutate(self, name, *args, **kwargs):
        if name == "ReplacementOrderCreate":
            if self.landed:
                self.gateway.mutate(name, *args, **kwargs)
            raise ShopifyTransientError("read timed out", operation="orderCreate", outcome_unknown=True)
        return self.gateway.mutate(name, *args, **kwargs)


def lost_replacement(world: World, monkeypatch, landed: bool) -> int:
    from shopify_app.returns import complaints

    monkeypatch.setattr(complaints, "send_now", lambda services, outcome_id: None)  # the pump does it
    order, case = accepted_complaint(world, "replace")
    with world.services.session_factory() as session:
        row_id = session.scalar(select(ReturnOutcome.id).where(ReturnOutcome.return_case_id == case.id))
    assert carry_out(world.services, row_id, gateway=AnswerLost(world.services.gateway(SHOP), landed)) == "unknown"
    return row_id


def test_the_order_search_lagging_behind_order_create_never_sends_a_second_replacement(world, monkeypatch) -> None:
    shop = world.store.require_shop(SHOP)
    shop.order_search_lag = 3600  # the new order is not in Shopify's search index yet
    row_id = lost_replacement(world, monkeypatch, landed=True)
    assert len(replacement_orders(world)) == 1
    start = dt.datetime.now(dt.timezone.utc)
    assert carry_out_due(world.services, now=start + dt.timedelta(seconds=40)) == 0  # asked only once the search settled
    assert carry_out_due(world.services, now=start + dt.timedelta(minutes=11)) == 1  # one miss: not proof it never landed
    assert carry_out_due(world.services, now=start + dt.timedelta(minutes=15)) == 0
    assert len(replacement_orders(world)) == 1
    shop.order_search_lag = 0  # the index caught up
    assert carry_out_due(world.services, now=start + dt.timedelta(minutes=22)) == 1
    with world.services.session_factory() as session:
        row = session.get(ReturnOutcome, row_id)
        assert (row.state, row.request["replacement_order"]) == ("done", replacement_orders(world)[0]["id"])
    assert len(replacement_orders(world)) == 1


def test_a_replacement_that_never_reached_shopify_is_sent_after_two_settled_misses(world, monkeypatch) -> None:
    row_id = lost_replacement(world, monkeypatch, landed=False)
    assert replacement_orders(world) == []
    start = dt.datetime.now(dt.timezone.utc)
    assert carry_out_due(world.services, now=start + dt.timedelta(minutes=11)) == 1  # first miss
    assert replacement_orders(world) == []
    assert carry_out_due(world.services, now=start + dt.timedelta(minutes=22)) == 1  # second miss, 10+ minutes later: send it
    assert len(replacement_orders(world)) == 1
    with world.services.session_factory() as session:
        assert session.get(ReturnOutcome, row_id).state == "done"

