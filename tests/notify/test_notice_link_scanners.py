"""Mail link scanners open every link of an email: the follow-up's answer links and the review link record
nothing on GET (a one-button page whose POST records), and two first answers at once never fail."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from notify.notice_kit import smtp  # noqa: F401 (fixture)
from notify.test_customer_notice_rules import REVIEW_PAGE, front, links, path  # noqa: F401 (fixture)
from shopify_app.notify.customer_models import SatisfactionAnswer
from shopify_app.notify import satisfaction


def answers(front) -> list[tuple[str, int]]:
    with front.services.session_factory() as session:
        return [(a.answer, a.changes) for a in session.scalars(select(SatisfactionAnswer))]


def test_a_scanner_opening_every_link_records_no_answer_and_no_review_click(front):
    front.settings(review_url=REVIEW_PAGE)
    front.order(1, delivered_days_ago=8)
    [follow_up] = [m for m in front.run() if m["List-Unsubscribe"]]
    good, bad, _ = links(follow_up)
    for url in (good, bad, good, bad):  # the scanner, then its second pass
        page = front.client.get(path(url))
        assert page.status_code == 200 and 'method="post"' in page.get_data(as_text=True)
    assert answers(front) == []
    assert front.client.post(path(good)).status_code == 200  # the customer's click
    assert answers(front) == [("good", 0)]
    [review] = front.run()
    [review_link] = [u for u in links(review) if "/notices/review/" in u]
    for _ in range(2):
        assert front.client.get(path(review_link)).status_code == 200
    with front.services.session_factory() as session:
        assert session.scalars(select(SatisfactionAnswer.review_clicked_at)).all() == [None]
    for _ in range(2):  # the customer presses twice: one click counted
        pressed = front.client.post(path(review_link))
        assert (pressed.status_code, pressed.headers["Location"]) == (303, REVIEW_PAGE)
    with front.services.session_factory() as session:
        [clicked] = session.scalars(select(SatisfactionAnswer.review_clicked_at)).all()
        assert clicked is not None


def test_two_first_answers_at_once_never_fail(front, monkeypatch, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's writers take the lock at BEGIN IMMEDIATE: two first answers cannot interleave there")
    front.order(1, delivered_days_ago=8)
    [follow_up] = [m for m in front.run() if m["List-Unsubscribe"]]
    good, bad, _ = links(follow_up)
    real, inner = satisfaction.record_event, []

    def record(session, order, kind, actor, **detail):
        # Called after our first answer was added but before it is written: the other request inserts its own first answer now.
        if not inner:
            inner.append(None)
            inner[0] = front.app.test_client().post(path(bad)).status_code
        return real(session, order, kind, actor, **detail)

    monkeypatch.setattr(satisfaction, "record_event", record)
    assert front.client.post(path(good)).status_code == 200
    assert inner == [200] and answers(front) == [("good", 1)]  # the later answer replaced the first, no 500
