"""Review findings 1, 4, 5, 6 and 12 (returns, L x O), end to end over the sandbox Shopify.

An accepted complaint's remedy decides the outcome (no cash for a replacement or repair, the
merchant chooses when the law accepted it); fees use the case's legal profile; store credit on
a statutory withdrawal needs the customer's agreement; a settled outcome stops the refund
clock whatever the amount; late goods get a grace day and an outcome under way raises no alarm.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from shopify_app.models import Shop
from shopify_app.orders.models import OrderEvent
from shopify_app.returns.business_days import end_of_local_day
from shopify_app.returns.deadlines import RECEIPT_GRACE, check_deadlines, refund_due
from shopify_app.returns.intake import record_return
from shopify_app.returns.models import ReturnCase
from shopify_app.returns.outcome_models import ReturnOutcome
from shopify_app.returns.outcomes import _record_done, carry_out_due, request_outcome
from shopify_app.suppliers.models import Alert

from conftest import API_KEY
from returns.returns_world import SHOP, serve_world


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    yield from serve_world(sandboxed_app, sandbox_shopify)


def outcomes(world, case_id: int) -> list[tuple[str, str, str | None]]:
    with world.services.session_factory() as session:
        return [(o.kind, o.state, o.amount) for o in session.scalars(select(ReturnOutcome).where(ReturnOutcome.return_case_id == case_id))]


def open_alerts(world, kind: str) -> list[Alert]:
    with world.services.session_factory() as session:
        return session.scalars(select(Alert).where(Alert.kind == kind, Alert.resolved_at.is_(None))).all()


def events(world, case) -> list[str]:
    with world.services.session_factory() as session:
        return [e.kind for e in session.scalars(select(OrderEvent).where(OrderEvent.order_id == case.order_id).order_by(OrderEvent.id))]


def returns_page(world) -> str:
    token = world.shopify.mint_session_token(SHOP, API_KEY)
    return world.app.test_client().get(f"/returns?shop={SHOP}&host=abc&embedded=1&id_token={token}").get_data(as_text=True)


def receive_all(world, case) -> None:
    got = world.api("post", f"/api/returns/{case.id}/receive", json={"lines": [{"line_id": line.id, "received": line.quantity} for line in case.lines]})
    assert got.status_code == 200, got.get_json()


def test_a_complaint_accepted_with_a_replacement_is_a_task_never_a_refund(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=20, country="PL")
    case = world.request_return(order, "MUG-WHT", reason="DEFECTIVE")
    assert case.kind == "complaint"
    answered = world.api("post", f"/api/returns/{case.id}/complaint", json={"answer": "accept", "remedy": "replace"})
    assert answered.status_code == 200 and answered.get_json()["return_"]["remedy_due"] == "replacement"
    world.drain()
    case = world.case(case.return_gid)
    receive_all(world, case)
    carry_out_due(world.services)
    assert outcomes(world, case.id) == [("replacement", "done", None)]  # a replacement order, no money back (test_complaint_remedies.py)
    # The app created the replacement itself: no task tells the merchant to send one (they would ship a second).
    assert open_alerts(world, "return_remedy_due") == []
    assert "complaint_remedy_due" not in events(world, case) and "complaint_replacement_sent" in events(world, case)
    for kind in ("refund", "store_credit"):
        refused = world.api("post", f"/api/returns/{case.id}/outcome", json={"kind": kind})
        assert refused.status_code == 409 and refused.get_json()["fields"][0]["field"] == "kind", refused.get_json()
    assert outcomes(world, case.id) == [("replacement", "done", None)]
    page = returns_page(world)
    assert "Mark replacement done" in page and f'/api/returns/{case.id}/outcome" data-body' not in page  # no money buttons


def warsaw_shop(world) -> None:
    with world.services.session_factory.begin() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == SHOP))
        if shop is None:
            shop = Shop(domain=SHOP)
            session.add(shop)
        shop.iana_timezone = "Europe/Warsaw"


def test_a_complaint_accepted_by_law_waits_for_the_merchants_choice_of_remedy(world) -> None:
    warsaw_shop(world)
    order = world.delivered_order("TEE-S", 1, delivered_days_ago=20, country="PL")
    case = world.request_return(order, "TEE-S", reason="DEFECTIVE")
    # The 14 days to answer end at the end of the 14th day in the shop's zone (Civil Code art. 111), not 14x24 h on.
    assert case.complaint_due_at == end_of_local_day(case.requested_at, 14, "Europe/Warsaw")
    assert check_deadlines(world.services, now=case.complaint_due_at - dt.timedelta(seconds=1)).accepted_by_law == 0
    assert check_deadlines(world.services, now=case.complaint_due_at + dt.timedelta(minutes=1)).accepted_by_law == 1
    world.drain()
    case = world.case(case.return_gid)
    assert (case.complaint_state, case.complaint_remedy) == ("accepted_by_law", None)
    receive_all(world, case)
    carry_out_due(world.services)
    assert outcomes(world, case.id) == []  # silence accepted the customer's demand, which may be a repair or replacement
    assert len(open_alerts(world, "return_remedy_due")) == 1
    assert world.api("get", f"/api/returns/{case.id}").get_json()["return_"]["remedy_due"] == "choose"
    credit = world.api("post", f"/api/returns/{case.id}/outcome", json={"kind": "store_credit"})
    assert credit.status_code == 409 and credit.get_json()["fields"][0]["field"] == "kind"
    chosen = world.api("post", f"/api/returns/{case.id}/outcome", json={"kind": "refund"})  # the merchant chooses the refund
    assert chosen.status_code == 200, chosen.get_json()
    assert [(k, s) for k, s, _a in outcomes(world, case.id)] == [("refund", "done")]
    case = world.case(case.return_gid)
    assert case.complaint_remedy == "refund" and case.refunded_at is not None
    assert open_alerts(world, "return_remedy_due") == []


def test_store_credit_on_a_polish_withdrawal_needs_the_customers_recorded_agreement(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=4, country="PL")
    case = world.request_return(order, "MUG-WHT")
    assert (case.decision, case.legal_profile) == ("approve", "PL")
    refused = world.api("post", f"/api/returns/{case.id}/outcome", json={"kind": "store_credit"})
    body = refused.get_json()
    assert refused.status_code == 409 and body["fields"][0]["field"] == "customer_agreed" and "2011/83/EU" in body["error"]
    assert """data-body='{"kind": "store_credit", "customer_agreed": true}'""" in returns_page(world)  # the page asks for the consent
    assert outcomes(world, case.id) == []
    agreed = world.api("post", f"/api/returns/{case.id}/outcome", json={"kind": "store_credit", "customer_agreed": True})
    assert agreed.status_code == 200, agreed.get_json()
    with world.services.session_factory() as session:
        row = session.scalar(select(ReturnOutcome).where(ReturnOutcome.return_case_id == case.id))
        assert (row.kind, row.state, row.request.get("customer_agreed")) == ("store_credit", "done", True)
    assert "return_store_credit_agreed" in events(world, case)


def test_the_outcome_uses_the_cases_legal_profile_and_the_case_learns_its_order(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=4, country="PL")
    case = world.request_return(order, "MUG-WHT")
    with world.services.session_factory.begin() as session:
        ours = session.get(ReturnCase, case.id)
        order_id, ours.order_id = ours.order_id, None  # as if the case came before the order was mirrored
    with world.services.session_factory.begin() as session:
        row = request_outcome(session, session.get(ReturnCase, case.id), "refund", by="merchant")
        row_id = row.id
    carry_out_due(world.services)
    with world.services.session_factory() as session:
        row = session.get(ReturnOutcome, row_id)
        assert (row.state, row.legal_profile, row.restocking_fee) == ("done", "PL", "0.00")
    with world.services.session_factory.begin() as session:
        record_return(session, SHOP, {"id": case.return_gid, "order": {"id": order["id"]}})
    assert world.case(case.return_gid).order_id == order_id


@pytest.mark.parametrize("kind", ["refund", "exchange"])
def test_a_done_outcome_that_moved_no_money_stops_the_refund_clock(world, kind) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=4, country="PL")
    case = world.request_return(order, "MUG-WHT")
    with world.services.session_factory.begin() as session:
        ours = session.get(ReturnCase, case.id)
        ours.received_at = ours.requested_at  # the goods are back: the clock runs
        assert refund_due(ours) is not None
        row_id = request_outcome(session, ours, kind, by="merchant").id
    _record_done(world.services.session_factory, row_id, {}, [])  # Shopify made no refund (nothing to pay)
    case = world.case(case.return_gid)
    assert refund_due(case) is None
    assert check_deadlines(world.services, now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).alerts_raised == 0


def test_late_goods_get_a_grace_day_and_an_outcome_under_way_raises_no_deadline_alert(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=4, country="PL")
    case = world.request_return(order, "MUG-WHT")
    late = case.refund_due_at + dt.timedelta(days=3)
    with world.services.session_factory.begin() as session:
        ours = session.get(ReturnCase, case.id)
        ours.received_at = late
        assert refund_due(ours) == late + RECEIPT_GRACE
        row_id = request_outcome(session, ours, "refund", by="merchant").id  # pending: the pump is about to refund
    assert check_deadlines(world.services, now=late + RECEIPT_GRACE + dt.timedelta(hours=1)).alerts_raised == 0
    with world.services.session_factory.begin() as session:
        session.get(ReturnOutcome, row_id).state = "failed"  # no longer under way: the clock alarms
    report = check_deadlines(world.services, now=late + RECEIPT_GRACE + dt.timedelta(hours=1))
    assert report.alerts_raised == 1 and open_alerts(world, "refund_due")[0].severity == "critical"


def test_every_caller_of_the_outcome_request_gets_the_legal_checks_not_only_the_api(world) -> None:
    from shopify_app.returns.outcomes import OutcomeRefused

    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=4, country="PL")
    case = world.request_return(order, "MUG-WHT")
    with pytest.raises(OutcomeRefused) as refused, world.services.session_factory.begin() as session:
        request_outcome(session, session.get(ReturnCase, case.id), "store_credit", by="app")  # a job, no consent recorded
    assert refused.value.field == "customer_agreed" and "2011/83/EU" in str(refused.value)
    assert outcomes(world, case.id) == []
    complaint_order = world.delivered_order("TEE-S", 1, delivered_days_ago=20, country="PL")
    complaint = world.request_return(complaint_order, "TEE-S", reason="DEFECTIVE")
    assert world.api("post", f"/api/returns/{complaint.id}/complaint", json={"answer": "accept", "remedy": "repair"}).status_code == 200
    world.drain()
    for kind in ("refund", "store_credit"):
        with pytest.raises(OutcomeRefused) as refused, world.services.session_factory.begin() as session:
            request_outcome(session, session.get(ReturnCase, complaint.id), kind, by="app")
        assert refused.value.field == "kind"
    assert outcomes(world, complaint.id) == []
    with pytest.raises(OutcomeRefused), world.services.session_factory.begin() as session:
        declined = session.get(ReturnCase, case.id)
        declined.decision = "decline"
        request_outcome(session, declined, "refund", by="app")  # only an approved return has an outcome
