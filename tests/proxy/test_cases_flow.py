"""A report from the store page becomes a case on a clock; the merchant answers in the admin; the customer sees it and gets one email; KPIs and out-of-stock."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import select

from orders.test_delays_and_notices import smtp_server  # noqa: F401 (fixture: a real SMTP server)
from conftest import API_KEY, install_shop
from proxy_kit import SHOP, add_order, png_bytes, signed_query
from shopify_app.alerts import open_alerts
from shopify_app.cases.clock import alert_due_cases
from shopify_app.cases.models import Case, CaseStatus
from shopify_app.cases.out_of_stock import open_out_of_stock_case
from shopify_app.cases.service import open_case, reply
from shopify_app.kpis.evaluate import judge_kpis
from shopify_app.kpis.targets import set_targets
from shopify_app.models import utcnow
from shopify_app.notify.customer_notices import send_pending_notices
from shopify_app.orders.models import CustomerNotice, Order


@pytest.fixture
def app(app_factory, sqlite_url, sandbox_shopify):
    app = app_factory(sqlite_url)
    install_shop(app, SHOP)
    return app


@pytest.fixture
def smtp(smtp_server):
    """A real SMTP server on loopback (aiosmtpd): (inbox, settings)."""
    return smtp_server


def _open_page(app, number="#1001", email="ana@example.com"):
    client = app.test_client()
    page = client.post(f"/proxy/lookup?{signed_query()}", data={"order": number, "email": email}, headers={"X-Forwarded-For": "192.0.2.1"})
    return client, re.search(r'name="t" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def test_a_damaged_item_report_with_a_photo_is_answered_in_the_admin_and_the_customer_sees_it_and_gets_one_email(app, sandbox_shopify, smtp) -> None:
    inbox, smtp_settings = smtp
    add_order(app)
    client, token = _open_page(app)
    sent = client.post(f"/proxy/report?{signed_query()}", content_type="multipart/form-data",
                       data={"t": token, "kind": "damaged", "message": "The mug arrived cracked.", "photos": [(io.BytesIO(png_bytes()), "mug.png")]})
    assert sent.status_code == 200 and 'id="dso-notice"' in sent.get_data(as_text=True)
    factory = app.extensions["services"].session_factory
    with factory() as session:
        case = session.scalars(select(Case)).one()
        assert (case.kind, case.status, case.first_reply_at) == ("damaged", "open", None)
        assert dt.timedelta(hours=23, minutes=59) < case.due_at - case.opened_at <= dt.timedelta(hours=24)  # damaged: 24 h
        case_id = case.id

    # The merchant sees it in the queue and answers from the case page (its JSON action).
    bearer = {"Authorization": f"Bearer {sandbox_shopify.mint_session_token(SHOP, API_KEY)}"}
    queue = app.test_client().get("/api/cases?status=open", headers=bearer).get_json()["cases"]
    assert [c["id"] for c in queue] == [case_id]
    refused = app.test_client().post(f"/api/cases/{case_id}/reply", json={"body": "   "}, headers=bearer)
    assert refused.status_code == 400 and refused.get_json()["fields"][0]["field"] == "body"
    answered = app.test_client().post(f"/api/cases/{case_id}/reply", json={"body": "Sorry! A new mug ships today.", "owner": "Maya"}, headers=bearer)
    assert answered.status_code == 201 and answered.get_json()["case"]["status"] == "answered"

    page = client.get(f"/proxy/order?{signed_query(t=token)}").get_data(as_text=True)
    assert "Sorry! A new mug ships today." in page and 'data-author="merchant"' in page
    assert re.search(r'<img src="/apps/orders/photo/\d+\?', page)

    assert send_pending_notices(factory, smtp_settings).sent == 1
    assert send_pending_notices(factory, smtp_settings).sent == 0  # never twice
    (recipients, raw), = inbox.messages
    assert recipients == ["ana@example.com"] and "Sorry! A new mug ships today." in raw and "A reply about your order #1001" in raw
    with factory() as session:
        assert session.scalar(select(CustomerNotice.kind)) == "case_reply"


def test_another_shops_session_cannot_answer_a_case(app, sandbox_shopify) -> None:
    add_order(app)
    with app.extensions["services"].session_factory.begin() as session:
        case = open_case(session, session.get(Order, 1), "question", "Where is it?")
        case_id = case.id
    install_shop(app, "other.myshopify.com")
    from sandbox.shopify.store import seed_demo_shop

    seed_demo_shop(sandbox_shopify.store, "other.myshopify.com")  # a second installed shop with a valid session
    bearer = {"Authorization": f"Bearer {sandbox_shopify.mint_session_token('other.myshopify.com', API_KEY)}"}
    assert app.test_client().post(f"/api/cases/{case_id}/reply", json={"body": "hi"}, headers=bearer).status_code == 404
    assert app.test_client().get("/api/cases", headers=bearer).get_json()["cases"] == []


def test_a_case_about_to_miss_its_target_raises_an_alert_that_the_answer_resolves(app) -> None:
    add_order(app)
    factory = app.extensions["services"].session_factory
    opened = utcnow() - dt.timedelta(hours=23)
    with factory.begin() as session:
        set_targets(session, SHOP, {"reply_hours": 24})
        case = open_case(session, session.get(Order, 1), "question", "Do you ship to Haifa?", now=opened)
        case_id = case.id
    with factory.begin() as session:
        assert alert_due_cases(session, SHOP, opened + dt.timedelta(hours=20)) == 0  # 4 h left: not yet
        assert alert_due_cases(session, SHOP, utcnow()) == 1  # 1 h left
    with factory() as session:
        (alert,) = [a for a in open_alerts(session, SHOP) if a.kind == "case_due"]
        assert alert.severity == "warning" and str(case_id) in alert.message
    with factory.begin() as session:
        reply(session, session.get(Case, case_id), "Yes, in 3 days.")
    with factory() as session:
        assert [a for a in open_alerts(session, SHOP) if a.kind == "case_due"] == []
    with factory.begin() as session:
        assert alert_due_cases(session, SHOP, utcnow() + dt.timedelta(hours=5)) == 0  # answered: no clock


def test_the_reply_time_kpi_is_computed_from_question_cases(app) -> None:
    add_order(app)
    factory = app.extensions["services"].session_factory
    now = utcnow()
    with factory.begin() as session:
        order = session.get(Order, 1)
        quick = open_case(session, order, "question", "Colour?", now=now - dt.timedelta(hours=30))
        reply(session, quick, "Blue.", now=now - dt.timedelta(hours=28))
        slow = open_case(session, order, "question", "Size?", now=now - dt.timedelta(hours=60))
        reply(session, slow, "M.", now=now - dt.timedelta(hours=10))
        open_case(session, order, "damaged", "Broken", now=now - dt.timedelta(hours=2))  # pending: counts in neither share
    with factory() as session:
        verdict = judge_kpis(session, SHOP, now)["reply_time"]
        damaged = judge_kpis(session, SHOP, now)["damaged_reaction"]
    assert verdict["status"] == "missed" and verdict["value"] == 0.5
    assert damaged["status"] == "no_data"


def test_an_out_of_stock_line_opens_one_case_and_one_notice_with_the_shops_choice(app, sandbox_shopify, smtp) -> None:
    inbox, smtp_settings = smtp
    add_order(app)
    factory = app.extensions["services"].session_factory
    bearer = {"Authorization": f"Bearer {sandbox_shopify.mint_session_token(SHOP, API_KEY)}"}
    assert app.test_client().put("/api/cases/settings", json={"out_of_stock_choice": "teleport"}, headers=bearer).status_code == 400
    assert app.test_client().put("/api/cases/settings", json={"out_of_stock_choice": "refund"}, headers=bearer).get_json() == {"out_of_stock_choice": "refund"}
    for _ in range(2):  # the cause is seen again (webhook redelivered, routing re-run)
        with factory.begin() as session:
            open_out_of_stock_case(session, session.get(Order, 1), "supplier_oos:7", "MUG-WHT")
    with factory() as session:
        (case,) = session.scalars(select(Case)).all()
        assert (case.kind, case.source, case.status) == ("out_of_stock", "app", CaseStatus.OPEN.value)
        assert case.due_at - case.opened_at == dt.timedelta(hours=12)
        assert session.scalars(select(CustomerNotice.kind)).all() == ["out_of_stock"]
    assert send_pending_notices(factory, smtp_settings).sent == 1
    (_, raw), = inbox.messages
    assert "out of stock" in raw and "We will refund this item" in raw and "https://demo.myshopify.com/apps/orders" in raw


def test_a_customers_redaction_erases_their_case_texts_and_photos_and_the_export_lists_them(app) -> None:
    from shopify_app.cases.models import CaseMessage, CasePhoto
    from shopify_app.cases.photos import clean_photo
    from shopify_app.privacy import CustomerRef, export_customer, redact_customer
    from shopify_app.webhooks.handlers import privacy  # noqa: F401 - registers the sources

    add_order(app, email="ana@example.com")
    add_order(app, name="#1002", email="bob@example.com")
    factory = app.extensions["services"].session_factory
    with factory.begin() as session:
        open_case(session, session.get(Order, 1), "damaged", "Ana's cracked mug, call me on 555-0101", [clean_photo("a.png", png_bytes())])
        open_case(session, session.get(Order, 2), "question", "Bob asks")
    ref = CustomerRef(SHOP, None, "ana@example.com", None)
    with factory.begin() as session:
        exported = export_customer(session, ref)
        assert [m["text"] for m in exported["sources"]["cases"]] == ["Ana's cracked mug, call me on 555-0101"]
        redact_customer(session, ref)
    with factory() as session:
        assert sorted(session.scalars(select(CaseMessage.body))) == ["Bob asks", "[redacted]"]
        assert session.scalars(select(CasePhoto)).all() == []


@pytest.mark.parametrize("kind", ["case_reply", "out_of_stock"])
def test_case_emails_are_written_in_the_orders_customer_language(app, smtp, kind) -> None:
    import email
    import email.policy

    from sqlalchemy import update

    from shopify_app.models import Shop

    inbox, smtp_settings = smtp
    add_order(app)
    factory = app.extensions["services"].session_factory
    with factory.begin() as session:
        session.execute(update(Order).where(Order.id == 1).values(customer_locale="pl-PL"))
        session.execute(update(Shop).where(Shop.domain == SHOP).values(primary_locale="he"))  # the customer's language comes first
        order = session.get(Order, 1)
        if kind == "case_reply":
            reply(session, open_case(session, order, "question", "Kiedy dotrze?"), "Jutro.")
        else:
            open_out_of_stock_case(session, order, "supplier_oos:9", "MUG-WHT")
    assert send_pending_notices(factory, smtp_settings).sent == 1
    (_, raw), = inbox.messages
    received = email.message_from_bytes(raw.encode(), policy=email.policy.default)
    assert received["Content-Language"] == "pl"
    assert "Dzień dobry Ana," in received.get_content()  # the catalog's Polish greeting
