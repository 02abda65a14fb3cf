"""Overlapping runs of the notice senders (a long run outlasting its slot): every notice, and every sender
confirmation email, goes out once, because each run claims a row before it sends it."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from notify.notice_kit import smtp  # noqa: F401 (fixture)
from notify.test_customer_notice_rules import SHOP, front  # noqa: F401 (fixture)
from shopify_app.models import utcnow
from shopify_app.notify import customer_notices
from shopify_app.notify.customer_models import NoticeSettings
from shopify_app.notify.lifecycle_notices import queue_due_notices
from shopify_app.orders.models import CustomerNotice


def racing(monkeypatch, other_run):
    """send_email that, on its first call, lets a second run go through whole before the first one sends (the overlap)."""
    real, started = customer_notices.send_email, []

    def send(*args, **kwargs):
        if not started:
            started.append(True)
            other_run()
        return real(*args, **kwargs)

    monkeypatch.setattr(customer_notices, "send_email", send)


def test_two_overlapping_runs_send_each_notice_once(front, monkeypatch):
    for number in (1, 2, 3):
        front.order(number)
    with front.services.session_factory.begin() as session:
        queue_due_notices(session, None)
    factory, smtp_settings, settings = front.services.session_factory, front.notices.smtp, front.services.settings
    with factory() as session:
        queued = session.scalars(select(CustomerNotice.id).where(CustomerNotice.status == "pending")).all()
    assert len(queued) >= 3
    second = []
    racing(monkeypatch, lambda: second.append(customer_notices.send_pending_notices(factory, smtp_settings, settings)))
    first = customer_notices.send_pending_notices(factory, smtp_settings, settings)
    assert second and second[0].sent + first.sent == len(queued)
    assert len(front.notices.inbox.messages) == len(queued)  # not one email twice
    with factory() as session:
        assert {n.status for n in session.scalars(select(CustomerNotice))} == {"sent"}


def test_a_run_that_died_mid_send_gives_its_rows_back_after_the_lease(front):
    front.order(4)
    with front.services.session_factory.begin() as session:
        queue_due_notices(session, None)
    factory = front.services.session_factory
    with factory() as session:
        [notice_id] = session.scalars(select(CustomerNotice.id).where(CustomerNotice.status == "pending")).all()
    assert customer_notices._claim(factory, notice_id) and not customer_notices._claim(factory, notice_id)
    assert customer_notices.release_stale_claims(factory) == 0  # still within its lease: nobody else sends it
    assert customer_notices.release_stale_claims(factory, now=utcnow() + customer_notices.SENDING_LEASE + dt.timedelta(seconds=1)) == 1
    report = customer_notices.send_pending_notices(factory, front.notices.smtp, front.services.settings)
    assert report.sent == 1 and len(front.notices.inbox.messages) == 1


def test_two_overlapping_runs_send_the_sender_confirmation_once(front, monkeypatch):
    factory, smtp_settings, settings = front.services.session_factory, front.notices.smtp, front.services.settings
    assert front.settings(sender_name="Ola", sender_address="orders@notices-shop.example").status_code == 200
    with factory.begin() as session:  # as if the save's own send had failed: the job owes the email
        row = session.scalar(select(NoticeSettings).where(NoticeSettings.shop_domain == SHOP))
        row.verification_pending, row.verification_sent_at = True, None
    before = len(front.notices.inbox.messages)
    second = []
    racing(monkeypatch, lambda: second.append(customer_notices.send_sender_verifications(factory, smtp_settings, settings)))
    first = customer_notices.send_sender_verifications(factory, smtp_settings, settings)
    assert first + second[0] == 1
    assert len(front.notices.inbox.messages) - before == 1
