"""Compliance requests reach the customer's side (issue 17): returns, cases, notices, satisfaction answers, unsubscribes.

A guest customer (no customer id on the order) is named by email alone, without orders_to_redact:
every source must find their orders although the orders' source clears the emails it finds them by.
Runs through the real webhook intake and inbox worker, on SQLite and PostgreSQL.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from conftest import sample_json
from shopify_app.cases.models import Case, CaseMessage, CasePhoto
from shopify_app.models import ComplianceExport, ComplianceLog, utcnow
from shopify_app.notify.customer_models import NoticeUnsubscribe, SatisfactionAnswer
from shopify_app.notify.notice_links import email_digest
from shopify_app.orders.models import CustomerNotice, Order
from shopify_app.returns.models import ReturnCase, ReturnLine
from test_privacy_complete import SHOP_A, deliver, drain

GUEST = "ola.guest@example.pl"
OTHER = "someone.else@example.com"


@pytest.fixture
def app(app_factory, database_url, tmp_path, monkeypatch):
    monkeypatch.setattr("shopify_app.config.INSTANCE_DIR", tmp_path / "instance")
    app = app_factory(database_url)
    app.extensions["services"].tokens.save(SHOP_A, "shpat_test", None, None, None, "read_orders")
    return app


def plant(app, email: str, number: int) -> int:
    """A guest's order with a return, a case with a photo, two notices, a follow-up answer and an unsubscribe."""
    with app.extensions["services"].session_factory.begin() as session:
        order = Order(shop_domain=SHOP_A, shopify_id=str(number), name=f"#{number}", email=email, customer_email=email, state="shipped")
        session.add(order)
        session.flush()
        case = ReturnCase(shop_domain=SHOP_A, return_gid=f"gid://shopify/Return/{number}", order_id=order.id, name=f"#{number}-R1")
        case.lines = [ReturnLine(return_line_item_gid=f"gid://shopify/ReturnLineItem/{number}", sku="MUG", quantity=1, reason="DEFECTIVE",
                                 customer_note="The handle came off when my son lifted it", reason_note="chipped on arrival")]
        session.add(case)
        complaint = Case(shop_domain=SHOP_A, order_id=order.id, kind="damaged", due_at=utcnow())
        message = CaseMessage(author="customer", body="Photo of the broken mug in our kitchen")
        message.photos = [CasePhoto(content_type="image/jpeg", width=1, height=1, data=b"\xff\xd8jpeg")]
        complaint.messages = [message]
        session.add(complaint)
        session.add_all([
            CustomerNotice(order_id=order.id, kind="review_request", dedupe_key=f"review_request:{order.id}", status="sent", sent_at=utcnow()),
            SatisfactionAnswer(shop_domain=SHOP_A, order_id=order.id, answer="bad", review_clicked_at=utcnow()),
            NoticeUnsubscribe(shop_domain=SHOP_A, email_digest=email_digest(SHOP_A, email)),
        ])
        return order.id


def request(topic: str, email: str) -> dict:
    body = sample_json(topic.replace("/", "_"))
    body.update(customer={"id": 424242, "email": email, "phone": None}, shop_domain=SHOP_A)
    body.pop("orders_to_redact", None), body.pop("orders_requested", None)
    return body


def test_a_guests_redaction_by_email_erases_their_return_case_and_notice_data(app):
    mine, theirs = plant(app, GUEST, 5001), plant(app, OTHER, 5002)
    deliver(app, "customers/redact", request("customers/redact", GUEST.upper()), SHOP_A)
    drain(app)
    with app.extensions["services"].session_factory() as session:
        lines = {line.case.order_id: (line.customer_note, line.reason_note) for line in session.scalars(select(ReturnLine))}
        assert lines == {mine: (None, None), theirs: ("The handle came off when my son lifted it", "chipped on arrival")}
        bodies = {m.case.order_id: m.body for m in session.scalars(select(CaseMessage))}
        assert bodies[mine] != "Photo of the broken mug in our kitchen" and bodies[theirs] == "Photo of the broken mug in our kitchen"
        photos = {p.message_id for p in session.scalars(select(CasePhoto))}
        assert photos == {m.id for m in session.scalars(select(CaseMessage)) if m.case.order_id == theirs}
        unsubscribed = set(session.scalars(select(NoticeUnsubscribe.email_digest)))
        assert unsubscribed == {email_digest(SHOP_A, OTHER)}  # the guest's is gone: it was derived from their email
        assert session.scalar(select(Order.email).where(Order.id == mine)) is None
        detail = session.scalars(select(ComplianceLog).where(ComplianceLog.action == "customer_redact")).one().detail
        assert (detail["sources"]["orders"], detail["sources"]["returns"], detail["sources"]["cases"], detail["sources"]["notices"]) == (1, 1, 1, 1)
        # Answers and notices stay, tied to an order that names nobody now: the satisfaction KPI still counts them.
        assert session.scalar(select(func.count()).select_from(SatisfactionAnswer)) == 2


def test_a_guests_data_export_lists_their_notices_answers_and_unsubscribe(app):
    mine, _ = plant(app, GUEST, 5001), plant(app, OTHER, 5002)
    deliver(app, "customers/data_request", request("customers/data_request", GUEST), SHOP_A)
    drain(app)
    with app.extensions["services"].session_factory() as session:
        export = session.scalars(select(ComplianceExport)).one().export
    notices = export["sources"]["notices"]
    assert [n["type"] for n in notices] == ["notice", "satisfaction", "unsubscribed"]
    assert (notices[0]["order"], notices[0]["kind"], notices[0]["status"]) == ("#5001", "review_request", "sent")
    assert (notices[1]["order"], notices[1]["answer"], notices[1]["review_clicked"]) == ("#5001", "bad", True)
    assert [r["customer_note"] for r in export["sources"]["returns"]] == ["The handle came off when my son lifted it"]
    assert [m["text"] for m in export["sources"]["cases"]] == ["Photo of the broken mug in our kitchen"]
    assert "#5002" not in json.dumps(export["sources"])
