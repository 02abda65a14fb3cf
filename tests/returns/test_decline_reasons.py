"""A decline's reason is kept as a code and its figures, and the customer reads it in their own language."""
from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest
from flask import Flask
from flask_babel import force_locale
from sqlalchemy import select

from shopify_app.i18n import init_i18n
from shopify_app.notify.customer_notices import send_pending_notices
from shopify_app.notify.email import SmtpSettings
from shopify_app.orders.models import Order
from shopify_app.returns import legal_profiles as lp
from shopify_app.returns.decline_reasons import in_words
from shopify_app.returns.policy import LineFacts, ReturnPolicy, decide

from channels_kit import Inbox, start_smtp
from returns.returns_world import serve_world

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.timezone.utc)
GUARANTEE_ENDED_PL = "Rękojmia wygasła: obejmuje 730 dni od dostawy."  # the pl catalog's translation


def claim(reason: str, age: float, profile=lp.NONE, **kw) -> LineFacts:
    return LineFacts(reason=reason, quantity=1, returnable_quantity=1, delivered_at=NOW - dt.timedelta(days=age), profile=profile, **kw)


@pytest.fixture
def babel_app():
    app = Flask(__name__)
    init_i18n(app)  # the project's catalogs
    with app.app_context():
        yield app


def test_a_decline_carries_its_reasons_as_codes_and_figures(babel_app) -> None:
    verdict, _ = decide([claim("DEFECTIVE", 800, lp.PL)], ReturnPolicy(), NOW)
    assert verdict.reasons == ({"code": "guarantee_ended", "params": {"days": 730}},)
    assert verdict.note == "The legal guarantee has ended: it covers 730 days from delivery."
    both, _ = decide([claim("UNWANTED", 20), claim("UNWANTED", 25), claim("DEFECTIVE", 20, country="US")], ReturnPolicy(), NOW)
    assert [r["code"] for r in both.reasons] == ["window_ended", "damage_window_ended_business"]  # once each
    with force_locale("pl"):
        assert in_words(verdict.reasons) == GUARANTEE_ENDED_PL


def test_stored_reasons_that_do_not_fit_say_nothing(babel_app) -> None:
    assert in_words(None) == "" and in_words([{"code": "gone_in_a_later_version"}]) == ""
    assert in_words([{"code": "guarantee_ended", "params": {"days": "<b>"}}]) == ""  # figures are whole numbers or nothing
    assert in_words([{"code": "final_sale", "params": {}}, "junk"]) == "This item was sold as final sale and cannot be returned."


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    yield from serve_world(sandboxed_app, sandbox_shopify)


def test_the_declined_email_gives_the_reason_in_the_customers_language(world) -> None:
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=800, country="PL")
    case = world.request_return(order, "MUG-WHT", reason="DEFECTIVE")
    assert (case.decision, case.decline_reason) == ("decline", "RETURN_PERIOD_ENDED")
    assert case.decision_reasons == [{"code": "guarantee_ended", "params": {"days": 730}}]
    with world.services.session_factory.begin() as session:
        session.scalar(select(Order).where(Order.id == case.order_id)).customer_locale = "pl-PL"
    inbox = Inbox()
    controller, port = start_smtp(inbox)
    try:
        send_pending_notices(world.services.session_factory, SmtpSettings("127.0.0.1", port, sender="shop@example.com"), world.services.settings)
    finally:
        controller.stop()
    [body] = [email.message_from_string(raw, policy=email.policy.default).get_content() for _, raw in inbox.messages]
    assert GUARANTEE_ENDED_PL in body and "legal guarantee has ended" not in body
