"""Statutory rights end to end over real HTTP: sandbox Shopify -> app, by the customer's shipping country.

A Polish defect claim past every store window is a complaint the merchant answers (or the
law accepts after 14 days of silence); a Polish withdrawal inside 14 days is approved and its
refund clock alerts before the deadline; a policy below the law is refused field by field; a
US order follows the store's policy alone.
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy

import babel.dates
import pytest
from sqlalchemy import select

from shopify_app.orders.models import CustomerNotice, OrderEvent
from shopify_app.returns.business_days import end_of_local_day
from shopify_app.returns.complaints import ComplaintRefused, answer_complaint
from shopify_app.returns.deadlines import ALERT_AHEAD, check_deadlines
from shopify_app.suppliers.models import Alert

from channels_kit import Inbox, start_smtp
from scheduler.embedded import PERIODIC_JOBS
from conftest import API_KEY
from shopify_app.notify.email import SmtpSettings
from shopify_app.notify.customer_notices import send_pending_notices
from returns.returns_world import SHOP, serve_world


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller, port = start_smtp(inbox)
    yield inbox, SmtpSettings("127.0.0.1", port, sender="shop@example.com")
    controller.stop()


def emails(world, smtp) -> dict[str, str]:
    """Send the pending customer notices over real SMTP: {subject: body}."""
    inbox, settings = smtp
    send_pending_notices(world.services.session_factory, settings, world.services.settings)
    messages = [email.message_from_string(raw, policy=email.policy.default) for _, raw in inbox.messages]
    return {str(m["Subject"]): m.get_content() for m in messages}


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    yield from serve_world(sandboxed_app, sandbox_shopify)


def events(world, case) -> list[str]:
    with world.services.session_factory() as session:
        return [e.kind for e in session.scalars(select(OrderEvent).where(OrderEvent.order_id == case.order_id).order_by(OrderEvent.id))]


def notices(world, case) -> list[str]:
    with world.services.session_factory() as session:
        return sorted(n.kind for n in session.scalars(select(CustomerNotice).where(CustomerNotice.order_id == case.order_id)))


def open_alerts(world, kind: str) -> list[Alert]:
    with world.services.session_factory() as session:
        return session.scalars(select(Alert).where(Alert.kind == kind, Alert.resolved_at.is_(None))).all()


def shopify_status(world, case) -> str:
    return world.store.require_shop(SHOP).get(case.return_gid)["status"]


def test_a_polish_defect_claim_on_day_20_is_a_complaint_the_merchant_answers(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=20, country="PL")
    case = world.request_return(order, "MUG-WHT", reason="DEFECTIVE")
    # Past the store's 3-business-day promise and the 14-day withdrawal, inside the 2-year guarantee.
    assert (case.kind, case.legal_profile, case.country_code, case.decision, case.status) == ("complaint", "PL", "PL", "review", "requested")
    # 14 days from the claim, to the end of that day in the shop's zone (UTC here: the shop has none).
    assert case.complaint_state == "open" and case.complaint_due_at == end_of_local_day(case.requested_at, 14, None)
    assert shopify_status(world, case) == "REQUESTED"  # never declined for time
    queue = world.api("get", "/api/returns?complaints=1").get_json()["returns"]
    assert [c["id"] for c in queue] == [case.id]
    [clock] = queue[0]["clocks"]
    assert clock["kind"] == "complaint_answer" and clock["state"] == "running" and 14 * 24 <= clock["hours_left"] <= 15 * 24  # to the end of day 14
    assert "complaint_opened" in events(world, case) and "return_complaint_received" in notices(world, case)
    assert [a.dedupe_key for a in open_alerts(world, "return_complaint")] == [f"return_review:{case.id}"]
    [watch] = [fn for job_id, _, fn in PERIODIC_JOBS if job_id == "return-deadlines"]
    watch(world.services)  # the scheduled check, today: 14 days ahead is no alert yet, and nothing is accepted
    assert open_alerts(world, "complaint_due") == [] and world.case(case.return_gid).complaint_state == "open"

    declined = world.api("post", f"/api/returns/{case.id}/decline", json={"reason": "RETURN_PERIOD_ENDED"})
    assert declined.status_code == 409 and shopify_status(world, case) == "REQUESTED"  # a complaint is answered, never declined for time
    refused = world.api("post", f"/api/returns/{case.id}/complaint", json={"answer": "reject"})
    assert refused.status_code == 400 and refused.get_json()["fields"][0]["field"] == "note"
    assert world.api("post", f"/api/returns/{case.id}/complaint", json={"answer": "accept"}).get_json()["fields"][0]["field"] == "remedy"
    answered = world.api("post", f"/api/returns/{case.id}/complaint", json={"answer": "accept", "remedy": "refund"})
    assert answered.status_code == 200, answered.get_json()
    body = answered.get_json()["return_"]
    assert body["complaint"]["state"] == "accepted" and body["complaint"]["remedy"] == "refund" and body["decision"] == "approve"
    assert shopify_status(world, case) == "OPEN"
    assert [c["kind"] for c in body["clocks"]] == ["refund", "complaint_answer"] and body["clocks"][1]["state"] == "done"
    assert "complaint_accepted" in events(world, case) and "return_complaint_accepted" in notices(world, case)
    assert "return_approved" not in notices(world, case)  # the customer hears about the complaint, once
    assert open_alerts(world, "return_complaint") == []
    assert world.api("post", f"/api/returns/{case.id}/complaint", json={"answer": "reject", "note": "late"}).status_code == 409
    world.drain()  # Shopify's returns/approve for our approval changes nothing more
    assert world.case(case.return_gid).complaint_state == "accepted"


def test_an_unanswered_polish_complaint_is_accepted_by_law_on_day_14_of_the_claim(world, smtp) -> None:
    order = world.delivered_order("TEE-S", 1, delivered_days_ago=20, country="PL")
    case = world.request_return(order, "TEE-S", reason="DEFECTIVE")
    claimed = case.requested_at
    services = world.services

    assert check_deadlines(services, now=claimed + dt.timedelta(days=10)).alerts_raised == 0
    report = check_deadlines(services, now=claimed + dt.timedelta(days=13))  # inside the 48 h before the deadline
    assert report.alerts_raised == 1 and report.accepted_by_law == 0
    [alert] = open_alerts(world, "complaint_due")
    assert alert.severity == "warning" and alert.dedupe_key == f"complaint_due:{case.id}"
    assert world.case(case.return_gid).complaint_state == "open"

    after = case.complaint_due_at + dt.timedelta(minutes=1)
    with pytest.raises(ComplaintRefused, match="accepted") as refused:  # too late to reject: the law decided
        answer_complaint(services, SHOP, case.id, "reject", None, "No defect found.", now=after)
    assert refused.value.status == 409 and shopify_status(world, case) == "REQUESTED"
    report = check_deadlines(services, now=after)
    case = world.case(case.return_gid)
    assert report.accepted_by_law == 1
    assert (case.complaint_state, case.decision, case.decided_by) == ("accepted_by_law", "approve", "law")
    assert shopify_status(world, case) == "OPEN"
    assert "complaint_accepted_by_law" in events(world, case) and "return_complaint_accepted_by_law" in notices(world, case)
    assert open_alerts(world, "complaint_due") == [] and open_alerts(world, "return_complaint") == []
    assert check_deadlines(services, now=after + dt.timedelta(days=1)).accepted_by_law == 0  # once
    assert world.api("post", f"/api/returns/{case.id}/complaint", json={"answer": "reject", "note": "No defect found."}).status_code == 409
    sent = emails(world, smtp)
    received = next(body for subject, body in sent.items() if subject.startswith("We received your complaint"))
    assert f"by {babel.dates.format_date(case.complaint_due_at.date(), 'long', locale='en')}" in received  # the deadline, written the customer's way
    assert any("within the legal deadline" in body for subject, body in sent.items() if subject.endswith("is accepted"))


def test_a_rejected_complaint_is_declined_in_shopify_with_the_reason_the_customer_reads(world, smtp) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=40, country="DE")
    case = world.request_return(order, "MUG-WHT", reason="NOT_AS_DESCRIBED")
    assert (case.kind, case.legal_profile, case.complaint_due_at) == ("complaint", "EU", None)  # EU law sets no answer deadline
    assert world.api("get", f"/api/returns/{case.id}").get_json()["return_"]["clocks"] == []
    answer = world.api("post", f"/api/returns/{case.id}/complaint", json={"answer": "reject", "note": "The photos show the item as described."})
    assert answer.status_code == 200 and answer.get_json()["return_"]["complaint"]["state"] == "rejected"
    declined = world.store.require_shop(SHOP).get(case.return_gid)
    assert declined["status"] == "DECLINED"
    assert (declined["decline"]["reason"], declined["decline"]["note"]) == ("OTHER", "The photos show the item as described.")
    assert "complaint_rejected" in events(world, case)
    rejected = next(body for subject, body in emails(world, smtp).items() if subject.startswith("Our answer to your complaint"))
    assert "The photos show the item as described." in rejected and "statutory rights" in rejected


def test_a_polish_withdrawal_on_day_13_is_approved_and_its_refund_clock_alerts_before_the_deadline(world) -> None:
    # A store policy stored before the floor existed: {"UNWANTED": 3} reads as the legal 14 days.
    with world.services.session_factory.begin() as session:
        from shopify_app.models import ShopSetting

        session.add(ShopSetting(shop_domain=SHOP, key="return_policy", value={"reason_windows": {"UNWANTED": 3}}))
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=13, country="PL")
    case = world.request_return(order, "MUG-WHT", reason="UNWANTED")
    assert (case.decision, case.kind, case.status) == ("approve", "return", "open") and shopify_status(world, case) == "OPEN"
    assert case.refund_due_at == end_of_local_day(case.requested_at, 14, None)  # to the end of day 14 (the shop here has no zone: UTC)
    [clock] = world.api("get", f"/api/returns/{case.id}").get_json()["return_"]["clocks"]
    assert clock["kind"] == "refund" and clock["state"] == "waiting_for_goods"  # the refund may wait for the goods
    services, due = world.services, case.refund_due_at
    assert check_deadlines(services, now=due - ALERT_AHEAD - dt.timedelta(hours=1)).alerts_raised == 0

    received = world.api("post", f"/api/returns/{case.id}/receive", json={"lines": [{"line_id": case.lines[0].id, "received": 1}]})
    assert received.status_code == 200 and received.get_json()["return_"]["clocks"][0]["state"] == "running"
    world.drain()
    assert check_deadlines(services, now=due - ALERT_AHEAD - dt.timedelta(hours=1)).alerts_raised == 0
    # The receipt asked for the refund: while it is under way the clock raises nothing ...
    assert check_deadlines(services, now=due - dt.timedelta(hours=47)).alerts_raised == 0
    with services.session_factory.begin() as session:
        from shopify_app.returns.outcome_models import ReturnOutcome

        session.scalar(select(ReturnOutcome).where(ReturnOutcome.return_case_id == case.id)).state = "failed"
    # ... once it failed (Shopify refused it), the clock alerts before the deadline.
    assert check_deadlines(services, now=due - dt.timedelta(hours=47)).alerts_raised == 1
    [alert] = open_alerts(world, "refund_due")
    assert alert.severity == "warning" and alert.dedupe_key == f"refund_due:{case.id}"

    world.store.create_refund(SHOP, order["id"], [{"lineItemId": case.lines[0].line_item_gid, "quantity": 1, "restockType": "NO_RESTOCK"}])
    world.shopify.deliver_pending()
    world.drain()
    assert world.case(case.return_gid).refunded_at is not None
    assert check_deadlines(services, now=due - dt.timedelta(hours=46)).alerts_resolved == 1
    assert open_alerts(world, "refund_due") == []
    assert check_deadlines(services, now=due + dt.timedelta(days=1)).alerts_raised == 0  # not after resolution
    assert open_alerts(world, "refund_due") == []
    assert world.api("get", f"/api/returns/{case.id}").get_json()["return_"]["clocks"][0]["state"] == "done"


def test_an_israeli_refund_clock_runs_from_the_request_without_waiting_for_the_goods(world) -> None:
    # Consumer Protection Law s. 14E: the refund is due 14 days from the cancellation notice; unlike
    # Directive 2011/83 art. 13(3), the dealer may not hold it until the goods are back.
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=5, country="IL")
    case = world.request_return(order, "MUG-WHT", reason="UNWANTED")
    assert (case.decision, case.legal_profile, case.received_at) == ("approve", "IL", None)
    assert case.refund_due_at == end_of_local_day(case.requested_at, 14, None)  # to the end of day 14 (the shop here has no zone: UTC)
    [clock] = world.api("get", f"/api/returns/{case.id}").get_json()["return_"]["clocks"]
    assert clock["kind"] == "refund" and clock["state"] == "running" and clock["hours_left"] is not None
    due = case.refund_due_at
    assert check_deadlines(world.services, now=due - dt.timedelta(hours=47)).alerts_raised == 1  # goods still with the customer
    [alert] = open_alerts(world, "refund_due")
    assert alert.severity == "warning" and alert.dedupe_key == f"refund_due:{case.id}"
    check_deadlines(world.services, now=due + dt.timedelta(hours=1))
    assert open_alerts(world, "refund_due")[0].severity == "critical"


def test_a_policy_below_the_minimum_is_refused_field_by_field_and_raises_are_kept(world) -> None:
    below = {"reason_windows": {"UNWANTED": 3, "DEFECTIVE": 2},
             "legal_overrides": {"PL": {"withdrawal_days": 10, "complaint_answer_days": 30, "guarantee_days": 1095}}}
    answer = world.api("put", "/api/settings/return-policy", json=below)
    assert answer.status_code == 400
    fields = {f["field"]: f["message"] for f in answer.get_json()["fields"]}
    assert set(fields) == {"reason_windows.UNWANTED", "legal_overrides.PL.withdrawal_days", "legal_overrides.PL.complaint_answer_days"}
    assert "14" in fields["reason_windows.UNWANTED"] and "at most 14" in fields["legal_overrides.PL.complaint_answer_days"]
    stored = world.api("get", "/api/settings/return-policy").get_json()["policy"]
    assert "UNWANTED" not in stored["reason_windows"] and stored["legal_overrides"] == {}  # nothing stored
    upward = {"reason_windows": {"DEFECTIVE": 2}, "legal_overrides": {"PL": {"withdrawal_days": 30, "complaint_answer_days": 7}}}
    saved = world.api("put", "/api/settings/return-policy", json=upward)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["policy"]["legal_overrides"] == {"PL": {"withdrawal_days": 30, "complaint_answer_days": 7}}
    poland = saved.get_json()["legal_profiles"]["PL"]
    assert (poland["law"]["withdrawal_days"], poland["applied"]["withdrawal_days"], poland["applied"]["complaint_answer_days"]) == (14, 30, 7)
    # The raised figures apply: a Polish withdrawal on day 20 is inside the store's 30 days.
    order = world.delivered_order("TEE-S", 1, delivered_days_ago=20, country="PL")
    case = world.request_return(order, "TEE-S", reason="UNWANTED")
    assert case.decision == "approve" and "30-day legal withdrawal" in case.decision_note


def test_a_us_order_follows_the_store_policy_alone(world) -> None:
    late_defect = world.delivered_order("MUG-WHT", 1, delivered_days_ago=20, country="US")
    case = world.request_return(late_defect, "MUG-WHT", reason="DEFECTIVE")
    assert (case.legal_profile, case.kind, case.decision, case.decline_reason) == ("NONE", "return", "decline", "RETURN_PERIOD_ENDED")
    assert "3 business days" in case.decision_note and shopify_status(world, case) == "DECLINED"
    in_window = world.delivered_order("TEE-S", 1, delivered_days_ago=13, country="US")
    case = world.request_return(in_window, "TEE-S", reason="UNWANTED")
    assert case.decision == "approve" and case.refund_due_at is None  # no statutory refund clock
    late = world.delivered_order("TEE-S", 1, delivered_days_ago=15, country="US")
    assert world.request_return(late, "TEE-S", reason="UNWANTED").decision == "decline"


def test_analytics_separate_withdrawals_complaints_and_exchanges_per_product_and_supplier(world) -> None:
    mugs = world.delivered_order("MUG-WHT", 2, delivered_days_ago=20, country="PL")
    complaint = world.request_return(mugs, "MUG-WHT", reason="DEFECTIVE")
    assert complaint.kind == "complaint"
    tees = world.delivered_order("TEE-S", 2, delivered_days_ago=2, country="PL")
    world.request_return(tees, "TEE-S", reason="UNWANTED")
    swapped = world.request_return(tees, "TEE-S", reason="SIZE_TOO_SMALL")
    with world.services.session_factory.begin() as session:
        from shopify_app.returns.models import ReturnCase

        session.get(ReturnCase, swapped.id).outcome = "exchange"  # as recorded from Shopify's exchangeLineItems
    analytics = world.api("get", "/api/returns/analytics").get_json()
    by_sku = {row["sku"]: row for row in analytics["by_product"]}
    assert by_sku["MUG-WHT"]["kinds"] == {"withdrawal": 0, "complaint": 1, "exchange": 0} and by_sku["MUG-WHT"]["defect_rate"] == 0.5
    assert by_sku["TEE-S"]["kinds"] == {"withdrawal": 1, "complaint": 0, "exchange": 1} and by_sku["TEE-S"]["defect_rate"] == 0
    [supplier] = analytics["by_supplier"]
    assert supplier["supplier_id"] == world.supplier_id and supplier["kinds"] == {"withdrawal": 1, "complaint": 1, "exchange": 1}
    assert analytics["store"]["kinds"] == {"withdrawal": 1, "complaint": 1, "exchange": 1} and analytics["store"]["defect_rate"] == 0.25
    token = world.shopify.mint_session_token(SHOP, API_KEY)
    page = world.app.test_client().get(f"/returns?shop={SHOP}&id_token={token}").get_data(as_text=True)
    complaints = page.split('id="complaints"')[1].split("</table>")[0]
    assert f'data-complaint="{complaint.name}"' in complaints and 'data-clock="complaint_answer" data-state="running"' in complaints
    mug_row = page.split('id="return-kinds"')[1].split('data-sku="MUG-WHT"')[1].split("</tr>")[0]
    assert "<td>2</td><td>0</td><td>1</td><td>0</td>" in mug_row and "50.0 %" in mug_row
    queue = page.split('id="queue"')[1].split("</table>")[0]
    assert complaint.name not in queue  # complaints have their own queue with the clock
