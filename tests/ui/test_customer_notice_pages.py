"""In a real headless Chromium: the merchant sets the customer emails in Settings, and the customer's answer page
(opened from the follow-up's link) is in their language, right-to-left in Hebrew; screenshots under tests/artifacts/."""
from __future__ import annotations

from sqlalchemy import select

from shopify_app.notify.customer_models import NoticeSettings, SatisfactionAnswer
from shopify_app.notify.notice_links import feedback_url
from shopify_app.orders.models import Order
from ui.test_browser import ARTIFACTS, browser_page, chromium_browser, open_page, shop  # noqa: F401 (fixtures)


def test_the_merchant_sets_the_customer_emails_in_settings(shop, browser_page) -> None:  # noqa: F811
    page, errors = browser_page
    page.goto(shop.admin_url())
    page.wait_for_selector("h1:text-is('Dashboard')", timeout=15_000)
    open_page(page, "Settings")
    assert page.is_checked("#notice-steps input[name=delivered]") and not page.is_checked("#notice-steps input[name=order_received]")  # the defaults
    page.check("#notice-steps input[name=order_received]")
    page.uncheck("#notice-steps input[name=follow_up]")
    with page.expect_navigation():
        page.click("#notice-steps >> text=Save steps")
    page.wait_for_selector("h1:text-is('Settings')")
    assert page.is_checked("#notice-steps input[name=order_received]") and not page.is_checked("#notice-steps input[name=follow_up]")
    page.fill("#notice-details input[name=review_url]", "ftp://reviews.example.org")  # refused, with the field named
    page.click("#notice-details >> text=Save")
    page.wait_for_selector("#toast.error")
    assert "review_url" in page.text_content("#toast") or "http" in page.text_content("#toast")
    page.fill("#notice-details input[name=review_url]", "https://reviews.example.org/shop")
    page.fill("#notice-details input[name=follow_up_days]", "10")
    page.fill("#notice-details input[name=sender_name]", "Sklep")
    page.fill("#notice-details input[name=sender_address]", "orders@shop.example")
    with page.expect_navigation():
        page.click("#notice-details >> text=Save")
    page.wait_for_selector("#sender-status >> text=confirmation link")  # not verified yet: says what happens meanwhile
    page.screenshot(path=str(ARTIFACTS / "settings-customer-emails.png"), full_page=True)
    with shop.services.session_factory() as session:
        row = session.scalar(select(NoticeSettings))
        assert (row.follow_up_days, row.review_url, row.sender_address, row.sender_verified_at) == (10, "https://reviews.example.org/shop", "orders@shop.example", None)
        assert row.steps["order_received"] is True and row.steps["follow_up"] is False
    assert errors == []


def test_the_answer_page_is_in_the_customers_language_and_right_to_left_in_hebrew(shop, browser_page) -> None:  # noqa: F811
    page, errors = browser_page
    with shop.services.session_factory.begin() as session:
        order = session.scalar(select(Order).order_by(Order.id))
        order.customer_locale = "he-IL"
        order_id = order.id
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(feedback_url(shop.services.settings, order_id, "good"))
    page.wait_for_selector("h1")
    assert page.evaluate("document.documentElement.dir") == "rtl" and page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert page.evaluate("document.documentElement.lang") == "he"
    page.click("button")  # the customer's click records the answer (the link alone records nothing)
    page.wait_for_selector("a")
    page.screenshot(path=str(ARTIFACTS / "customer-answer-he.png"), full_page=True)
    page.click("a")  # changed their mind: the page offers the other answer
    page.wait_for_selector("button")
    page.click("button")
    page.wait_for_selector("a")
    with shop.services.session_factory() as session:
        assert {a.answer for a in session.scalars(select(SatisfactionAnswer).where(SatisfactionAnswer.order_id == order_id))} == {"bad"}
    assert errors == []
