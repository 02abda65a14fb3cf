"""Customer-notice rules over real SMTP: language fallback, per-shop steps and opt-out, unsubscribe, review
requests, second clicks, forged links, the merchant's verified sender, and the settings API's refusals."""
from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from urllib.parse import urlsplit

import jwt
import pytest
from sqlalchemy import select

from conftest import API_KEY, API_SECRET, install_shop
from notify.notice_kit import APP_SENDER, NoticeRun, smtp  # noqa: F401 (fixture)
from notify.notice_kit import links as kit_links
from shopify_app.deliveries.models import FulfillmentDelivery
from shopify_app.models import Shop, utcnow
from shopify_app.notify.customer_models import NoticeUnsubscribe, SatisfactionAnswer
from shopify_app.orders.graph import order_payload_from_graphql
from shopify_app.orders.models import CustomerNotice, Order, OrderState
from shopify_app.orders.payloads import parse_order
from shopify_app.suppliers.models import Supplier, SupplierOrder

SHOP, OTHER = "notices.myshopify.com", "other.myshopify.com"
REVIEW_PAGE = "https://reviews.example.org/notices"


def bearer(shop: str = SHOP) -> dict:
    now = int(time.time())
    token = jwt.encode({"iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": API_KEY, "sub": "1", "exp": now + 60, "nbf": now - 1,
                        "iat": now, "jti": str(uuid.uuid4()), "sid": uuid.uuid4().hex}, API_SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


class Shopfront:
    """An app with two installed shops whose orders are delivered (rows as the delivery webhooks leave them)."""

    def __init__(self, app, smtp):
        self.app, self.services = app, app.extensions["services"]
        self.notices = NoticeRun(self.services, smtp)
        self.client = app.test_client()
        with self.services.session_factory.begin() as session:
            for domain, name in ((SHOP, "Notices Shop"), (OTHER, "Other Shop")):
                shop = session.scalar(select(Shop).where(Shop.domain == domain))
                shop.name, shop.contact_email = name, f"hello@{domain}"
            self.supplier_id = session.scalar(select(Supplier.id).where(Supplier.shop_domain == SHOP))

    def order(self, number: int, *, email_address="buyer@example.com", locale=None, delivered_days_ago: float = 0.5, shop=SHOP) -> int:
        now = utcnow()
        with self.services.session_factory.begin() as session:
            order = Order(shop_domain=shop, shopify_id=str(number), name=f"#{number}", email=email_address, customer_locale=locale,
                          state=OrderState.SHIPPED.value, currency="PLN", total_price="99.00", shipping_address={"first_name": "Ola", "country_code": "PL"})
            session.add(order)
            session.flush()
            if shop == SHOP:
                session.add(SupplierOrder(shop_domain=shop, order_id=order.id, supplier_id=self.supplier_id, idempotency_key=f"k-{number}", state="shipped"))
            delivered = now - dt.timedelta(days=delivered_days_ago)
            session.add(FulfillmentDelivery(shop_domain=shop, fulfillment_gid=f"gid://shopify/Fulfillment/{number}", order_id=order.id,
                                            fulfillment_status="success", shipment_status="delivered", status_at=delivered, delivered_at=delivered))
            return order.id

    def run(self, now=None) -> list:
        return self.notices.run(now)

    def settings(self, shop=SHOP, **body):
        return self.client.put("/api/notice-settings", json=body, headers=bearer(shop))


@pytest.fixture
def front(app_factory, database_url, smtp):
    app = app_factory(database_url)
    install_shop(app, SHOP, OTHER)
    with app.extensions["services"].session_factory.begin() as session:
        session.add(Supplier(shop_domain=SHOP, name="Hurtownia", kind="rest", settings={"sla_hours": 48}))
    return Shopfront(app, smtp)


def later(days: float) -> dt.datetime:
    return utcnow() + dt.timedelta(days=days)


def links(message) -> list[str]:
    return kit_links(message.get_content())


def path(url: str) -> str:
    return urlsplit(url).path


def test_the_language_falls_back_from_the_customer_to_the_shops_primary_locale_then_english(front):
    with front.services.session_factory.begin() as session:
        session.scalar(select(Shop).where(Shop.domain == SHOP)).primary_locale = "he-IL"
        session.scalar(select(Shop).where(Shop.domain == OTHER)).primary_locale = "de"
    front.order(1, locale="pl-PL")
    front.order(2, locale=None)  # no customer locale: the shop's primary one
    front.order(3, locale="fr", shop=OTHER)  # neither is one we write: English
    by_order = {re.search(r"#\d+", m["Subject"]).group(): m for m in front.run()}
    assert {name: m["Content-Language"] for name, m in by_order.items()} == {"#1": "pl", "#2": "he", "#3": "en"}
    assert by_order["#3"]["From"].addresses[0].display_name == "Other Shop"  # each shop's own name


def test_defaults_leave_shopifys_own_emails_to_shopify_and_a_step_turned_off_sends_nothing(front):
    front.order(1, delivered_days_ago=0.2)
    with front.services.session_factory.begin() as session:
        order = session.get(Order, 1)
        order.created_at = utcnow()
    [delivered] = front.run()  # "delivered" is on by default; "order received" is Shopify's order confirmation
    assert "#1" in delivered["Subject"]
    front.settings(steps={"delivered": False, "follow_up": False})
    front.order(2)
    assert front.run() == [] and front.run(later(8)) == []  # neither the delivery nor the follow-up (opt-out)
    with front.services.session_factory() as session:
        assert session.scalars(select(CustomerNotice.kind).where(CustomerNotice.order_id == 2)).all() == []


def test_unsubscribe_needs_a_confirming_post_and_stops_follow_ups_but_not_delivery_news(front):
    front.settings(review_url=REVIEW_PAGE)
    front.order(1, delivered_days_ago=8)
    got = front.run()
    [follow_up] = [m for m in got if "#1" in m["Subject"] and m["List-Unsubscribe"]]
    unsubscribe = [link for link in links(follow_up) if "/notices/unsubscribe/" in link][0]
    assert follow_up["List-Unsubscribe"] == f"<{unsubscribe}>"
    page = front.client.get(path(unsubscribe))
    assert page.status_code == 200 and 'method="post"' in page.get_data(as_text=True)
    with front.services.session_factory() as session:
        assert session.scalars(select(NoticeUnsubscribe)).all() == []  # a link scanner opening it unsubscribes no one
    assert front.client.post(path(unsubscribe)).status_code == 200
    assert front.client.post(path(unsubscribe)).status_code == 200  # twice changes nothing
    with front.services.session_factory() as session:
        [row] = session.scalars(select(NoticeUnsubscribe)).all()
        assert "buyer" not in row.email_digest and row.shop_domain == SHOP
    front.order(2, email_address="BUYER@example.com", delivered_days_ago=0.3)
    [delivered] = front.run()  # the second order's delivery news still comes...
    assert "#2" in delivered["Subject"] and not delivered["List-Unsubscribe"]
    with front.services.session_factory.begin() as session:  # ...its follow-up, due a week later, does not
        session.get(FulfillmentDelivery, 2).delivered_at = utcnow() - dt.timedelta(days=8)
    assert front.run() == []
    front.order(3, email_address="buyer@example.com", shop=OTHER, delivered_days_ago=8)
    assert any("#3" in m["Subject"] and m["List-Unsubscribe"] for m in front.run())  # another shop's unsubscribe is its own


def test_every_customer_who_answers_gets_one_review_request_whatever_the_answer(front):
    front.settings(review_url=REVIEW_PAGE)
    front.order(1, delivered_days_ago=8)
    front.order(2, delivered_days_ago=8)
    front.order(3, delivered_days_ago=8)
    follow_up = {n: links(m) for m in front.run() if m["List-Unsubscribe"] for n in (1, 2, 3) if f"#{n}" in m["Subject"]}
    good_1, bad_1, _ = follow_up[1]
    good_2, bad_2, _ = follow_up[2]
    assert front.client.post(path(good_1)).status_code == 200
    assert front.client.post(path(bad_2)).status_code == 200  # unhappy: asked for a review all the same (no review gating)
    reviews = front.run()
    with front.services.session_factory() as session:
        requested = sorted(session.scalars(select(CustomerNotice.order_id).where(CustomerNotice.kind == "review_request")))
    assert len(reviews) == 2 and requested == [1, 2]  # order 3 never answered: no request
    for review in reviews:
        assert "/notices/review/" in review.get_content() and REVIEW_PAGE not in review.get_content()  # the click is counted through the app
    assert front.client.post(path(good_2)).status_code == 200  # the customers change their minds
    assert front.client.post(path(bad_1)).status_code == 200
    with front.services.session_factory() as session:
        answers = {a.order_id: (a.answer, a.changes, a.supplier_id) for a in session.scalars(select(SatisfactionAnswer))}
    assert answers == {1: ("bad", 1, front.supplier_id), 2: ("good", 1, front.supplier_id)}
    assert front.run() == []  # never a second review request


def test_no_follow_up_while_a_parcel_without_a_status_is_still_on_its_way(front):
    front.order(1, delivered_days_ago=8)
    with front.services.session_factory.begin() as session:  # a second parcel whose fulfillment status Shopify did not send
        session.add(FulfillmentDelivery(shop_domain=SHOP, fulfillment_gid="gid://shopify/Fulfillment/901", order_id=1, fulfillment_status=None,
                                        shipment_status="in_transit", status_at=utcnow() - dt.timedelta(days=8)))
    assert [m for m in front.run() if m["List-Unsubscribe"]] == []  # not asked how it went before everything arrived
    with front.services.session_factory.begin() as session:
        session.scalars(select(FulfillmentDelivery).where(FulfillmentDelivery.fulfillment_gid == "gid://shopify/Fulfillment/901")).one().fulfillment_status = "cancelled"
    assert len([m for m in front.run() if m["List-Unsubscribe"]]) == 1  # a cancelled parcel never holds it back


def test_forged_or_tampered_links_get_the_same_404_and_change_nothing(front):
    front.order(1, delivered_days_ago=8)
    [follow_up] = [m for m in front.run() if m["List-Unsubscribe"]]
    good = path(links(follow_up)[0])
    token = good.split("/")[3]
    tampered = good.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    for url in (tampered, good.replace("/good", "/great"), f"/notices/review/{token}", "/notices/unsubscribe/x.y", "/notices/verify-sender/abc"):
        answer = front.client.get(url)
        assert answer.status_code == 404, url
        if "/unsubscribe/" not in url and "/verify-sender/" not in url:
            assert front.client.post(url).status_code == 404, url  # the recording POST too
    with front.services.session_factory() as session:
        assert session.scalars(select(SatisfactionAnswer)).all() == []


def test_the_merchants_sender_is_used_only_once_verified_by_the_link_sent_to_it(front):
    answer = front.settings(sender_name="Ola z Notices", sender_address="orders@notices-shop.example")
    assert answer.status_code == 200 and answer.get_json()["sender_verified"] is False
    [verification] = front.run()
    assert verification["To"] == "orders@notices-shop.example"
    link = [u for u in links(verification) if "/notices/verify-sender/" in u][0]
    front.order(1)
    [before] = front.run()
    assert before["From"].addresses[0].addr_spec == APP_SENDER and before["Reply-To"] == f"hello@{SHOP}"
    assert front.client.get(path(link)).status_code == 200
    front.order(2)
    [after] = front.run()
    assert (after["From"].addresses[0].display_name, after["From"].addresses[0].addr_spec) == ("Ola z Notices", "orders@notices-shop.example")
    front.settings(sender_address="other@notices-shop.example")  # a new address is unverified again; the old link no longer counts
    assert front.client.get(path(link)).status_code == 404
    front.order(3)
    assert [m["From"].addresses[0].addr_spec for m in front.run() if "#3" in m["Subject"]] == [APP_SENDER]


def test_the_settings_answers_follow_the_openapi_document(front):
    from openapi_schema_validator import OAS31Validator

    from shopify_app.web.openapi import build_document

    document = build_document()
    schema = {**document["paths"]["/api/notice-settings"]["put"]["responses"]["200"]["content"]["application/json"]["schema"],
              "components": document["components"]}
    for answer in (front.client.get("/api/notice-settings", headers=bearer()), front.settings(follow_up_days=9, review_url=REVIEW_PAGE)):
        assert answer.status_code == 200
        OAS31Validator(schema).validate(answer.get_json())  # an independent validator, not our own code
    assert front.client.get("/api/notice-settings", headers=bearer(OTHER)).get_json()["follow_up_days"] == 7  # the other shop's own settings


@pytest.mark.parametrize("body, field", [
    ({"review_url": "javascript:alert(1)"}, "review_url"),
    ({"sender_address": "not an address"}, "sender_address"),
    ({"sender_name": "Evil\r\nBcc: x@y"}, "sender_name"),
    ({"follow_up_days": 0}, "follow_up_days"),
    ({"steps": {"order_received": True, "spam": True}}, "steps"),
])
def test_bad_settings_are_refused_with_the_field(front, body, field):
    answer = front.settings(**body)
    assert answer.status_code == 400
    assert any(field in f["field"] for f in answer.get_json()["fields"]), answer.get_json()
    assert front.client.get("/api/notice-settings", headers=bearer()).get_json()["follow_up_days"] == 7  # nothing saved


def test_the_customer_locale_is_read_from_webhooks_and_graphql_and_an_odd_one_is_dropped():
    base = {"id": 5, "line_items": []}
    assert parse_order({**base, "customer_locale": "he-IL"}).customer_locale == "he-IL"
    assert parse_order({**base, "customer_locale": "x" * 40}).customer_locale is None  # never a dead-lettered order
    assert parse_order(order_payload_from_graphql({"id": "gid://shopify/Order/5", "customerLocale": "pl", "lineItems": {"nodes": []}})).customer_locale == "pl"
